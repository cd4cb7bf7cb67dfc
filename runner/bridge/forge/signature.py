"""Webhook signature check: HMAC-SHA256 of the raw body with the shared secret, constant-time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

# Gitea and Forgejo send the bare hex digest; GitHub-compatible senders use `sha256=<hex>`.
SIGNATURE_HEADERS = (
    "x-gitea-signature",
    "x-forgejo-signature",
    "x-gogs-signature",
    "x-hub-signature-256",
)


def sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_from_headers(headers: Mapping[str, str]) -> str | None:
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in SIGNATURE_HEADERS:
        value = lowered.get(name)
        if value:
            return value.strip().removeprefix("sha256=")
    return None


def verify_signature(secret: bytes, body: bytes, signature: str | None) -> bool:
    if not secret or not signature:
        return False
    expected = sign(secret, body)
    # compare_digest on equal-type ASCII strings; a non-ASCII header would raise, so encode first.
    return hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace"))
