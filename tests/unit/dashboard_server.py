"""`cc-ci serve` as a real process for the dashboard's server tests, as a viewer that may only read.

    python -m tests.unit.dashboard_server <runs dir> <port> [--as-user nobody] [--stuck] [--history FILE]

`--as-user`: everything is imported and warmed up as root, then the process drops to that user
before it serves (the interpreter may live where that user cannot read, e.g. under /root).
`--stuck`: the catalog never answers (a read stuck in the kernel), to show SIGTERM still stops it.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import uvicorn
from starlette.testclient import TestClient

from runner.cli import build_parser
from runner.cli import main as cli_main
from runner.dashboard.catalog import RunEntry, RunsDirCatalog
from runner.dashboard.pages import serve_app
from runner.run.rundir import RunDir

try:
    from runner.dashboard.pages import bounded_server
except ImportError:  # the code before the dashboard's server was bounded (to show these tests red)
    def bounded_server(app: Any, **config: Any) -> uvicorn.Server:  # type: ignore[misc]
        return uvicorn.Server(uvicorn.Config(app, **config))


class StuckCatalog(RunsDirCatalog):
    def entries(self) -> list[RunEntry]:
        threading.Event().wait()  # forever, as a read of a hung filesystem would
        return []


def _warm_up(runs_dir: Path, history: Path | None) -> None:
    """Every route once, on a copy of the good runs only (the damaged one might hang today's
    code), so that nothing is imported after the process dropped to a user who cannot read it."""
    with tempfile.TemporaryDirectory() as copy:
        for run in runs_dir.iterdir():
            results = RunDir(run).results
            if results.is_file() and "good" in results.read_text():
                shutil.copytree(run, Path(copy) / run.name, ignore=shutil.ignore_patterns(RunDir.LOCK))
        client = TestClient(serve_app(RunsDirCatalog(Path(copy)), history))
        for path in ("/", "/catalogue", "/catalogue.json", "/runs", "/runs?page=2", "/recipes/good", "/badge/good.svg", "/static/style.css",
                     *(f"/runs/{run.name}" for run in Path(copy).iterdir()),
                     *(f"/runs/{run.name}/live" for run in Path(copy).iterdir()),
                     *(f"/runs/{run.name}/files/{RunDir.RUN_LOG}" for run in Path(copy).iterdir()),
                     "/runs/nope", "/nope"):
            client.get(path, headers={"Accept": "text/html"})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--as-user")
    parser.add_argument("--stuck", action="store_true")
    parser.add_argument("--history", type=Path)
    args = parser.parse_args()
    if args.stuck:
        server = bounded_server(serve_app(StuckCatalog(args.runs_dir)), host="127.0.0.1", port=args.port,
                                log_level="warning")
        server.config.load()
        server.run()
        return 0
    if args.as_user:
        build_parser()  # imports every command's module: the user may not read the interpreter's files
        _warm_up(args.runs_dir, args.history)
        bounded_server(serve_app(RunsDirCatalog(args.runs_dir))).config.load()  # the server's own imports
        user = pwd.getpwnam(args.as_user)
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    history = ["--history", str(args.history)] if args.history else []
    return cli_main(["serve", "--runs-dir", str(args.runs_dir), "--port", str(args.port), *history])


if __name__ == "__main__":
    sys.exit(main())
