"""Keyed hashes and constant-time comparison for everything secret we keep.

Client secrets, one-time codes, authorization codes, refresh tokens and session
ids are high-entropy or short-lived values: an HMAC under a server key (one
derived key per purpose) is the right tool, fast on the hot path and useless to
anyone who steals the database without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from flask import current_app


@lru_cache(maxsize=64)
def _derived_key(master: str, purpose: str) -> bytes:
    return hmac.new(master.encode(), b"panjereh:" + purpose.encode(), hashlib.sha256).digest()


@lru_cache(maxsize=64)
def _keyed(master: str, purpose: str) -> hmac.HMAC:
    """An HMAC that has taken its key and nothing else: copied for each value, it skips what a
    one-shot HMAC repeats every time (looking the digest up in OpenSSL, absorbing the key).
    Never updated itself."""
    return hmac.new(_derived_key(master, purpose), digestmod="sha256")


def keyed_hash(purpose: str, value: str, master: str | None = None) -> str:
    """Hex HMAC-SHA256 of ``value`` under the key for ``purpose``."""
    mac = _keyed(master or current_app.config["SECRET_KEY"], purpose).copy()
    mac.update(value.encode())
    return mac.hexdigest()


def matches(purpose: str, value: str, digest: str | None) -> bool:
    """Whether ``value`` hashes to ``digest``, compared in constant time."""
    if not digest or value is None:
        return False
    return hmac.compare_digest(keyed_hash(purpose, value), digest)


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def numeric_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10 ** digits):0{digits}d}"


def _fernet(purpose: str):
    from cryptography.fernet import Fernet

    key = _derived_key(current_app.config["SECRET_KEY"], "encrypt:" + purpose)
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(purpose: str, plaintext: str) -> bytes:
    """Authenticated encryption (Fernet) under a key derived for ``purpose``."""
    return _fernet(purpose).encrypt(plaintext.encode())


def decrypt(purpose: str, token: bytes) -> str:
    return _fernet(purpose).decrypt(token).decode()
