"""`cc-ci` command: parses arguments and dispatches to one module per command."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from runner.errors import CcciError
from runner.plumbing.fastexit import exit_now

# subcommand -> module exposing `add_arguments(parser)` and `main(args) -> int`
COMMANDS = {
    "run": ("runner.commands.run", "run one recipe through its lifecycle stages (same as run_recipe_ci.py)"),
    "check": ("runner.commands.check", "check a recipe's overlays, hooks, meta and file names without deploying"),
    "lint": ("runner.commands.lint", "lint a recipe's files at a ref the way abra's recipe lint does, without deploying"),
    "render": ("runner.commands.render", "print the compose a run would deploy (env, chain, abra.sh exports, labels applied)"),
    "swarm": ("runner.commands.swarm", "set up the local substrate: docker, swarm, proxy network, images"),
    "catalogue": ("runner.commands.catalogue", "run a catalogue of recipes over targets; its matrix, history, flaky and stale"),
    "bisect": ("runner.commands.bisect", "find the first commit between a good and a bad one that loses a rung of the ladder"),
    "gc": ("runner.commands.gc", "remove leftovers of runs that were killed before their teardown"),
    "bridge": ("runner.bridge.command", "serve the !testme bridge (webhook + poller)"),
    "serve": ("runner.commands.serve", "serve the dashboard (pages, badges) from run dirs, without the bridge"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """Every command's parser; given the arguments, only the chosen command's module is imported
    (`cc-ci check` needs neither the bridge nor the dashboard: half a second of imports), the
    others are listed by their help line."""
    parser = argparse.ArgumentParser(
        prog="cc-ci",
        description="CI harness for Co-op Cloud recipes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if chosen is None or name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(cmd)
            cmd.set_defaults(_main=module.main)
    return parser


def _chosen(argv: list[str] | None) -> str | None:
    """The command the arguments name (cc-ci takes no option before it), or None: build them all."""
    first = next((arg for arg in argv or [] if not arg.startswith("-")), None) if argv is not None else None
    return first if first in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args._main(args))
    except CcciError as err:
        print(f"cc-ci: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("cc-ci: interrupted", file=sys.stderr)
        return 130


def entry() -> NoReturn:
    """The `cc-ci` console script: main(), then out without the interpreter's teardown (a run's
    process would spend 0.2–0.5 s freeing what the kernel frees at once)."""
    exit_now(main())


if __name__ == "__main__":
    entry()
