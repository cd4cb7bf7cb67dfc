"""`cc-ci run` flags are the env vars of run_recipe_ci, a flag winning over the environment."""

from __future__ import annotations

import pytest

from runner import cli
from runner.commands import run as run_command


def test_flags_become_the_env_vars_a_run_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, str] = {}
    monkeypatch.setattr(run_command, "run_from_env", lambda environ: seen.update(environ) or 0)
    monkeypatch.setenv("CCCI_APPROVED_FILE", "/from/the/environment")
    assert cli.main(["run", "custom-html-tiny", "--stages", "upgrade", "--overlay-dir", "/o",
                     "--approved-file", "/a.txt", "--skip-generic"]) == 0
    assert (seen["RECIPE"], seen["STAGES"], seen["CCCI_OVERLAY_DIR"]) == ("custom-html-tiny", "upgrade", "/o")
    assert (seen["CCCI_APPROVED_FILE"], seen["CCCI_SKIP_GENERIC"]) == ("/a.txt", "1")


def test_without_a_flag_the_environment_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, str] = {}
    monkeypatch.setattr(run_command, "run_from_env", lambda environ: seen.update(environ) or 0)
    monkeypatch.setenv("CCCI_SKIP_GENERIC", "0")
    cli.main(["run", "custom-html-tiny"])
    assert seen["CCCI_SKIP_GENERIC"] == "0"


def test_upgrade_from_is_a_flag_named_in_help(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, str] = {}
    monkeypatch.setattr(run_command, "run_from_env", lambda environ: seen.update(environ) or 0)
    monkeypatch.setenv("UPGRADE_FROM", "previous")
    assert cli.main(["run", "custom-html-tiny", "--stages", "upgrade", "--upgrade-from", "all"]) == 0
    assert seen["UPGRADE_FROM"] == "all"
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    assert "--upgrade-from" in capsys.readouterr().out
