"""Signing keys on disk: the active key per algorithm, rotation, and the JWKS.

Each key is two files in the keys directory: ``<kid>.pem`` (the private key,
mode 0600) and ``<kid>.json`` (algorithm, when it may start signing, until when
it stays published). Rotation publishes first and signs later: a new key is in
the JWKS from the moment it is written and signs from ``sign_from`` on, while
the keys it replaces stay published until every token they signed has expired.
Every worker and host re-reads the directory when it changes, so a rotation on
one host is picked up by the others without a restart.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from joserfc.jwk import ECKey, KeySet, RSAKey

ALGORITHMS = {"RS256": ("RSA", 2048), "ES256": ("EC", "P-256")}
RECHECK_SECONDS = 2.0


class KeysMissing(RuntimeError):
    """No usable signing key for an algorithm: run ``idp setup``."""


@dataclass(frozen=True)
class StoredKey:
    kid: str
    alg: str
    sign_from: float
    publish_until: float | None
    key: RSAKey | ECKey

    def signs_at(self, now: float) -> bool:
        return self.sign_from <= now and (self.publish_until is None)

    def published_at(self, now: float) -> bool:
        return self.publish_until is None or now < self.publish_until


def _generate(alg: str):
    kind, size = ALGORITHMS[alg]
    if kind == "RSA":
        key = RSAKey.generate_key(size, private=True)
    else:
        key = ECKey.generate_key(size, private=True)
    return key


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _write_json(path: Path, meta: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path)  # atomic: readers never see half a file


class KeyStore:
    """The keys in one directory, re-read when the directory changes."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._keys: list[StoredKey] = []
        self._signature = None
        self._checked = 0.0
        self._jwks_cache: dict | None = None
        self._public_cache = None

    # --- reading ---
    def _dir_signature(self):
        try:
            return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in self.directory.glob("*.json")))
        except FileNotFoundError:
            return ()

    def _load(self) -> list[StoredKey]:
        keys = []
        for meta_path in self.directory.glob("*.json"):
            meta = json.loads(meta_path.read_text())
            pem = (self.directory / f"{meta['kid']}.pem").read_bytes()
            kind = RSAKey if ALGORITHMS[meta["alg"]][0] == "RSA" else ECKey
            key = kind.import_key(pem, parameters={"kid": meta["kid"], "alg": meta["alg"], "use": "sig"})
            keys.append(StoredKey(meta["kid"], meta["alg"], meta["sign_from"], meta.get("publish_until"), key))
        keys.sort(key=lambda k: k.sign_from, reverse=True)
        return keys

    def keys(self) -> list[StoredKey]:
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:
            with self._lock:
                self._checked = now
                signature = self._dir_signature()
                if signature != self._signature:
                    self._keys = self._load()
                    self._signature = signature
                    self._jwks_cache = None
        return self._keys

    def signing_key(self, alg: str) -> StoredKey:
        now = time.time()
        for stored in self.keys():
            if stored.alg == alg and stored.signs_at(now):
                return stored
        # a rotation just published a key that may not sign yet: keep the previous one
        for stored in self.keys():
            if stored.alg == alg and stored.published_at(now) and stored.sign_from <= now:
                return stored
        raise KeysMissing(f"no signing key for {alg} in {self.directory}")

    def signing_keyset(self, alg: str) -> KeySet:
        """A one-key set: joserfc writes its ``kid`` into the JWS header."""
        return KeySet([self.signing_key(alg).key])

    def public_keyset(self) -> KeySet:
        """The published keys, for verifying our own tokens (cached until the keys change)."""
        keys = self.keys()
        cached = self._public_cache
        now = time.time()
        if cached is None or cached[0] is not keys or cached[1] <= now:
            published = [k for k in keys if k.published_at(now)]
            until = min([k.publish_until for k in published if k.publish_until] + [now + 60])
            cached = self._public_cache = (keys, until, KeySet([k.key for k in published]))
        return cached[2]

    def jwks(self) -> dict:
        """The published JSON Web Key Set (public parts only), cached until keys change."""
        keys = self.keys()
        cached = self._jwks_cache
        if cached is None or cached["until"] <= time.time():
            now = time.time()
            published = [k for k in keys if k.published_at(now)]
            until = min([k.publish_until for k in published if k.publish_until] + [now + 60])
            cached = {"until": until, "jwks": KeySet([k.key for k in published]).as_dict(private=False)}
            self._jwks_cache = cached
        return cached["jwks"]

    def ready(self) -> bool:
        try:
            for alg in ALGORITHMS:
                self.signing_key(alg)
        except KeysMissing:
            return False
        return True

    # --- writing ---
    def create(self, alg: str, sign_from: float | None = None) -> StoredKey:
        self.directory.mkdir(parents=True, exist_ok=True)
        key = _generate(alg)
        kid = key.thumbprint()
        _write_private(self.directory / f"{kid}.pem", key.as_pem(private=True))
        meta = {"kid": kid, "alg": alg, "created_at": time.time(),
                "sign_from": time.time() if sign_from is None else sign_from, "publish_until": None}
        _write_json(self.directory / f"{kid}.json", meta)
        self._checked = 0.0
        return StoredKey(kid, alg, meta["sign_from"], None, key)

    def ensure(self) -> list[StoredKey]:
        """Create a key for every algorithm that has none; idempotent, and safe when
        several hosts run it at once (an exclusive lock on the directory)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                present = {k.alg for k in self._load()}
                return [self.create(alg) for alg in ALGORITHMS if alg not in present]
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def rotate(self, retain_seconds: int, publish_ahead: int = 0) -> list[StoredKey]:
        """New active keys; the current ones stay published for ``retain_seconds``
        after the new ones start signing."""
        now = time.time()
        sign_from = now + publish_ahead
        created = []
        for alg in ALGORITHMS:
            for old in self._load():
                if old.alg == alg and old.publish_until is None:
                    path = self.directory / f"{old.kid}.json"
                    meta = json.loads(path.read_text())
                    meta["publish_until"] = sign_from + retain_seconds
                    meta["retired_at"] = sign_from
                    _write_json(path, meta)
            created.append(self.create(alg, sign_from))
        self._checked = 0.0
        return created

    def prune(self) -> int:
        """Delete keys whose publication has ended."""
        removed = 0
        for stored in self._load():
            if stored.publish_until is not None and stored.publish_until < time.time():
                (self.directory / f"{stored.kid}.json").unlink()
                (self.directory / f"{stored.kid}.pem").unlink()
                removed += 1
        return removed
