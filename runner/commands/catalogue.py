"""`cc-ci catalogue`: run a catalogue of recipes, show its latest matrix, a recipe's history.

    cc-ci catalogue run FILE [--jobs N] [--target T …] [--no-retry] [--no-bisect]
    cc-ci catalogue status [--json]
    cc-ci catalogue history RECIPE [--json]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from runner.catalogue import file as catalogue_file
from runner.catalogue import process
from runner.catalogue.bisect import bisect
from runner.catalogue.history import History, default_path
from runner.catalogue.matrix import as_of, flaky_recipes, render
from runner.catalogue.report import report_webhook
from runner.catalogue.run import Options, run_catalogue
from runner.catalogue.schedule import RunOn
from runner.errors import BadInput
from runner.run.registry import unknown_docker_host

MAX_JOBS = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="catalogue_command", metavar="SUBCOMMAND", required=True)
    run = sub.add_parser("run", help="run every recipe of a catalogue file and print the matrix",
                         description="Run every recipe of the catalogue file, each one ordinary run, and print "
                         "the matrix: recipe, commit, level, verdict and the change against its previous "
                         "catalogue result (=, new, improved Lx→Ly, regressed Lx→Ly, flaky, stale). "
                         "See docs/catalogue.md.")
    run.add_argument("file", type=Path, help="the catalogue file (YAML; docs/catalogue.md)")
    run.add_argument("--jobs", type=_jobs, default=1, help="runs at once, over all targets (default: 1)")
    run.add_argument("--target", action="append", type=_target, metavar="T",
                     help="run on this target (local or ssh://user@host[:port]) in place of the file's "
                     "targets; repeat for more")
    run.add_argument("--no-retry", dest="retry", action="store_false",
                     help="do not run a failed recipe once more from scratch (no flaky detection)")
    run.add_argument("--no-bisect", dest="bisect", action="store_false",
                     help="do not bisect a regression to its first bad commit (by default each one is, as "
                     "`cc-ci bisect RECIPE --good <previous commit> --bad <this one>` would, on the target it "
                     "regressed on)")
    run.epilog = ("Exit codes: 0 nothing regressed, 1 something regressed, 2 the file is invalid, "
                  "3 a run could not be made (infrastructure: no target took it). With `report: {webhook: URL}` "
                  "in the file, the regressions are POSTed there as JSON; a webhook that fails is one line "
                  "and never changes the exit code. Nightly: the bridge's `nightly:` or "
                  "deploy/systemd/cc-ci-catalogue.timer (docs/catalogue.md, Scheduling).")
    status = sub.add_parser("status", help="print the latest catalogue run's matrix")
    status.add_argument("--json", action="store_true", help="as JSON, for machines")
    history = sub.add_parser("history", help="print a recipe's results over the catalogue runs, newest first")
    history.add_argument("recipe", help="the recipe's name, as in the catalogue file")
    history.add_argument("--json", action="store_true", help="as JSON, for machines")
    for each in (run, status, history):
        each.add_argument("--history", dest="history_file", type=Path, default=None,
                          help="the history file (SQLite; default: <state dir>/catalogue.sqlite)")


def main(args: argparse.Namespace) -> int:
    # a bad file is refused before the history is touched
    catalogue = catalogue_file.load(args.file) if args.catalogue_command == "run" else None
    history = History(args.history_file or default_path())
    try:
        if catalogue is not None:
            return _run(args, catalogue, history)
        return {"status": _status, "history": _history}[args.catalogue_command](args, history)
    finally:
        history.close()


def _run(args: argparse.Namespace, catalogue: catalogue_file.Catalogue, history: History) -> int:
    targets = tuple(catalogue_file.TargetEntry(target=t, limit=None) for t in args.target) if args.target else None
    options = Options(jobs=args.jobs, targets=targets, retry=args.retry, bisect=bisect if args.bisect else None)

    # the recipes' runs are marked as this catalogue run's (the badge follows them), the bisect's are
    # not; both upgrade from the recipe's last green commit when their stages upgrade and it has one
    def marked(catalogue_run: int) -> RunOn:
        return functools.partial(process.run_on, history=history.path, mark=catalogue_run)

    report = run_catalogue(catalogue, history, options, functools.partial(process.run_on, history=history.path),
                           process.probe, _say, marked_run_on=marked)
    print(f"catalogue run #{report.catalogue_run} of {catalogue.path}")
    print(render(report.rows, report.flaky, report.notes), flush=True)
    # after the matrix, and whatever the webhook does, the exit code is the matrix's
    report_webhook(catalogue.report.webhook, catalogue.report.timeout_seconds, report.catalogue_run,
                   str(catalogue.path), report.rows, _say)
    return report.exit_code


def _status(args: argparse.Namespace, history: History) -> int:
    latest = history.latest_run()
    if latest is None:
        raise BadInput(f"no catalogue run in {history.path} yet; run `cc-ci catalogue run FILE` first")
    rows = as_of(history.matrix(latest.id), time.time(), latest.stale_after_s)
    flaky = flaky_recipes(history.recent_verdicts([row.recipe for row in rows]))
    if args.json:
        print(json.dumps({"catalogue_run": asdict(latest), "rows": [asdict(row) for row in rows], "flaky": flaky},
                         indent=2, ensure_ascii=False))
        return 0
    ended = "still running" if latest.finished is None else f"exit {latest.exit_code}"
    print(f"catalogue run #{latest.id} of {latest.file}, started {_when(latest.started)} ({ended})")
    print(render(rows, flaky))
    return 0


def _history(args: argparse.Namespace, history: History) -> int:
    found = history.recipe_history(args.recipe)
    if not found:
        raise BadInput(f"no catalogue result for recipe {args.recipe!r} in {history.path}; "
                       "check the name (as in the catalogue file)")
    if args.json:
        print(json.dumps([{"catalogue_run": run, **asdict(row)} for run, row in found], indent=2, ensure_ascii=False))
        return 0
    for run, row in found:
        level = "-" if row.level is None else f"L{row.level}"
        runs = row.run_id or "-"
        if row.retry_run_id:
            runs += f" (retry {row.retry_run_id}: {row.retry_verdict})"
        made = "" if row.made else "  [no run could be made]"
        print(f"#{run}  {_when(row.finished)}  {(row.commit or '-')[:12]}  {level}  {row.verdict}  "
              f"{row.change or '-'}  {runs}{made}")
    return 0


def _say(line: str) -> None:
    print(f"catalogue: {line}", file=sys.stderr, flush=True)


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _jobs(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of runs from 1 to {MAX_JOBS}")
    return int(text)


def _target(text: str) -> str:
    if why := unknown_docker_host(text):
        raise argparse.ArgumentTypeError(why)
    return text
