"""One night's catalogue run, made as the bridge makes its other runs: with the local executor,
each recipe an ordinary run started with the executor's command, workdir, runs dir and env (as
`cc-ci catalogue run` makes them, over the catalogue file's targets); with the Drone executor,
each recipe one Drone build (runner/bridge/nightly/drone.py), Drone's runners being the fan-out.
Every result goes to the one catalogue history (`catalogue_history`, which /catalogue shows).

Then the regressions are reported, each way opt-in and best effort: the catalogue file's webhook,
and a comment on the tracking issue of the recipe's repo (`nightly.tracking_issues`) through the
bridge's forge client. A report that fails is a log line; it never fails the night.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable

from runner.bridge.config import (
    BridgeConfig,
    DroneExecutorConfig,
    LocalExecutorConfig,
    NightlyConfig,
)
from runner.bridge.forge.client import ForgeClient
from runner.bridge.nightly.drone import DroneRuns
from runner.bridge.nightly.when import Due
from runner.catalogue import file as catalogue_file
from runner.catalogue import process
from runner.catalogue.bisect import bisect
from runner.catalogue.file import Catalogue, TargetEntry
from runner.catalogue.history import History
from runner.catalogue.matrix import Row, render
from runner.catalogue.report import comment_body, report_webhook
from runner.catalogue.run import Options, Report, run_catalogue
from runner.catalogue.schedule import Probe, RunOn
from runner.errors import CcciError

log = logging.getLogger("cc-ci.bridge")


def _say(line: str) -> None:
    log.info("nightly: %s", line)


def local_runs(cfg: LocalExecutorConfig, history: History,
               drop_env: Iterable[str]) -> tuple[Callable[[int], RunOn], RunOn]:
    """(the recipes' runs, marked with the catalogue run's number; the bisect's runs, unmarked) as
    the local executor starts its runs: its command in
    its workdir, its runs dir, the bridge's environment less its secrets plus the executor's env."""
    dropped = set(drop_env)
    base = {key: value for key, value in os.environ.items() if key not in dropped} | cfg.env
    made = functools.partial(process.run_on, runs_dir=cfg.runs_dir, base=base, history=history.path,
                             command=cfg.command, cwd=cfg.workdir)

    def marked(catalogue_run: int) -> RunOn:
        return functools.partial(made, mark=catalogue_run)
    return marked, made


def run_night(cfg: BridgeConfig, due: Due, forge: ForgeClient, drone: DroneRuns | None,
              drop_env: Iterable[str] = ()) -> Report | None:
    """The catalogue run of `due`'s night; None when its file cannot be read now (logged)."""
    nightly = cfg.nightly
    assert nightly is not None
    try:  # read each night: an edit of the file applies without a restart
        catalogue = catalogue_file.load(nightly.catalogue)
    except CcciError as err:
        log.error("nightly: no catalogue run for %s: %s", due.day, err)
        return None
    history = History(cfg.history_path)
    try:
        report = _run(cfg.executor, nightly, catalogue, history, drone, drop_env)
    finally:
        history.close()
    log.info("nightly: catalogue run #%d of %s (exit %d)\n%s", report.catalogue_run, catalogue.path,
             report.exit_code, render(report.rows, report.flaky, report.notes))
    report_webhook(catalogue.report.webhook, catalogue.report.timeout_seconds, report.catalogue_run,
                   str(catalogue.path), report.rows, _say)
    report_forge(cfg, forge, report.catalogue_run, str(catalogue.path), due, report.rows)
    return report


def _run(executor: LocalExecutorConfig | DroneExecutorConfig, nightly: NightlyConfig, catalogue: Catalogue,
         history: History, drone: DroneRuns | None, drop_env: Iterable[str]) -> Report:
    found = bisect if nightly.bisect else None
    if isinstance(executor, DroneExecutorConfig):
        assert drone is not None
        # one target, Drone, as wide as the executor's capacity: its runners spread the builds
        options = Options(jobs=executor.capacity, targets=(TargetEntry(target="local", limit=executor.capacity),),
                          retry=nightly.retry, bisect=found)
        # not marked: a runner cannot check a mark against the bridge's history (CCCI_CATALOGUE is
        # refused there); the bridge's badge follows the history instead
        return run_catalogue(catalogue, history, options, drone.run_on(history.path), drone.probe, _say)
    marked, bisect_runs = local_runs(executor, history, drop_env)
    options = Options(jobs=nightly.jobs, retry=nightly.retry, bisect=found)
    probe: Probe = process.probe
    return run_catalogue(catalogue, history, options, bisect_runs, probe, _say, marked_run_on=marked)


def report_forge(cfg: BridgeConfig, forge: ForgeClient, catalogue_run: int, file: str, due: Due,
                 rows: Iterable[Row], post: Callable[..., object] | None = None) -> int:
    """A comment on the tracking issue of each regressed recipe's repo that has one; returns how
    many were posted. `post`: the forge client's `post_comment` (idempotent by its marker)."""
    nightly = cfg.nightly
    assert nightly is not None
    send = post or forge.post_comment
    posted = 0
    for row in (row for row in rows if row.regressed):
        for repo, number in nightly.tracking_issues.items():
            if cfg.recipe_for(repo) != row.recipe:
                continue
            owner, name = repo.split("/", 1)
            marker = f"<!-- cc-ci catalogue {due.day.isoformat()} run {catalogue_run} {row.recipe} -->"
            try:
                send(owner, name, number, comment_body(catalogue_run, file, row, marker), marker)
            except Exception as err:  # noqa: BLE001 - a report that fails never fails the night
                log.warning("nightly: report: could not comment on %s#%d for %s: %s", repo, number, row.recipe, err)
                continue
            posted += 1
            log.info("nightly: report: %s %s, commented on %s#%d", row.recipe, row.change, repo, number)
    return posted
