"""The one scrubber every output path goes through: console, logs, results, JUnit, PR comments."""

from __future__ import annotations

import re
import threading

MASK = "********"
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
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


def mask_url_credentials(text: str) -> str:
    """`https://user:token@host` → `https://***@host`: a clone URL's token never leaves in a message."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)
