"""Registering relying-party services: validation that explains itself, secrets shown once."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select

from .db import db
from .interaction.levels import ACR_VALUES
from .models import Agency, Client
from .models.clients import CLIENT_SECRET
from .security import keyed_hash, random_token

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
SUBJECT_TYPES = ("public", "pairwise")
ID_TOKEN_ALGS = ("RS256", "ES256")
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")  # RFC 6749 section 3.3
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class RegistrationError(ValueError):
    """The metadata cannot be accepted; the message says why."""


@dataclass
class ClientRequest:
    name: str
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    scope: str = "openid"
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code"])
    auth_method: str = "client_secret_basic"
    jwks: dict | None = None
    jwks_uri: str | None = None
    subject_type: str = "pairwise"
    backchannel_logout_uri: str | None = None
    agency: str = "default"
    agency_name_fa: str | None = None
    agency_name_en: str | None = None
    name_fa: str | None = None
    client_uri: str | None = None
    id_token_signed_response_alg: str = "RS256"
    client_id: str | None = None
    require_par: bool = False
    default_acr_values: list[str] = field(default_factory=list)


def check_uri(uri: str, what: str) -> str:
    """https (or http on the loopback address), absolute, no fragment, no wildcard."""
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RegistrationError(f"{what} must be an absolute http(s) URL: {uri}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise RegistrationError(f"{what} must use https (http only on 127.0.0.1 or localhost): {uri}")
    if parts.fragment or "#" in uri:
        raise RegistrationError(f"{what} must not contain a fragment: {uri}")
    if "*" in uri:
        raise RegistrationError(f"{what} must not contain a wildcard: {uri}")
    return uri


def validate(req: ClientRequest) -> None:
    if not req.name.strip():
        raise RegistrationError("the service needs a name")
    for grant in req.grant_types:
        if grant not in GRANT_TYPES:
            raise RegistrationError(f"unknown grant type {grant!r}; use one of {', '.join(GRANT_TYPES)}")
    if req.auth_method not in AUTH_METHODS:
        raise RegistrationError(f"unknown auth method {req.auth_method!r}; use one of {', '.join(AUTH_METHODS)}")
    if req.subject_type not in SUBJECT_TYPES:
        raise RegistrationError("subject type must be public or pairwise")
    if req.id_token_signed_response_alg not in ID_TOKEN_ALGS:
        raise RegistrationError(f"ID token algorithm must be one of {', '.join(ID_TOKEN_ALGS)}")
    if "authorization_code" in req.grant_types and not req.redirect_uris:
        raise RegistrationError("a redirect URI is required unless the only grant type is client_credentials")
    if req.auth_method == "none" and "client_credentials" in req.grant_types:
        raise RegistrationError("a public client (auth method none) cannot use client_credentials")
    if req.auth_method == "private_key_jwt" and not (req.jwks or req.jwks_uri):
        raise RegistrationError("private_key_jwt needs --jwks FILE or --jwks-uri")
    if req.jwks is not None and not isinstance(req.jwks.get("keys"), list):
        raise RegistrationError("the JWKS must be a JSON object with a 'keys' list")
    for uri in req.redirect_uris:
        check_uri(uri, "redirect URI")
    for uri in req.post_logout_redirect_uris:
        check_uri(uri, "post-logout redirect URI")
    for uri in filter(None, (req.jwks_uri, req.backchannel_logout_uri, req.client_uri)):
        check_uri(uri, "URI")
    for acr in req.default_acr_values:
        if acr not in ACR_VALUES:
            raise RegistrationError(f"unknown level of assurance {acr!r}; use one of {', '.join(ACR_VALUES)}")
    for scope in req.scope.split():
        if not SCOPE_TOKEN.match(scope):
            raise RegistrationError(f"invalid scope {scope!r}")


def agency_slug(name: str) -> str:
    """A stable ASCII identifier for an agency name (Persian names get a digest)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.strip().lower()).strip("-")
    if slug and slug.isascii() and name.strip().isascii():
        return slug[:64]
    return "agency-" + hashlib.sha256(name.strip().encode()).hexdigest()[:12]


def agency_for(name: str, name_fa: str | None = None, name_en: str | None = None) -> Agency:
    """The agency with this name (or slug), created on first use; names given here are kept."""
    slug = agency_slug(name)
    agency = db.session.execute(select(Agency).where(Agency.slug == slug)).scalar_one_or_none()
    if agency is None:
        agency = Agency(slug=slug, name_fa=name, name_en=name)
        db.session.add(agency)
    if name_fa:
        agency.name_fa = name_fa
    if name_en:
        agency.name_en = name_en
    return agency


def register(req: ClientRequest) -> tuple[Client, str | None]:
    """Create the client; returns it and its secret (None for public or key-based clients)."""
    client, secret = build_client(req)
    db.session.add(client)
    db.session.commit()
    return client, secret


def build_client(req: ClientRequest) -> tuple[Client, str | None]:
    """Validate and build the client (not yet added or committed) and its secret, if it has one."""
    validate(req)
    secret = None
    if req.auth_method in ("client_secret_basic", "client_secret_post"):
        secret = random_token(32)
    client = Client(
        client_id=req.client_id or random_token(16),
        client_secret_hash=keyed_hash(CLIENT_SECRET, secret) if secret else None,
        agency=agency_for(req.agency, req.agency_name_fa, req.agency_name_en),
        name_en=req.name, name_fa=req.name_fa or req.name,
        redirect_uris=list(req.redirect_uris),
        post_logout_redirect_uris=list(req.post_logout_redirect_uris),
        grant_types=list(dict.fromkeys(req.grant_types)),
        response_types=["code"] if "authorization_code" in req.grant_types else [],
        scope=" ".join(dict.fromkeys(req.scope.split())),
        token_endpoint_auth_method=req.auth_method,
        jwks=req.jwks, jwks_uri=req.jwks_uri,
        subject_type=req.subject_type,
        backchannel_logout_uri=req.backchannel_logout_uri,
        id_token_signed_response_alg=req.id_token_signed_response_alg,
        client_uri=req.client_uri,
        require_par=req.require_par,
        default_acr_values=list(req.default_acr_values) or None,
    )
    return client, secret


def new_secret(client: Client) -> str:
    """Replace the client's secret; the new one is returned once and only its hash kept."""
    secret = random_token(32)
    client.client_secret_hash = keyed_hash(CLIENT_SECRET, secret)
    db.session.commit()
    return secret


def describe(client: Client, secret: str | None) -> dict:
    data = {
        "client_id": client.client_id,
        "client_name": client.name_en,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "subject_type": client.subject_type,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "agency": client.agency.slug,
        "require_pushed_authorization_requests": client.require_par,
    }
    if client.backchannel_logout_uri:
        data["backchannel_logout_uri"] = client.backchannel_logout_uri
        data["backchannel_logout_session_required"] = True
    if client.default_acr_values:
        data["default_acr_values"] = client.default_acr_values
    if secret:
        data["client_secret"] = secret
    return data


__all__ = ["ClientRequest", "RegistrationError", "build_client", "register", "new_secret", "describe"]
