"""Hosts without IPVS (issue 11, point 8): detecting them, deploying with endpoint_mode dnsrr
there, and a convergence failure that names the host instead of blaming the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.drivers.swarm import driver as swarm_driver
from runner.drivers.swarm.driver import SwarmDriver
from runner.drivers.swarm.endpoints import EndpointPlan, host_diagnosis, plan_endpoints, preflight
from runner.drivers.swarm.substrate import ServiceVips, service_vips
from runner.errors import BadInput
from runner.ops import LIFECYCLE
from runner.plumbing.paths import REPO_ROOT
from runner.record.results import RunResult, summary_markdown
from runner.run.app import App
from runner.run.config import ENV_VARS, DriverSettings, RunConfig
from tests.unit.fake_driver import FakeTarget

NO_IPVS = ServiceVips(False, "this host's kernel has no IPVS (no /proc/net/ip_vs; no modprobe to load the ip_vs module)")
IPVS = ServiceVips(True, "the kernel has IPVS (/proc/net/ip_vs)")
APP_DB_WORKER: dict[str, list[Any]] = {"app": [], "db": [], "worker": []}
NO_ROUTE_FAILURE = ("service app did not converge within 60s (0/1 running) — last healthcheck: exit 1: "
                    "wget: can't connect to remote host (10.0.5.2): No route to host")


# -- detecting the host --------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _local_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)


def test_a_kernel_with_ipvs_has_working_service_vips(tmp_path: Path) -> None:
    proc = tmp_path / "ip_vs"
    proc.write_text("IP Virtual Server version 1.2.1\n")
    assert service_vips(proc, load_module=lambda: pytest.fail("no module to load when IPVS is there")).work


def test_a_kernel_without_ipvs_and_no_module_to_load_has_no_service_vips(tmp_path: Path) -> None:
    vips = service_vips(tmp_path / "ip_vs", load_module=lambda: "`modprobe ip_vs`: module ip_vs not found")
    assert not vips.work
    assert "no IPVS" in vips.why and "module ip_vs not found" in vips.why


def test_a_loadable_ip_vs_module_is_loaded_and_counts(tmp_path: Path) -> None:
    proc = tmp_path / "ip_vs"

    def modprobe() -> None:
        proc.write_text("IP Virtual Server version 1.2.1\n")
    assert service_vips(proc, load_module=modprobe).work


def test_a_module_load_that_reports_success_but_adds_no_ipvs_does_not_count(tmp_path: Path) -> None:
    assert not service_vips(tmp_path / "ip_vs", load_module=lambda: None).work


def test_a_remote_engine_is_not_judged_by_this_hosts_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "ssh://ci@swarm.example.org")
    vips = service_vips(tmp_path / "ip_vs", load_module=lambda: pytest.fail("not this host's kernel"))
    assert vips.work and "remote" in vips.why


def test_every_run_says_before_deploying_what_it_found_and_what_it_does() -> None:
    said = preflight("auto", NO_IPVS)
    assert said is not None and said.startswith(NO_IPVS.why) and "endpoint_mode dnsrr" in said
    assert "CCCI_DNSRR=off" in (preflight("off", NO_IPVS) or "")
    assert (preflight("on", IPVS) or "").startswith("CCCI_DNSRR=on")
    assert preflight("auto", IPVS) is None and preflight("off", IPVS) is None


# -- which services get dnsrr ---------------------------------------------------------------------

def test_auto_deploys_every_service_dnsrr_where_vips_do_not_work() -> None:
    plan = plan_endpoints("auto", NO_IPVS, APP_DB_WORKER)
    assert plan is not None
    assert plan.dnsrr == ["app", "db", "worker"] and plan.kept_vip == []
    assert "no IPVS" in plan.why


def test_auto_changes_nothing_where_vips_work() -> None:
    assert plan_endpoints("auto", IPVS, APP_DB_WORKER) is None


def test_off_changes_nothing_even_without_ipvs() -> None:
    assert plan_endpoints("off", NO_IPVS, APP_DB_WORKER) is None


def test_on_forces_dnsrr_where_vips_work() -> None:
    plan = plan_endpoints("on", IPVS, APP_DB_WORKER)
    assert plan is not None and plan.dnsrr == ["app", "db", "worker"] and plan.why == "CCCI_DNSRR=on"


def test_services_publishing_ingress_ports_keep_their_vip_because_swarm_refuses_dnsrr_with_them() -> None:
    ports: dict[str, list[Any]] = {"app": [], "smtp": ["2525:25"], "web": [{"target": 80, "published": 8080}],
             "mail": [{"target": 993, "published": 993, "mode": "host"}]}
    plan = plan_endpoints("auto", NO_IPVS, ports)
    assert plan is not None
    assert plan.dnsrr == ["app", "mail"]  # host-mode ports are fine with dnsrr
    assert plan.kept_vip == ["smtp", "web"]
    assert "kept the virtual IP of smtp, web" in plan.describe()


def _app(tmp_path: Path) -> App:
    return App(recipe="notes-tiny", run_id="r1", domain="notes-tiny-1.hd.test", stack="notes-tiny-1_hd_test",
               checkout=tmp_path, run_dir=tmp_path, env={}, deployments=1)


def _override(tmp_path: Path, setting: str, vips: ServiceVips) -> dict[str, Any]:
    compose = tmp_path / "compose.yml"
    compose.write_text(yaml.safe_dump({"version": "3.8", "services": {
        "app": {"image": "a"}, "db": {"image": "d"}, "web": {"image": "w", "ports": ["8080:80"]}}}))
    driver = SwarmDriver(DriverSettings.model_validate({"dnsrr": setting}), FakeTarget())  # type: ignore[arg-type]
    driver.service_vips = vips  # the host, as detected
    ports = swarm_driver._service_ports({"compose.yml": yaml.safe_load(compose.read_text())})
    path = driver._write_label_override(_app(tmp_path), list(ports), "f" * 40, False,
                                        plan_endpoints(driver.settings.dnsrr, vips, ports))
    services: dict[str, Any] = yaml.safe_load(path.read_text())["services"]
    return services


def test_the_extra_compose_file_sets_dnsrr_on_a_host_without_ipvs(tmp_path: Path) -> None:
    services = _override(tmp_path, "auto", NO_IPVS)
    assert services["app"]["deploy"]["endpoint_mode"] == "dnsrr"
    assert services["db"]["deploy"]["endpoint_mode"] == "dnsrr"
    assert "endpoint_mode" not in services["web"]["deploy"]
    assert all("labels" in s["deploy"] for s in services.values())


@pytest.mark.parametrize(("setting", "vips"), [("auto", IPVS), ("off", NO_IPVS)])
def test_the_extra_compose_file_leaves_endpoints_alone_otherwise(tmp_path: Path, setting: str,
                                                                   vips: ServiceVips) -> None:
    assert all("endpoint_mode" not in s["deploy"] for s in _override(tmp_path, setting, vips).values())


# -- what a failure says --------------------------------------------------------------------------

def test_no_route_to_host_with_dnsrr_turned_off_blames_the_host_first() -> None:
    diagnosis = host_diagnosis(NO_IPVS, "off", None, NO_ROUTE_FAILURE)
    assert diagnosis is not None
    text, likely_cause = diagnosis
    assert likely_cause and text.startswith("the host, not the app:")
    assert "no IPVS" in text and "CCCI_DNSRR=off" in text


def test_any_failure_with_dnsrr_turned_off_on_such_a_host_gets_a_note() -> None:
    diagnosis = host_diagnosis(NO_IPVS, "off", None, "service app did not converge within 60s (0/1 running)")
    assert diagnosis is not None and not diagnosis[1] and "CCCI_DNSRR=off" in diagnosis[0]


def test_no_route_to_host_despite_dnsrr_still_names_the_host() -> None:
    plan = EndpointPlan(dnsrr=["app"], kept_vip=["web"], why=NO_IPVS.why)
    diagnosis = host_diagnosis(NO_IPVS, "auto", plan, NO_ROUTE_FAILURE)
    assert diagnosis is not None and diagnosis[1]
    assert "no IPVS" in diagnosis[0] and "web kept a virtual IP" in diagnosis[0]


def test_the_host_is_not_mentioned_where_it_is_not_in_question() -> None:
    assert host_diagnosis(IPVS, "off", None, NO_ROUTE_FAILURE) is None  # VIPs work: the app's own problem
    plan = plan_endpoints("auto", NO_IPVS, APP_DB_WORKER)
    assert host_diagnosis(NO_IPVS, "auto", plan, "service app did not converge: exit 1: crashed") is None
    assert host_diagnosis(NO_IPVS, "auto", None, "service app did not converge: exit 1: crashed") is None


# -- the setting and the reports ------------------------------------------------------------------

def test_ccci_dnsrr_reaches_the_driver_and_defaults_to_auto() -> None:
    assert RunConfig.from_env({"RECIPE": "custom-html-tiny"}, LIFECYCLE).driver_settings.dnsrr == "auto"
    assert RunConfig.from_env({"RECIPE": "custom-html-tiny", "CCCI_DNSRR": "off"}, LIFECYCLE).driver_settings.dnsrr == "off"
    with pytest.raises(BadInput, match="^CCCI_DNSRR: "):
        RunConfig.from_env({"RECIPE": "custom-html-tiny", "CCCI_DNSRR": "maybe"}, LIFECYCLE)


def test_the_summary_shows_a_deploy_override_once() -> None:
    plan = plan_endpoints("auto", NO_IPVS, APP_DB_WORKER)
    assert plan is not None
    line = plan.describe()
    result = RunResult(run_id="r1", recipe="notes-tiny", ref=None, pr=None, stages=["install"], run_dir="/r",
                       deployments=[{"op": "install", "overrides": [line]}, {"op": "upgrade", "overrides": [line]}])
    summary = summary_markdown(result)
    assert summary.count("deploy override: endpoint_mode dnsrr for app, db, worker") == 1


def test_the_readme_has_a_row_for_every_run_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert [var for var in ENV_VARS if f"| `{var}` |" not in readme] == []
