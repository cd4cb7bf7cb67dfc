"""Stand-in for `python -m runner.run_recipe_ci` in the bridge's tests.

Reads the same env vars, appends its invocation to $FAKE_RUN_LOG (JSON lines), waits while
$FAKE_RUN_HOLD exists (so a test can keep runs busy), then writes results.json and summary.md
into $CCCI_RUNS_DIR/$CCCI_RUN_ID with verdict $FAKE_RUN_VERDICT (default pass) and, with
$FAKE_RUN_LEVEL, that level and REF as the commit (a catalogue run's). Its run log
(`logs/run.log`) says, as the orchestrator's would, that the first tier passed and the second
is under way.

With $FAKE_RUN_PROBE (paths separated by `:`) it also tries to read the bridge's environment
(/proc/<parent pid>/environ) and each of those files, and records what happened: "read" or the
exception's name. What it read is not recorded.

With $FAKE_RUN_LEAVE=1 it makes a real swarm object as a run's app would (a secret labelled with
its run id, stack and run dir, as the harness labels its own) and removes it before it exits, as
a teardown would: a run killed in between leaves it behind, for gc to find.

With $FAKE_RUN_CARD (`made` or `making`) it leaves a summary card as a run does: card.png (made
only) and card.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

# run as a file, maybe as another user under a Python without cc-ci installed: the layout of a
# run dir is RunDir's all the same (it needs only the standard library)
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from runner.run.rundir import RunDir  # noqa: E402

EXIT = {"pass": 0, "fail": 1, "error": 3, "empty": 4}
ONE_PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4a40000000049454e44ae426082"
)


def probe(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.read()
    except OSError as err:
        return type(err).__name__
    return "read"


def main() -> int:
    env = os.environ
    invocation: dict[str, object] = {
        k: env.get(k) for k in ("RECIPE", "REF", "PR", "STAGES", "CCCI_RUN_ID", "CCCI_RUNS_DIR")
    }
    if "PR_HEAD_REPO" in env:  # only a fork's PR sets it
        invocation["PR_HEAD_REPO"] = env["PR_HEAD_REPO"]
    invocation["pid"] = os.getpid()
    invocation["at"] = time.time()
    invocation["leaked_env"] = sorted(k for k in env if k.startswith("BRIDGE_TEST_SECRET"))
    if env.get("FAKE_RUN_PROBE"):
        invocation["uid"] = os.getuid()
        targets = [f"/proc/{os.getppid()}/environ", *env["FAKE_RUN_PROBE"].split(":")]
        invocation["probes"] = {target: probe(target) for target in targets}
    with open(env["FAKE_RUN_LOG"], "a") as log:
        log.write(json.dumps(invocation) + "\n")
    run_dir = RunDir.at(Path(env["CCCI_RUNS_DIR"]), env["CCCI_RUN_ID"])
    stages = env["STAGES"].split(",")
    # Like the orchestrator's run log: the first tier has ended, the second is under way.
    run_dir.logs.mkdir(parents=True, exist_ok=True)
    with open(run_dir.run_log, "a") as run_log:
        run_log.write(f"    0.1s deploying {env['REF'][:12]}\n")
        if len(stages) > 1:
            run_log.write(f"    1.0s {stages[0]} tier: pass\n    1.1s {stages[1]}: pre_{stages[1]} hook\n")
    leftover = f"{env['CCCI_RUN_ID']}_ccci_test_leftover" if env.get("FAKE_RUN_LEAVE") == "1" else None
    if leftover:
        stack = leftover.removesuffix("_leftover")
        labels = {"cc-ci.run": env["CCCI_RUN_ID"], "cc-ci.stack": stack, "cc-ci.run-dir": str(run_dir.root)}
        subprocess.run(["docker", "secret", "create", *[f"--label={k}={v}" for k, v in labels.items()],
                        leftover, "-"], input=b"x", check=True, capture_output=True)
        with open(env["FAKE_RUN_LOG"], "a") as log:
            log.write(json.dumps({**invocation, "made": leftover}) + "\n")
    hold = env.get("FAKE_RUN_HOLD")
    while hold and Path(hold).exists():
        time.sleep(0.05)
    if leftover:  # the teardown a killed run never reaches
        subprocess.run(["docker", "secret", "rm", leftover], check=True, capture_output=True)
    verdict = env.get("FAKE_RUN_VERDICT", "pass")
    if env.get("FAKE_RUN_NO_RESULTS") != "1":
        run_dir.summary.write_text(
            f"## fake run of {env['RECIPE']} at {env['REF'][:10]}\n\nstages: {env['STAGES']}\nverdict: {verdict}\n"
        )
        results: dict[str, object] = {"verdict": verdict, "exit_code": EXIT[verdict]}
        if env.get("FAKE_RUN_LEVEL"):  # a catalogue's run: its level on the ladder, and a commit
            results.update(level=int(env["FAKE_RUN_LEVEL"]), head_commit=env.get("REF", "HEAD"))
        run_dir.results.write_text(json.dumps(results))
    if card := env.get("FAKE_RUN_CARD"):
        if card == "made":
            run_dir.card_png.write_bytes(ONE_PIXEL_PNG)
        pid = os.getppid() if card == "making" else None  # a process that outlives this one
        run_dir.card_json.write_text(json.dumps({"state": card, "pid": pid, "png": RunDir.CARD_PNG}))
    return EXIT[verdict]


if __name__ == "__main__":
    sys.exit(main())
