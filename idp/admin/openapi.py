"""The OpenAPI 3.1 document of the admin API: the contract, served at
``/admin/api/openapi.json`` and checked against the running API by
``tests/functional/test_openapi_contract.py``.

Written by hand, as data. Keep it in step with ``idp/views/admin_api.py`` and
``idp/admin/present.py``: every route is here, every response shape is exact
(``additionalProperties: false``), every error is documented.
"""

from __future__ import annotations

from .policy import AGENCY_STATUSES, SERVICE_STATUSES
from .proposals import KINDS, STATUSES as PROPOSAL_STATUSES
from .record import ACTIONS, TARGET_TYPES

SLUG_PATTERN = "^[a-z0-9][a-z0-9-]{0,63}$"
CLIENT_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
MAX_ID = 2 ** 31 - 1


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(properties: dict, required=None, description: str | None = None) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": False,
              "required": list(properties) if required is None else list(required)}
    if description:
        schema["description"] = description
    return schema


STRING = {"type": "string"}
TEXT = {"type": "string", "maxLength": 2000}
NAME = {"type": "string", "minLength": 1, "maxLength": 200}
URI = {"type": "string", "format": "uri", "maxLength": 500}
URIS = {"type": "array", "items": {"type": "string", "maxLength": 500}, "maxItems": 20}
WHEN = {"type": "string", "format": "date-time"}
COUNT = {"type": "integer", "minimum": 0}
JWKS = {"type": "object", "description": "A JSON Web Key Set of the service's PUBLIC keys.",
        "required": ["keys"], "properties": {"keys": {"type": "array", "items": {"type": "object"}, "minItems": 1}}}
ACTOR = {"type": "string", "description": "Who: `account:<id>`, `client:<client_id>`, `agency:<slug>` or `operator:cli`."}

SERVICE_FIELDS = {
    "client_name": {**NAME, "description": "The service's name in English (and in Persian unless client_name_fa)."},
    "client_name_fa": {**NAME, "description": "The service's name in Persian."},
    "description_en": _nullable({**TEXT, "description": "Public description (English), shown in the catalogue."}),
    "description_fa": _nullable({**TEXT, "description": "Public description (Persian), shown in the catalogue."}),
    "logo_uri": _nullable({**URI, "description": "https URL of the logo (shown only if https)."}),
    "client_uri": _nullable({**URI, "description": "The service's home page (the catalogue links to it)."}),
    "redirect_uris": {**URIS, "description": "Exact redirect URIs: https (http only on loopback), no fragment, "
                                             "no wildcard. A change needs a second administrator."},
    "post_logout_redirect_uris": URIS,
    "grant_types": {"type": "array", "items": {"enum": ["authorization_code", "refresh_token", "client_credentials"]}},
    "scope": {"type": "string", "maxLength": 1000,
              "description": "Space-separated scopes the service is ENTITLED to. Adding a sensitive scope "
                             "needs a second administrator."},
    "token_endpoint_auth_method": {"enum": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]},
    "subject_type": {"enum": ["public", "pairwise"]},
    "id_token_signed_response_alg": {"enum": ["RS256", "ES256"]},
    "backchannel_logout_uri": _nullable(URI),
    "require_pushed_authorization_requests": {"type": "boolean"},
    "default_acr_values": {"type": "array", "items": {"enum": ["urn:panjereh:loa:1", "urn:panjereh:loa:2",
                                                             "urn:panjereh:loa:3"]}},
}
KEY_FIELDS = {"jwks": _nullable(JWKS), "jwks_uri": _nullable(URI)}

SCHEMAS = {
    "Error": _obj({"error": {"type": "string", "description": "A short code: invalid_request, invalid_token, "
                                                              "insufficient_scope, forbidden, not_found, conflict."},
                   "error_description": {"type": "string", "description": "What was wrong and what to do."}}),
    "Agency": _obj({
        "slug": {"type": "string", "pattern": SLUG_PATTERN},
        "name_fa": STRING, "name_en": STRING,
        "contact_email": _nullable(STRING), "contact_phone": _nullable(STRING),
        "status": {"enum": list(AGENCY_STATUSES)}, "created_at": WHEN}),
    "AgencyCreate": _obj({
        "slug": {"type": "string", "pattern": SLUG_PATTERN,
                 "description": "Stable identifier; derived from name_en when omitted."},
        "name_fa": NAME, "name_en": NAME,
        "contact_email": _nullable({"type": "string", "format": "email", "maxLength": 254}),
        "contact_phone": _nullable({"type": "string", "maxLength": 32})}, required=["name_fa", "name_en"]),
    "AgencyUpdate": _obj({
        "name_fa": NAME, "name_en": NAME,
        "contact_email": _nullable({"type": "string", "format": "email", "maxLength": 254}),
        "contact_phone": _nullable({"type": "string", "maxLength": 32}),
        "status": {"enum": list(AGENCY_STATUSES),
                   "description": "suspended: also suspends every active service of the agency (revoking their "
                                  "tokens) and stops its initial access tokens."}}, required=[]),
    "InitialAccessToken": _obj({
        "id": {"type": "integer"}, "agency": STRING, "issued_by": ACTOR, "issued_at": WHEN, "expires_at": WHEN,
        "single_use": {"type": "boolean"}, "uses": COUNT, "used_at": _nullable(WHEN),
        "usable": {"type": "boolean"}}),
    "InitialAccessTokenIssue": _obj({
        "expires_in": {"type": "integer", "minimum": 60, "maximum": 90 * 24 * 3600, "default": 7 * 24 * 3600},
        "single_use": {"type": "boolean", "default": False}}, required=[]),
    "Service": _obj({
        "client_id": STRING, "agency": STRING, "status": {"enum": list(SERVICE_STATUSES)},
        "client_name": STRING, "client_name_fa": STRING,
        "description_en": _nullable(STRING), "description_fa": _nullable(STRING),
        "logo_uri": _nullable(STRING), "client_uri": _nullable(STRING),
        "redirect_uris": {"type": "array", "items": STRING},
        "post_logout_redirect_uris": {"type": "array", "items": STRING},
        "grant_types": {"type": "array", "items": STRING}, "response_types": {"type": "array", "items": STRING},
        "scope": STRING, "sensitive_scopes": {"type": "array", "items": STRING},
        "token_endpoint_auth_method": STRING, "has_client_secret": {"type": "boolean"},
        "jwks": _nullable({"type": "object"}), "jwks_uri": _nullable(STRING),
        "subject_type": STRING, "id_token_signed_response_alg": STRING,
        "backchannel_logout_uri": _nullable(STRING),
        "require_pushed_authorization_requests": {"type": "boolean"},
        "default_acr_values": {"type": "array", "items": STRING},
        "registered_via": {"enum": ["operator", "admin", "self-service"]},
        "created_at": WHEN, "updated_at": WHEN}),
    "ServiceCreate": _obj({"agency": {"type": "string", "pattern": SLUG_PATTERN,
                                      "description": "The slug of the agency that owns the service."},
                           **SERVICE_FIELDS, **KEY_FIELDS}, required=["agency", "client_name"],
                          description="Created `pending`, with an `activate` proposal for a second administrator."),
    "ServiceUpdate": _obj({**SERVICE_FIELDS, **KEY_FIELDS}, required=[],
                          description="Only the fields given change. Redirect URI changes and new sensitive scopes "
                                      "make the whole change a proposal (202)."),
    "Keys": _obj(KEY_FIELDS, required=[], description="Either jwks (by value) or jwks_uri; both null clears."),
    "Proposal": _obj({
        "id": {"type": "integer"}, "kind": {"enum": list(KINDS)}, "status": {"enum": list(PROPOSAL_STATUSES)},
        "client_id": _nullable(STRING), "agency": _nullable(STRING),
        "payload": {"type": "object", "description": "activate/reactivate: what is being let in (from_status, "
                                                     "service); update: changes, base (values when proposed), "
                                                     "reasons."},
        "proposed_by": ACTOR, "proposed_at": WHEN, "endorsed_by": _nullable(STRING), "endorsed_at": _nullable(WHEN),
        "approvals_needed": {"type": "integer", "minimum": 0, "maximum": 2},
        "decision": _nullable({"enum": ["approved", "rejected"]}), "decided_by": _nullable(STRING),
        "decided_at": _nullable(WHEN), "reason": _nullable(STRING), "applied_at": _nullable(WHEN)}),
    "Rejection": _obj({"reason": {"type": "string", "maxLength": 1000}}, required=[]),
    "Action": _obj({
        "id": {"type": "integer"}, "at": WHEN, "actor": ACTOR, "actor_type": STRING, "actor_id": STRING,
        "via": {"enum": ["api", "cli", "self-service"]}, "action": {"enum": list(ACTIONS)},
        "target_type": {"enum": list(TARGET_TYPES)}, "target_id": STRING,
        "before": _nullable({"type": "object"}), "after": _nullable({"type": "object"}),
        "proposal_id": _nullable({"type": "integer"}), "ip": _nullable(STRING), "user_agent": _nullable(STRING)}),
    "Activity": _obj({
        "client_id": STRING, "status": STRING,
        "codes_issued": _obj({"last_24h": COUNT, "last_30d": COUNT}),
        "tokens_issued": _obj({"last_24h": COUNT, "last_30d": COUNT}),
        "live_access_tokens": COUNT, "as_of": WHEN}),
}
SCHEMAS.update({
    "AgencyList": _obj({"agencies": {"type": "array", "items": _ref("Agency")}}),
    "InitialAccessTokenList": _obj({"initial_access_tokens": {"type": "array", "items": _ref("InitialAccessToken")}}),
    "InitialAccessTokenIssued": _obj({
        **SCHEMAS["InitialAccessToken"]["properties"],
        "initial_access_token": {"type": "string", "description": "Shown once: only its keyed hash is kept."},
        "registration_endpoint": STRING}),
    "ServiceList": _obj({"services": {"type": "array", "items": _ref("Service")}}),
    "ServiceCreated": _obj({"service": _ref("Service"),
                            "client_secret": _nullable({"type": "string", "description": "Shown once."}),
                            "proposal": _ref("Proposal")}),
    "ServiceChange": _obj({"service": _ref("Service"), "proposal": _nullable(_ref("Proposal")),
                           "client_secret": {"type": "string", "description": "Only when the change moved the "
                                                                              "service to a secret-based method."}},
                          required=["service", "proposal"]),
    "ServiceOnly": _obj({"service": _ref("Service")}),
    "ServiceEnded": _obj({"service": _ref("Service"), "revoked_tokens": COUNT}),
    "ServiceProposal": _obj({"service": _ref("Service"), "proposal": _ref("Proposal")}),
    "Secret": _obj({"client_id": STRING, "client_secret": {"type": "string", "description": "Shown once."}}),
    "ProposalList": _obj({"proposals": {"type": "array", "items": _ref("Proposal")}}),
    "ProposalDecided": _obj({"proposal": _ref("Proposal"), "service": _nullable(_ref("Service"))}),
    "ProposalOnly": _obj({"proposal": _ref("Proposal")}),
    "ActionList": _obj({"actions": {"type": "array", "items": _ref("Action")}, "total": COUNT}),
})

ERRORS = {
    "400": "The request cannot be accepted; error_description says why.",
    "401": "No access token, or not a valid one (`WWW-Authenticate: Bearer`).",
    "403": "The token lacks the admin right (`insufficient_scope`), or the two-person rule forbids it (`forbidden`).",
    "404": "No such object.",
    "409": "The object is not in a state where this can happen.",
}


def _param(name: str, where: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}


SLUG = _param("slug", "path", {"type": "string", "pattern": SLUG_PATTERN}, "The agency's slug.")
CLIENT_ID = _param("client_id", "path", {"type": "string", "pattern": CLIENT_ID_PATTERN}, "The service's client_id.")
PROPOSAL_ID = _param("proposal_id", "path", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "The proposal's id.")
ACTION_ID = _param("action_id", "path", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "The action's id.")
PAGING = [_param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "Page size."),
          _param("offset", "query", {"type": "integer", "minimum": 0, "maximum": MAX_ID, "default": 0},
                 "Items to skip.")]
Q = _param("q", "query", {"type": "string", "maxLength": 100}, "Text to search for.")


def _op(op_id: str, summary: str, ok: str, schema: str, *, errors=("401", "403"), params=(), body: str | None = None,
        body_required: bool = True, description: str | None = None, extra: dict | None = None) -> dict:
    responses = {ok: {"description": "Success.", "content": {"application/json": {"schema": _ref(schema)}}}}
    for status, (other_ok, other_schema, text) in (extra or {}).items():
        responses[status] = {"description": text, "content": {"application/json": {"schema": _ref(other_schema)}}}
    codes = set(errors) | {"401", "403"} | ({"400"} if body or any(p["in"] == "query" for p in params) else set()) \
        | ({"404"} if any(p["in"] == "path" for p in params) else set())
    for status in sorted(codes):
        response = {"description": ERRORS[status],
                    "content": {"application/json": {"schema": _ref("Error")}}}
        if status == "401":
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                        "description": "`Bearer ...` (RFC 6750)."}}
        responses[status] = response
    operation = {"operationId": op_id, "summary": summary, "responses": responses}
    if description:
        operation["description"] = description
    if params:
        operation["parameters"] = list(params)
    if body:
        operation["requestBody"] = {"required": body_required,
                                    "content": {"application/json": {"schema": _ref(body)}}}
    return operation


PATHS = {
    "/openapi.json": {
        "get": {"operationId": "getOpenApiDocument", "summary": "This document (public).", "security": [],
                "responses": {"200": {"description": "The OpenAPI document.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}}},
    },
    "/agencies": {
        "get": _op("listAgencies", "List and search agencies.", "200", "AgencyList", params=[
            Q, _param("status", "query", {"enum": list(AGENCY_STATUSES)}, "Only agencies with this status."),
            *PAGING]),
        "post": _op("createAgency", "Create an agency.", "201", "Agency", body="AgencyCreate", errors=("409",)),
    },
    "/agencies/{slug}": {
        "get": _op("getAgency", "One agency.", "200", "Agency", params=[SLUG]),
        "patch": _op("updateAgency", "Edit an agency: names, contacts, status.", "200", "Agency", params=[SLUG],
                     body="AgencyUpdate"),
    },
    "/agencies/{slug}/initial-access-tokens": {
        "get": _op("listInitialAccessTokens", "The agency's initial access tokens (never the tokens themselves).",
                   "200", "InitialAccessTokenList", params=[SLUG]),
        "post": _op("issueInitialAccessToken", "Issue an initial access token to the agency (RFC 7591), shown once.",
                    "201", "InitialAccessTokenIssued", params=[SLUG], body="InitialAccessTokenIssue",
                    errors=("409",)),
    },
    "/services": {
        "get": _op("listServices", "List, search and filter services.", "200", "ServiceList", params=[
            Q, _param("agency", "query", {"type": "string", "maxLength": 64}, "Only services of this agency (slug)."),
            _param("status", "query", {"enum": list(SERVICE_STATUSES)}, "Only services with this status."),
            _param("scope", "query", {"type": "string", "maxLength": 100}, "Only services entitled to this scope."),
            *PAGING]),
        "post": _op("createService", "Create a service (pending, with an activation proposal).", "201",
                    "ServiceCreated", body="ServiceCreate", errors=("409",)),
    },
    "/services/{client_id}": {
        "get": _op("getService", "One service.", "200", "Service", params=[CLIENT_ID]),
        "patch": _op("updateService", "Edit a service: applied (200) or proposed (202).", "200", "ServiceChange",
                     params=[CLIENT_ID], body="ServiceUpdate", errors=("409",),
                     extra={"202": ("202", "ServiceChange", "The change waits for a second administrator.")}),
    },
    "/services/{client_id}/keys": {
        "put": _op("setServiceKeys", "Set the service's public keys: a JWKS by value or a jwks_uri.", "200",
                   "ServiceOnly", params=[CLIENT_ID], body="Keys", errors=("409",)),
    },
    "/services/{client_id}/rotate-secret": {
        "post": _op("rotateServiceSecret", "A new client secret, returned once; the old one stops working.", "200",
                    "Secret", params=[CLIENT_ID], errors=("400", "409")),
    },
    "/services/{client_id}/suspend": {
        "post": _op("suspendService", "Suspend now: the service signs no one in and its live tokens are revoked.",
                    "200", "ServiceEnded", params=[CLIENT_ID], errors=("409",)),
    },
    "/services/{client_id}/reactivate": {
        "post": _op("reactivateService", "Propose (re)activation of a suspended or pending service.", "202",
                    "ServiceProposal", params=[CLIENT_ID], errors=("409",)),
    },
    "/services/{client_id}/retire": {
        "post": _op("retireService", "Retire the service for good (never deleted); its live tokens are revoked.",
                    "200", "ServiceEnded", params=[CLIENT_ID], errors=("409",)),
    },
    "/services/{client_id}/activity": {
        "get": _op("getServiceActivity", "Codes and tokens issued in the last 24 hours and 30 days.", "200",
                   "Activity", params=[CLIENT_ID]),
    },
    "/proposals": {
        "get": _op("listProposals", "Proposals, newest first.", "200", "ProposalList", params=[
            _param("status", "query", {"enum": list(PROPOSAL_STATUSES)}, "open, approved or rejected."),
            _param("kind", "query", {"enum": list(KINDS)}, "Only proposals of this kind."),
            _param("client_id", "query", {"type": "string", "maxLength": 64}, "Only proposals for this service."),
            *PAGING]),
    },
    "/proposals/{proposal_id}": {
        "get": _op("getProposal", "One proposal.", "200", "Proposal", params=[PROPOSAL_ID]),
    },
    "/proposals/{proposal_id}/approve": {
        "post": _op("approveProposal", "Approve (a different administrator from the proposer); applies the change.",
                    "200", "ProposalDecided", params=[PROPOSAL_ID], errors=("400", "409")),
    },
    "/proposals/{proposal_id}/reject": {
        "post": _op("rejectProposal", "Reject; the proposal is kept on record.", "200", "ProposalOnly",
                    params=[PROPOSAL_ID], body="Rejection", body_required=False, errors=("409",)),
    },
    "/actions": {
        "get": _op("listActions", "The append-only record of administrative actions, newest first.", "200",
                   "ActionList", params=[
                       _param("target_type", "query", {"enum": list(TARGET_TYPES)}, "What kind of object."),
                       _param("target_id", "query", {"type": "string", "maxLength": 64},
                              "Its id: a slug, client_id, proposal id, account id or token id."),
                       _param("actor", "query", {"type": "string", "maxLength": 100}, "Who, as `kind:id`."),
                       _param("action", "query", {"enum": list(ACTIONS)}, "Which action."), *PAGING]),
    },
    "/actions/{action_id}": {
        "get": _op("getAction", "One recorded action.", "200", "Action", params=[ACTION_ID]),
    },
}


def openapi_document(issuer: str) -> dict:
    """The document, with the server URL of this issuer."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Panjereh agency registry: admin API",
            "version": "1.0.0",
            "description": (
                "Onboard and supervise agencies and their services. Every change is recorded in the "
                "append-only admin record (`/actions`). Activation, reactivation, redirect URI changes and new "
                "sensitive scopes need two administrators: one proposes, a different one approves (`/proposals`). "
                "Authenticate with a bearer access token from this provider: a client_credentials token of a "
                "client entitled to the `admin` scope, or an administrator citizen's token with the `admin` scope."),
        },
        "servers": [{"url": f"{issuer}/admin/api"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                           "description": f"An access token from {issuer}/token with scope admin."}},
        },
    }


__all__ = ["openapi_document"]
