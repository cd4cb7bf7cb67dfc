"""The runs dir's index (runner/run/runindex.py): a run writes its row when its results are
written; the pages read rows, not run dirs; run dirs without a row (older runs, killed runs, a
missing, damaged or unreadable index) still show and are caught up; 16 runs ending at once all
land; a damaged or tampered index never fails a page."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from runner.dashboard import catalog as dashboard_catalog
from runner.dashboard.catalog import (
    RunEntry,
    RunsDirCatalog,
    entry_from_run_dir,
    is_run_dir,
    newest_first,
)
from runner.dashboard.pages import serve_app
from runner.record.results import RunResult, write_reports
from runner.run import runindex
from runner.run.rundir import RunDir
from runner.run.runlock import run_lock
from runner.tiers.tier import TierResult
from tests.unit.test_dashboard import BROWSER_ACCEPT, make_run
from tests.unit.test_dashboard_damage import DAMAGES

RUN_A, RUN_B, RUN_C = "20260101-000000-aaaaaa", "20260102-000000-bbbbbb", "20260103-000000-cccccc"


def _get(runs: Path, path: str, catalog: RunsDirCatalog | None = None) -> tuple[int, str]:
    client = TestClient(serve_app(catalog or RunsDirCatalog(runs)), raise_server_exceptions=False)
    answer = client.get(path, headers={"Accept": BROWSER_ACCEPT})
    return answer.status_code, answer.text


def _rescan(runs: Path) -> list[RunEntry]:
    """The pages before the index: every run dir read."""
    found = [entry_from_run_dir(path) for path in runs.iterdir() if is_run_dir(path)]
    return newest_first([entry for entry in found if entry is not None])


def _without_read(entries: list[RunEntry]) -> list[RunEntry]:
    return [replace(entry, read=None) for entry in entries]


def _reads_of_run_dirs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every run dir the pages open to list it, by name."""
    opened: list[str] = []
    real = dashboard_catalog.entry_from_run_dir

    def counting(path: Path) -> RunEntry | None:
        opened.append(path.name)
        return real(path)

    monkeypatch.setattr(dashboard_catalog, "entry_from_run_dir", counting)
    return opened


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    folder = tmp_path / "runs"
    make_run(folder, RUN_A, recipe="alpha", mtime=1_000_000)
    make_run(folder, RUN_B, recipe="alpha", verdict="fail", level=3, mtime=2_000_000)
    make_run(folder, RUN_C, recipe="beta", pr=7, mtime=3_000_000)
    return folder


# writing: where a run's results are written


def _result(run_id: str, runs: Path, **fields: object) -> RunResult:
    result = RunResult(run_id=run_id, recipe="gamma", ref="0123abcd", pr=None, stages=["install", "upgrade"],
                       run_dir=str(runs / run_id), catalogue="gamma", duration_s=42.0,
                       tiers=[TierResult("install", "pass"), TierResult("upgrade", "fail")])
    for name, value in fields.items():
        setattr(result, name, value)
    return result


def test_a_run_writes_its_row_when_its_results_are_written(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    files = RunDir.at(runs, RUN_A)
    files.logs.mkdir(parents=True)
    write_reports(_result(RUN_A, runs), files)
    row = runindex.read_rows(runs, [RUN_A])[RUN_A]
    written = json.loads(files.results.read_text())
    assert (row.recipe, row.verdict, row.level, row.ref, row.pr, row.catalogue, row.stage_names) == \
        ("gamma", "fail", written["level"], "0123abcd", None, "gamma", ("install", "upgrade"))
    assert row.finished_at == files.results.stat().st_mtime and row.started_at == pytest.approx(row.finished_at - 42.0)
    assert runindex.current(row, files.root)
    with sqlite3.connect(runindex.index_path(runs)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_run_whose_index_cannot_be_written_still_writes_its_results(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    files = RunDir.at(runs, RUN_A)
    files.logs.mkdir(parents=True)
    runindex.index_path(runs).mkdir()  # not a file SQLite can open
    write_reports(_result(RUN_A, runs), files)
    assert json.loads(files.results.read_text())["recipe"] == "gamma"
    assert _get(runs, "/recipes/gamma")[0] == 200 and RUN_A in _get(runs, "/recipes/gamma")[1]


def _record_many(runs: str, run_ids: list[str]) -> None:
    for run_id in run_ids:
        runindex.record_run(Path(runs) / run_id)


def test_sixteen_runs_ending_at_once_all_land_in_the_index(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    writers = [[f"20260101-{writer:06d}-{run:06x}" for run in range(20)] for writer in range(16)]
    for run_ids in writers:
        for run_id in run_ids:
            make_run(runs, run_id, recipe=f"r{run_id[-2:]}")
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_record_many, args=(str(runs), run_ids)) for run_ids in writers]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    every = [run_id for run_ids in writers for run_id in run_ids]
    assert sorted(runindex.read_rows(runs, every)) == sorted(every)


# reading: the pages


def test_the_list_pages_read_the_index_and_open_no_run_dir(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for run_id in (RUN_A, RUN_B, RUN_C):
        runindex.record_run(runs / run_id)
    opened = _reads_of_run_dirs(monkeypatch)
    for path in ("/", "/recipes/alpha", "/badge/alpha.svg", "/runs"):
        status, page = _get(runs, path)
        assert status == 200, path
    assert opened == []
    assert "L3 fail" in _get(runs, "/badge/alpha.svg")[1]
    assert RUN_A in _get(runs, "/recipes/alpha")[1] and RUN_B in _get(runs, "/recipes/alpha")[1]


def test_a_long_lived_reader_sees_rows_written_since_and_an_index_made_afresh(runs: Path) -> None:
    reader = runindex.IndexReader(runs)
    assert reader.rows([RUN_A, RUN_B]) == {}
    runindex.record_run(runs / RUN_A)
    assert sorted(reader.rows([RUN_A, RUN_B])) == [RUN_A]  # another connection wrote: data_version moved
    runindex.record_run(runs / RUN_B)
    assert sorted(reader.rows([RUN_A, RUN_B])) == [RUN_A, RUN_B]
    for end in ("-wal", "-shm"):  # the WAL holds the rows until a checkpoint: damage it all
        runindex.index_path(runs).with_name(runindex.INDEX_NAME + end).unlink(missing_ok=True)
    _not_sqlite(runindex.index_path(runs))
    assert reader.rows([RUN_A, RUN_B]) == {}
    runindex.record_run(runs / RUN_B)  # made afresh: another file
    assert sorted(reader.rows([RUN_A, RUN_B])) == [RUN_B]
    reader.close()


def test_the_index_lists_what_a_rescan_lists(runs: Path) -> None:
    make_run(runs, "20260104-000000-dddddd", recipe="beta", verdict="empty", level=0)
    assert _without_read(RunsDirCatalog(runs).entries()) == _without_read(_rescan(runs))  # caught up from the dirs
    indexed = RunsDirCatalog(runs).entries()
    assert all(entry.read is None for entry in indexed)  # every one from its row
    assert indexed == _without_read(_rescan(runs))


def test_run_dirs_without_a_row_show_and_finished_ones_are_caught_up(
    runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runindex.record_run(runs / RUN_A)  # the only run that ended after the index came
    lost = runs / "20260104-000000-dddddd"
    (lost / "logs").mkdir(parents=True)
    (lost / "app.json").write_text('{"recipe": "alpha"}')  # killed before its end: no results
    with run_lock(make_run(runs, "20260105-000000-eeeeee", recipe="alpha")):  # results written, still running
        states = {entry.run_id: entry.state for entry in RunsDirCatalog(runs).entries()}
        assert states == {RUN_A: "finished", RUN_B: "finished", RUN_C: "finished",
                          lost.name: "lost", "20260105-000000-eeeeee": "running"}
        rows = runindex.read_rows(runs, [*states])
        assert sorted(rows) == [RUN_A, RUN_B, RUN_C]  # caught up; lost and running runs are read each time
    opened = _reads_of_run_dirs(monkeypatch)
    assert _get(runs, "/")[0] == 200
    assert sorted(opened) == sorted([lost.name, "20260105-000000-eeeeee"])


def test_a_removed_run_dir_leaves_the_pages_with_its_row(runs: Path) -> None:
    RunsDirCatalog(runs).entries()
    for path in (runs / RUN_B).rglob("*"):
        if path.is_file():
            path.unlink()
    for path in sorted((runs / RUN_B).rglob("*"), reverse=True):
        path.rmdir()
    (runs / RUN_B).rmdir()
    assert [entry.run_id for entry in RunsDirCatalog(runs).entries()] == [RUN_C, RUN_A]


def test_rows_of_many_removed_run_dirs_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    made = [make_run(runs, f"20260101-000000-{n:06x}", recipe="alpha") for n in range(8)]
    catalog = RunsDirCatalog(runs)
    catalog.entries()
    monkeypatch.setattr(dashboard_catalog, "PRUNE_AFTER", 4)
    for run in made[:5]:  # `cc-ci gc --prune-days` removed them
        for path in sorted(run.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        run.rmdir()
    assert len(catalog.entries()) == 3
    with sqlite3.connect(runindex.index_path(runs)) as db:
        assert sorted(r for (r,) in db.execute("SELECT run_id FROM runs")) == [run.name for run in made[5:]]


# damage: run dirs changed after their row was written, and the index itself


RESULTS_DAMAGES = {name: damage for name, damage in DAMAGES.items() if not name.startswith("run-lock")}


@pytest.mark.parametrize("damage", RESULTS_DAMAGES, ids=list(RESULTS_DAMAGES))
def test_a_results_json_damaged_after_its_row_is_one_line_on_the_page(runs: Path, damage: str) -> None:
    catalog = RunsDirCatalog(runs)
    assert len(catalog.entries()) == 3 and len(runindex.read_rows(runs, [RUN_A, RUN_B, RUN_C])) == 3
    make_damage, why = DAMAGES[damage]
    make_damage(runs / RUN_B)
    for page in ("/", "/runs", "/recipes/alpha", "/badge/alpha.svg", f"/runs/{RUN_B}"):
        assert _get(runs, page, catalog)[0] == 200, page
    (entry,) = [e for e in catalog.entries() if e.run_id == RUN_B]
    assert entry.unreadable is not None and why in entry.unreadable.replace("&#39;", "'")
    assert "unreadable: " in _get(runs, "/runs", catalog)[1]
    assert "L1 pass" in _get(runs, "/badge/alpha.svg", catalog)[1]  # the badge falls back to the good run


@pytest.mark.parametrize("damage", [n for n in DAMAGES if n.startswith("run-lock")])
def test_a_run_lock_damaged_after_its_row_shows_on_the_run_page(runs: Path, damage: str) -> None:
    RunsDirCatalog(runs).entries()
    make_damage, why = DAMAGES[damage]
    make_damage(runs / RUN_B)
    assert _get(runs, "/")[0] == 200 and _get(runs, "/runs")[0] == 200
    assert f"unreadable: {why}" in _get(runs, f"/runs/{RUN_B}")[1].replace("&#39;", "'")


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"this is not an index\x00" * 100)


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1500])


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _symlink(path: Path) -> None:
    (path.parent.parent / "precious").write_text("not the index's\n")
    path.unlink()
    path.symlink_to(path.parent.parent / "precious")


def _symlinked_wal(path: Path) -> None:
    (path.parent.parent / "precious").write_text("not the index's\n")
    path.with_name(path.name + "-wal").unlink(missing_ok=True)
    path.with_name(path.name + "-wal").symlink_to(path.parent.parent / "precious")


def _a_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _table_missing(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE runs")


def _wrong_columns(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE runs")
        db.execute("CREATE TABLE runs (run_id TEXT, recipe TEXT)")
        db.execute("INSERT INTO runs VALUES (?, ?)", (RUN_A, "x"))


def _too_big(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO runs (run_id, recipe, stamp) VALUES ('20990101-000000-ffffff', ?, 'x')",
                   ("x" * 2**21,))  # past the limit the tests set (1 MiB)


INDEX_DAMAGES: dict[str, Callable[[Path], None]] = {
    "not-sqlite": _not_sqlite, "truncated": _truncated, "a-fifo": _fifo, "a-symlink": _symlink,
    "a-symlinked-wal": _symlinked_wal,
    "a-directory": _a_directory, "table-missing": _table_missing, "wrong-columns": _wrong_columns,
    "too-big": _too_big,
}


@pytest.fixture
def small_index_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runindex, "MAX_INDEX_BYTES", 2**20)


@pytest.mark.parametrize("damage", INDEX_DAMAGES, ids=list(INDEX_DAMAGES))
@pytest.mark.usefixtures("small_index_limit")
def test_a_damaged_index_leaves_every_page_answering_from_the_run_dirs(runs: Path, damage: str) -> None:
    RunsDirCatalog(runs).entries()
    runindex.IndexReader(runs).close()
    INDEX_DAMAGES[damage](runindex.index_path(runs))
    catalog = RunsDirCatalog(runs)
    result: list[list[RunEntry]] = []
    worker = threading.Thread(target=lambda: result.append(catalog.entries()), daemon=True)
    worker.start()
    worker.join(10)
    assert result, "no answer within 10 s (a FIFO read?)"
    assert [entry.run_id for entry in result[0]] == [RUN_C, RUN_B, RUN_A]
    for page in ("/", "/recipes/alpha", "/badge/alpha.svg", "/runs"):
        assert _get(runs, page, catalog)[0] == 200, page
    assert "L3 fail" in _get(runs, "/badge/alpha.svg", catalog)[1]


@pytest.mark.parametrize("damage", ["not-sqlite", "truncated", "table-missing", "too-big", "a-symlink",
                                    "a-symlinked-wal", "a-fifo"])
@pytest.mark.usefixtures("small_index_limit")
def test_a_damaged_index_is_made_afresh_by_the_next_writer(runs: Path, damage: str) -> None:
    RunsDirCatalog(runs).entries()
    INDEX_DAMAGES[damage](runindex.index_path(runs))
    RunsDirCatalog(runs).entries()  # reads the dirs, and writes their rows into a new index
    assert sorted(runindex.read_rows(runs, [RUN_A, RUN_B, RUN_C])) == [RUN_A, RUN_B, RUN_C]
    assert not runindex.index_path(runs).is_symlink()
    if "symlink" in damage:  # written through no symlink
        assert (runs.parent / "precious").read_text() == "not the index's\n"


def test_a_tampered_row_is_no_row(runs: Path) -> None:
    RunsDirCatalog(runs).entries()
    with sqlite3.connect(runindex.index_path(runs)) as db:
        db.execute("UPDATE runs SET level = 'high', recipe = 'evil' WHERE run_id = ?", (RUN_B,))
        db.execute("UPDATE runs SET finished_at = 1e308 WHERE run_id = ?", (RUN_A,))
    rows = runindex.read_rows(runs, [RUN_A, RUN_B, RUN_C])
    assert sorted(rows) == [RUN_C]
    entries = {entry.run_id: entry for entry in RunsDirCatalog(runs).entries()}
    assert (entries[RUN_B].recipe, entries[RUN_B].level) == ("alpha", 3)  # read from its dir instead


# the reader of the index, fuzzed: whatever a row holds, it is a valid row or none

_VALUE = st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=40), st.binary(max_size=40), st.booleans(),
                   st.sampled_from([RUN_A, "alpha", "pass", "install,upgrade", "1:2:3", 2**62, -1e300]))


def _is_valid(row: runindex.IndexedRun) -> bool:
    return (runindex.RUN_ID.match(row.run_id) is not None and isinstance(row.recipe, str)
            and isinstance(row.finished_at, float) and abs(row.finished_at) <= runindex.MAX_SECONDS
            and (row.level is None or isinstance(row.level, int)) and isinstance(row.stamp, str))


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALUE, min_size=0, max_size=14))
def test_validated_takes_any_values_and_returns_a_valid_row_or_none(values: list[object]) -> None:
    row = runindex.validated(tuple(values))
    assert row is None or _is_valid(row)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(*[_VALUE] * 12), max_size=6))
def test_read_rows_takes_any_index_and_never_raises(tmp_path: Path, rows: list[tuple[object, ...]]) -> None:
    runs = tmp_path / "fuzz"
    runs.mkdir(exist_ok=True)
    runindex.index_path(runs).unlink(missing_ok=True)
    with sqlite3.connect(runindex.index_path(runs)) as db:
        db.execute("CREATE TABLE runs (run_id, recipe, verdict, level, started_at, finished_at, duration_s, pr, "
                   "ref, stages, catalogue, stamp)")
        db.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [(RUN_A, *row[1:]) if i == 0 else row for i, row in enumerate(rows)])
    found = runindex.read_rows(runs, [RUN_A, *(str(row[0]) for row in rows)])
    assert all(_is_valid(row) for row in found.values())
