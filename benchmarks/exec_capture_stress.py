"""Stress: many execs at once in live example containers under CPU load; counts how often docker
lost an exec stream (moby#27289) and whether the capture files gave the whole output back.

Each exec prints a known body (`seq 1 N` on stdout, a token on stderr) and is checked byte for
byte. "stream lost" counts the execs whose end markers did not arrive: each of those was an
OutputLost, a red run, before the capture files; now each must be read back whole.

`--drop-every K` also drops both streams of every K-th exec on the harness side, as moby#27289
does now and then, so that reading back runs often enough to count against the real engine.

`python benchmarks/exec_capture_stress.py [--execs 600] [--threads 12] [--services 3] [--burn 2]
[--drop-every K]`. Exit 0 when no exec lost its output or gave a wrong one, 1 otherwise.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from docker.types import EndpointSpec  # noqa: E402

from runner.swarm import reach  # noqa: E402
from runner.swarm.reach import OutputLost, exec_in_app, running_container  # noqa: E402
from runner.swarm.stack import STACK_LABEL  # noqa: E402
from runner.targets.local import connect as docker_client  # noqa: E402

IMAGE = "ccci-local/custom-html-tiny:1.0"
counts: Counter[str] = Counter()
_lock = threading.Lock()


def count(what: str) -> None:
    with _lock:
        counts[what] += 1


def counting_read_back() -> None:
    """Count every exec whose stream lost its markers, and what reading the files back gave."""
    read_back = reach.Capture.read_back

    def wrapped(self: reach.Capture, container: object, raw: reach.RawExec, lost: OutputLost) -> object:
        count("stream lost")
        count(f"stream lost: exit code {'unknown (still running)' if raw.exit_code is None else 'known'}")
        return read_back(self, container, raw, lost)  # type: ignore[arg-type]

    reach.Capture.read_back = wrapped  # type: ignore[method-assign, assignment]


def dropping_streams(every: int) -> None:
    """Drop both streams of every `every`-th exec the capture makes (the engine's answer otherwise kept)."""
    real_exec = reach._exec
    seen = iter(range(1, 1 << 62))

    def lossy(container: object, cmd: object) -> reach.RawExec:
        raw = real_exec(container, cmd)  # type: ignore[arg-type]
        with _lock:
            drop = next(seen) % every == 0
        if drop:
            count("streams dropped on purpose")
            return reach.RawExec(raw.exit_code, "", "")
        return raw

    reach._exec = lossy  # type: ignore[assignment]


def start_services(stack: str, n: int, burn: int) -> list[str]:
    client = docker_client()
    names = []
    for i in range(n):
        name = f"app{i}"
        burner = " ".join(["(while :; do :; done) &"] * burn)  # CPU load inside, as 16 runs on 2 cores give
        client.services.create(IMAGE, ["sh", "-c", f"{burner} exec httpd -f -p 80 -h /srv/www"],
                               name=f"{stack}_{name}", labels={STACK_LABEL: stack},
                               container_labels={STACK_LABEL: stack}, endpoint_spec=EndpointSpec(mode="dnsrr"))
        names.append(name)
    deadline = time.monotonic() + 120
    while not all(running_container(client, stack, s) for s in names):
        if time.monotonic() > deadline:
            raise SystemExit("the services did not start within 120 s")
        time.sleep(0.5)
    return names


def remove_services(stack: str) -> None:
    client = docker_client()
    for service in client.services.list(filters={"label": f"{STACK_LABEL}={stack}"}):
        service.remove()
    deadline = time.monotonic() + 60
    while client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={stack}"}) and time.monotonic() < deadline:
        time.sleep(0.5)


def one_exec(stack: str, service: str, lines: int) -> float:
    token = secrets.token_hex(6)
    started = time.perf_counter()
    try:
        result = exec_in_app(docker_client(), stack, service, ["sh", "-c", 'seq 1 "$0"; echo "tok-$1" >&2', str(lines), token],
                             check=False)
    except OutputLost:
        count("output lost (raised)")
        return time.perf_counter() - started
    expected = "".join(f"{i}\n" for i in range(1, lines + 1))
    if (result.exit_code, result.stdout, result.stderr) == (0, expected, f"tok-{token}\n"):
        count("whole and right")
    else:
        count("wrong output")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execs", type=int, default=600)
    parser.add_argument("--threads", type=int, default=12)
    parser.add_argument("--services", type=int, default=3)
    parser.add_argument("--burn", type=int, default=2, help="busy loops per container")
    parser.add_argument("--lines", type=int, default=300, help="lines each exec prints")
    parser.add_argument("--drop-every", type=int, default=0, help="drop both streams of every K-th exec")
    args = parser.parse_args()
    stack = f"ccci-execstress-{secrets.token_hex(3)}"
    counting_read_back()
    if args.drop_every:
        dropping_streams(args.drop_every)
    try:
        services = start_services(stack, args.services, args.burn)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            times = list(pool.map(lambda i: one_exec(stack, services[i % len(services)], args.lines),
                                  range(args.execs)))
        wall = time.perf_counter() - started
    finally:
        remove_services(stack)
    ms = sorted(t * 1000 for t in times)
    print(f"{args.execs} execs, {args.threads} threads, {args.services} containers with {args.burn} busy "
          f"loop(s) each, {args.lines} lines per exec: {wall:.1f} s")
    print(f"exec latency: median {statistics.median(ms):.0f} ms, p90 {ms[int(len(ms) * 0.9)]:.0f} ms, "
          f"max {ms[-1]:.0f} ms")
    for what in ("whole and right", "streams dropped on purpose", "stream lost", "stream lost: exit code known",
                 "stream lost: exit code unknown (still running)", "output lost (raised)", "wrong output"):
        print(f"  {what}: {counts[what]}")
    return 0 if counts["whole and right"] == args.execs else 1


if __name__ == "__main__":
    sys.exit(main())
