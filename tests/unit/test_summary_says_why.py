"""summary.md (the PR comment's body) says why a tier went red, in a line, in lifecycle order; it
leaves out what a maintainer cannot act on; the PR comment links the run page, says when a result
comes from a second attempt, and the summary hints at `!testme stages=…` when the default stages
stopped short of a rung."""

from __future__ import annotations

from runner.bridge.reports import finished_body
from runner.ops import LIFECYCLE
from runner.record.results import RunResult, summary_markdown
from runner.tiers.tier import TierResult, first_failure
from tests.unit.bridge.support import a_job as make_job

WITNESS = ("1 of 1 witness file(s) planted at install are not in place after the upgrade: "
           "app:/srv/www/.ccci-witness (missing)")
JUNIT = f"""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="3" failures="2">
<testcase classname="_generic.test_upgrade" name="test_the_upgrade_kept_every_volume"/>
<testcase classname="_generic.test_upgrade" name="test_witnesses_survive"><failure message="AssertionError: {WITNESS}&#10;assert 1 == 0&#10;  where 1 = len([...])">long report</failure></testcase>
<testcase classname="_generic.test_upgrade" name="test_later"><failure message="AssertionError: not this one">x</failure></testcase>
</testsuite></testsuites>"""
DNSRR = "endpoint_mode dnsrr for app: this host's kernel has no IPVS (no /proc/net/ip_vs)"


def _result(**fields: object) -> RunResult:
    defaults: dict[str, object] = {"run_id": "r1", "recipe": "demo", "ref": None, "pr": 3, "run_dir": "/r",
                                   "stages": ["lint", "install", "idempotent"], "rungs": LIFECYCLE.rungs}
    return RunResult(**(defaults | fields))  # type: ignore[arg-type]


def test_the_first_failure_of_a_tier_is_its_first_failed_test_and_message() -> None:
    assert first_failure(JUNIT) == f"test_witnesses_survive: {WITNESS} assert 1 == 0"


def test_each_failed_or_errored_tier_gives_its_first_failure_in_lifecycle_order() -> None:
    result = _result(stages=["install", "upgrade", "backup"], error="backup: restic exited 1: repository locked",
                     tiers=[TierResult("install", "pass", counts={"passed": 5}),
                            TierResult("upgrade", "fail", counts={"passed": 10, "failed": 2},
                                       first_failure=first_failure(JUNIT)),
                            TierResult("backup", "error", error="backup: restic exited 1: repository locked")])
    summary = summary_markdown(result)
    why = summary[summary.index("**why:**"):summary.index("| tier |")]
    assert why.splitlines()[2:4] == [
        f"- **upgrade** ❌ test_witnesses_survive: {WITNESS} assert 1 == 0",
        "- **backup** 💥 backup: restic exited 1: repository locked"]
    assert "The run page has each tier's full output." in why


def test_a_green_summary_has_no_why() -> None:
    assert "**why:**" not in summary_markdown(_result(tiers=[TierResult("install", "pass", counts={"passed": 1})]))


def test_tiers_nobody_asked_for_and_the_hosts_ipvs_note_stay_out_of_the_report() -> None:
    result = _result(tiers=[TierResult("install", "pass", counts={"passed": 1})],
                     deployments=[{"op": "install", "overrides": [DNSRR]}])
    result.add_skipped_tiers(LIFECYCLE.names)
    summary = summary_markdown(result)
    assert "not in STAGES" not in summary.split("**level")[0]  # no `skipped: upgrade (not in STAGES), …`
    body, host = summary.split("<details><summary>about this CI host</summary>")
    assert "IPVS" not in body and f"deploy override: {DNSRR}" in host  # folded away, not in the report


def test_default_stages_that_stop_short_of_a_rung_hint_at_testme_stages() -> None:
    result = _result(tiers=[TierResult("lint", "pass", counts={"passed": 1}),
                            TierResult("install", "pass", counts={"passed": 1}),
                            TierResult("idempotent", "pass", counts={"passed": 1})])
    result.add_skipped_tiers(LIFECYCLE.names)
    assert "To climb L2 upgrade, comment `!testme stages=lint,install,idempotent,upgrade`." in summary_markdown(result)


def test_a_red_that_is_not_about_stages_gives_no_hint() -> None:
    result = _result(tiers=[TierResult("install", "fail", counts={"failed": 1}, first_failure="test_x: boom")])
    result.add_skipped_tiers(LIFECYCLE.names)
    assert "!testme stages=" not in summary_markdown(result)


def test_the_pr_comment_links_the_run_page_at_the_reasons_and_names_a_second_attempt() -> None:
    summary = summary_markdown(_result(tiers=[TierResult("install", "fail", counts={"failed": 1},
                                                         first_failure="test_x: boom")]))
    job = make_job(state="finished", verdict="fail", summary=summary, attempt=2, run_id="recipe-pr1-abcdef-a2")
    body = finished_body(job, "https://ci.example/runs/recipe-pr1-abcdef-a2")
    assert "- **install** ❌ test_x: boom" in body
    assert "[The run page](https://ci.example/runs/recipe-pr1-abcdef-a2) has each tier's full output." in body
    assert "This result comes from attempt 2: run `recipe-pr1-abcdef` was interrupted" in body
    first = make_job(state="finished", verdict="fail", summary=summary)
    assert "attempt" not in finished_body(first, "https://ci.example/runs/x")
