"""Keyed hashes: what is already stored (client secrets, refresh tokens) keeps matching."""

import hashlib
import hmac

from idp.security import keyed_hash


def test_a_keyed_hash_is_hmac_sha256_under_the_purposes_derived_key():
    master = "a-server-key"
    key = hmac.new(master.encode(), b"panjereh:client-secret", hashlib.sha256).digest()
    for value in ("s3cret", "", "زهرا", "x" * 1000):
        expected = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
        assert keyed_hash("client-secret", value, master=master) == expected
        assert keyed_hash("client-secret", value, master=master) == expected  # the keyed state is never changed
        assert keyed_hash("refresh-token", value, master=master) != expected
        assert keyed_hash("client-secret", value, master="another-key") != expected
