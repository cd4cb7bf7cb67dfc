"""`cc-ci` command: parses arguments and dispatches to one module per command."""

from __future__ import annotations

import argparse
import importlib
import sys

from runner.errors import CcciError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cc-ci",
        description="CI harness for Co-op Cloud recipes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(cmd)
        cmd.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._main(args))
    except CcciError as err:
        print(f"cc-ci: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("cc-ci: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
