"""Agency self-service: Dynamic Client Registration (RFC 7591, OpenID Connect
Dynamic Client Registration 1.0) at ``/register`` and its management protocol
(RFC 7592) at ``/register/<client_id>``, on Authlib's endpoints.

Only the protocol lives here; the registry's rules (validation, pending until
two administrators approve, hashed tokens, retire instead of delete) are
behind the ``registry`` object handed in (``idp.admin.self_service.SelfService``).

- ``POST /register`` needs ``Authorization: Bearer <initial access token>``;
  without a usable one: 401 ``invalid_token``.
- ``GET|PUT|DELETE /register/<client_id>`` need the registration access token
  returned at registration; DELETE retires the service (nothing is deleted).
"""

from __future__ import annotations

import re

from authlib.oauth2.rfc6749 import InvalidRequestError, JsonRequest
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc7591 import ClientMetadataClaims as OAuthClientMetadata
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError
from authlib.oauth2.rfc7591.errors import InvalidRedirectURIError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint
from authlib.oauth2.claims import BaseClaims
from authlib.oidc.registration import ClientMetadataClaims as OpenIDClientMetadata
from joserfc.errors import InvalidClaimError

from .discovery import provider_metadata

_UNSAFE = re.compile(r'[^\x20\x21\x23-\x5B\x5D-\x7E]')  # RFC 6749: what an error_description may hold


class RegistrationTokenError(OAuth2Error):
    """401 with ``WWW-Authenticate: Bearer`` (RFC 6750): no, or no usable, bearer token."""

    error = "invalid_token"
    status_code = 401

    def __init__(self, description: str, presented: bool = True):
        super().__init__(description=description)
        self.presented = presented

    def get_headers(self):
        challenge = 'Bearer error="invalid_token"' if self.presented else "Bearer"
        return super().get_headers() + [("WWW-Authenticate", challenge), ("Cache-Control", "no-store")]


class MetadataRejected(ValueError):
    """Raised by the registry: the metadata cannot be accepted; the message says why."""


class TokenAlreadyUsed(Exception):
    """Raised by the registry: a single-use initial access token was claimed meanwhile."""


class NotPermittedError(OAuth2Error):
    error = "unauthorized_client"
    status_code = 403


class PanjerehClientMetadata(BaseClaims):
    """The metadata we accept beyond RFC 7591 and OpenID Connect Registration; the
    registry validates the values (the same rules as ``idp clients add``)."""

    REGISTERED_CLAIMS = ["post_logout_redirect_uris", "backchannel_logout_uri", "backchannel_logout_session_required",
                         "require_pushed_authorization_requests", "client_name#fa", "client_name#en", "description",
                         "description#en", "description#fa"]

    def validate(self, now=None, leeway=0):
        super().validate(now, leeway)
        uris = self.get("post_logout_redirect_uris")
        if uris is not None and not (isinstance(uris, list) and all(isinstance(u, str) for u in uris)):
            raise InvalidClaimError("post_logout_redirect_uris")
        for name in ("require_pushed_authorization_requests", "backchannel_logout_session_required"):
            if name in self and not isinstance(self[name], bool):
                raise InvalidClaimError(name)


CLAIMS_CLASSES = [OAuthClientMetadata, OpenIDClientMetadata, PanjerehClientMetadata]


def explain(description: str):
    """The registry's explanation as an RFC 7591 error: redirect URIs get their own code."""
    text = _UNSAFE.sub("?", description)[:400]
    if "redirect URI" in description and "post-logout" not in description:
        return InvalidRedirectURIError(description=text)
    return InvalidClientMetadataError(description=text)


def checked_metadata(extract, request) -> dict:
    """Authlib's claim checks, with the redirect URI rule spelled out when it is the one that failed."""
    try:
        return extract(request)
    except InvalidClientMetadataError as error:
        if "'redirect_uris'" in (error.description or ""):
            raise InvalidRedirectURIError(description=REDIRECT_URI_RULE) from None
        raise


REDIRECT_URI_RULE = ("redirect_uris must be absolute https URLs (http only on 127.0.0.1 or localhost), "
                     "without fragment or wildcard")


def _bearer(request) -> str | None:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _server_metadata(issuer: str) -> dict:
    """What registrations are checked against: discovery, except that agencies may register
    their own API scopes (so no closed list of scopes)."""
    metadata = provider_metadata(issuer)
    metadata.pop("scopes_supported", None)
    return metadata


def prepare(server, client_id: str | None = None, ip: str | None = None, user_agent: str | None = None):
    """The request for the endpoints, built by the view with what only the view knows."""
    request = server.create_json_request(None)
    request.panjereh_client_id = client_id
    request.panjereh_origin = {"ip": ip, "user_agent": user_agent}
    return request


def _payload(request) -> dict:
    data = request.payload.data
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object of client metadata.")
    return data


class _RegistryEndpoint:
    """What the two registration endpoints share: the registry behind them, JSON requests, our metadata."""

    def __init__(self, server, registry):
        super().__init__(server, claims_classes=CLAIMS_CLASSES)
        self.registry = registry

    def create_endpoint_request(self, request):
        return request if isinstance(request, JsonRequest) else super().create_endpoint_request(request)

    def get_server_metadata(self):
        return _server_metadata(self.server.settings.issuer)


class ClientRegistration(_RegistryEndpoint, ClientRegistrationEndpoint):
    """RFC 7591 ``POST /register`` with an initial access token issued to an agency."""

    def authenticate_token(self, request):
        token = _bearer(request)
        if token is None:
            raise RegistrationTokenError("An initial access token issued to your agency is required.", presented=False)
        credential = self.registry.initial_token(token)
        if credential is None:
            raise RegistrationTokenError("The initial access token is unknown, expired or already used.")
        return credential

    def extract_client_metadata(self, request):
        _payload(request)
        request.panjereh_metadata = dict(request.payload.data)
        return checked_metadata(super().extract_client_metadata, request)

    def generate_client_info(self, request):
        return {}  # the registry makes the client_id and secret: see generate_client_registration_info

    def save_client(self, client_info, client_metadata, request):
        metadata = {**request.panjereh_metadata, **client_metadata}
        try:
            request.panjereh_registration = self.registry.register(request.credential, metadata,
                                                                   **request.panjereh_origin)
        except TokenAlreadyUsed:
            raise RegistrationTokenError("The initial access token was already used.") from None
        except MetadataRejected as exc:
            raise explain(str(exc)) from None
        return request.panjereh_registration.client

    def generate_client_registration_info(self, client, request):
        done = request.panjereh_registration
        body = self.registry.metadata(client)
        if done.client_secret:
            body["client_secret"] = done.client_secret
        body["registration_access_token"] = done.registration_access_token
        body["registration_client_uri"] = f"{self.server.settings.issuer}/register/{client.client_id}"
        body["proposal_id"] = done.proposal.id
        return body



class RegistrationCredential:
    """A registration access token, as Authlib's RFC 7592 endpoint sees it."""

    def __init__(self, client):
        self.client = client

    def check_client(self, client):
        return client is not None and client.client_id == self.client.client_id


class ClientConfiguration(_RegistryEndpoint, ClientConfigurationEndpoint):
    """RFC 7592: read (GET), replace (PUT) and retire (DELETE) with the registration access token."""

    def authenticate_token(self, request):
        token = _bearer(request)
        if token is None:
            raise RegistrationTokenError("The registration access token is required.", presented=False)
        client = self.registry.client_for(token)
        if client is None:
            raise RegistrationTokenError("The registration access token is unknown, or its service is retired.")
        if client.client_id != request.panjereh_client_id:
            raise RegistrationTokenError("The registration access token is not for this service.")
        return RegistrationCredential(client)

    def authenticate_client(self, request):
        return self.registry.find(request.panjereh_client_id)

    def revoke_access_token(self, *args):
        """A token presented for an unknown client: nothing to revoke (its own client is unaffected)."""

    def check_permission(self, client, request):
        refusal = self.registry.refusal(client, request.method)
        if refusal:
            raise NotPermittedError(description=refusal)
        return True

    def introspect_client(self, client):
        return self.registry.metadata(client)

    def generate_client_registration_info(self, client, request):
        info = {"registration_client_uri": f"{self.server.settings.issuer}/register/{client.client_id}",
                "registration_access_token": _bearer(request)}
        proposal = getattr(request, "panjereh_proposal", None)
        if proposal is not None:
            info["proposal_id"] = proposal.id
        return info

    def extract_client_metadata(self, request):
        return checked_metadata(super().extract_client_metadata, request)

    def create_update_client_response(self, client, request):
        _payload(request)
        return super().create_update_client_response(client, request)

    def update_client(self, client, client_metadata, request):
        metadata = {k: v for k, v in request.payload.data.items() if k not in ("client_id", "client_secret")}
        metadata.update(client_metadata)
        try:
            request.panjereh_proposal = self.registry.update(client, metadata, **request.panjereh_origin)
        except MetadataRejected as exc:
            raise explain(str(exc)) from None
        return client

    def delete_client(self, client, request):
        self.registry.retire(client, **request.panjereh_origin)



def install(server, registry) -> None:
    """Register both endpoints on the authorization server (names ``client_registration``
    and ``client_configuration``)."""
    server.register_endpoint(ClientRegistration(server, registry))
    server.register_endpoint(ClientConfiguration(server, registry))


__all__ = ["ClientConfiguration", "ClientRegistration", "MetadataRejected", "TokenAlreadyUsed", "install", "prepare"]
