"""Where an authorization request's parameters come from: the query, a signed
request object (JAR, RFC 9101), or a pushed request (PAR, RFC 9126).

``resolve`` runs once, at the authorization endpoint; the interaction keeps the
resolved parameters, so a single-use ``request_uri`` is never needed twice.
"""

from __future__ import annotations

import json

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from authlib.oauth2.rfc9101 import JWTAuthenticationRequest
from authlib.oauth2.rfc9101.errors import InvalidRequestObjectError, InvalidRequestUriError
from joserfc import jwt
from joserfc.errors import JoseError

from ..security import random_token

PAR_PREFIX = "urn:ietf:params:oauth:request_uri:"
PAR_TTL = 60
REQUEST_OBJECT_ALGS = ["RS256", "PS256", "ES256", "EdDSA"]


class RequestObjects(JWTAuthenticationRequest):
    """Signed request objects from clients with registered keys; never unsigned."""

    def __init__(self, server, client_keys):
        super().__init__(support_request=True, support_request_uri=False)
        self.server = server
        self.client_keys = client_keys

    def resolve_client_public_key(self, client):
        return self.client_keys.keyset(client)

    def get_server_metadata(self):
        return {"issuer": self.server.settings.issuer, "require_signed_request_object": True,
                "request_object_signing_alg_values_supported": REQUEST_OBJECT_ALGS}

    def get_client_require_signed_request_object(self, client):
        return False  # a plain request is fine; a request object must be signed

    def _decode_request_object(self, request, client, raw_request_object):
        request_object = super()._decode_request_object(request, client, raw_request_object)
        claims = request_object.claims
        state = request.payload.state
        # RFC 9101 section 6.3 / FAPI: the object names its client and us
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else (audiences or [])
        if claims.get("iss") not in (None, client.client_id) or self.server.settings.issuer not in audiences:
            raise InvalidRequestObjectError("The request object's 'iss' or 'aud' is wrong.", state=state)
        try:
            jwt.JWTClaimsRegistry(leeway=30).validate(claims)  # exp and nbf, when present
        except JoseError as exc:
            raise InvalidRequestObjectError(exc.description, state=state) from exc
        return request_object


def flatten(params: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in params.items() if v}


def as_lists(data: dict) -> dict[str, list[str]]:
    """Request-object claims as request parameters (values that are JSON stay JSON)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, (dict, list)) and key != "scope":
            value = json.dumps(value)
        out[key] = [str(value) if not isinstance(value, str) else value]
    return out


class PushedRequests:
    """RFC 9126: requests pushed by authenticated clients, used once within a minute."""

    def __init__(self, store):
        self.store = store

    def push(self, client_id: str, params: dict[str, list[str]]) -> str:
        reference = random_token(32)
        self.store.put("par:" + reference, {"client_id": client_id, "params": params}, PAR_TTL)
        return PAR_PREFIX + reference

    def take(self, request_uri: str, client_id: str | None) -> dict[str, list[str]]:
        if not request_uri.startswith(PAR_PREFIX):
            raise InvalidRequestUriError("Only request URIs from the pushed authorization request endpoint.")
        key = "par:" + request_uri[len(PAR_PREFIX):]
        entry = self.store.get(key)
        # single use: only the request that deletes it may use it
        if entry is None or entry["client_id"] != client_id or not self.store.delete(key):
            raise InvalidRequestUriError("The request URI is unknown, used or expired.")
        return entry["params"]


def resolve_request(server, params: dict[str, list[str]]) -> dict[str, list[str]]:
    """The parameters of the authorization request, whatever carried them."""
    data = flatten(params)
    if "request_uri" in data:
        pushed = server.pushed.take(data["request_uri"], data.get("client_id"))
        return pushed
    client = server.find_client(data.get("client_id"))
    if client is not None and client.require_par:
        raise InvalidRequestError("This client must use pushed authorization requests.")
    if "request" in data:
        return unpack_request_object(server, params)
    return params


def unpack_request_object(server, params: dict[str, list[str]]) -> dict[str, list[str]]:
    oauth_request = server.create_oauth2_request(params)
    if server.find_client(oauth_request.payload.client_id) is None:
        raise InvalidClientError(description="The client does not exist on this server.")
    server.request_objects.parse_authorization_request(server, oauth_request)
    return as_lists(dict(oauth_request.payload.data))


def parse_claims_request(raw: str | None) -> dict | None:
    """The ``claims`` parameter (OIDC Core 5.5): a JSON object with id_token/userinfo members."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidRequestError("The 'claims' parameter is not JSON.") from None
    if not isinstance(value, dict) or any(
            not isinstance(value.get(member, {}), dict) for member in ("id_token", "userinfo")):
        raise InvalidRequestError("The 'claims' parameter must be an object of id_token/userinfo members.")
    return {member: value[member] for member in ("id_token", "userinfo") if member in value}
