"""Signing keys on disk: creation, file modes, rotation across instances, the JWKS, pruning."""

import json
import stat
import time

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet

import idp.signing
from idp.signing import ALGORITHMS, KeysMissing, KeyStore

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth"}


class Clock:
    """``time`` as idp.signing sees it: wall clock moved by hand, monotonic clock real."""

    def __init__(self):
        self.offset = 0.0

    def time(self):
        return time.time() + self.offset

    def monotonic(self):
        return time.monotonic()


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(idp.signing, "time", fake)
    return fake


@pytest.fixture(scope="module", autouse=True)
def parse_each_key_file_once():
    """Parsing RSA private keys is the slow part: each key file is parsed once (the first time,
    through joserfc as usual); every file is still read on every load."""
    from tests.support import memoize_key_loading

    restore = memoize_key_loading()
    yield
    restore()


@pytest.fixture
def no_recheck_delay(monkeypatch):
    monkeypatch.setattr(idp.signing, "RECHECK_SECONDS", 0)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One generated pair of keys, copied into each test's directory (RSA generation is slow)."""
    directory = tmp_path_factory.mktemp("seed-keys")
    KeyStore(directory).ensure()
    return directory


@pytest.fixture(scope="module")
def key_pool():
    """Keys generated once; rotations in these tests take them instead of generating RSA keys."""
    return {alg: [idp.signing._generate(alg) for _ in range(3)] for alg in ALGORITHMS}


@pytest.fixture
def fast_keygen(monkeypatch, key_pool):
    remaining = {alg: list(keys) for alg, keys in key_pool.items()}
    monkeypatch.setattr(idp.signing, "_generate", lambda alg: remaining[alg].pop())


@pytest.fixture
def keys_dir(tmp_path, seeded, fast_keygen):
    import shutil

    target = tmp_path / "keys"
    shutil.copytree(seeded, target)
    return target


def kids(jwks: dict) -> set[str]:
    return {key["kid"] for key in jwks["keys"]}


def sign(store: KeyStore, alg: str) -> str:
    return jwt.encode({"alg": alg}, {"iss": "test"}, store.signing_keyset(alg), algorithms=[alg])


def test_ensure_creates_one_key_per_algorithm(tmp_path):
    store = KeyStore(tmp_path / "keys")
    created = store.ensure()
    assert sorted(k.alg for k in created) == sorted(ALGORITHMS)
    assert store.ready()
    for alg in ALGORITHMS:
        assert store.signing_key(alg).alg == alg


def test_ensure_is_idempotent(keys_dir):
    store = KeyStore(keys_dir)
    files = sorted(p.name for p in keys_dir.iterdir())
    before = {alg: store.signing_key(alg).kid for alg in ALGORITHMS}
    assert store.ensure() == []
    assert KeyStore(keys_dir).ensure() == []
    assert sorted(p.name for p in keys_dir.iterdir()) == files
    assert {alg: KeyStore(keys_dir).signing_key(alg).kid for alg in ALGORITHMS} == before


def test_ensure_fills_only_a_missing_algorithm(keys_dir):
    store = KeyStore(keys_dir)
    es = store.signing_key("ES256")
    (keys_dir / f"{es.kid}.json").unlink()
    (keys_dir / f"{es.kid}.pem").unlink()
    created = KeyStore(keys_dir).ensure()
    assert [k.alg for k in created] == ["ES256"]


def test_private_key_files_are_mode_0600(tmp_path):
    directory = tmp_path / "keys"
    KeyStore(directory).ensure()
    pems = list(directory.glob("*.pem"))
    assert len(pems) == len(ALGORITHMS)
    for pem in pems:
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600, pem


def test_rotated_key_files_are_mode_0600(keys_dir):
    KeyStore(keys_dir).rotate(retain_seconds=600)
    for pem in keys_dir.glob("*.pem"):
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600, pem


def test_kid_is_the_key_thumbprint(keys_dir):
    for stored in KeyStore(keys_dir).keys():
        assert stored.kid == stored.key.thumbprint()


def test_jwks_has_public_parts_only(keys_dir):
    jwks = KeyStore(keys_dir).jwks()
    assert {key["alg"] for key in jwks["keys"]} == set(ALGORITHMS)
    for key in jwks["keys"]:
        assert key["kid"] and key["use"] == "sig"
        assert not PRIVATE_MEMBERS & set(key), key


def test_signatures_verify_with_the_jwks(keys_dir):
    store = KeyStore(keys_dir)
    public = KeySet.import_key_set(store.jwks())
    for alg in ALGORITHMS:
        token = sign(store, alg)
        header = jwt.decode(token, public, algorithms=[alg]).header
        assert header["kid"] == store.signing_key(alg).kid


def test_rotate_signs_with_the_new_key_and_keeps_the_old_published(keys_dir):
    store = KeyStore(keys_dir)
    old = {alg: store.signing_key(alg).kid for alg in ALGORITHMS}
    old_tokens = {alg: sign(store, alg) for alg in ALGORITHMS}
    created = store.rotate(retain_seconds=600)
    new = {alg: store.signing_key(alg).kid for alg in ALGORITHMS}
    assert {k.alg: k.kid for k in created} == new
    assert all(new[alg] != old[alg] for alg in ALGORITHMS)
    published = kids(store.jwks())
    assert set(old.values()) <= published and set(new.values()) <= published
    # tokens signed before the rotation still verify against the published keys
    public = KeySet.import_key_set(store.jwks())
    for alg, token in old_tokens.items():
        assert jwt.decode(token, public, algorithms=[alg]).header["kid"] == old[alg]
        assert jwt.decode(sign(store, alg), public, algorithms=[alg]).header["kid"] == new[alg]


def test_rotation_published_ahead_keeps_signing_with_the_old_key(keys_dir, clock):
    store = KeyStore(keys_dir)
    old = {alg: store.signing_key(alg).kid for alg in ALGORITHMS}
    created = store.rotate(retain_seconds=600, publish_ahead=300)
    assert {k.kid for k in created} <= kids(store.jwks())  # published at once ...
    assert {alg: store.signing_key(alg).kid for alg in ALGORITHMS} == old  # ... signing later
    clock.offset = 301
    assert {alg: store.signing_key(alg).kid for alg in ALGORITHMS} == {k.alg: k.kid for k in created}


def test_second_instance_picks_up_a_rotation_without_restart(keys_dir, no_recheck_delay):
    worker_a, worker_b = KeyStore(keys_dir), KeyStore(keys_dir)
    before = {alg: worker_b.signing_key(alg).kid for alg in ALGORITHMS}
    jwks_before = kids(worker_b.jwks())
    created = worker_a.rotate(retain_seconds=600)
    after = {alg: worker_b.signing_key(alg).kid for alg in ALGORITHMS}
    assert after == {k.alg: k.kid for k in created}
    assert after != before
    assert kids(worker_b.jwks()) == jwks_before | set(after.values())


def test_second_instance_verifies_tokens_of_a_new_key(keys_dir, no_recheck_delay):
    worker_a, worker_b = KeyStore(keys_dir), KeyStore(keys_dir)
    worker_b.jwks()
    worker_a.rotate(retain_seconds=600)
    token = sign(worker_a, "ES256")
    assert jwt.decode(token, worker_b.public_keyset(), algorithms=["ES256"])


def test_old_keys_leave_the_jwks_after_retention(keys_dir, clock):
    store = KeyStore(keys_dir)
    old = {store.signing_key(alg).kid for alg in ALGORITHMS}
    store.rotate(retain_seconds=600)
    old_token = jwt.encode({"alg": "RS256"}, {"iss": "test"},
                           KeySet([k.key for k in store.keys() if k.kid in old and k.alg == "RS256"]),
                           algorithms=["RS256"])
    clock.offset = 601
    # no cache reset here: the JWKS cache must expire by itself when a key's publication ends
    assert not old & kids(store.jwks())
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(old_token, store.public_keyset(), algorithms=["RS256"])


def test_prune_removes_only_expired_keys(keys_dir, clock):
    store = KeyStore(keys_dir)
    old = {store.signing_key(alg).kid for alg in ALGORITHMS}
    store.rotate(retain_seconds=600)
    assert store.prune() == 0  # still published
    assert len(list(keys_dir.glob("*.pem"))) == 2 * len(ALGORITHMS)
    clock.offset = 601
    assert store.prune() == len(ALGORITHMS)
    remaining = {p.stem for p in keys_dir.glob("*.pem")}
    assert remaining == {p.stem for p in keys_dir.glob("*.json")}
    assert not old & remaining
    assert len(remaining) == len(ALGORITHMS)
    assert KeyStore(keys_dir).ready()
    assert store.prune() == 0


def test_prune_leaves_a_store_that_still_signs(keys_dir, clock, no_recheck_delay):
    store = KeyStore(keys_dir)
    store.rotate(retain_seconds=0)
    clock.offset = 1
    store.prune()
    for alg in ALGORITHMS:
        token = sign(store, alg)
        assert jwt.decode(token, store.public_keyset(), algorithms=[alg])


def test_missing_keys_are_reported(tmp_path):
    store = KeyStore(tmp_path / "empty")
    assert not store.ready()
    with pytest.raises(KeysMissing):
        store.signing_key("RS256")


def test_metadata_records_the_rotation(keys_dir):
    store = KeyStore(keys_dir)
    old = store.signing_key("RS256").kid
    store.rotate(retain_seconds=600)
    meta = json.loads((keys_dir / f"{old}.json").read_text())
    assert meta["publish_until"] == pytest.approx(meta["retired_at"] + 600)


def test_tampered_token_fails(keys_dir):
    store = KeyStore(keys_dir)
    token = sign(store, "ES256")
    header, payload, signature = token.split(".")
    other = jwt.encode({"alg": "ES256"}, {"iss": "evil"}, store.signing_keyset("ES256"), algorithms=["ES256"])
    forged = ".".join([header, other.split(".")[1], signature])
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, store.public_keyset(), algorithms=["ES256"])
