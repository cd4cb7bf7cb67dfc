"""`cc-ci swarm up|status`: the local substrate (docker engine, swarm, proxy network, images)."""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from runner.drivers.swarm import substrate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up"], help="up: install/start/initialise whatever is missing (idempotent)")


def main(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False)
    started = time.monotonic()
    vips = substrate.ensure_substrate(lambda message: console.print(f"swarm: {message}"))
    console.print(f"swarm: ready (docker engine, single-node swarm, `proxy` network, example images; "
                  f"service VIPs {'work' if vips.work else 'do not work: dnsrr'}) "
                  f"in {time.monotonic() - started:.1f}s")
    return 0
