"""The one scrubber every output path goes through: console, logs, results, JUnit, PR comments."""

from __future__ import annotations

import threading

MASK = "********"
_MIN_LENGTH = 4  # shorter values would mask ordinary text everywhere


class Scrubber:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) >= _MIN_LENGTH:
            with self._lock:
                self._secrets.add(value)

    def scrub(self, text: str) -> str:
        # longest first, so a secret containing another is masked whole
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text


scrubber = Scrubber()
