"""Spreading runs over targets, moving off a target that went down, retrying a failure: with a
fake RunOne, no process."""

from __future__ import annotations

from runner.catalogue.file import TargetEntry
from runner.catalogue.schedule import Done, Schedule

from .fakes import FakeRuns, recipes

LOCAL, REMOTE = "local", "ssh://ci@swarm-2.example.org"


def schedule(runs: FakeRuns, targets: list[TargetEntry], jobs: int, retry: bool = True) -> Schedule:
    return Schedule(targets=targets, jobs=jobs, run_on=runs.run_on, probe=runs.probe, retry=retry, say=lambda _: None)


def target(name: str, limit: int | None = None) -> TargetEntry:
    return TargetEntry(target=name, limit=limit)


def test_at_most_jobs_runs_at_once_spread_over_targets_by_free_room() -> None:
    runs = FakeRuns(hold_s=0.05)
    done = schedule(runs, [target(LOCAL), target(REMOTE)], jobs=2).run(recipes(*"abcdef"), lambda _: None)
    assert [d.recipe.name for d in done] == list("abcdef")
    assert all(len(d.outcomes) == 1 and d.outcomes[0].passed for d in done)
    assert runs.most["all"] == 2
    assert runs.most[LOCAL] == runs.most[REMOTE] == 1  # the emptier target takes the next run
    assert {call[1] for call in runs.calls} == {LOCAL, REMOTE}


def test_a_target_never_takes_more_than_its_limit() -> None:
    runs = FakeRuns(hold_s=0.05)
    schedule(runs, [target(LOCAL, limit=1), target(REMOTE, limit=2)], jobs=4).run(recipes(*"abcdefgh"), lambda _: None)
    assert runs.most[LOCAL] == 1
    assert runs.most[REMOTE] == 2
    assert runs.most["all"] == 3  # --jobs 4, but the targets take 3 between them


def test_a_target_that_goes_down_hands_its_recipes_to_another_and_says_so() -> None:
    runs = FakeRuns(down={REMOTE}, hold_s=0.02)
    plan = schedule(runs, [target(REMOTE), target(LOCAL)], jobs=2)
    done = plan.run(recipes(*"abcd"), lambda _: None)
    assert all(d.outcomes and d.outcomes[-1].passed and d.outcomes[-1].target == LOCAL for d in done)
    moved = [d for d in done if d.moved_from]
    assert moved and all(d.moved_from == REMOTE for d in moved)
    assert len([call for call in runs.calls if call[1] == REMOTE]) == 1  # taken out after its first failure
    assert plan.notes == [f"target {REMOTE} went down; the recipes left run on {LOCAL}"]


def test_a_refused_connection_before_any_commit_takes_the_target_out_too() -> None:
    # an ssh target that refuses the connection is bad input (exit 2) before anything is cloned
    runs = FakeRuns(down={REMOTE}, down_answer=(0, "error", 2, None))
    plan = schedule(runs, [target(REMOTE), target(LOCAL)], jobs=1)
    (done,) = plan.run(recipes("a"), lambda _: None)
    assert (done.moved_from, [(o.target, o.verdict) for o in done.outcomes]) == (REMOTE, [(LOCAL, "pass")])
    assert plan.notes == [f"target {REMOTE} went down; the recipes left run on {LOCAL}"]


def test_a_refusal_on_a_target_that_answers_is_the_recipes_own() -> None:
    runs = FakeRuns(answers={"a": [(0, "error", 2, None)]})
    plan = schedule(runs, [target(LOCAL), target(REMOTE)], jobs=1)
    (done,) = plan.run(recipes("a"), lambda _: None)
    assert ([o.exit_code for o in done.outcomes], done.moved_from, plan.notes) == ([2], None, [])


def test_when_every_target_is_down_the_recipes_left_are_not_run() -> None:
    runs = FakeRuns(down={LOCAL})
    finished: list[Done] = []
    done = schedule(runs, [target(LOCAL)], jobs=1).run(recipes("a", "b"), finished.append)
    assert [(d.outcomes, d.error) for d in done] == [([], "no target left up (local down)")] * 2
    assert [d.recipe.name for d in finished] == ["a", "b"]


def test_a_failure_is_run_once_more_from_scratch_and_a_refusal_is_not() -> None:
    runs = FakeRuns(answers={"wobbly": [(0, "error", 3, "c1"), (1, "pass", 0, "c1")],
                             "broken": [(0, "fail", 1, "c1")],
                             "refused": [(0, "error", 2, None)]})
    done = {d.recipe.name: d for d in schedule(runs, [target(LOCAL)], jobs=1).run(
        recipes("wobbly", "broken", "refused"), lambda _: None)}
    assert [o.verdict for o in done["wobbly"].outcomes] == ["error", "pass"]
    assert [o.verdict for o in done["broken"].outcomes] == ["fail", "fail"]
    assert [o.verdict for o in done["refused"].outcomes] == ["error"]


def test_no_retry_keeps_the_first_failure() -> None:
    runs = FakeRuns(answers={"wobbly": [(0, "error", 3, "c1"), (1, "pass", 0, "c1")]})
    done = schedule(runs, [target(LOCAL)], jobs=1, retry=False).run(recipes("wobbly"), lambda _: None)
    assert [o.verdict for o in done[0].outcomes] == ["error"]
    assert len(runs.calls) == 1


def test_a_run_that_raises_is_an_error_of_its_recipe_not_the_catalogues_end() -> None:
    def run_on(_: str):  # type: ignore[no-untyped-def]
        def run_one(recipe, commit, stages):  # type: ignore[no-untyped-def]
            raise OSError("fork failed")
        return run_one
    plan = Schedule(targets=[target(LOCAL)], jobs=1, run_on=run_on, probe=lambda _: True, retry=False, say=lambda _: None)
    done = plan.run(recipes("a", "b"), lambda _: None)
    assert [(d.outcomes[0].verdict, d.outcomes[0].error) for d in done] == \
        [("error", "the run could not be started: fork failed")] * 2
