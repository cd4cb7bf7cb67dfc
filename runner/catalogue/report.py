"""Reporting a catalogue run's regressions beyond the matrix: a JSON POST to the webhook URL of the
file's `report:` (opt-in), and the text a forge comment on a recipe's tracking issue carries (the
bridge posts it, runner/bridge/nightly/). Reporting is best effort: a webhook that is down, slow
or answers an error is one logged line, never a red catalogue run.

What leaves the machine goes through the one scrubber (the secrets this process knows) and has
credentials in URLs masked, as every other output of cc-ci.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from runner.catalogue.matrix import Row
from runner.catalogue.model import Say
from runner.plumbing.scrub import mask_url_credentials, scrubber

EVENT = "cc-ci.catalogue.regression"


def clean(text: str) -> str:
    """What a report may carry: the run's secrets and URL credentials masked."""
    return mask_url_credentials(scrubber.scrub(text))


def regression_fields(row: Row) -> dict[str, Any]:
    return {"recipe": row.recipe, "change": row.change, "commit": row.commit, "level": row.level,
            "verdict": row.verdict, "target": row.target, "run_id": row.run_id, "error": row.error,
            "first_bad": row.first_bad, "first_bad_subject": row.first_bad_subject, "bisect": row.bisect_why}


def payload(catalogue_run: int, file: str, rows: Sequence[Row]) -> dict[str, Any] | None:
    """The webhook's JSON body, scrubbed; None when nothing regressed (nothing is posted)."""
    regressions = [regression_fields(row) for row in rows if row.regressed]
    if not regressions:
        return None
    body = {"event": EVENT, "catalogue_run": catalogue_run, "file": file, "regressions": regressions}
    return dict(json.loads(clean(json.dumps(body))))


def comment_body(catalogue_run: int, file: str, row: Row, marker: str) -> str:
    """A tracking issue's comment on one regressed recipe (markdown), scrubbed."""
    lines = [marker, f"cc-ci catalogue run #{catalogue_run} ({file}): `{row.recipe}` **{row.change}** "
             f"at {(row.commit or '-')[:12]} (verdict {row.verdict}, run `{row.run_id or '-'}`)."]
    if row.first_bad:
        lines.append(f"\nFirst bad commit: {row.first_bad} {row.first_bad_subject or ''}".rstrip())
    if row.bisect_why:
        lines.append(f"\nBisect: {row.bisect_why}")
    if row.error:
        lines.append(f"\nError: `{' '.join(row.error.split()).replace('`', chr(39))[:800]}`")
    return clean("\n".join(lines))


def where(url: str) -> str:
    """A webhook URL as a log line may show it: its scheme and host (a path may be its token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}"


def post_webhook(url: str, body: dict[str, Any], timeout_s: float, say: Say,
                 transport: httpx.BaseTransport | None = None) -> bool:
    """POST `body` once (connecting, sending and reading each bounded by `timeout_s`; no
    redirect followed); True when the webhook answered 2xx. Any
    failure is said in one line and swallowed: reporting never turns the catalogue run red."""
    shown = where(url)
    try:
        with httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=False) as client:
            response = client.post(url, json=body)
    except httpx.HTTPError as err:
        say(f"report: webhook {shown} not reached ({type(err).__name__}: {clean(str(err))[:200]}); "
            "the regressions are in the matrix and the history")
        return False
    if not response.is_success:
        say(f"report: webhook {shown} answered HTTP {response.status_code}; "
            "the regressions are in the matrix and the history")
        return False
    say(f"report: {len(body['regressions'])} regression(s) posted to webhook {shown}")
    return True


def report_webhook(url: str | None, timeout_s: float, catalogue_run: int, file: str, rows: Sequence[Row],
                   say: Say, transport: httpx.BaseTransport | None = None) -> bool | None:
    """The file's webhook report of this catalogue run: None when there is none to make."""
    body = payload(catalogue_run, file, rows) if url else None
    if url is None or body is None:
        return None
    return post_webhook(url, body, timeout_s, say, transport)
