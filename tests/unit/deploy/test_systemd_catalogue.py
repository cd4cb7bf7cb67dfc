"""deploy/systemd/cc-ci-catalogue.{service,timer}: the nightly catalogue run without the bridge.
They verify with `systemd-analyze verify` (when installed; the verifier is shown to catch a
broken unit), ExecStart is a `cc-ci catalogue run` command line this CLI accepts, and the
service runs as the bridge's run user on its runs dir, into the history its example can show."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.bridge.config import LocalExecutorConfig
from runner.cli import build_parser
from tests.unit.deploy.test_systemd_unit import (
    INSTALL_ROOT,
    SYSTEMD_DIR,
    _directives,
    _rendered,
    needs_verify,
)

SERVICE = SYSTEMD_DIR / "cc-ci-catalogue.service"
TIMER = SYSTEMD_DIR / "cc-ci-catalogue.timer"
GC_SERVICE = SYSTEMD_DIR / "cc-ci-gc.service"


def _verify(tmp_path: Path, service: str, timer: str) -> tuple[int, str]:
    (tmp_path / SERVICE.name).write_text(service)
    (tmp_path / TIMER.name).write_text(timer)
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / SERVICE.name), str(tmp_path / TIMER.name)],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, (done.stdout + done.stderr).strip()


@needs_verify
def test_shipped_catalogue_timer_and_service_verify_without_a_word(tmp_path: Path) -> None:
    assert _verify(tmp_path, _rendered(SERVICE.read_text()), TIMER.read_text()) == (0, "")


@needs_verify
@pytest.mark.parametrize(("unit", "break_it", "complaint"), [
    ("timer", lambda t: t.replace("OnCalendar=*-*-* 03:00:00 UTC", "OnCalendar=nightly-ish"), "calendar specification"),
    ("timer", lambda t: t.replace("Persistent=", "Persistant="), "Unknown key 'Persistant'"),
    ("service", lambda t: t.replace("Type=oneshot", "Type=once"), "Failed to parse service type"),
    ("service", lambda t: t.replace("/.venv/bin/cc-ci", "/.venv/bin/cc-ci-missing"), "is not executable"),
], ids=["bad-calendar", "misspelt-timer-key", "bad-service-type", "missing-binary"])
def test_verify_catches_a_broken_catalogue_unit(tmp_path: Path, unit: str, break_it: Callable[[str], str],
                                               complaint: str) -> None:
    service, timer = _rendered(SERVICE.read_text()), TIMER.read_text()
    if unit == "timer":
        timer = break_it(timer)
    else:
        service = break_it(service)
    code, output = _verify(tmp_path, service, timer)
    assert complaint in output, output


def test_the_timer_starts_the_shipped_service_nightly_and_catches_up_once() -> None:
    timer = _directives(TIMER.read_text())
    assert "Unit" not in timer and SERVICE.stem == TIMER.stem  # a timer starts its namesake service
    assert timer["OnCalendar"] == ["*-*-* 03:00:00 UTC"] and timer["Persistent"] == ["true"]


def test_the_service_runs_the_catalogue_as_the_run_user_on_the_bridges_runs_dir() -> None:
    service = _directives(SERVICE.read_text())
    argv = shlex.split(service["ExecStart"][0])
    assert argv[0] == f"{INSTALL_ROOT}/.venv/bin/cc-ci"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.catalogue_command) == ("catalogue", "run")
    assert args.file == Path("/etc/cc-ci-catalogue.yml") and args.retry and args.bisect
    # the history in the unit's own state dir, owned by its User=
    assert args.history_file == Path("/var/lib") / service["StateDirectory"][0] / "catalogue.sqlite"
    assert service["Environment"] == [f"CCCI_RUNS_DIR={LocalExecutorConfig.model_fields['runs_dir'].default}"]
    # the same user as the gc timer's: gc judges the runs it leaves by their locks
    assert service["User"] == _directives(GC_SERVICE.read_text())["User"]
    assert service["Type"] == ["oneshot"] and "docker" in service["SupplementaryGroups"]
