"""The floor's convergence check in words: which services are not running every task of their
current spec after an op, as one sentence. Pure."""

from __future__ import annotations


def not_converged(lines: list[str], after: str) -> str:
    """`after the upgrade, 1 service of the app is not running every task of its spec: db: 0/1 running (…)`."""
    one = len(lines) == 1
    return (f"after {after}, {len(lines)} service{'' if one else 's'} of the app {'is' if one else 'are'} not "
            f"running every task of {'its' if one else 'their'} spec: {'; '.join(lines)} (the op had seen "
            "every service converge, so a task stopped or restarted since: the service's logs say why)")
