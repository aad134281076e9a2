"""``private_key_jwt`` client authentication (RFC 7523) with replay protection.

The client's public keys come from its registered JWKS, or from its
``jwks_uri`` (fetched with a timeout and cached briefly). Every assertion's
``jti`` is remembered until the assertion expires, so it is accepted once.
"""

from __future__ import annotations

import time

import requests
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet

JWKS_CACHE_SECONDS = 300


class ClientKeys:
    """A client's public keys, by value or by reference."""

    def __init__(self, timeout: float = 3.0):
        self.timeout = timeout
        self._cache: dict[str, tuple[float, dict]] = {}

    def keyset(self, client) -> KeySet:
        if client.jwks:
            return KeySet.import_key_set(client.jwks)
        if client.jwks_uri:
            return KeySet.import_key_set(self._fetch(client.jwks_uri))
        raise InvalidClientError(description="The client has no registered keys.")

    def _fetch(self, uri: str) -> dict:
        cached = self._cache.get(uri)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            response = requests.get(uri, timeout=self.timeout, allow_redirects=False)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise InvalidClientError(description="The client's jwks_uri could not be read.") from exc
        self._cache[uri] = (time.monotonic() + JWKS_CACHE_SECONDS, data)
        return data


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, issuer: str, store, keys: ClientKeys):
        super().__init__(validate_jti=True, leeway=30)
        self.issuer = issuer
        self.store = store
        self.keys = keys

    def __call__(self, query_client, request):
        try:
            return super().__call__(query_client, request)
        except InvalidClientError as error:
            error.status_code = 401  # as for every other failed client authentication
            raise

    def get_audiences(self):
        return [f"{self.issuer}/token", self.issuer]

    def validate_jti(self, claims, jti):
        ttl = max(int(claims.get("exp", 0) - time.time()) + self.leeway, 1)
        return self.store.add(f"assertion-jti:{claims['iss']}:{jti}"[:200], {"seen": True}, ttl)

    def resolve_client_public_key(self, client):
        return self.keys.keyset(client)
