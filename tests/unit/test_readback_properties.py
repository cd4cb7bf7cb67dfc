"""Property tests of the run-dir readers (results.json, run.json, op_state.json): whatever a file
holds (any JSON, NaN and Infinity included, or any bytes), a reader returns a value or raises its
one documented error, RunFileUnreadable; and every page over such a run dir still answers 200."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from runner.dashboard.catalog import RunsDirCatalog
from runner.dashboard.pages import serve_app
from runner.ops import LIFECYCLE
from runner.run.opstate import OpState
from runner.run.readback import (
    OpStateView,
    Results,
    RunJson,
    read_op_state,
    read_results,
    read_run,
    read_run_json,
)
from runner.run.rundir import RunFileUnreadable
from tests.unit.test_dashboard import BROWSER_ACCEPT, make_run

GOOD, FUZZED = "20260101-000000-aaaaaa", "20260102-000000-bbbbbb"

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**400), max_value=10**400)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _objects_with_keys(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose keys are mostly the ones the reader looks at, so that wrong types are hit."""
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), json_values, max_size=6)


OP_STATE_KEYS = [*OpStateView.model_fields, "run_id", "head_commit", "base", "hops"]
FILES: dict[str, st.SearchStrategy[Any]] = {
    "results.json": _objects_with_keys(list(Results.model_fields)) | json_values,
    "run.json": _objects_with_keys(list(RunJson.model_fields)) | json_values,
    "op_state.json": (_objects_with_keys(OP_STATE_KEYS)
                      | st.builds(lambda ops, rest: {**rest, "ops": ops},
                                  st.dictionaries(st.sampled_from(["install", "backup", "upgrade@1.0", "x"]),
                                                  _objects_with_keys(["op", "snapshot", "duration_s", "seed"]) | json_values,
                                                  max_size=3),
                                  _objects_with_keys(OP_STATE_KEYS))
                      | json_values),
}
READERS: dict[str, Callable[[Path], object]] = {
    "results.json": read_results, "run.json": read_run_json, "op_state.json": read_op_state,
}


def _content(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode() if not isinstance(value, bytes) else value


contents = st.one_of(*(st.tuples(st.just(name), strategy.map(_content) | st.binary(max_size=200))
                       for name, strategy in FILES.items()))


@pytest.fixture(scope="module")
def runs() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ccci-fuzz-")) / "runs"
    make_run(folder, GOOD, recipe="good")
    make_run(folder, FUZZED, recipe="fuzzed")
    (folder / FUZZED / "app.json").write_text('{"recipe": "fuzzed"}')  # the run is found whatever the others hold
    yield folder
    shutil.rmtree(folder.parent)


def _write(runs: Path, name: str, data: bytes) -> Path:
    run = runs / FUZZED
    for each in FILES:
        (run / each).unlink(missing_ok=True)
    (run / name).write_bytes(data)
    return run


@given(contents)
def test_a_reader_returns_a_value_or_raises_only_its_documented_error(runs: Path, content: tuple[str, bytes]) -> None:
    name, data = content
    run = _write(runs, name, data)
    try:
        READERS[name](run)
    except RunFileUnreadable as err:
        assert str(err).startswith(f"{name}: ") and "\n" not in str(err) and str(runs) not in str(err)
    read = read_run(run)  # the whole run: never raises, says why
    assert read.unreadable is None or name in read.unreadable or "run.log" in read.unreadable


@given(contents)
def test_the_fixtures_op_state_reader_returns_a_state_or_raises_only_its_documented_error(
        runs: Path, content: tuple[str, bytes]) -> None:
    _, data = content
    run = _write(runs, "op_state.json", data)
    try:
        OpState.load(run / "op_state.json", LIFECYCLE.records)
    except RunFileUnreadable as err:
        assert str(err).startswith("op_state.json: ")


@pytest.fixture(scope="module")
def client(runs: Path) -> TestClient:
    return TestClient(serve_app(RunsDirCatalog(runs)), raise_server_exceptions=True)


@given(contents)
def test_every_page_answers_whatever_a_run_file_holds(runs: Path, client: TestClient, content: tuple[str, bytes]) -> None:
    name, data = content
    _write(runs, name, data)
    for path in ("/", "/runs", f"/runs/{FUZZED}", f"/runs/{FUZZED}/live", "/badge/good.svg"):
        answer = client.get(path, headers={"Accept": BROWSER_ACCEPT})
        assert answer.status_code == 200, (path, answer.text[-500:])
