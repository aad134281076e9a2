"""The admin API against its contract, the OpenAPI document at /admin/api/openapi.json:

- the document is valid OpenAPI (openapi-spec-validator);
- every route under /admin/api/ is in it, and every operation in it is a route;
- a scripted walk through every operation validates each real response (status,
  body) against the document;
- schemathesis generates a few requests per operation (deterministic, bounded)
  from the document and checks the answers conform: no server error, a
  documented status, the documented content type and body schema.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.admin_support import AdminAPI, admin_token, bearer
from tests.support import client_rsa_key, public_jwks

PREFIX = "/admin/api"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def http(app):
    return app.test_client()


@pytest.fixture
def document(http):
    response = http.get(PREFIX + "/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_the_document_is_valid_openapi(document):
    from openapi_spec_validator import validate

    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_route_is_documented_and_every_documented_operation_is_a_route(app, document):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len(PREFIX):])
            routes |= {(method, path) for method in rule.methods & METHODS}
    documented = {(method.upper(), path) for path, operations in document["paths"].items()
                  for method in operations if method.upper() in METHODS}
    assert routes == documented


class Contract:
    """Validates real responses against the document's response schemas."""

    def __init__(self, document):
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource("urn:admin-api", resource)
        self.seen: set[tuple[str, str]] = set()

    def check(self, method: str, template: str, response) -> dict | None:
        operation = self.document["paths"][template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], (method, template, status, response.get_data(as_text=True))
        self.seen.add((method.upper(), template))
        content = operation["responses"][status].get("content")
        if not content:
            return None
        assert response.mimetype in content, (method, template, response.mimetype)
        schema = {"$ref": "urn:admin-api" + content[response.mimetype]["schema"]["$ref"]} \
            if "$ref" in content[response.mimetype]["schema"] else content[response.mimetype]["schema"]
        body = response.get_json()
        errors = sorted(Draft202012Validator(schema, registry=self.registry).iter_errors(body), key=str)
        assert not errors, (method, template, [e.message for e in errors[:3]])
        return body


def test_every_operation_answers_as_documented(app, http, document):
    contract = Contract(document)
    alice = AdminAPI(http, admin_token(app, http, "Contract A"))
    bob = AdminAPI(http, admin_token(app, http, "Contract B"))

    def call(api, method, template, path=None, json=None, status=None):
        response = api.call(method, path or template, json=json)
        if status is not None:
            assert response.status_code == status, (method, path, response.get_data(as_text=True))
        return contract.check(method, template, response)

    contract.check("GET", "/openapi.json", http.get(PREFIX + "/openapi.json"))
    call(alice, "POST", "/agencies", json={"slug": "tax", "name_en": "Tax", "name_fa": "مالیات",
                                           "contact_email": "it@tax.example"}, status=201)
    call(alice, "POST", "/agencies", json={"slug": "tax", "name_en": "Tax", "name_fa": "مالیات"}, status=409)
    call(alice, "GET", "/agencies", "/agencies?q=tax&status=active&limit=10&offset=0", status=200)
    call(alice, "GET", "/agencies/{slug}", "/agencies/tax", status=200)
    call(alice, "GET", "/agencies/{slug}", "/agencies/none", status=404)
    call(alice, "PATCH", "/agencies/{slug}", "/agencies/tax", json={"contact_phone": "021 8888 0000"}, status=200)
    call(alice, "PATCH", "/agencies/{slug}", "/agencies/tax", json={"status": "closed"}, status=400)
    call(alice, "POST", "/agencies/{slug}/initial-access-tokens", "/agencies/tax/initial-access-tokens",
         json={"single_use": True}, status=201)
    call(alice, "GET", "/agencies/{slug}/initial-access-tokens", "/agencies/tax/initial-access-tokens", status=200)

    created = call(alice, "POST", "/services", json={
        "agency": "tax", "client_name": "E-Tax", "redirect_uris": ["https://tax.example/cb"],
        "scope": "openid profile national_id", "logo_uri": "https://tax.example/logo.png"}, status=201)
    client_id, number = created["service"]["client_id"], created["proposal"]["id"]
    call(alice, "POST", "/services", json={"agency": "tax", "client_name": "X",
                                           "redirect_uris": ["http://x.example/"]}, status=400)
    call(alice, "GET", "/services", "/services?agency=tax&status=pending&scope=openid&q=Tax", status=200)
    call(alice, "GET", "/services/{client_id}", f"/services/{client_id}", status=200)
    call(alice, "GET", "/proposals", "/proposals?status=open&kind=activate", status=200)
    call(alice, "GET", "/proposals/{proposal_id}", f"/proposals/{number}", status=200)
    call(alice, "POST", "/proposals/{proposal_id}/approve", f"/proposals/{number}/approve", status=403)
    call(bob, "POST", "/proposals/{proposal_id}/approve", f"/proposals/{number}/approve", status=200)
    call(bob, "POST", "/proposals/{proposal_id}/approve", f"/proposals/{number}/approve", status=409)
    call(alice, "PATCH", "/services/{client_id}", f"/services/{client_id}",
         json={"description_fa": "مالیات", "client_name_fa": "مالیات"}, status=200)
    moved = call(alice, "PATCH", "/services/{client_id}", f"/services/{client_id}",
                 json={"redirect_uris": ["https://tax.example/new"]}, status=202)
    call(bob, "POST", "/proposals/{proposal_id}/reject", f"/proposals/{moved['proposal']['id']}/reject",
         json={"reason": "not now"}, status=200)
    call(alice, "PUT", "/services/{client_id}/keys", f"/services/{client_id}/keys",
         json={"jwks": public_jwks(client_rsa_key("contract"))}, status=200)
    call(alice, "POST", "/services/{client_id}/rotate-secret", f"/services/{client_id}/rotate-secret", status=200)
    call(alice, "GET", "/services/{client_id}/activity", f"/services/{client_id}/activity", status=200)
    call(alice, "POST", "/services/{client_id}/suspend", f"/services/{client_id}/suspend", status=200)
    call(alice, "POST", "/services/{client_id}/suspend", f"/services/{client_id}/suspend", status=409)
    call(alice, "POST", "/services/{client_id}/reactivate", f"/services/{client_id}/reactivate", status=202)
    call(alice, "POST", "/services/{client_id}/retire", f"/services/{client_id}/retire", status=200)
    listed = call(alice, "GET", "/actions", "/actions?target_type=service&limit=5", status=200)
    call(alice, "GET", "/actions/{action_id}", f"/actions/{listed['actions'][0]['id']}", status=200)
    call(alice, "GET", "/actions/{action_id}", "/actions/2147483647", status=404)
    # refusals are documented too
    contract.check("GET", "/services", http.get(PREFIX + "/services"))
    contract.check("GET", "/services", http.get(PREFIX + "/services", headers=bearer("x")))

    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert contract.seen == documented, documented - contract.seen


# --- schemathesis: requests generated from the document, a few per operation ---

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_generated_requests_conform(app, http):
    """For every operation, a few requests generated from the document (deterministic, bounded), sent
    to the app over WSGI with an administrator's token; each answer must conform to the document."""
    api = AdminAPI(http, admin_token(app, http, "Schemathesis"))
    api.create_agency(slug="tax")
    api.create_service()
    schema = schemathesis.openapi.from_wsgi(PREFIX + "/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {f"{m.upper()} {p}" for p, ops in schema.raw_schema["paths"].items() for m in ops}
    assert {op.label for op in operations} == documented - {"GET /openapi.json"}  # the document itself: above

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=3, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def conforms(case):
            case.call_and_validate(headers=bearer(api.token), checks=CHECKS)

        conforms()
