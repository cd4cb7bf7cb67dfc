"""flake.nix, deploy/nix/package.nix and deploy/nix/module.nix: what can be checked without nixpkgs.

They parse; the flake's outputs and the module's options and generated config evaluate against
small stand-ins for nixpkgs (the *.nix files beside this one); the module's `settings` options
are the bridge config model's fields, recursively; the package's dependencies are pyproject's.
Nothing here builds the package or evaluates the module against the real nixpkgs: no Nix store
can be fetched on the test machine (docs/service.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from runner.bridge.config import BridgeConfig, DroneExecutorConfig, LocalExecutorConfig

REPO_ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
MODULE = REPO_ROOT / "deploy" / "nix" / "module.nix"
PACKAGE = REPO_ROOT / "deploy" / "nix" / "package.nix"
FLAKE = REPO_ROOT / "flake.nix"

pytestmark = pytest.mark.skipif(
    shutil.which("nix-instantiate") is None,
    reason="nix-instantiate is not installed (Debian package `nix-bin`; scripts/bootstrap installs it)",
)

Tree = dict[str, Any]  # field name -> sub-tree, or None for a leaf


def _nix(*args: str) -> subprocess.CompletedProcess[str]:
    # Debian's nix.conf names a `nixbld` group that a machine without a nix daemon lacks.
    env = dict(os.environ, NIX_CONFIG="build-users-group =")
    return subprocess.run(
        ["nix-instantiate", *args], capture_output=True, text=True, timeout=60, env=env
    )


def _eval(file: Path, **args: str) -> Any:
    argv = ["--eval", "--strict", "--json", str(file)]
    for name, expr in args.items():
        argv += ["--arg", name, expr]
    done = _nix(*argv)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _module_options(module: Path = MODULE, defaults: bool = False) -> Tree:
    """The module's option tree; leaves are None, or with `defaults` the options' defaults."""
    return _eval(
        HERE / "module_options.nix",
        module=str(module),
        path='["services" "cc-ci-bridge"]',
        defaults="true" if defaults else "false",
    )


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field holds: itself, the members of a union, inside Annotated."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _merge(trees: list[Tree]) -> Tree:
    merged: Tree = {}
    for tree in trees:
        for name, sub in tree.items():
            merged[name] = (
                _merge([merged.get(name) or {}, sub]) if sub is not None else merged.get(name)
            )
    return merged


def model_tree(model: type[BaseModel]) -> Tree:
    """Field names, recursively; a union of models (the executor) is the union of their fields."""
    tree: Tree = {}
    for name, field in model.model_fields.items():
        models = _models_in(field.annotation)
        tree[name] = _merge([model_tree(sub) for sub in models]) if models else None
    return tree


def drift(options: Tree, fields: Tree, prefix: str = "") -> list[str]:
    """Where the module's option tree and the config model's field tree differ, one line each."""
    lines = []
    for name in sorted(fields.keys() | options.keys()):
        where = f"{prefix}{name}"
        if name not in options:
            lines.append(f"{where}: a config field without a module option")
        elif name not in fields:
            lines.append(f"{where}: a module option the config model does not have")
        elif isinstance(options[name], dict) != isinstance(fields[name], dict):
            lines.append(f"{where}: a section on one side, a value on the other")
        elif isinstance(fields[name], dict):
            lines += drift(options[name], fields[name], f"{where}.")
    return lines


@pytest.mark.parametrize("path", [FLAKE, MODULE, PACKAGE], ids=lambda p: p.name)
def test_nix_file_parses(path: Path) -> None:
    done = _nix("--parse", str(path))
    assert done.returncode == 0, done.stderr


def test_parse_fails_on_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "module.nix"
    broken.write_text(
        MODULE.read_text().replace("cfg = config.services.cc-ci-bridge;", "cfg = ", 1)
    )
    done = _nix("--parse", str(broken))
    assert done.returncode != 0
    assert "syntax error" in done.stderr


def test_module_settings_are_the_config_model() -> None:
    assert drift(_module_options()["settings"], model_tree(BridgeConfig)) == []


def test_a_config_field_without_a_module_option_is_caught() -> None:
    class GrownLocal(LocalExecutorConfig):
        cpu_quota: float = 1.0

    class GrownBridge(BridgeConfig):
        executor: GrownLocal | DroneExecutorConfig = GrownLocal()  # type: ignore[assignment]
        greeting: str = "hi"

    assert drift(_module_options()["settings"], model_tree(GrownBridge)) == [
        "executor.cpu_quota: a config field without a module option",
        "greeting: a config field without a module option",
    ]


def test_a_module_option_without_a_config_field_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "module.nix"
    module.write_text(
        MODULE.read_text().replace(
            '      path = optional types.str "URL path of the webhook.";\n',
            '      path = optional types.str "URL path of the webhook.";\n'
            '      paths = optional types.str "A typo.";\n',
        )
    )
    assert drift(_module_options(module)["settings"], model_tree(BridgeConfig)) == [
        "webhook.paths: a module option the config model does not have"
    ]


def _generated_config(settings: dict[str, Any], user: str = "root") -> tuple[dict[str, Any], Any]:
    full = _fill(_module_options(defaults=True)["settings"], settings)
    result = _eval(
        HERE / "module_config.nix",
        module=str(MODULE),
        settingsJSON=json.dumps(json.dumps(full)),
        user=json.dumps(user),
    )
    config_json = result["ExecStart"].split(" --config ", 1)[1]
    return json.loads(config_json), result


def _fill(options: Tree, given: dict[str, Any]) -> dict[str, Any]:
    """Every declared option, its default where unset, as the module system hands them over."""
    filled: dict[str, Any] = {}
    for name, sub in options.items():
        value = given.get(name)
        if not isinstance(sub, dict):
            filled[name] = sub if value is None else value
        elif value is not None:
            filled[name] = _fill(sub, value)
        else:  # a section defaults to {} (its options unset); an optional secret reference to null
            filled[name] = None if name == "token" else _fill(sub, {})
    return filled


MINIMAL = {
    "forge": {"url": "https://git.example.org", "token": {"file": "/run/secrets/forge-token"}},
    "webhook": {"secret": {"env": "CCCI_WEBHOOK_SECRET"}, "port": 8099},
    "repos": {"coop-cloud/custom-html": "custom-html"},
    "executor": {"run_user": "cc-ci-run"},
}


def test_generated_config_file_is_one_the_bridge_accepts() -> None:
    generated, service = _generated_config(MINIMAL)
    # unset options and empty sections are left out (cc-ci's defaults); an executor names its kind
    assert generated == {**MINIMAL, "executor": {"kind": "local", "run_user": "cc-ci-run"}}
    cfg = BridgeConfig.model_validate(generated)
    assert cfg.webhook.port == 8099
    assert service["ExecStart"].startswith("/nix/store/cc-ci/bin/cc-ci bridge --config ")
    assert service["StateDirectory"] == ["cc-ci/bridge"]
    assert Path("/var/lib") / service["StateDirectory"][0] == cfg.state_dir
    assert service["users"]["users"]["cc-ci-run"]["extraGroups"] == ["docker"]
    assert all(check["assertion"] for check in service["assertions"])


def test_run_user_on_a_non_root_bridge_fails_an_assertion() -> None:
    _, service = _generated_config(MINIMAL, user="cc-ci")
    failed = [check["message"] for check in service["assertions"] if not check["assertion"]]
    assert failed == ['services.cc-ci-bridge: settings.executor.run_user needs user = "root".']


def test_non_root_bridge_gets_its_runs_dir_from_systemd() -> None:
    settings = {**MINIMAL, "executor": {"kind": "local"}}
    _, service = _generated_config(settings, user="cc-ci")
    assert service["User"] == "cc-ci"
    runs_dir = LocalExecutorConfig.model_fields["runs_dir"].default
    assert [Path("/var/lib") / d for d in service["StateDirectory"]][1] == runs_dir


def test_flake_offers_the_package_and_the_module_at_pyprojects_version() -> None:
    outputs = _eval(HERE / "flake_outputs.nix", flake=str(FLAKE))
    assert outputs["names"] == ["devShells", "nixosModules", "packages"]
    assert outputs["modules"] == ["cc-ci-bridge", "default"]
    assert outputs["package"]["path"] == str(PACKAGE)
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert outputs["package"]["version"] == pyproject["project"]["version"]


def _requirement_name(requirement: str) -> str:
    name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
    return name.lower().replace("_", "-")


def test_package_dependencies_are_pyprojects() -> None:
    listed = re.search(r"dependencies = with py; \[([^\]]*)\];", PACKAGE.read_text())
    assert listed is not None
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    wanted = {_requirement_name(req) for req in pyproject["project"]["dependencies"]}
    assert set(listed.group(1).split()) == wanted


def test_the_module_runs_the_gc_timer_as_the_run_user_with_the_runs_env() -> None:
    settings = {**MINIMAL, "executor": {"run_user": "cc-ci-run", "runs_dir": "/srv/runs",
                                        "env": {"CCCI_DOCKER_HOST": "ssh://ci@swarm"}}}
    _, service = _generated_config(settings)
    gc = service["gc"]
    assert gc["serviceConfig"]["ExecStart"] == "/nix/store/cc-ci/bin/cc-ci gc --runs-dir /srv/runs"
    assert gc["serviceConfig"]["User"] == "cc-ci-run"
    assert gc["environment"] == {"CCCI_DOCKER_HOST": "ssh://ci@swarm"}  # the runs' swarm
    shipped = (REPO_ROOT / "deploy" / "systemd" / "cc-ci-gc.timer").read_text()
    assert f"OnCalendar={service['gcTimer']['timerConfig']['OnCalendar']}" in shipped
    assert service["gcTimer"]["wantedBy"] == ["timers.target"]
