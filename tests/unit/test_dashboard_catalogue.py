"""`/catalogue` and `/catalogue.json`: the catalogue's matrix, read from a history written by
runner/catalogue/history.py, as the dashboard serves it (and a damaged history as one line)."""

from __future__ import annotations

import os
import sqlite3
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from runner.catalogue.history import History
from runner.catalogue.matrix import Row
from runner.cli import main as cli_main
from runner.dashboard.catalog import RunsDirCatalog
from runner.dashboard.pages import serve_app
from tests.unit.test_dashboard import BROWSER_ACCEPT, EVIL

DAY = 86400.0
WEEK = 7 * DAY
FIRST_BAD = "badc0ffee1234567890abcdef1234567890abcd"


class _Matrix(HTMLParser):
    """recipe -> [(td class, td text, link or None)] of the page's matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[tuple[str, str, str | None]]] = {}
        self._recipe: str | None = None
        self._in: str | None = None
        self._cell: list[str] = []
        self._class = ""
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._recipe = None
        elif tag == "th" and self._recipe is None:
            self._in, self._cell = "th", []
        elif tag == "td":
            self._in, self._cell, self._class, self._href = "td", [], dict(attrs).get("class") or "", None
        elif tag == "a" and self._in == "td":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self._in == "th":
            self._recipe = "".join(self._cell).split(" flaky")[0].strip()
            self.rows.setdefault(self._recipe, [])
            self._in = None
        elif tag == "td" and self._in == "td" and self._recipe is not None:
            self.rows[self._recipe].append((self._class, " ".join("".join(self._cell).split()), self._href))
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self._cell.append(data)


def matrix(html: str) -> dict[str, list[tuple[str, str, str | None]]]:
    parser = _Matrix()
    parser.feed(html)
    return {recipe: cells for recipe, cells in parser.rows.items() if cells}


def row(recipe: str, level: int | None, verdict: str, change: str, finished: float, **extra: object) -> Row:
    run_id = f"run-{recipe[:4]}-{int(finished)}"
    return Row(recipe=recipe, commit="c0ffee" * 7, level=level, verdict=verdict, change=change, run_id=run_id,
               run_dir=f"/runs/{run_id}", target="local", finished=finished, **extra)  # type: ignore[arg-type]


def write_history(path: Path, now: float, latest_age: float = 60.0) -> None:
    """Two catalogue runs: the first all `new`; in the second `alpha` stays, `beta` regresses
    (bisected), `gamma` is flaky, `delta` could not be run (its previous result carried), and
    `EVIL` (a name to escape) passes with no run dir known."""
    history = History(path)
    first = history.start("nightly.yml", now - DAY, WEEK)
    for each in (row("alpha", 3, "pass", "new", now - DAY), row("beta", 2, "pass", "new", now - DAY),
                 row("gamma", 1, "pass", "new", now - DAY), row("delta", 1, "pass", "new", now - DAY)):
        history.record(first, each)
    history.finish(first, now - DAY + 10, 0)
    second = history.start("nightly.yml", now - latest_age - 100, WEEK)
    done = now - latest_age
    for each in (row("alpha", 3, "pass", "=", done),
                 row("beta", 0, "fail", "regressed L2→L0", done, first_bad=FIRST_BAD, first_bad_subject="use an image <that> does not exist"),
                 row("gamma", 1, "flaky", "flaky", done, retry_run_id="run-gamm-retry", retry_verdict="pass"),
                 row("delta", 1, "pass", "", now - DAY, made=False, error="no target took it"),
                 Row(recipe=EVIL, commit=None, level=1, verdict="pass", change="new", run_id="run-evil", finished=done)):
        history.record(second, each)
    history.finish(second, done, 1)
    history.close()


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "catalogue.sqlite"
    write_history(path, time.time())
    return path


def client_for(tmp_path: Path, history: Path) -> TestClient:
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    return TestClient(serve_app(RunsDirCatalog(runs), history=history), raise_server_exceptions=False)


def page(client: TestClient, path: str = "/catalogue") -> str:
    answer = client.get(path, headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"
    return answer.text


def test_each_recipe_shows_its_level_per_catalogue_run_newest_first_coloured_by_verdict(tmp_path: Path, history: Path) -> None:
    cells = matrix(page(client_for(tmp_path, history)))
    assert sorted(cells) == sorted(["alpha", "beta", "gamma", "delta", EVIL])
    alpha_now, alpha_before = cells["alpha"]
    assert alpha_now[0].split()[:2] == ["cell", "pass"] and alpha_now[1].startswith("L3 pass")
    assert alpha_before[0].split()[:2] == ["cell", "pass"] and "new" in alpha_before[1]
    beta_now = cells["beta"][0]
    assert beta_now[0].split()[:2] == ["cell", "fail"] and beta_now[1].startswith("L0 fail")
    gamma_now = cells["gamma"][0]
    assert gamma_now[0].split()[:2] == ["cell", "flaky"] and "pass" not in gamma_now[0].split()
    assert gamma_now[1].startswith("L1 flaky")
    assert cells[EVIL][1] == ("muted", "—", None)  # not in the first run


def test_a_regression_is_marked_with_its_first_bad_commit(tmp_path: Path, history: Path) -> None:
    html = page(client_for(tmp_path, history))
    beta_now, beta_before = matrix(html)["beta"]
    assert "regressed" in beta_now[0].split() and "regressed L2→L0" in beta_now[1]
    assert f"first bad {FIRST_BAD[:12]} use an image <that> does not exist" in beta_now[1]
    assert "&lt;that&gt;" in html  # the commit's subject is escaped
    assert "regressed" not in beta_before[0].split()
    assert all("regressed" not in cell[0].split() for name in ("alpha", "gamma", "delta") for cell in matrix(html)[name])


def test_a_recipe_that_could_not_run_shows_its_previous_result_marked(tmp_path: Path, history: Path) -> None:
    delta_now = matrix(page(client_for(tmp_path, history)))["delta"][0]
    assert "carried" in delta_now[0].split() and "no run made this time: previous result" in delta_now[1]


def test_results_past_the_age_limit_are_marked_stale_in_the_newest_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    write_history(path, time.time(), latest_age=8 * DAY)  # the limit is 7 days
    cells = matrix(page(client_for(tmp_path, path)))
    for name in ("alpha", "beta", "gamma", EVIL):
        assert "stale" in cells[name][0][0].split() and "stale" in cells[name][0][1], name
    assert all("stale" not in cells[name][1][0].split() for name in ("alpha", "beta", "gamma"))  # as recorded


def test_fresh_results_are_not_stale(tmp_path: Path, history: Path) -> None:
    cells = matrix(page(client_for(tmp_path, history)))
    assert not any("stale" in cell[0].split() for each in cells.values() for cell in each)


def test_each_cell_links_to_its_run_page_only_when_its_run_dir_is_known(tmp_path: Path, history: Path) -> None:
    cells = matrix(page(client_for(tmp_path, history)))
    assert cells["alpha"][0][2] is not None and cells["alpha"][0][2].startswith("/runs/run-alph-")
    assert cells["beta"][1][2] is not None and cells["beta"][1][2].startswith("/runs/run-beta-")
    assert cells[EVIL][0][2] is None  # no run dir recorded: no link to a page that would not exist


def test_the_recipe_name_is_escaped(tmp_path: Path, history: Path) -> None:
    html = page(client_for(tmp_path, history))
    assert EVIL not in html and "&lt;script&gt;" in html


def test_runs_param_chooses_how_many_catalogue_runs_and_is_bounded(tmp_path: Path, history: Path) -> None:
    client = client_for(tmp_path, history)
    cells = matrix(page(client, "/catalogue?runs=1"))
    assert all(len(each) == 1 for each in cells.values()) and "delta" in cells
    for bad in ("0", "51", "x", "-1", "1e3"):
        answer = client.get(f"/catalogue?runs={bad}", headers={"Accept": BROWSER_ACCEPT})
        assert answer.status_code == 400 and "runs must be a whole number from 1 to 50" in answer.text
        assert client.get(f"/catalogue.json?runs={bad}").status_code == 400


def test_the_json_is_the_same_matrix(tmp_path: Path, history: Path) -> None:
    answer = client_for(tmp_path, history).get("/catalogue.json")
    assert answer.status_code == 200 and answer.headers["x-content-type-options"] == "nosniff"
    data = answer.json()
    assert data["state"] == "ok" and data["error"] is None and data["columns"] == 10
    assert [run["id"] for run in data["catalogue_runs"]] == [2, 1]
    assert {"id", "file", "started", "finished", "exit_code", "stale_after_s"} == set(data["catalogue_runs"][0])
    by_name = {each["recipe"]: each for each in data["recipes"]}
    assert sorted(by_name) == sorted(["alpha", "beta", "delta", "gamma", EVIL])
    beta_now, beta_before = by_name["beta"]["cells"]
    assert beta_now["level"] == 0 and beta_now["verdict"] == "fail" and beta_now["regressed"] is True
    assert beta_now["first_bad"] == FIRST_BAD and beta_now["change"] == "regressed L2→L0"
    assert beta_now["run_url"].startswith("/runs/run-beta-") and "run_dir" not in beta_now  # no server path
    assert beta_before["level"] == 2 and beta_before["regressed"] is False
    assert by_name["gamma"]["cells"][0]["verdict"] == "flaky" and by_name["gamma"]["cells"][0]["retry_run_id"] == "run-gamm-retry"
    assert by_name["delta"]["cells"][0]["made"] is False and by_name[EVIL]["cells"] == [by_name[EVIL]["cells"][0], None]
    assert by_name[EVIL]["cells"][0]["run_url"] is None


def test_with_no_history_the_page_says_how_to_make_one_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "state" / "catalogue.sqlite"
    client = client_for(tmp_path, missing)
    html = page(client)
    assert "no catalogue run yet" in html and "cc-ci catalogue run FILE" in html
    data = client.get("/catalogue.json").json()
    assert data["state"] == "none" and data["recipes"] == [] and data["how_to_start"] == "cc-ci catalogue run FILE"
    assert not missing.exists() and not missing.parent.exists()  # a reader never makes the file


def test_a_history_without_catalogue_runs_reads_as_none_yet(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite"
    History(path).close()  # the tables, no run
    assert "no catalogue run yet" in page(client_for(tmp_path, path))


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a database at all\n" * 100)


def _truncated(path: Path) -> None:
    write_history(path, time.time())
    path.write_bytes(path.read_bytes()[:1500])


def _folder(path: Path) -> None:
    path.mkdir()


def _no_results_table(path: Path) -> None:
    write_history(path, time.time())
    db = sqlite3.connect(path)
    db.execute("DROP TABLE results")
    db.commit()
    db.close()


def _unreadable(path: Path) -> None:
    write_history(path, time.time())
    path.chmod(0)


@pytest.mark.parametrize("damage", [_garbage, _truncated, _folder, _no_results_table, _unreadable])
def test_a_damaged_history_is_one_error_line_not_a_failed_page(tmp_path: Path, damage: object) -> None:
    path = tmp_path / "secret-place" / "catalogue.sqlite"
    path.parent.mkdir()
    damage(path)  # type: ignore[operator]
    if damage is _unreadable and os.geteuid() == 0:
        pytest.skip("root reads any file")
    client = client_for(tmp_path, path)
    html = page(client)
    assert 'id="history-error"' in html and "the catalogue history could not be read: " in html
    assert "secret-place" not in html  # the page names no server path (the log does)
    answer = client.get("/catalogue.json")
    assert answer.status_code == 503 and answer.json()["state"] == "unreadable"
    assert answer.json()["error"].startswith("the catalogue history could not be read: ")
    assert client.get("/", headers={"Accept": BROWSER_ACCEPT}).status_code == 200  # the other pages stand


def test_a_history_locked_by_a_writer_is_given_up_on_within_seconds(tmp_path: Path, history: Path) -> None:
    writer = sqlite3.connect(history, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        html = page(client_for(tmp_path, history))
        assert time.monotonic() - started < 10
        assert "the catalogue history could not be read: database is locked" in html
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_dashboard_never_writes_the_history(tmp_path: Path, history: Path) -> None:
    before = history.read_bytes()
    history.chmod(0o444)
    history.parent.chmod(0o555)
    try:
        client = client_for(tmp_path, history)
        assert "alpha" in matrix(page(client)) and client.get("/catalogue.json").json()["state"] == "ok"
    finally:
        history.parent.chmod(0o755)
        history.chmod(0o644)
    assert history.read_bytes() == before


def test_serve_refuses_a_history_that_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "runs").mkdir()
    assert cli_main(["serve", "--runs-dir", str(tmp_path / "runs"), "--history", str(tmp_path)]) == 2
    assert f"--history: {tmp_path} is a directory; give the catalogue's history file" in capsys.readouterr().err
