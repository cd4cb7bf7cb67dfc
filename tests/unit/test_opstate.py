"""Op state as assertion files read it."""

from __future__ import annotations

import pytest

from runner.run.opstate import OpNotRun, OpRecord, OpState


def test_reading_an_op_that_did_not_run_says_so_with_the_stages() -> None:
    state = OpState(run_id="r", recipe="x", head_commit="0" * 40, stages=["install", "upgrade"],
                    ops={"install": OpRecord(op="install")})
    assert state["install"].op == "install"
    with pytest.raises(OpNotRun) as raised:
        state["backup"]
    assert str(raised.value).startswith("op 'backup' did not run in this run (STAGES=install,upgrade)")
    with pytest.raises(KeyError):  # still a KeyError for code that catches one
        state["backup"]
