"""`cc-ci serve`: the dashboard over a runs dir, without the bridge (someone running cc-ci by hand)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from runner.catalogue.history import default_path as default_history_path
from runner.dashboard.catalog import RunsDirCatalog
from runner.dashboard.pages import bounded_server, serve_app
from runner.errors import BadInput
from runner.plumbing.paths import default_runs_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="the run dirs to show; default: ~/.local/state/cc-ci/runs [CCCI_RUNS_DIR]")
    parser.add_argument("--history", type=Path, default=None,
                        help="the catalogue's history file shown at /catalogue (SQLite, read only); "
                        "default: <state dir>/catalogue.sqlite, as `cc-ci catalogue` writes it")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8099, help="port to listen on (default: 8099)")


def main(args: argparse.Namespace) -> int:
    runs_dir = args.runs_dir or Path(os.environ.get("CCCI_RUNS_DIR") or default_runs_dir())
    if not runs_dir.is_dir():
        raise BadInput(f"--runs-dir: {runs_dir} is not a directory")
    history = args.history or default_history_path()
    if os.path.isdir(history):  # False too for a path this user may not look at: the page then says so
        raise BadInput(f"--history: {history} is a directory; give the catalogue's history file (catalogue.sqlite)")
    print(f"cc-ci serve: {runs_dir} (catalogue history {history}) on http://{args.host}:{args.port}/", flush=True)
    # stops within seconds of SIGTERM even with a request stuck (uvicorn then re-raises the
    # signal, which ends the process whatever threads a stuck read left behind)
    bounded_server(serve_app(RunsDirCatalog(runs_dir), history), host=args.host, port=args.port,
                   log_level="warning", access_log=False).run()
    return 0
