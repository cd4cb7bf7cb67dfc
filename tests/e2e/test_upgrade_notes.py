"""A head that adds a secret, on the local swarm: the run passes (it generates the secret, as CI
must), and its summary (the PR comment's body), results.json and run page name the secret and the
command an operator runs before upgrading a real app."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from runner.dashboard.catalog import RunsDirCatalog
from runner.dashboard.pages import serve_app
from tests.e2e.support import RunOutcome

NOTE = ("the head adds secret smtp_password (v1, length 48): generate it before upgrading, "
        "e.g. `abra app secret generate <domain> smtp_password v1`")


def _add_a_secret(repo: Path) -> None:
    sample = repo / ".env.sample"
    sample.write_text(sample.read_text() + "SECRET_SMTP_PASSWORD_VERSION=v1 # length=48\n")


def test_a_head_that_adds_a_secret_passes_and_tells_the_operator_to_generate_it(
        run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]) -> None:
    repo = recipe_variant(_add_a_secret, "feat: send mail")
    done = run_ci(RECIPE=str(repo), STAGES="upgrade")
    results = done.results
    assert done.returncode == 0, done.stderr[-3000:]
    assert results["upgrade_notes"] == [NOTE] and results["teardown_clean"] is True
    assert f"before upgrading: {NOTE}" in done.stdout + done.stderr
    run_dir = Path(results["run_dir"])
    assert f"- {NOTE}" in (run_dir / "summary.md").read_text()
    page = TestClient(serve_app(RunsDirCatalog(done.runs_dir))).get(
        f"/runs/{run_dir.name}", headers={"Accept": "text/html"}).text
    assert "<h2>Before upgrading</h2>" in page and "abra app secret generate &lt;domain&gt; smtp_password v1" in page
