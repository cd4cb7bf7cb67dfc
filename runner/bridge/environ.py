"""Keeping the bridge's secrets out of its own environment once they are loaded.

`del os.environ[NAME]` stops children from inheriting a variable, but the kernel keeps showing
the environment the process was started with in /proc/<pid>/environ: that block of memory is
never touched by unsetenv. So the secret entries are also overwritten in place there, through
/proc/self/mem (the process may always write its own memory).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

log = logging.getLogger("cc-ci.bridge")


def forget_env(names: Iterable[str]) -> None:
    present = [name for name in names if name in os.environ]
    for name in present:
        del os.environ[name]
    if not present:
        return
    try:
        blank_initial_environ(present)
    except (OSError, ValueError, IndexError) as err:
        # The variables are gone from os.environ (no run inherits them) either way.
        log.warning("could not blank the secret env vars in /proc/self/environ: %s", err)


def blank_initial_environ(names: Iterable[str]) -> int:
    """Overwrite `NAME=value` entries of the start-up environment block with NUL bytes; returns
    how many were blanked."""
    prefixes = tuple(f"{name}=".encode() for name in names)
    with open("/proc/self/stat", "rb") as stat:
        # Fields after the `(comm)` one; env_start and env_end are fields 50 and 51 of proc(5).
        fields = stat.read().rsplit(b")", 1)[1].split()
    start, end = int(fields[50 - 3]), int(fields[51 - 3])
    blanked = 0
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        mem.seek(start)
        block = mem.read(end - start)
        offset = 0
        for entry in block.split(b"\0"):
            if entry.startswith(prefixes):
                mem.seek(start + offset)
                mem.write(b"\0" * len(entry))
                blanked += 1
            offset += len(entry) + 1
    return blanked
