"""Hostile recipe files for the bounded-input tests (issue 21, point 4): each is small to write
down and costly to read without a bound."""

from __future__ import annotations


def alias_bomb(levels: int = 9, fan: int = 9) -> str:
    """A compose.yml of `levels` anchors, each a list of `fan` aliases of the one before, under
    `image:` and `deploy.labels:` of the app service: 9 x 9 expands to 9**9 (387 million) strings
    in whatever walks it, from about half a kilobyte of text."""
    lines = ['version: "3.8"', "x-l0: &l0 [" + ",".join(["lol"] * fan) + "]"]
    for level in range(1, levels):
        lines.append(f"x-l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * fan) + "]")
    top = f"*l{levels - 1}"
    lines += ["services:", "  app:", f"    image: {top}", "    deploy:", f"      labels: {top}"]
    return "\n".join(lines) + "\n"


def oversized_env(megabytes: int = 50) -> str:
    """A .env.sample of `megabytes` MB: valid lines, one value past any sane environment."""
    return "TYPE=big\nDOMAIN=big.example.com\nBIG=" + "x" * (megabytes * 1024 * 1024) + "\n"
