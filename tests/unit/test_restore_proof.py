"""The restore's proof, pure: the read-back's verdict on each restored file (as taken, rewritten
by the app since the restore began, or not as taken), and the witness files' names and content."""

from __future__ import annotations

from runner.evidence.proof import (
    Seen,
    changed_since_restore,
    judge_read_back,
    sha256,
    witness_content,
    witness_name,
    witness_places,
)
from runner.run.opstate import WITNESS_PREFIX, BackedUpFile, Witness

BEGAN = 1_000  # the restore began writing at this second (the engine's clock)
OLD = 900  # mtimes the snapshot restores: from before the backup


def _file(path: str, data: bytes) -> BackedUpFile:
    return BackedUpFile(volume="data", path=path, size=len(data), sha256=sha256(data))


WITNESS = Witness(volume="data", path=f"{WITNESS_PREFIX}1", sha256=sha256(b"planted"))
TAKEN = [_file("db/main.db", b"rows"), _file("db/heartbeat", b"tick 1"),
         BackedUpFile(volume="data", path=WITNESS.path, size=7, sha256=WITNESS.sha256)]


def _as_restored() -> dict[tuple[str, str], Seen]:
    return {("data", "db"): Seen(OLD), ("data", "db/main.db"): Seen(OLD, sha256(b"rows")),
            ("data", "db/heartbeat"): Seen(OLD, sha256(b"tick 1")), ("data", WITNESS.path): Seen(OLD, WITNESS.sha256)}


def test_a_restore_read_back_as_written_verifies_every_file() -> None:
    judged = judge_read_back(TAKEN, _as_restored(), BEGAN, [WITNESS])
    assert (judged.verified, judged.rewritten_by_app, judged.mismatched) == (3, [], [])


def test_a_file_the_app_rewrote_since_the_restore_began_is_the_apps_not_a_mismatch() -> None:
    seen = _as_restored() | {("data", "db/heartbeat"): Seen(BEGAN, sha256(b"tick 2"))}
    judged = judge_read_back(TAKEN, seen, BEGAN, [WITNESS])
    assert (judged.verified, judged.rewritten_by_app, judged.mismatched) == (2, ["data:db/heartbeat"], [])


def test_a_file_the_app_removed_since_the_restore_began_is_the_apps_not_a_mismatch() -> None:
    seen = _as_restored() | {("data", "db"): Seen(BEGAN + 1)}  # a removal stamps its directory
    del seen[("data", "db/heartbeat")]
    assert judge_read_back(TAKEN, seen, BEGAN, [WITNESS]).rewritten_by_app == ["data:db/heartbeat"]


def test_a_restore_that_wrote_nothing_back_is_caught_even_while_the_app_writes() -> None:
    # the volume as it was before the restore: the witness changed after the backup, the
    # heartbeat rewritten by the app just now, the rest unchanged since the backup
    seen = _as_restored() | {("data", WITNESS.path): Seen(OLD + 50, sha256(b"changed after the backup")),
                             ("data", "db/heartbeat"): Seen(BEGAN + 2, sha256(b"tick 9"))}
    judged = judge_read_back(TAKEN, seen, BEGAN, [WITNESS])
    assert judged.mismatched == [f"data:{WITNESS.path} (differs)"]
    assert judged.rewritten_by_app == ["data:db/heartbeat"] and judged.verified == 1


def test_a_restore_that_wrote_nothing_back_is_caught_when_nothing_changed_since_the_backup() -> None:
    seen = _as_restored() | {("data", WITNESS.path): Seen(OLD + 50, sha256(b"changed after the backup"))}
    assert judge_read_back(TAKEN, seen, BEGAN, [WITNESS]).mismatched == [f"data:{WITNESS.path} (differs)"]


def test_a_witness_is_never_the_apps_doing() -> None:
    seen = _as_restored() | {("data", WITNESS.path): Seen(BEGAN + 5, sha256(b"whatever"))}
    assert judge_read_back(TAKEN, seen, BEGAN, [WITNESS]).mismatched == [f"data:{WITNESS.path} (differs)"]


def test_stale_bytes_written_before_the_restore_began_are_a_mismatch() -> None:
    # a pre-restore hook (or the app) changed it before the restore: the restore had to write it back
    seen = _as_restored() | {("data", "db/main.db"): Seen(BEGAN - 1, sha256(b"clobbered"))}
    judged = judge_read_back(TAKEN, seen, BEGAN, [WITNESS])
    assert judged.mismatched == ["data:db/main.db (differs)"] and judged.rewritten_by_app == []


def test_a_file_gone_from_a_directory_untouched_since_is_a_mismatch() -> None:
    seen = _as_restored()
    del seen[("data", "db/main.db")]
    assert judge_read_back(TAKEN, seen, BEGAN).mismatched == ["data:db/main.db (missing)"]
    del seen[("data", "db")]  # nothing of its directory read back either
    assert "data:db/main.db (missing)" in judge_read_back(TAKEN, seen, BEGAN).mismatched


def test_what_the_app_changed_after_the_restore_leaves_out_witnesses_and_files_judged_already() -> None:
    live = {("data", "db/main.db"): sha256(b"rows 2"), ("data", "db/heartbeat"): sha256(b"tick 3"),
            ("data", WITNESS.path): sha256(b"gone wrong")}
    assert changed_since_restore(TAKEN, live, witnesses=[WITNESS]) == ["data:db/main.db", "data:db/heartbeat"]
    assert changed_since_restore(TAKEN, live, skip={"data:db/heartbeat"}, witnesses=[WITNESS]) == ["data:db/main.db"]
    assert changed_since_restore(TAKEN, {("data", "db/main.db"): sha256(b"rows")}, witnesses=[WITNESS]) == [
        "data:db/heartbeat"]  # gone counts as changed


def test_witnesses_are_named_so_and_unique_and_say_what_they_are() -> None:
    names = {witness_name() for _ in range(50)}
    assert len(names) == 50 and all(n.startswith(".cc-ci-witness-") for n in names)
    first, second = witness_content("planted before the backup"), witness_content("planted before the backup")
    assert first != second and b"cc-ci witness file" in first and b"safe to delete" in first


def test_a_witness_goes_in_each_backed_up_path_or_the_root_of_a_whole_volume() -> None:
    assert witness_places({"data": ["dumps", "uploads"], "content": []}) == [
        ("content", ""), ("data", "dumps"), ("data", "uploads")]


STAMPED = {key: seen.mtime for key, seen in _as_restored().items()}  # the snapshot's times, as the restore stamps them


def test_bytes_the_app_wrote_between_the_restores_write_and_its_time_stamp_are_the_apps() -> None:
    # the engine writes a file's bytes, then stamps the snapshot's mtime: a heartbeat rewritten in
    # between reads back with new bytes under the old time (a false red seen in a 10-run stress)
    seen = _as_restored() | {("data", "db/heartbeat"): Seen(OLD, sha256(b"tick 2"))}
    judged = judge_read_back(TAKEN, seen, BEGAN, [WITNESS], STAMPED)
    assert (judged.verified, judged.rewritten_by_app, judged.mismatched) == (2, ["data:db/heartbeat"], [])
    assert judge_read_back(TAKEN, seen, BEGAN, [WITNESS]).mismatched == ["data:db/heartbeat (differs)"]


def test_a_file_the_app_removed_before_its_directory_was_stamped_is_the_apps() -> None:
    seen = _as_restored()
    del seen[("data", "db/heartbeat")]  # its directory still carries the time the restore stamped
    assert judge_read_back(TAKEN, seen, BEGAN, [WITNESS], STAMPED).rewritten_by_app == ["data:db/heartbeat"]


def test_a_restore_that_wrote_nothing_is_still_caught_with_the_stamped_times_known() -> None:
    # nothing was written: the app's own earlier times are there, never the snapshot's
    seen = _as_restored() | {("data", WITNESS.path): Seen(OLD + 50, sha256(b"changed after the backup")),
                             ("data", "db/main.db"): Seen(BEGAN - 5, sha256(b"rows 2"))}
    judged = judge_read_back(TAKEN, seen, BEGAN, [WITNESS], STAMPED)
    assert judged.mismatched == ["data:db/main.db (differs)", f"data:{WITNESS.path} (differs)"]
