"""Try the `!testme` bridge on the bundled example, on this machine, without a forge of your own
(`scripts/try-bridge`; docs/bridge.md, "Trying it on the bundled example").

A stand-in Gitea (the one the bridge's tests use: real HTTP on 127.0.0.1) holds the repo
`example/custom-html-tiny` with PR #1, whose head is the bundled example's newest commit (the
example publishes it as `refs/pull/1/head`, as a forge does), and one org member, `alice`. The
bridge is the real one, started as an operator starts it: `cc-ci bridge --config <dir>/bridge.yml`
(after `--check`), with the local executor running the real run on the local swarm. alice's
`!testme` reaches it as a signed webhook; the PR comment and commit status are printed as the
bridge edits them. Exit 0 when the run passed and was reported.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from runner.recipe import git
from runner.recipe.repos import BUNDLED_PR, bundled_recipe_repo
from tests.unit.bridge.bridge_standins import StandinForge, sign
from tests.unit.bridge.support import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = "custom-html-tiny"
REPO = f"example/{EXAMPLE}"
MEMBER = "alice"


def say(text: str) -> None:
    print(f"try-bridge: {text}", flush=True)


def write_config(workdir: Path, forge_url: str, port: int) -> Path:
    """The bridge's config as an operator writes it; secrets in 0600 files beside it."""
    for name, value in (("forge-token", secrets.token_hex(16)), ("webhook-secret", secrets.token_hex(32))):
        path = workdir / name
        path.write_text(value + "\n")
        path.chmod(0o600)
    config = {
        "forge": {"url": forge_url, "token": {"file": str(workdir / "forge-token")}},
        "webhook": {"secret": {"file": str(workdir / "webhook-secret")}, "host": "127.0.0.1", "port": port},
        "repos": {REPO: EXAMPLE},
        "state_dir": str(workdir / "state"),
        "executor": {"kind": "local", "runs_dir": str(workdir / "runs")},
    }
    path = workdir / "bridge.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def cc_ci(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("cc-ci")), *args]


def start_forge(token: str) -> tuple[StandinForge, str]:
    head = git.rev_parse(bundled_recipe_repo(EXAMPLE), "HEAD")
    forge = StandinForge(token)
    forge.server.start()
    forge.add_member("example", MEMBER)
    forge.add_pull(REPO, BUNDLED_PR, head)
    return forge, head


def wait_healthy(base: str, bridge: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if bridge.poll() is not None:
            raise SystemExit(f"try-bridge: the bridge exited {bridge.returncode}; its log: {log}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"try-bridge: the bridge did not answer /healthz within 60 s; its log: {log}")


def comment(forge: StandinForge, base: str, secret: str) -> httpx.Response:
    """alice comments `!testme` on PR #1 and the forge delivers the signed webhook."""
    made = forge.user_comment(REPO, BUNDLED_PR, MEMBER, "!testme")
    body = json.dumps(forge.webhook_payload(made)).encode()
    headers = {"Content-Type": "application/json", "X-Gitea-Event": "issue_comment",
               "X-Gitea-Signature": sign(secret, body)}
    return httpx.post(f"{base}/webhook", content=body, headers=headers, timeout=10)


def follow(forge: StandinForge, head: str, timeout: float) -> str | None:
    """Print the PR comment and the commit status each time the bridge changes them; the final
    state once the run is reported, None if it was not within `timeout`."""
    shown: tuple[str, str] = ("", "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        comments = forge.bot_comments(REPO, BUNDLED_PR)
        statuses = forge.statuses_for(head)
        now = (comments[0]["body"] if comments else "", statuses[-1]["state"] if statuses else "")
        if now != shown:
            shown = now
            say(f"commit status: {now[1] or '(none yet)'}; the PR comment now reads:")
            print("    " + "\n    ".join(line for line in now[0].splitlines() if not line.startswith("<!--")),
                  flush=True)
        if now[1] in ("success", "failure", "error", "warning"):
            return now[1]
        time.sleep(1)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/try-bridge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/cc-ci-try-bridge"),
                        help="where the config, the secrets, the state and the runs go (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the run (default: 900)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the forge and the bridge running afterwards, until Ctrl-C (to look around)")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    # Each try has a new stand-in forge, whose comment ids start over: a bridge state kept from an
    # earlier try would take the new `!testme` for a duplicate. The runs dir (history) is kept.
    shutil.rmtree(args.dir / "state", ignore_errors=True)
    port = free_port()
    forge, head = start_forge("unset")
    config = write_config(args.dir, forge.url, port)
    forge.token = (args.dir / "forge-token").read_text().strip()
    say(f"stand-in forge at {forge.url}: {REPO}, PR #{BUNDLED_PR} at {head[:12]}, member {MEMBER!r}")
    say(f"wrote {config}:\n    " + "\n    ".join(config.read_text().splitlines()))
    say(f"$ {' '.join(cc_ci('bridge', '--config', str(config), '--check'))}")
    check = subprocess.run(cc_ci("bridge", "--config", str(config), "--check"), cwd=REPO_ROOT)
    if check.returncode != 0:
        forge.server.stop()
        return check.returncode
    log = args.dir / "bridge.log"
    say(f"$ {' '.join(cc_ci('bridge', '--config', str(config)))}   (its log: {log})")
    with open(log, "ab") as out:
        bridge = subprocess.Popen(cc_ci("bridge", "--config", str(config)), cwd=REPO_ROOT,
                                  stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, bridge, log)
        answer = comment(forge, base, (args.dir / "webhook-secret").read_text().strip())
        say(f"{MEMBER} commented `!testme` on PR #{BUNDLED_PR}; the webhook was answered "
            f"{answer.status_code} {answer.text}")
        state = follow(forge, head, args.timeout)
        runs = httpx.get(f"{base}/runs", timeout=10).json()["runs"]
        if runs:
            say(f"the run's page: {base}{runs[0]['url']}; its run dir: {args.dir / 'runs' / runs[0]['run_id']}")
        if args.keep:
            say(f"the bridge serves {base}/ (dashboard) until Ctrl-C")
            stop = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # sigwait takes only blocked signals
            signal.sigwait(stop)
    finally:
        bridge.terminate()
        bridge.wait(timeout=60)
        forge.server.stop()
    if state is None:
        say(f"the run was not reported within {args.timeout:.0f} s; see {log}")
        return 1
    say(f"done: the commit status is {state!r}")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
