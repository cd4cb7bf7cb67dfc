"""Webhook signature verification."""

from __future__ import annotations

import hashlib
import hmac

from runner.bridge.forge.signature import sign, signature_from_headers, verify_signature

SECRET = b"s3cret"
BODY = b'{"action": "created"}'
GOOD = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()


def test_sign_is_hex_hmac_sha256_of_the_raw_body() -> None:
    assert sign(SECRET, BODY) == GOOD


def test_valid_signature_verifies_in_either_case() -> None:
    assert verify_signature(SECRET, BODY, GOOD)
    assert verify_signature(SECRET, BODY, GOOD.upper())


def test_signature_over_a_different_body_or_secret_fails() -> None:
    assert not verify_signature(SECRET, BODY + b" ", GOOD)
    assert not verify_signature(b"other", BODY, GOOD)


def test_missing_empty_or_garbage_signature_fails() -> None:
    assert not verify_signature(SECRET, BODY, None)
    assert not verify_signature(SECRET, BODY, "")
    assert not verify_signature(SECRET, BODY, "zz" * 32)
    assert not verify_signature(SECRET, BODY, "é" * 64)  # non-ASCII must not raise


def test_empty_secret_never_verifies() -> None:
    assert not verify_signature(b"", BODY, sign(b"", BODY))


def test_signature_header_names() -> None:
    assert signature_from_headers({"X-Gitea-Signature": GOOD}) == GOOD
    assert signature_from_headers({"x-forgejo-signature": GOOD}) == GOOD
    assert signature_from_headers({"X-Hub-Signature-256": f"sha256={GOOD}"}) == GOOD
    assert signature_from_headers({"X-Other": GOOD}) is None
