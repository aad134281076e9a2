"""Services (OpenID Connect clients) of agencies: list, search, create, edit, keys,
secrets and their lifecycle pending -> active -> suspended -> active ... -> retired.

What takes effect at once and what waits for a second administrator:

============================================  ===========================================
immediately (recorded)                        as a proposal (two-person rule)
============================================  ===========================================
names, descriptions, logo, home page,         activation (pending -> active)
post-logout and back-channel URIs, grant      reactivation (suspended -> active)
types, auth method, algorithms, keys,         redirect URI changes
removing scopes, adding ordinary scopes       adding a sensitive scope
suspension (revokes its live tokens)
retirement (revokes its live tokens)
secret rotation (the secret is shown once)
============================================  ===========================================

Nothing is ever deleted: retirement is the end of a service's life.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, literal, or_, select

from ..audit import Event
from ..db import db, utcnow
from ..models import Agency, AuditEvent, Client, Proposal, Token
from ..models.clients import CLIENT_SECRET
from ..oauth.tokens import revoke_tokens
from ..registration import ClientRequest, RegistrationError, build_client, check_uri, new_secret, validate
from ..security import keyed_hash, random_token
from .actors import AGENCY, CLI_OPERATOR, OPERATOR, Actor
from .errors import Conflict, Forbidden, InvalidRequest, NotFound
from .policy import PRIVILEGED_SCOPES, SERVICE_STATUSES, changes_redirect_uris, grants_sensitive_scope, privileged_requested
from .present import record_view
from .proposals import _snapshot, propose
from .record import Action, record

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
#: the fields a service's registration is made of (API and RFC 7591 names); keys are set with set_keys
SERVICE_FIELDS = {
    "client_name": str, "client_name_fa": str, "description_en": str, "description_fa": str,
    "logo_uri": str, "client_uri": str, "redirect_uris": list, "post_logout_redirect_uris": list,
    "grant_types": list, "scope": str, "token_endpoint_auth_method": str, "subject_type": str,
    "id_token_signed_response_alg": str, "backchannel_logout_uri": str,
    "require_pushed_authorization_requests": bool, "default_acr_values": list,
}
KEY_FIELDS = {"jwks": dict, "jwks_uri": str}
#: what an agency may change about its own service without an administrator
COSMETIC_FIELDS = frozenset({"client_name", "client_name_fa", "description_en", "description_fa", "logo_uri",
                             "client_uri"})
DEFAULTS = {
    "client_name": "", "client_name_fa": None, "description_en": None, "description_fa": None, "logo_uri": None,
    "client_uri": None, "redirect_uris": [], "post_logout_redirect_uris": [], "grant_types": ["authorization_code"],
    "scope": "openid", "token_endpoint_auth_method": "client_secret_basic", "subject_type": "pairwise",
    "id_token_signed_response_alg": "RS256", "backchannel_logout_uri": None,
    "require_pushed_authorization_requests": False, "default_acr_values": [], "jwks": None, "jwks_uri": None,
}
PRIVATE_KEY_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")
DESCRIPTION_MAX = 2000


@dataclass
class Change:
    """What an edit did: applied at once, or waiting as a proposal; a new secret if one was issued."""

    client: Client
    proposal: Proposal | None = None
    client_secret: str | None = None


# --- reading ---

def list_services(q: str | None = None, agency: str | None = None, status: str | None = None,
                  scope: str | None = None, limit: int = 50, offset: int = 0) -> list[Client]:
    """Services by creation, filtered by agency slug, status, an entitled scope, and text ``q``
    (client_id or either name)."""
    query = select(Client).join(Agency)
    if agency:
        query = query.where(Agency.slug == agency)
    if status:
        query = query.where(Client.status == status)
    if scope:
        query = query.where((literal(" ") + Client.scope + literal(" ")).like(f"% {scope} %"))
    if q:
        query = query.where(or_(Client.client_id.icontains(q, autoescape=True),
                                Client.name_en.icontains(q, autoescape=True),
                                Client.name_fa.icontains(q, autoescape=True)))
    return list(db.session.execute(query.order_by(Client.id).limit(limit).offset(offset)).scalars())


def get_service(client_id: str) -> Client:
    client = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
    if client is None:
        raise NotFound(f"no service with client_id {client_id!r}")
    return client


#: the longest window of a service's activity: token records are kept past it (``idp sessions sweep``)
ACTIVITY_WINDOW = timedelta(days=30)


def activity(client: Client) -> dict:
    """Authorization codes and tokens issued to the service in the last 24 hours and 30 days
    (codes from the audit events, tokens from the token records), and its live access tokens."""
    now = utcnow()
    windows = {"last_24h": now - timedelta(hours=24), "last_30d": now - ACTIVITY_WINDOW}

    def codes(since):
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == Event.CODE_ISSUED.value, AuditEvent.client_id == client.client_id, AuditEvent.at >= since))

    def tokens(since):
        return db.session.scalar(select(func.count()).select_from(Token).where(
            Token.client_id == client.client_id, Token.issued_at >= since))

    live = db.session.scalar(select(func.count()).select_from(Token).where(
        Token.client_id == client.client_id, Token.revoked_at.is_(None), Token.expires_at > now))
    return {
        "client_id": client.client_id,
        "status": client.status,
        "codes_issued": {name: codes(since) for name, since in windows.items()},
        "tokens_issued": {name: tokens(since) for name, since in windows.items()},
        "live_access_tokens": live,
        "as_of": now.isoformat(),
    }


# --- creating ---

def create_service(actor: Actor, agency: Agency, fields: dict, *, commit: bool = True) -> tuple[Change, Proposal]:
    """A new service of ``agency``: ``pending``, with an ``activate`` proposal for a second administrator.
    The client secret (for secret-based auth methods) is in the returned change, shown once."""
    if not agency.is_active:
        raise Conflict(f"agency {agency.slug!r} is suspended: it cannot get new services")
    state = _initial_state(fields, allow_keys=True)
    if actor.kind == AGENCY and privileged_requested(state["scope"]):
        raise InvalidRequest(f"scope {', '.join(privileged_requested(state['scope']))} cannot be requested "
                             "by self-registration; ask an administrator")
    _validate(state)
    client, secret = build_client(_request(state, agency.slug))
    _apply_extras(client, state)
    client.status = "pending"
    client.registered_via = "self-service" if actor.kind == AGENCY else "admin"
    db.session.add(client)
    db.session.flush()
    action = Action.SERVICE_REGISTERED if actor.kind == AGENCY else Action.SERVICE_CREATED
    record(actor, action, "service", client.client_id, after=record_view(client))
    proposal = propose(actor, "activate", client)
    if commit:
        db.session.commit()
    return Change(client, proposal, secret), proposal


def register_by_operator(req: ClientRequest, actor: Actor = CLI_OPERATOR) -> tuple[Client, str | None]:
    """``idp clients add``: the operator at the server registers an active service directly
    (the bootstrap path, recorded like every other change)."""
    try:
        client, secret = build_client(req)
    except RegistrationError as exc:
        raise InvalidRequest(str(exc)) from None
    client.registered_via = "operator"
    db.session.add(client)
    db.session.flush()
    record(actor, Action.SERVICE_CREATED, "service", client.client_id, after=record_view(client))
    db.session.commit()
    return client, secret


# --- editing ---

def update_service(actor: Actor, client: Client, changes: dict, *, commit: bool = True) -> Change:
    """Apply ``changes`` (SERVICE_FIELDS and KEY_FIELDS) at once, or, when they change redirect URIs or add a
    sensitive scope, file them whole as an ``update`` proposal for a second administrator."""
    _refuse_retired(client)
    unknown = sorted(set(changes) - set(SERVICE_FIELDS) - set(KEY_FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown or read-only service fields: {', '.join(unknown)}")
    if changes.get("jwks") is not None:
        check_public_jwks(changes["jwks"])
    current = state_of(client)
    merged = _normalized({**current, **_typed(changes)})
    if actor.kind == AGENCY:
        added = set(privileged_requested(merged["scope"])) - set(current["scope"].split())
        if added:
            raise InvalidRequest(f"scope {', '.join(sorted(added))} cannot be requested by self-registration")
    _validate(merged)
    changed = {k: v for k, v in merged.items() if v != current[k]}
    if not changed:
        return Change(client)
    reasons = []
    if "redirect_uris" in changed and changes_redirect_uris(current["redirect_uris"], merged["redirect_uris"]):
        reasons.append("redirect_uris")
    added_sensitive = grants_sensitive_scope(current["scope"], merged["scope"])
    if added_sensitive:
        reasons.append("sensitive scope " + " ".join(added_sensitive))
    if actor.kind == AGENCY and set(changed) - COSMETIC_FIELDS:
        # an agency changes only how its service is presented by itself; what it may do is reviewed
        reasons.append("agency change to " + ", ".join(sorted(set(changed) - COSMETIC_FIELDS)))
    if reasons:
        proposal = propose(actor, "update", client, {
            "changes": changed, "base": {k: current[k] for k in changed}, "reasons": reasons})
        if commit:
            db.session.commit()
        return Change(client, proposal)
    before = record_view(client)
    secret = _apply(client, merged)
    after = record_view(client)
    if secret:
        after["client_secret"] = "issued"
    record(actor, Action.SERVICE_UPDATED, "service", client.client_id, before=before, after=after)
    if commit:
        db.session.commit()
    return Change(client, None, secret)


def apply_update(actor: Actor, proposal: Proposal) -> None:
    """An approved ``update`` proposal: applied if the fields it changes are still as they were proposed."""
    client = proposal.client
    _refuse_retired(client)
    current = state_of(client)
    stale = sorted(k for k, v in proposal.payload.get("base", {}).items() if current.get(k) != v)
    if stale:
        raise Conflict(f"the service changed since this was proposed ({', '.join(stale)}); reject it and propose again")
    merged = _normalized({**current, **proposal.payload["changes"]})
    _validate(merged)
    before = record_view(client)
    _apply(client, merged, issue_secret=False)
    record(actor, Action.SERVICE_UPDATED, "service", client.client_id, before=before, after=record_view(client),
           proposal_id=proposal.id)


def _refuse_privileged_credentials(actor: Actor, client: Client) -> None:
    """One administrator must not obtain another administrative client's credentials (and with them a
    second vote in the two-person rule): those are changed by an operator on the command line."""
    if actor.kind != OPERATOR and set(client.scopes) & PRIVILEGED_SCOPES:
        raise Forbidden("the credentials of an administrative client are changed by an operator "
                        "(idp clients rotate-secret), not through the console or the API")


def set_keys(actor: Actor, client: Client, jwks: dict | None = None, jwks_uri: str | None = None) -> Client:
    """The service's public keys (private_key_jwt, signed request objects): a JWKS by value or a jwks_uri."""
    _refuse_retired(client)
    _refuse_privileged_credentials(actor, client)
    if jwks is not None and jwks_uri is not None:
        raise InvalidRequest("give either jwks or jwks_uri, not both")
    if jwks is not None:
        check_public_jwks(jwks)
    current = state_of(client)
    merged = {**current, "jwks": jwks, "jwks_uri": jwks_uri}
    _validate(merged)
    before = {"jwks": client.jwks, "jwks_uri": client.jwks_uri}
    client.jwks, client.jwks_uri = jwks, jwks_uri
    record(actor, Action.SERVICE_KEYS_SET, "service", client.client_id, before=before,
           after={"jwks": jwks, "jwks_uri": jwks_uri})
    db.session.commit()
    return client


def rotate_secret(actor: Actor, client: Client) -> str:
    """A new client secret, returned once; only its keyed hash is kept. The old one stops working now."""
    _refuse_retired(client)
    _refuse_privileged_credentials(actor, client)
    if client.token_endpoint_auth_method not in SECRET_METHODS:
        raise InvalidRequest(f"this service authenticates with {client.token_endpoint_auth_method}: "
                             "it has no client secret to rotate")
    record(actor, Action.SERVICE_SECRET_ROTATED, "service", client.client_id,
           before={"client_secret": "set" if client.client_secret_hash else "none"},
           after={"client_secret": "rotated"})
    return new_secret(client)  # commits the new hash and the record together


# --- lifecycle ---

def suspend_service(actor: Actor, client: Client, *, commit: bool = True) -> int:
    """Immediately: ``suspended`` and every live token of the service revoked; returns how many.
    Nothing else ends (citizens' sessions, other services' tokens)."""
    if client.status != "active":
        raise Conflict(f"only an active service can be suspended; this one is {client.status}")
    before = record_view(client)
    client.status = "suspended"
    revoked = revoke_live_tokens(client.client_id)
    record(actor, Action.SERVICE_SUSPENDED, "service", client.client_id, before=before,
           after={**record_view(client), "revoked_tokens": revoked})
    if commit:
        db.session.commit()
    return revoked


def propose_activation(actor: Actor, client: Client) -> Proposal:
    """Ask a second administrator to activate a pending service or reactivate a suspended one."""
    if client.status not in ("pending", "suspended"):
        raise Conflict(f"only a pending or suspended service can be (re)activated; this one is {client.status}")
    if not client.agency.is_active:
        raise Conflict(f"agency {client.agency.slug!r} is suspended: reactivate the agency first")
    proposal = propose(actor, "activate" if client.status == "pending" else "reactivate", client)
    db.session.commit()
    return proposal


def apply_activation(actor: Actor, proposal: Proposal) -> None:
    """An approved ``activate``/``reactivate`` proposal: the service becomes active."""
    client = proposal.client
    expected = "pending" if proposal.kind == "activate" else "suspended"
    if client.status != expected:
        raise Conflict(f"the service is {client.status}, not {expected}: this proposal no longer applies")
    if not client.agency.is_active:
        raise Conflict(f"agency {client.agency.slug!r} is suspended: reactivate the agency first")
    snapshot = proposal.payload.get("service")
    if snapshot is not None and _snapshot(client) != snapshot:
        # what the administrators reviewed is not what would go live
        raise Conflict("the service changed since this was proposed: reject it and propose again")
    before = record_view(client)
    client.status = "active"
    action = Action.SERVICE_ACTIVATED if proposal.kind == "activate" else Action.SERVICE_REACTIVATED
    record(actor, action, "service", client.client_id, before=before, after=record_view(client),
           proposal_id=proposal.id)


def retire_service(actor: Actor, client: Client) -> int:
    """The end of the service's life (never deleted): ``retired``, its live tokens revoked; returns how many."""
    _refuse_retired(client)
    before = record_view(client)
    client.status = "retired"
    revoked = revoke_live_tokens(client.client_id)
    record(actor, Action.SERVICE_RETIRED, "service", client.client_id, before=before,
           after={**record_view(client), "revoked_tokens": revoked})
    db.session.commit()
    return revoked


def revoke_live_tokens(client_id: str) -> int:
    """Revoke every token of the service that could still be used (access or refresh)."""
    now = utcnow()
    live_refresh = and_(Token.refresh_token_hash.is_not(None), Token.refresh_used_at.is_(None),
                        or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at > now))
    return revoke_tokens(Token.client_id == client_id, or_(Token.expires_at > now, live_refresh))


# --- the registration as a dict of fields, validated by idp.registration ---

def state_of(client: Client) -> dict:
    return {
        "client_name": client.name_en, "client_name_fa": client.name_fa,
        "description_en": client.description_en, "description_fa": client.description_fa,
        "logo_uri": client.logo_uri, "client_uri": client.client_uri,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "grant_types": list(client.grant_types or []), "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method, "subject_type": client.subject_type,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "require_pushed_authorization_requests": bool(client.require_par),
        "default_acr_values": list(client.default_acr_values or []),
        "jwks": client.jwks, "jwks_uri": client.jwks_uri,
    }


def check_public_jwks(jwks) -> None:
    from joserfc.jwk import KeySet

    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise InvalidRequest("the JWKS must be a JSON object with a non-empty 'keys' list")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or any(member in key for member in PRIVATE_KEY_MEMBERS):
            raise InvalidRequest("the JWKS must hold public keys only (no private or symmetric key members)")
    try:
        KeySet.import_key_set(jwks)
    except Exception as exc:  # noqa: BLE001 - joserfc raises several kinds for a bad key
        raise InvalidRequest(f"the JWKS is not a valid JSON Web Key Set: {exc}") from None


def _initial_state(fields: dict, allow_keys: bool) -> dict:
    allowed = set(SERVICE_FIELDS) | (set(KEY_FIELDS) if allow_keys else set())
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown or read-only service fields: {', '.join(unknown)}")
    state = _normalized({**DEFAULTS, **_typed(fields)})
    if state["jwks"] is not None:
        check_public_jwks(state["jwks"])
    return state


def _typed(fields: dict) -> dict:
    """Check each value's type, and that lists hold strings; None clears an optional field."""
    kinds = {**SERVICE_FIELDS, **KEY_FIELDS}
    for name, value in fields.items():
        kind = kinds.get(name)
        if kind is None:
            continue
        if value is None:
            if name in ("client_name", "scope", "token_endpoint_auth_method", "subject_type",
                        "id_token_signed_response_alg", "require_pushed_authorization_requests"):
                raise InvalidRequest(f"{name} cannot be null")
            continue
        if not isinstance(value, kind) or (kind is str and isinstance(value, bool)):
            raise InvalidRequest(f"{name} must be {'a list of strings' if kind is list else 'a ' + kind.__name__}")
        if kind is list and not all(isinstance(item, str) for item in value):
            raise InvalidRequest(f"{name} must be a list of strings")
    return {name: ([] if value is None and kinds.get(name) is list else value) for name, value in fields.items()}


def _normalized(state: dict) -> dict:
    state = dict(state)
    state["scope"] = " ".join(dict.fromkeys((state["scope"] or "").split()))
    state["grant_types"] = list(dict.fromkeys(state["grant_types"]))
    if not state["client_name_fa"]:
        state["client_name_fa"] = state["client_name"]
    for name in ("description_en", "description_fa", "logo_uri", "client_uri", "backchannel_logout_uri", "jwks_uri"):
        if state.get(name) == "":
            state[name] = None
    return state


def _request(state: dict, agency_slug: str) -> ClientRequest:
    return ClientRequest(
        name=state["client_name"] or "", name_fa=state["client_name_fa"], redirect_uris=list(state["redirect_uris"]),
        post_logout_redirect_uris=list(state["post_logout_redirect_uris"]), scope=state["scope"],
        grant_types=list(state["grant_types"]), auth_method=state["token_endpoint_auth_method"],
        jwks=state["jwks"], jwks_uri=state["jwks_uri"], subject_type=state["subject_type"],
        backchannel_logout_uri=state["backchannel_logout_uri"], agency=agency_slug, client_uri=state["client_uri"],
        id_token_signed_response_alg=state["id_token_signed_response_alg"],
        require_par=state["require_pushed_authorization_requests"],
        default_acr_values=list(state["default_acr_values"]))


def _validate(state: dict) -> None:
    """The same rules as ``idp clients add`` (idp.registration), plus the catalogue's own fields."""
    try:
        validate(_request(state, "-"))
        if state["logo_uri"]:
            check_uri(state["logo_uri"], "logo URI")
    except RegistrationError as exc:
        raise InvalidRequest(str(exc)) from None
    for name in ("client_name", "client_name_fa"):
        if len(state[name] or "") > 200:
            raise InvalidRequest(f"{name} must be at most 200 characters")
    for name in ("description_en", "description_fa"):
        if len(state[name] or "") > DESCRIPTION_MAX:
            raise InvalidRequest(f"{name} must be at most {DESCRIPTION_MAX} characters")
    if state["jwks"] is not None and state["jwks_uri"] is not None:
        raise InvalidRequest("give either jwks or jwks_uri, not both")


def _apply_extras(client: Client, state: dict) -> None:
    client.logo_uri = state["logo_uri"]
    client.description_en = state["description_en"]
    client.description_fa = state["description_fa"]


def _apply(client: Client, state: dict, issue_secret: bool = True) -> str | None:
    """Write a validated state onto the client; returns a new secret when the change moved it to a
    secret-based auth method without one (and ``issue_secret``)."""
    client.name_en = state["client_name"]
    client.name_fa = state["client_name_fa"] or state["client_name"]
    _apply_extras(client, state)
    client.client_uri = state["client_uri"]
    client.redirect_uris = list(state["redirect_uris"])
    client.post_logout_redirect_uris = list(state["post_logout_redirect_uris"])
    client.grant_types = list(state["grant_types"])
    client.response_types = ["code"] if "authorization_code" in state["grant_types"] else []
    client.scope = state["scope"]
    client.subject_type = state["subject_type"]
    client.id_token_signed_response_alg = state["id_token_signed_response_alg"]
    client.backchannel_logout_uri = state["backchannel_logout_uri"]
    client.require_par = state["require_pushed_authorization_requests"]
    client.default_acr_values = list(state["default_acr_values"]) or None
    client.jwks, client.jwks_uri = state["jwks"], state["jwks_uri"]
    client.token_endpoint_auth_method = state["token_endpoint_auth_method"]
    if client.token_endpoint_auth_method not in SECRET_METHODS:
        client.client_secret_hash = None  # a key-based or public client has no secret to leak
        return None
    if client.client_secret_hash is None and issue_secret:
        secret = random_token(32)
        client.client_secret_hash = keyed_hash(CLIENT_SECRET, secret)
        return secret
    return None


def _refuse_retired(client: Client) -> None:
    if client.status == "retired":
        raise Conflict("the service is retired: it cannot be changed")


__all__ = ["Change", "DEFAULTS", "KEY_FIELDS", "SECRET_METHODS", "SERVICE_FIELDS", "SERVICE_STATUSES", "activity",
           "apply_activation", "apply_update", "check_public_jwks", "create_service", "get_service", "list_services",
           "propose_activation", "register_by_operator", "retire_service", "revoke_live_tokens", "rotate_secret",
           "set_keys", "state_of", "suspend_service", "update_service"]
