"""The history (SQLite): rows kept per catalogue run, read back as written; status and history."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runner.catalogue.history import History
from runner.catalogue.matrix import NOT_RUN, Row
from runner.cli import main
from runner.errors import EXIT_BAD_INPUT


def test_rows_are_read_back_as_written_and_previous_skips_this_run(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    first = history.start("cat.yml", 10.0, 7 * 86400)
    alpha = Row("alpha", "a" * 40, 2, "flaky", "new", run_id="r1", run_dir="/runs/r1", target="local",
                retry_run_id="r2", retry_run_dir="/runs/r2", retry_verdict="pass", finished=11.0)
    history.record(first, alpha)
    history.finish(first, 12.0, 0)
    second = history.start("cat.yml", 20.0, 7 * 86400)
    history.record(second, Row("alpha", None, None, NOT_RUN, made=False, error="no target left up", finished=21.0))
    history.close()

    reopened = History(tmp_path / "h.sqlite")
    assert reopened.matrix(first) == [alpha]
    assert reopened.previous("alpha", second) == alpha  # the latest with a result, before this run
    assert reopened.previous("alpha", first) is None
    assert reopened.recent_verdicts(["alpha", "nobody"]) == {"alpha": ["flaky"], "nobody": []}  # a row not made is no verdict
    latest = reopened.latest_run()
    assert latest is not None and (latest.id, latest.finished) == (second, None)
    assert [run for run, _ in reopened.recipe_history("alpha")] == [second, first]


def test_status_prints_the_latest_matrix_and_history_a_recipes_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.sqlite"
    history = History(path)
    now = time.time()
    old = history.start("cat.yml", now - 30 * 86400, 7 * 86400)
    history.record(old, Row("alpha", "a" * 40, 1, "pass", "new", run_id="r0", finished=now - 30 * 86400))
    run = history.start("cat.yml", now - 60, 7 * 86400)
    history.record(run, Row("alpha", "a" * 40, 2, "pass", "improved L1→L2", run_id="r1", finished=now - 50))
    history.record(run, Row("beta", "b" * 40, 1, "pass", "new", run_id="r2", finished=now - 8 * 86400))
    history.finish(run, now - 40, 0)
    history.close()

    assert main(["catalogue", "status", "--history", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"catalogue run #{run} of cat.yml" in out
    assert ["alpha", "a" * 12, "L2", "pass", "improved", "L1→L2", "-"] in [line.split() for line in out.splitlines()]
    assert ["beta", "b" * 12, "L1", "pass", "stale", "-"] in [line.split() for line in out.splitlines()]

    assert main(["catalogue", "status", "--json", "--history", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["recipe"], r["level"], r["change"]) for r in data["rows"]] == [("alpha", 2, "improved L1→L2"), ("beta", 1, "stale")]
    assert data["catalogue_run"]["exit_code"] == 0

    assert main(["catalogue", "history", "alpha", "--history", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [f"#{run}", f"#{old}"]
    assert "L2  pass  improved L1→L2  r1" in lines[0]


def test_status_and_history_without_results_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "h.sqlite")
    assert main(["catalogue", "status", "--history", path]) == EXIT_BAD_INPUT
    assert "no catalogue run in" in capsys.readouterr().err
    assert main(["catalogue", "history", "nobody", "--history", path]) == EXIT_BAD_INPUT
    assert "no catalogue result for recipe 'nobody'" in capsys.readouterr().err
