"""Agency self-service: what the RFC 7591 registration and RFC 7592 management
endpoints (``idp.oauth.registration``) ask of the registry.

- Registration needs an initial access token an administrator issued to the
  agency; the service is created ``pending`` under that agency with an
  ``activate`` proposal that two administrators must approve.
- The registration access token is returned once and kept as a keyed hash.
- Updates are validated like every other change; redirect URI changes and new
  sensitive scopes become proposals (two administrators). Privileged scopes
  (``admin``, ``introspection``) are never self-service.
- DELETE retires the service: nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..db import db
from ..models import Client, InitialAccessToken, Proposal
from ..oauth.registration import MetadataRejected, TokenAlreadyUsed
from ..security import keyed_hash, random_token
from . import access_tokens
from .actors import agency_actor
from .clients import DEFAULTS, KEY_FIELDS, SECRET_METHODS, SERVICE_FIELDS, create_service, retire_service, \
    update_service
from .errors import AdminError, Conflict, InvalidRequest

REGISTRATION_TOKEN = "registration-access-token"
#: RFC 7591 / OpenID Connect Registration metadata names -> the registry's field names
METADATA_FIELDS = {
    "client_name": "client_name", "client_name#en": "client_name", "client_name#fa": "client_name_fa",
    "description": "description_en", "description#en": "description_en", "description#fa": "description_fa",
    "logo_uri": "logo_uri", "client_uri": "client_uri", "redirect_uris": "redirect_uris",
    "post_logout_redirect_uris": "post_logout_redirect_uris", "grant_types": "grant_types", "scope": "scope",
    "token_endpoint_auth_method": "token_endpoint_auth_method", "subject_type": "subject_type",
    "id_token_signed_response_alg": "id_token_signed_response_alg",
    "backchannel_logout_uri": "backchannel_logout_uri",
    "require_pushed_authorization_requests": "require_pushed_authorization_requests",
    "default_acr_values": "default_acr_values", "jwks": "jwks", "jwks_uri": "jwks_uri",
}


@dataclass
class Registration:
    client: Client
    client_secret: str | None
    registration_access_token: str
    proposal: Proposal


def fields_from_metadata(metadata: dict, replace_all: bool = False) -> dict:
    """The registry's fields from client metadata. ``replace_all`` (RFC 7592 PUT): omitted fields
    take their defaults, as the RFC asks."""
    fields = {name: metadata[key] for key, name in METADATA_FIELDS.items() if key in metadata}
    grant_types = fields.get("grant_types") or DEFAULTS["grant_types"]
    response_types = metadata.get("response_types")
    if response_types is not None:
        expected = ["code"] if isinstance(grant_types, list) and "authorization_code" in grant_types else []
        if not isinstance(response_types, list) or sorted(response_types) != expected:
            raise InvalidRequest(f"response_types must be {expected} for these grant types")
    if replace_all:
        fields = {**{k: v for k, v in DEFAULTS.items() if k in SERVICE_FIELDS or k in KEY_FIELDS}, **fields}
    return fields


def metadata_of(client: Client) -> dict:
    """The service's registration as RFC 7591 / OpenID Connect client metadata (never a secret)."""
    data = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name_en,
        "client_name#fa": client.name_fa,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "grant_types": list(client.grant_types or []),
        "response_types": list(client.response_types or []),
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "subject_type": client.subject_type,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "require_pushed_authorization_requests": bool(client.require_par),
        "status": client.status,
    }
    if client.token_endpoint_auth_method in SECRET_METHODS:
        data["client_secret_expires_at"] = 0
    optional = {"client_uri": client.client_uri, "logo_uri": client.logo_uri, "description": client.description_en,
                "description#fa": client.description_fa, "jwks": client.jwks, "jwks_uri": client.jwks_uri,
                "backchannel_logout_uri": client.backchannel_logout_uri,
                "default_acr_values": client.default_acr_values}
    data.update({k: v for k, v in optional.items() if v})
    if client.backchannel_logout_uri:
        data["backchannel_logout_session_required"] = True
    return data


class SelfService:
    """The registry as the registration endpoints see it."""

    def initial_token(self, token: str | None) -> InitialAccessToken | None:
        return access_tokens.find_usable(token)

    def register(self, credential: InitialAccessToken, metadata: dict, ip=None, user_agent=None) -> Registration:
        actor = agency_actor(credential.agency.slug).seen_from(ip, user_agent)
        try:
            change, proposal = create_service(actor, credential.agency, fields_from_metadata(metadata), commit=False)
        except AdminError as exc:
            db.session.rollback()
            raise MetadataRejected(exc.description) from None
        token = random_token(32)
        change.client.registration_token_hash = keyed_hash(REGISTRATION_TOKEN, token)
        if not access_tokens.consume(credential):
            db.session.rollback()
            raise TokenAlreadyUsed()
        db.session.commit()
        return Registration(change.client, change.client_secret, token, proposal)

    def client_for(self, registration_token: str | None) -> Client | None:
        """The service a registration access token manages (none once retired)."""
        if not registration_token or len(registration_token) > 200:
            return None
        client = db.session.execute(select(Client).where(
            Client.registration_token_hash == keyed_hash(REGISTRATION_TOKEN, registration_token))).scalar_one_or_none()
        return client if client is not None and client.status != "retired" else None

    def find(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 64:
            return None
        return db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()

    def refusal(self, client: Client, method: str) -> str | None:
        """Why the agency may not do ``method`` to the service now, or None."""
        if method == "PUT" and client.status == "suspended":
            return "the service is suspended; contact the registry administrators"
        if method == "PUT" and not client.agency.is_active:
            return "the agency is suspended; contact the registry administrators"
        return None

    def metadata(self, client: Client) -> dict:
        return metadata_of(client)

    def update(self, client: Client, metadata: dict, ip=None, user_agent=None) -> Proposal | None:
        """RFC 7592 PUT: replace the registration; returns the proposal when it must wait for administrators."""
        actor = agency_actor(client.agency.slug).seen_from(ip, user_agent)
        try:
            return update_service(actor, client, fields_from_metadata(metadata, replace_all=True)).proposal
        except AdminError as exc:
            db.session.rollback()
            raise MetadataRejected(exc.description) from None

    def retire(self, client: Client, ip=None, user_agent=None) -> None:
        actor = agency_actor(client.agency.slug).seen_from(ip, user_agent)
        try:
            retire_service(actor, client)
        except Conflict:
            pass  # already retired: DELETE is idempotent


__all__ = ["METADATA_FIELDS", "Registration", "SelfService", "fields_from_metadata",
           "metadata_of"]
