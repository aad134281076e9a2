"""``private_key_jwt`` client authentication (RFC 7523) with replay protection.

The client's public keys come from its registered JWKS, or from its
``jwks_uri`` (fetched with a timeout and cached briefly). Every assertion's
``jti`` is remembered until the assertion expires, so it is accepted once.
"""

from __future__ import annotations

import json
import time

import requests
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet

from .outbound import check_destination, outbound_session, read_capped

JWKS_CACHE_SECONDS = 300
FAILURE_CACHE_SECONDS = 10


class ClientKeys:
    """A client's public keys, by value or by reference."""

    def __init__(self, timeout: float = 3.0, allow_private: bool = False):
        self.timeout = timeout
        self.allow_private = allow_private
        self.http = outbound_session(allow_private)
        self._cache: dict[str, tuple[float, dict | None]] = {}

    def keyset(self, client) -> KeySet:
        if client.jwks:
            return KeySet.import_key_set(client.jwks)
        if client.jwks_uri:
            return KeySet.import_key_set(self._fetch(client.jwks_uri))
        raise InvalidClientError(description="The client has no registered keys.")

    def _fetch(self, uri: str) -> dict:
        cached = self._cache.get(uri)
        if cached and cached[0] > time.monotonic():
            if cached[1] is None:
                raise InvalidClientError(description="The client's jwks_uri could not be read.", status_code=401)
            return cached[1]
        data = None
        try:
            check_destination(uri, self.allow_private)
            with self.http.get(uri, timeout=self.timeout, allow_redirects=False, stream=True) as response:
                response.raise_for_status()
                data = json.loads(read_capped(response))
        except (requests.RequestException, ValueError) as exc:
            # failures are remembered briefly too: one client cannot make every request wait on it
            self._cache[uri] = (time.monotonic() + FAILURE_CACHE_SECONDS, None)
            raise InvalidClientError(description="The client's jwks_uri could not be read.",
                                     status_code=401) from exc
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

    MAX_LIFETIME = 600  # seconds an assertion may live (FAPI: short-lived)

    def verify_claims(self, claims):
        super().verify_claims(claims)
        audience = claims.get("aud")
        if isinstance(audience, list) and len(audience) != 1:
            raise InvalidClientError(description="The assertion's 'aud' must name only this server.", status_code=401)
        now = time.time()
        if "iat" not in claims or claims["exp"] - claims["iat"] > self.MAX_LIFETIME or claims["iat"] > now + self.leeway:
            raise InvalidClientError(description="The assertion needs 'iat' and a lifetime of at most 10 minutes.",
                                     status_code=401)

    def validate_jti(self, claims, jti):
        ttl = max(int(claims.get("exp", 0) - time.time()) + self.leeway, 1)
        return self.store.add(f"assertion-jti:{claims['iss']}:{jti}"[:200], {"seen": True}, ttl)

    def resolve_client_public_key(self, client):
        return self.keys.keyset(client)
