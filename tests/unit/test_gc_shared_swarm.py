"""gc on a swarm two harness hosts share: this host's runs are judged by their lock, another
host's only by the age of their heartbeat stamp against the TTL; the boundary is exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.swarm.gc import FoundRun, judge, parse_time

OWN, OTHER, TTL = "ci-a-1234abcd", "ci-b-5678ef01", 900.0
STAMP = 1_800_000_000.0


def _other(stamp: float | None = STAMP, created: float | None = None) -> FoundRun:
    return FoundRun("app_b", "run-b", OTHER, Path("/elsewhere/run-b"), stamp, created)


def _judge(run: FoundRun, now: float, alive: bool = False) -> tuple[bool, str]:
    verdict = judge(run, own_host=OWN, runs_dir=Path("/runs"), now=now, ttl_s=TTL, lock_alive=lambda path: alive)
    return verdict.remove, verdict.why


def test_a_stamp_exactly_ttl_old_is_kept_and_a_moment_older_goes() -> None:
    assert _judge(_other(), now=STAMP + TTL)[0] is False
    assert _judge(_other(), now=STAMP + TTL + 0.001)[0] is True
    assert _judge(_other(), now=STAMP + 1)[0] is False


def test_another_hosts_run_is_never_judged_by_a_lock_this_host_cannot_see() -> None:
    # its run dir is not on this machine: the old gc called that dead; now only the stamp counts
    remove, why = _judge(_other(), now=STAMP + 60, alive=False)
    assert remove is False and f"host {OTHER}'s heartbeat is 60s old, within the TTL of 900s" in why
    remove, why = _judge(_other(), now=STAMP + 901, alive=True)
    assert remove is True and "past the TTL of 900s" in why


def test_this_hosts_runs_and_unlabelled_ones_are_judged_by_their_lock_whatever_their_stamp() -> None:
    for host in (OWN, None):
        run = FoundRun("app_a", "run-a", host, Path("/runs/run-a"), stamp=STAMP - 10 * TTL)
        assert _judge(run, now=STAMP, alive=True) == (False, "its run holds the lock on /runs/run-a: live")
        assert _judge(run, now=STAMP, alive=False)[0] is True


def test_a_foreign_run_without_a_stamp_is_judged_by_its_newest_object_and_without_either_kept() -> None:
    assert _judge(_other(stamp=None, created=STAMP), now=STAMP + TTL + 1) == (
        True, f"host {OTHER}'s newest object (no heartbeat) is 901s old, past the TTL of 900s")
    assert _judge(_other(stamp=None, created=None), now=STAMP + 10 * TTL)[0] is False


@pytest.mark.parametrize(("text", "seconds"), [
    ("2027-01-15T08:00:00.123456789Z", 1_800_000_000.123456),
    ("2027-01-15T09:00:00+01:00", 1_800_000_000.0),
])
def test_docker_times_parse_with_nanoseconds_and_offsets(text: str, seconds: float) -> None:
    assert parse_time(text) == pytest.approx(seconds)
