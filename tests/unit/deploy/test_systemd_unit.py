"""deploy/systemd/: the bridge's unit and the gc timer with its service verify with
`systemd-analyze verify`, and agree with the bridge's config model and CLI. The verifier is shown
to catch a broken unit, so a clean answer means something."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runner.bridge.config import BridgeConfig, LocalExecutorConfig
from runner.cli import build_parser

REPO_ROOT = Path(__file__).resolve().parents[3]
SYSTEMD_DIR = REPO_ROOT / "deploy" / "systemd"
UNIT = SYSTEMD_DIR / "cc-ci-bridge.service"
GC_SERVICE = SYSTEMD_DIR / "cc-ci-gc.service"
GC_TIMER = SYSTEMD_DIR / "cc-ci-gc.timer"
INSTALL_ROOT = "/opt/cc-ci"  # where the shipped unit expects the checkout

needs_verify = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package `systemd`; scripts/bootstrap installs it)",
)


def _rendered(text: str) -> str:
    """The shipped unit with this checkout in place of /opt/cc-ci: verify needs ExecStart to exist."""
    venv_cc_ci = Path(sys.executable).parent / "cc-ci"
    text = text.replace(f"{INSTALL_ROOT}/.venv/bin/cc-ci", str(venv_cc_ci))
    return text.replace(INSTALL_ROOT, str(REPO_ROOT))


def _verify(tmp_path: Path, unit_text: str, dropin: str | None = None) -> tuple[int, str]:
    unit = tmp_path / UNIT.name
    unit.write_text(unit_text)
    if dropin is not None:
        (tmp_path / f"{UNIT.name}.d").mkdir()
        (tmp_path / f"{UNIT.name}.d" / "override.conf").write_text(dropin)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def _directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith(("#", "[")):
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@needs_verify
def test_shipped_unit_verifies_without_a_word(tmp_path: Path) -> None:
    # verify exits 0 on an unknown key and only warns: silence is the bar, not the exit code.
    assert _verify(tmp_path, _rendered(UNIT.read_text())) == (0, "")


@needs_verify
def test_unit_with_the_unprivileged_dropin_verifies(tmp_path: Path) -> None:
    dropin = (SYSTEMD_DIR / "unprivileged.conf").read_text()
    assert _verify(tmp_path, _rendered(UNIT.read_text()), dropin) == (0, "")


@needs_verify
@pytest.mark.parametrize(
    ("break_it", "complaint"),
    [
        (lambda t: t.replace("KillMode=process", "KilMode=process"), "Unknown key 'KilMode'"),
        (lambda t: t.replace("Restart=on-failure", "Restart=sometimes"), "restart specifier"),
        (lambda t: t.replace("/.venv/bin/cc-ci", "/.venv/bin/cc-ci-missing"), "is not executable"),
        (lambda t: t.replace("[Service]", "[Servce]"), "Servce"),
    ],
    ids=["misspelt-directive", "bad-value", "missing-binary", "misspelt-section"],
)
def test_verify_catches_a_broken_unit(tmp_path: Path, break_it, complaint: str) -> None:
    broken = break_it(_rendered(UNIT.read_text()))
    assert broken != _rendered(UNIT.read_text())
    code, output = _verify(tmp_path, broken)
    assert complaint in output, output


@needs_verify
def test_verify_catches_a_misspelt_dropin(tmp_path: Path) -> None:
    dropin = (SYSTEMD_DIR / "unprivileged.conf").read_text().replace("User=", "Usr=")
    code, output = _verify(tmp_path, _rendered(UNIT.read_text()), dropin)
    assert "Unknown key 'Usr'" in output


def test_state_directory_is_the_bridge_default_state_dir() -> None:
    state_dirs = _directives(UNIT.read_text())["StateDirectory"]
    assert state_dirs == ["cc-ci/bridge"]
    assert Path("/var/lib") / state_dirs[0] == BridgeConfig.model_fields["state_dir"].default


def test_unprivileged_dropin_makes_the_default_runs_dir() -> None:
    # A non-root bridge cannot create /var/lib/cc-ci/runs itself; systemd does, owned by User=.
    state_dirs = _directives((SYSTEMD_DIR / "unprivileged.conf").read_text())["StateDirectory"]
    runs_dir = LocalExecutorConfig.model_fields["runs_dir"].default
    assert Path("/var/lib") / state_dirs[0] == runs_dir


def test_exec_start_is_a_valid_bridge_command_line() -> None:
    argv = shlex.split(_directives(UNIT.read_text())["ExecStart"][0])
    assert argv[0] == f"{INSTALL_ROOT}/.venv/bin/cc-ci"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "bridge"
    assert args.config == Path("/etc/cc-ci/bridge.yml")
    assert not args.check


def test_runs_outlive_a_bridge_restart() -> None:
    # The local executor re-attaches to runs after a restart; systemd must not kill them on stop.
    directives = _directives(UNIT.read_text())
    assert directives["KillMode"] == ["process"]
    assert "PrivateTmp" not in directives  # removed on stop, under the runs that outlive it
    assert directives["RestartPreventExitStatus"] == ["2"]  # bad config: exit 2, no restart loop


def test_example_config_is_valid_and_matches_the_unit(tmp_path: Path) -> None:
    data = yaml.safe_load((SYSTEMD_DIR / "bridge.yml.example").read_text())
    cfg = BridgeConfig.model_validate(data)
    assert cfg.state_dir == Path("/var/lib") / _directives(UNIT.read_text())["StateDirectory"][0]
    env_names = {
        line.partition("=")[0]
        for line in (SYSTEMD_DIR / "bridge.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert cfg.webhook.secret.env in env_names


def _verify_gc(tmp_path: Path, service: str, timer: str) -> tuple[int, str]:
    (tmp_path / GC_SERVICE.name).write_text(service)
    (tmp_path / GC_TIMER.name).write_text(timer)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / GC_SERVICE.name), str(tmp_path / GC_TIMER.name)],
        capture_output=True, text=True, timeout=60,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


@needs_verify
def test_shipped_gc_timer_and_its_service_verify_without_a_word(tmp_path: Path) -> None:
    assert _verify_gc(tmp_path, _rendered(GC_SERVICE.read_text()), GC_TIMER.read_text()) == (0, "")


@needs_verify
@pytest.mark.parametrize(
    ("unit", "break_it", "complaint"),
    [
        ("timer", lambda t: t.replace("OnCalendar=*:0/15", "OnCalendar=every-15"), "calendar specification"),
        ("timer", lambda t: t.replace("Persistent=", "Persistant="), "Unknown key 'Persistant'"),
        ("service", lambda t: t.replace("Type=oneshot", "Type=once"), "Failed to parse service type"),
        ("service", lambda t: t.replace("/.venv/bin/cc-ci", "/.venv/bin/cc-ci-missing"), "is not executable"),
    ],
    ids=["bad-calendar", "misspelt-timer-key", "bad-service-type", "missing-binary"],
)
def test_verify_catches_a_broken_gc_unit(tmp_path: Path, unit: str, break_it, complaint: str) -> None:
    service, timer = _rendered(GC_SERVICE.read_text()), GC_TIMER.read_text()
    if unit == "timer":
        timer = break_it(timer)
    else:
        service = break_it(service)
    code, output = _verify_gc(tmp_path, service, timer)
    assert complaint in output, output


def test_gc_timer_starts_the_shipped_gc_service_every_15_minutes() -> None:
    timer = _directives(GC_TIMER.read_text())
    # A timer starts the service of its own name unless it says Unit=; that service is shipped.
    assert "Unit" not in timer and GC_SERVICE.stem == GC_TIMER.stem
    assert timer["OnCalendar"] == ["*:0/15"] and timer["Persistent"] == ["true"]
    assert timer["OnBootSec"] == ["5min"]  # a reboot killed runs before their teardown: soon after it


def test_gc_service_runs_gc_on_the_bridges_runs_dir_as_the_run_user() -> None:
    service = _directives(GC_SERVICE.read_text())
    argv = shlex.split(service["ExecStart"][0])
    assert argv[0] == f"{INSTALL_ROOT}/.venv/bin/cc-ci"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "gc" and not args.dry_run and args.run is None
    example = BridgeConfig.model_validate(yaml.safe_load((SYSTEMD_DIR / "bridge.yml.example").read_text()))
    assert isinstance(example.executor, LocalExecutorConfig)
    assert args.runs_dir == example.executor.runs_dir == LocalExecutorConfig.model_fields["runs_dir"].default
    assert service["User"] == [example.executor.run_user]  # the runs' user: their locks, their env
    assert service["Type"] == ["oneshot"] and "docker" in service["SupplementaryGroups"]
