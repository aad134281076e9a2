"""The admin REST API (JSON) under ``/admin/api/``: the agency registry for the
console and for automation. The contract is the OpenAPI document served at
``/admin/api/openapi.json`` (``idp.admin.openapi``).

Bearer tokens only (no cookies, so no CSRF): a ``client_credentials`` token of
a client entitled to the ``admin`` scope, or an administrator citizen's token
carrying ``admin`` (``idp.admin.auth``). No or a bad token: 401 with
``WWW-Authenticate: Bearer``; a token without the right: 403
``insufficient_scope``. Every error is ``{"error", "error_description"}``.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..admin import access_tokens, agencies, clients, proposals, record
from ..admin.auth import Refusal, authenticate
from ..admin.errors import AdminError, InvalidRequest, NotFound
from ..admin.openapi import openapi_document
from ..admin.policy import AGENCY_STATUSES, SERVICE_STATUSES
from ..admin.present import (action_view, agency_view, initial_token_view, proposal_view, service_view)
from ..services import services

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
PUBLIC = {"admin_api.openapi"}
MAX_ID = 2 ** 31 - 1


def _json(payload, status: int = 200, headers: dict | None = None):
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def json_error(status: int, error: str, description: str, headers: dict | None = None):
    return _json({"error": error, "error_description": description}, status, headers)


def _refused(refusal: Refusal):
    if refusal.error is None:
        challenge = 'Bearer realm="panjereh-admin"'
    else:
        challenge = f'Bearer realm="panjereh-admin", error="{refusal.error}"'
        if refusal.error == "insufficient_scope":
            challenge += ', scope="admin"'
    return json_error(refusal.status, refusal.error or "invalid_token", refusal.description,
                      {"WWW-Authenticate": challenge})


@bp.before_request
def authenticate_administrator():
    if request.endpoint in PUBLIC:
        return None
    svc = services()
    result = authenticate(request.headers.get("Authorization"), svc.keys, svc.settings.issuer)
    if isinstance(result, Refusal):
        return _refused(result)
    g.admin_actor = result.seen_from(request.remote_addr, request.headers.get("User-Agent"))
    return None


@bp.errorhandler(AdminError)
def admin_error(error: AdminError):
    return json_error(error.status, error.code, error.description)


def actor():
    return g.admin_actor


def body() -> dict:
    data = request.get_json(silent=True)
    if not request.is_json or not isinstance(data, dict):
        raise InvalidRequest("send a JSON object with Content-Type: application/json")
    return data


def only(data: dict, allowed: set[str]) -> dict:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(unknown)}")
    return data


def arg_choice(name: str, choices) -> str | None:
    value = request.args.get(name)
    if value is not None and value not in choices:
        raise InvalidRequest(f"{name} must be one of {', '.join(choices)}")
    return value


def paging() -> dict:
    try:
        limit = int(request.args.get("limit", 50))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise InvalidRequest("limit and offset must be whole numbers") from None
    if not 1 <= limit <= 200 or not 0 <= offset <= MAX_ID:
        raise InvalidRequest("limit must be between 1 and 200, offset between 0 and 2147483647")
    return {"limit": limit, "offset": offset}


def text_arg(name: str, max_length: int = 100) -> str | None:
    value = request.args.get(name)
    if value is not None and len(value) > max_length:
        raise InvalidRequest(f"{name} must be at most {max_length} characters")
    return value or None


def row_id(value: int, what: str) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"no {what} {value}")
    return value


# --- the contract ---

@bp.get("/openapi.json")
def openapi():
    return _json(openapi_document(services().settings.issuer))


# --- agencies ---

@bp.get("/agencies")
def list_agencies():
    found = agencies.list_agencies(q=text_arg("q"), status=arg_choice("status", AGENCY_STATUSES), **paging())
    return _json({"agencies": [agency_view(a) for a in found]})


@bp.post("/agencies")
def create_agency():
    data = only(body(), {"slug", "name_fa", "name_en", "contact_email", "contact_phone"})
    if not isinstance(data.get("slug", ""), str):
        raise InvalidRequest("slug must be a string")
    agency = agencies.create_agency(actor(), slug=data.get("slug"), name_fa=data.get("name_fa"),
                                    name_en=data.get("name_en"), contact_email=data.get("contact_email"),
                                    contact_phone=data.get("contact_phone"))
    return _json(agency_view(agency), 201)


@bp.get("/agencies/<slug>")
def get_agency(slug):
    return _json(agency_view(agencies.get_agency(slug)))


@bp.patch("/agencies/<slug>")
def update_agency(slug):
    agency = agencies.update_agency(actor(), agencies.get_agency(slug), body())
    return _json(agency_view(agency))


@bp.get("/agencies/<slug>/initial-access-tokens")
def list_initial_tokens(slug):
    return _json({"initial_access_tokens": [initial_token_view(t)
                                            for t in access_tokens.list_for(agencies.get_agency(slug))]})


@bp.post("/agencies/<slug>/initial-access-tokens")
def issue_initial_token(slug):
    data = only(body(), {"expires_in", "single_use"})
    single_use = data.get("single_use", False)
    if not isinstance(single_use, bool):
        raise InvalidRequest("single_use must be true or false")
    row, token = access_tokens.issue(actor(), agencies.get_agency(slug),
                                     data.get("expires_in", access_tokens.DEFAULT_TTL), single_use)
    return _json({**initial_token_view(row), "initial_access_token": token,
                  "registration_endpoint": services().settings.issuer + "/register"}, 201)


# --- services ---

@bp.get("/services")
def list_services():
    found = clients.list_services(q=text_arg("q"), agency=text_arg("agency", 64),
                                  status=arg_choice("status", SERVICE_STATUSES), scope=text_arg("scope"), **paging())
    return _json({"services": [service_view(c) for c in found]})


@bp.post("/services")
def create_service():
    data = dict(body())
    slug = data.pop("agency", None)
    if not isinstance(slug, str) or not slug:
        raise InvalidRequest("agency (the slug of the agency that owns the service) is required")
    try:
        agency = agencies.get_agency(slug)
    except NotFound:
        raise InvalidRequest(f"no agency {slug!r}; create it first") from None
    change, proposal = clients.create_service(actor(), agency, data)
    return _json({"service": service_view(change.client), "client_secret": change.client_secret,
                  "proposal": proposal_view(proposal)}, 201)


@bp.get("/services/<client_id>")
def get_service(client_id):
    return _json(service_view(clients.get_service(client_id)))


@bp.patch("/services/<client_id>")
def update_service(client_id):
    change = clients.update_service(actor(), clients.get_service(client_id), body())
    payload = {"service": service_view(change.client),
               "proposal": proposal_view(change.proposal) if change.proposal else None}
    if change.client_secret:
        payload["client_secret"] = change.client_secret
    return _json(payload, 202 if change.proposal else 200)


@bp.put("/services/<client_id>/keys")
def set_keys(client_id):
    data = only(body(), {"jwks", "jwks_uri"})
    if data.get("jwks_uri") is not None and not isinstance(data["jwks_uri"], str):
        raise InvalidRequest("jwks_uri must be a string")
    client = clients.set_keys(actor(), clients.get_service(client_id), jwks=data.get("jwks"),
                              jwks_uri=data.get("jwks_uri"))
    return _json({"service": service_view(client)})


@bp.post("/services/<client_id>/rotate-secret")
def rotate_secret(client_id):
    client = clients.get_service(client_id)
    return _json({"client_id": client.client_id, "client_secret": clients.rotate_secret(actor(), client)})


@bp.post("/services/<client_id>/suspend")
def suspend(client_id):
    client = clients.get_service(client_id)
    revoked = clients.suspend_service(actor(), client)
    return _json({"service": service_view(client), "revoked_tokens": revoked})


@bp.post("/services/<client_id>/reactivate")
def reactivate(client_id):
    client = clients.get_service(client_id)
    proposal = clients.propose_activation(actor(), client)
    return _json({"service": service_view(client), "proposal": proposal_view(proposal)}, 202)


@bp.post("/services/<client_id>/retire")
def retire(client_id):
    client = clients.get_service(client_id)
    revoked = clients.retire_service(actor(), client)
    return _json({"service": service_view(client), "revoked_tokens": revoked})


@bp.get("/services/<client_id>/activity")
def activity(client_id):
    return _json(clients.activity(clients.get_service(client_id)))


# --- proposals (the two-person rule) ---

@bp.get("/proposals")
def list_proposals():
    found = proposals.list_proposals(status=arg_choice("status", proposals.STATUSES),
                                     kind=arg_choice("kind", proposals.KINDS), client_id=text_arg("client_id", 64),
                                     **paging())
    return _json({"proposals": [proposal_view(p) for p in found]})


@bp.get("/proposals/<int:proposal_id>")
def get_proposal(proposal_id):
    return _json(proposal_view(proposals.get_proposal(row_id(proposal_id, "proposal"))))


@bp.post("/proposals/<int:proposal_id>/approve")
def approve(proposal_id):
    proposal = proposals.approve(actor(), proposals.get_proposal(row_id(proposal_id, "proposal")))
    return _json({"proposal": proposal_view(proposal),
                  "service": service_view(proposal.client) if proposal.client else None})


@bp.post("/proposals/<int:proposal_id>/reject")
def reject(proposal_id):
    proposal = proposals.get_proposal(row_id(proposal_id, "proposal"))
    data = only(body(), {"reason"}) if request.content_length else {}
    proposal = proposals.reject(actor(), proposal, data.get("reason"))
    return _json({"proposal": proposal_view(proposal)})


# --- the admin record (read-only) ---

@bp.get("/actions")
def list_actions():
    rows, total = record.list_actions(target_type=arg_choice("target_type", record.TARGET_TYPES),
                                      target_id=text_arg("target_id", 64), actor=text_arg("actor", 100),
                                      action=arg_choice("action", record.ACTIONS), **paging())
    return _json({"actions": [action_view(a) for a in rows], "total": total})


@bp.get("/actions/<int:action_id>")
def get_action(action_id):
    row = record.get_action(row_id(action_id, "action"))
    if row is None:
        raise NotFound(f"no action {action_id}")
    return _json(action_view(row))


def init_app(app):
    from ..app import csrf

    csrf.exempt(bp)  # bearer tokens only: no cookie, nothing to forge
    app.register_blueprint(bp)
