"""Benchmark: 200 webhook deliveries (with duplicates) sent concurrently to a real `cc-ci bridge`
process on loopback. Prints comment->queued latency p50/p95, runs queued, and lost/duplicated
counts (both must be 0). Not a timed test: run it by hand.

    .venv/bin/python benchmarks/bench_bridge_webhooks.py [--deliveries 200] [--duplicates 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
# The stand-in forge lives with the bridge's tests; the benchmark reuses it.
sys.path.insert(0, str(ROOT))

from tests.unit.bridge.bridge_standins import StandinForge, sign  # noqa: E402

REPO = "coop-cloud/bench-recipe"
SECRET = "bench-webhook-secret"
TOKEN = "bench-forge-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def start_bridge(work: Path, forge_url: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    hold = work / "hold"
    hold.touch()  # the one run the dispatcher starts stays busy; everything else stays queued
    config = {
        "forge": {"url": forge_url, "token": {"env": "BENCH_FORGE_TOKEN"}},
        "webhook": {"secret": {"env": "BENCH_WEBHOOK_SECRET"}, "host": "127.0.0.1", "port": port},
        "repos": {REPO: "bench-recipe"},
        "executor": {
            "kind": "local",
            "command": [sys.executable, str(ROOT / "tests/unit/bridge/fake_run.py")],
            "runs_dir": str(work / "runs"),
            "env": {"FAKE_RUN_LOG": str(work / "runs.jsonl"), "FAKE_RUN_HOLD": str(hold)},
        },
        "state_dir": str(work / "state"),
        "retry": {"attempts": 3, "base_seconds": 0.05, "max_seconds": 0.2},
    }
    (work / "bridge.yml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, BENCH_FORGE_TOKEN=TOKEN, BENCH_WEBHOOK_SECRET=SECRET)
    log = open(work / "bridge.log", "wb")  # noqa: SIM115 -- the bridge process writes to it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner.cli",
            "bridge",
            "--config",
            str(work / "bridge.yml"),
            "--log-level",
            "WARNING",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base, work / "state" / "bridge.sqlite3"
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"bridge did not start; see {work / 'bridge.log'}")
        time.sleep(0.05)


async def deliver_all(
    url: str, deliveries: list[bytes], concurrency: int
) -> list[tuple[float, float, int, str]]:
    """POST the bodies, `concurrency` at a time; returns (sent_at, answered_at, status, result) each."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(body: bytes) -> tuple[float, float, int, str]:
            headers = {
                "X-Gitea-Event": "issue_comment",
                "X-Gitea-Signature": sign(SECRET, body),
                "Content-Type": "application/json",
            }
            async with gate:
                sent = time.time()
                response = await client.post(url, content=body, headers=headers)
                return sent, time.time(), response.status_code, response.json().get("result", "")

        return await asyncio.gather(*(one(body) for body in deliveries))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument(
        "--duplicates",
        type=int,
        default=40,
        help="how many of the deliveries repeat an earlier one",
    )
    parser.add_argument("--concurrency", type=int, default=200, help="deliveries in flight at once")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)
    distinct = args.deliveries - args.duplicates

    forge = StandinForge(TOKEN)
    forge.server.start()
    forge.add_member("coop-cloud", "alice")
    payloads = []
    for number in range(1, distinct + 1):
        forge.add_pull(REPO, number, f"{number:040x}")
        payloads.append(forge.webhook_payload(forge.user_comment(REPO, number, "alice", "!testme")))
    bodies = [json.dumps(p).encode() for p in payloads]
    deliveries = bodies + random.choices(
        bodies, k=args.duplicates
    )  # forge retries: the same delivery again
    random.shuffle(deliveries)

    with tempfile.TemporaryDirectory(prefix="ccci-bench-") as tmp:
        work = Path(tmp)
        proc, base, db_path = start_bridge(work, forge.url)
        try:
            started = time.time()
            answers = asyncio.run(deliver_all(f"{base}/webhook", deliveries, args.concurrency))
            sent_total = time.time() - started
            first_sent: dict[int, float] = {}
            for body, (sent, _, _, _) in zip(deliveries, answers, strict=True):
                comment_id = json.loads(body)["comment"]["id"]
                first_sent[comment_id] = min(sent, first_sent.get(comment_id, sent))
            deadline = time.monotonic() + 60
            while True:
                with sqlite3.connect(db_path) as db:
                    pending = db.execute(
                        "SELECT COUNT(*) FROM inbox WHERE state = 'pending'"
                    ).fetchone()[0]
                    inbox = db.execute(
                        "SELECT delivery_key, outcome, decided_at FROM inbox"
                    ).fetchall()
                    jobs = db.execute("SELECT delivery_key, pr, queued_at FROM jobs").fetchall()
                if pending == 0 and len(inbox) >= distinct or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            (work / "hold").unlink(missing_ok=True)
            forge.server.stop()
            for line in (
                (work / "runs.jsonl").read_text().splitlines()
                if (work / "runs.jsonl").exists()
                else []
            ):
                try:
                    os.kill(json.loads(line)["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass

    statuses = [status for _, _, status, _ in answers]
    results = [result for _, _, _, result in answers]
    queued_latency = [
        queued_at - first_sent[int(key.rsplit("-", 1)[1])] for key, _, queued_at in jobs
    ]
    answer_latency = [answered - sent for sent, answered, _, _ in answers]
    jobs_per_pr: dict[int, int] = {}
    for _, pr, _ in jobs:
        jobs_per_pr[pr] = jobs_per_pr.get(pr, 0) + 1
    lost = distinct - len(jobs_per_pr)
    duplicated = sum(count - 1 for count in jobs_per_pr.values())

    print(
        f"deliveries sent:          {len(deliveries)} ({distinct} distinct comments, {args.duplicates} repeats) in {sent_total:.2f}s, {args.concurrency} in flight"
    )
    print(
        f"HTTP answers:             202 x{statuses.count(202)}, 200 x{statuses.count(200)}, other x{len(statuses) - statuses.count(202) - statuses.count(200)}"
    )
    print(
        f"intake results:           accepted x{results.count('accepted')}, duplicate x{results.count('duplicate')}"
    )
    print(
        f"webhook answer latency:   p50 {statistics.median(answer_latency) * 1000:.1f} ms, p95 {percentile(answer_latency, 95) * 1000:.1f} ms"
    )
    if queued_latency:
        print(
            f"comment->queued latency:  p50 {statistics.median(queued_latency) * 1000:.1f} ms, p95 {percentile(queued_latency, 95) * 1000:.1f} ms, max {max(queued_latency) * 1000:.1f} ms"
        )
    print(f"runs queued:              {len(jobs)} (expected {distinct})")
    print(f"lost:                     {lost}")
    print(f"duplicated:               {duplicated}")
    ok = lost == 0 and duplicated == 0 and len(jobs) == distinct
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
