"""A catalogue run's regressions POSTed to the file's webhook (opt-in), against a loopback HTTP
stand-in: the body, the scrubbing, the bounded timeout, and that a webhook failing never changes
the catalogue run's exit code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.catalogue import process
from runner.catalogue.matrix import Row
from runner.catalogue.report import comment_body, payload, report_webhook, where
from runner.cli import main as cli_main
from runner.plumbing.scrub import MASK, scrubber
from tests.unit.catalogue.fakes import FakeRuns
from tests.unit.catalogue.hook import Hook


@pytest.fixture
def hook() -> Iterator[Hook]:
    made = Hook()
    yield made
    made.close()


def _regressed(recipe: str = "alpha", error: str | None = None) -> Row:
    return Row(recipe=recipe, commit="b" * 40, level=0, verdict="fail", change="regressed L1→L0",
               run_id="run-2", target="local", error=error, first_bad="d" * 40, first_bad_subject="break it",
               bisect_why="the first commit that does not reach L1 install")


def test_the_webhook_gets_one_json_of_the_regressions_only(hook: Hook) -> None:
    said: list[str] = []
    rows = [_regressed(), Row(recipe="beta", commit="c" * 40, level=1, verdict="pass", change="=")]
    assert report_webhook(hook.url, 5, 7, "nightly.yml", rows, said.append) is True
    (body,) = hook.posts
    assert body["event"] == "cc-ci.catalogue.regression" and body["catalogue_run"] == 7
    assert [r["recipe"] for r in body["regressions"]] == ["alpha"]
    assert body["regressions"][0]["first_bad"] == "d" * 40
    assert body["regressions"][0]["change"] == "regressed L1→L0"
    # the log shows where, never the URL's path (a webhook's path is often its token)
    assert said == [f"report: 1 regression(s) posted to webhook {where(hook.url)}"]
    assert "s3cr3t" not in " ".join(said)


def test_nothing_regressed_posts_nothing(hook: Hook) -> None:
    rows = [Row(recipe="beta", commit="c" * 40, level=1, verdict="pass", change="=")]
    assert report_webhook(hook.url, 5, 7, "nightly.yml", rows, lambda _: None) is None
    assert payload(7, "f", rows) is None and hook.posts == []


def test_the_report_is_scrubbed_as_every_output(hook: Hook) -> None:
    scrubber.add("hunter2-the-secret")
    row = _regressed(error="clone of https://bot:tok3n@git.example.org/r.git failed; password hunter2-the-secret")
    report_webhook(hook.url, 5, 7, "nightly.yml", [row], lambda _: None)
    sent = json.dumps(hook.posts[0])
    assert "hunter2-the-secret" not in sent and MASK in sent
    assert "tok3n" not in sent and "https://***@git.example.org" in sent
    body = comment_body(7, "nightly.yml", row, "<!-- m -->")
    assert "hunter2-the-secret" not in body and "tok3n" not in body


@pytest.mark.parametrize("failure", ["http-500", "slow", "refused"])
def test_a_failing_webhook_is_one_line_and_never_raises(hook: Hook, failure: str) -> None:
    said: list[str] = []
    url = hook.url
    if failure == "http-500":
        hook.status = 500
    elif failure == "slow":
        hook.delay_s = 3.0
    else:
        hook.close()
    started = time.monotonic()
    assert report_webhook(url, 0.5, 7, "nightly.yml", [_regressed()], said.append) is False
    assert time.monotonic() - started < 2.5  # bounded by the timeout, not by the slow webhook
    (line,) = said
    assert line.startswith(f"report: webhook {where(url)} ") and "the regressions are in the matrix" in line
    assert ("HTTP 500" in line) == (failure == "http-500")


def test_catalogue_run_posts_its_regression_and_a_dead_webhook_keeps_its_exit_code(
        hook: Hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`cc-ci catalogue run` with `report: {webhook: …}`: a regression is posted; the exit code is
    the matrix's (1) whether the webhook answered or not."""
    runs = FakeRuns(answers={"alpha": [(1, "pass", 0, "c1"), (0, "fail", 1, "c2"), (1, "pass", 0, "c3"),
                                       (0, "fail", 1, "c4")]})
    monkeypatch.setattr(process, "run_on", lambda target, **_: runs.run_on(target))
    catalogue = tmp_path / "nightly.yml"
    argv = ["catalogue", "run", str(catalogue), "--no-bisect", "--no-retry", "--history", str(tmp_path / "h.sqlite")]
    catalogue.write_text(f"stages: install\nreport: {{webhook: '{hook.url}', timeout_seconds: 1}}\n"
                         "recipes:\n  - name: alpha\n")
    assert cli_main(argv) == 0 and hook.posts == []  # new: nothing regressed, nothing posted
    assert cli_main(argv) == 1
    assert [r["recipe"] for r in hook.posts[0]["regressions"]] == ["alpha"]
    hook.status = 503
    assert cli_main(argv) == 0  # improved L0→L1
    assert cli_main(argv) == 1  # regressed again, the webhook answers 503: still the matrix's 1
    assert "report: webhook http://127.0.0.1:" in capsys.readouterr().err


def test_a_webhook_that_is_not_http_is_refused_naming_the_field(tmp_path: Path) -> None:
    from runner.catalogue.file import load
    from runner.errors import BadInput

    path = tmp_path / "c.yml"
    path.write_text("report: {webhook: 'ftp://x'}\nrecipes:\n  - name: alpha\n")
    with pytest.raises(BadInput, match=r"report\.webhook: must be an http:// or https:// URL"):
        load(path)
