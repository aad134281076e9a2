"""Agency self-service over HTTP: Dynamic Client Registration (RFC 7591) with an initial
access token, pending until two administrators approve, and RFC 7592 management."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.admin_support import AdminAPI, admin_token, bearer
from tests.support import RelyingParty, page_step, token_request

METADATA = {
    "client_name": "E-Customs",
    "client_name#fa": "گمرک الکترونیک",
    "redirect_uris": ["https://customs.example/cb"],
    "post_logout_redirect_uris": ["https://customs.example/"],
    "grant_types": ["authorization_code"],
    "response_types": ["code"],
    "scope": "openid profile",
    "token_endpoint_auth_method": "client_secret_basic",
    "client_uri": "https://customs.example/",
    "logo_uri": "https://customs.example/logo.png",
    "description": "Declare goods at the border",
}


@pytest.fixture
def http(app):
    return app.test_client()


@pytest.fixture
def alice(app, http):
    return AdminAPI(http, admin_token(app, http, "Registry console A"))


@pytest.fixture
def bob(app, http):
    return AdminAPI(http, admin_token(app, http, "Registry console B"))


@pytest.fixture
def initial_token(alice):
    alice.create_agency(slug="customs", name_en="Customs Administration", name_fa="گمرک")
    return alice.issue_initial_token("customs")


def register(http, token=None, metadata=None):
    headers = bearer(token) if token else {}
    return http.post("/register", json=metadata or METADATA, headers=headers)


def registered(http, token) -> dict:
    response = register(http, token)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_discovery_publishes_the_registration_endpoint(http):
    metadata = http.get("/.well-known/openid-configuration").get_json()
    assert metadata["registration_endpoint"] == metadata["issuer"] + "/register"


def test_without_an_initial_access_token_registration_is_401(http):
    response = register(http)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"] == "invalid_token"


def test_an_unknown_initial_access_token_is_401(http, initial_token):
    response = register(http, "made-up-token")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_an_expired_initial_access_token_is_401(app, http, initial_token):
    from idp.db import db
    from idp.models import InitialAccessToken

    with app.app_context():
        row = db.session.execute(db.select(InitialAccessToken)).scalar_one()
        row.expires_at = row.issued_at - timedelta(seconds=1)
        db.session.commit()
    assert register(http, initial_token).status_code == 401


def test_a_single_use_token_registers_once(http, alice, initial_token):
    single = alice.issue_initial_token("customs", single_use=True)
    assert register(http, single).status_code == 201
    again = register(http, single)
    assert again.status_code == 401 and "used" in again.get_json()["error_description"]
    # a reusable token works again
    assert register(http, initial_token).status_code == 201
    assert register(http, initial_token).status_code == 201


def test_a_token_of_a_suspended_agency_is_401(http, alice, initial_token):
    alice.ok("PATCH", "/agencies/customs", {"status": "suspended"})
    assert register(http, initial_token).status_code == 401


def test_registration_returns_credentials_once_and_the_service_is_pending(app, http, alice, initial_token):
    body = registered(http, initial_token)
    assert body["client_secret"] and body["registration_access_token"]
    assert body["registration_client_uri"].endswith("/register/" + body["client_id"])
    assert body["status"] == "pending"
    assert body["redirect_uris"] == METADATA["redirect_uris"] and body["client_name#fa"] == "گمرک الکترونیک"
    service = alice.ok("GET", f"/services/{body['client_id']}")
    assert service["agency"] == "customs" and service["registered_via"] == "self-service"
    assert service["description_en"] == "Declare goods at the border"
    # only hashes are kept
    from idp.db import db
    from idp.models import Client

    with app.app_context():
        client = db.session.execute(db.select(Client).filter_by(client_id=body["client_id"])).scalar_one()
        assert body["registration_access_token"] not in (client.registration_token_hash or "")
        assert client.client_secret_hash != body["client_secret"]
    # a pending service signs no one in
    rp = RelyingParty(http, body["client_id"], body["client_secret"], METADATA["redirect_uris"][0])
    assert http.get(rp.authorize_url()).status_code == 400


def test_pending_until_two_different_administrators_approve(http, alice, bob, initial_token):
    body = registered(http, initial_token)
    proposal = alice.ok("GET", f"/proposals?client_id={body['client_id']}")["proposals"][0]
    assert proposal["id"] == body["proposal_id"] and proposal["kind"] == "activate"
    assert proposal["proposed_by"] == "agency:customs" and proposal["approvals_needed"] == 2

    first = alice.ok("POST", f"/proposals/{proposal['id']}/approve")
    assert first["proposal"]["status"] == "open" and first["proposal"]["approvals_needed"] == 1
    assert first["service"]["status"] == "pending"
    same = alice.post(f"/proposals/{proposal['id']}/approve")
    assert same.status_code == 403 and same.get_json()["error"] == "forbidden"

    second = bob.ok("POST", f"/proposals/{proposal['id']}/approve")
    assert second["proposal"]["status"] == "approved" and second["service"]["status"] == "active"
    rp = RelyingParty(http, body["client_id"], body["client_secret"], METADATA["redirect_uris"][0])
    assert page_step(http.get(rp.authorize_url())) == "identify"  # the service's sign-in starts


@pytest.mark.parametrize("change, error, words", [
    ({"redirect_uris": ["http://customs.example/cb"]}, "invalid_redirect_uri", "https"),
    ({"redirect_uris": ["https://customs.example/*"]}, "invalid_redirect_uri", "wildcard"),
    ({"redirect_uris": ["https://customs.example/cb#top"]}, "invalid_redirect_uri", "fragment"),
    ({"scope": "openid admin"}, "invalid_client_metadata", "admin"),
    ({"grant_types": ["password"]}, "invalid_client_metadata", "grant_types"),
    ({"client_name": ""}, "invalid_client_metadata", "name"),
])
def test_metadata_is_validated_like_the_cli(http, initial_token, change, error, words):
    response = register(http, initial_token, {**METADATA, **change})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    assert words in response.get_json()["error_description"]


def test_a_failed_registration_does_not_use_up_a_single_use_token(http, alice, initial_token):
    single = alice.issue_initial_token("customs", single_use=True)
    assert register(http, single, {**METADATA, "redirect_uris": ["http://x.example/cb"]}).status_code == 400
    assert register(http, single).status_code == 201


def test_registration_needs_a_json_body(http, initial_token):
    response = http.post("/register", data="client_name=x", headers=bearer(initial_token))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


# --- RFC 7592 ---

def test_read_with_the_registration_access_token(http, initial_token):
    body = registered(http, initial_token)
    url = "/register/" + body["client_id"]
    read = http.get(url, headers=bearer(body["registration_access_token"]))
    assert read.status_code == 200
    assert read.get_json()["client_id"] == body["client_id"] and "client_secret" not in read.get_json()
    assert read.get_json()["registration_client_uri"].endswith(url)
    assert http.get(url).status_code == 401
    assert http.get(url, headers=bearer("wrong")).status_code == 401
    other = registered(http, initial_token)
    wrong = http.get(url, headers=bearer(other["registration_access_token"]))
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_token"


def test_update_applies_ordinary_changes_and_proposes_redirect_uri_changes(http, alice, bob, initial_token):
    body = registered(http, initial_token)
    url, token = "/register/" + body["client_id"], body["registration_access_token"]
    renamed = http.put(url, json={**METADATA, "client_id": body["client_id"], "client_name": "E-Customs 2"},
                       headers=bearer(token))
    assert renamed.status_code == 200, renamed.get_data(as_text=True)
    assert renamed.get_json()["client_name"] == "E-Customs 2" and "proposal_id" not in renamed.get_json()

    moved = http.put(url, json={**METADATA, "client_id": body["client_id"], "client_name": "E-Customs 2",
                                "redirect_uris": ["https://customs.example/new"]}, headers=bearer(token))
    assert moved.status_code == 200
    assert moved.get_json()["redirect_uris"] == METADATA["redirect_uris"]
    proposal = alice.ok("GET", f"/proposals/{moved.get_json()['proposal_id']}")
    assert proposal["kind"] == "update" and proposal["approvals_needed"] == 2
    alice.ok("POST", f"/proposals/{proposal['id']}/approve")
    bob.ok("POST", f"/proposals/{proposal['id']}/approve")
    assert alice.ok("GET", f"/services/{body['client_id']}")["redirect_uris"] == ["https://customs.example/new"]

    bad = http.put(url, json={**METADATA, "client_id": body["client_id"], "logo_uri": "http://customs.example/l"},
                   headers=bearer(token))
    assert bad.status_code == 400 and "logo" in bad.get_json()["error_description"]
    assert http.put(url, json={**METADATA}, headers=bearer(token)).status_code == 400  # client_id is required


def test_an_agency_cannot_widen_its_active_service_by_itself(http, alice, bob, initial_token):
    """Scopes, grant types, subject type, logout URIs: what a service may do is reviewed, never self-served."""
    body = registered(http, initial_token)
    url, token = "/register/" + body["client_id"], body["registration_access_token"]
    for approver in (alice, bob):
        proposal = next(p for p in approver.ok("GET", "/proposals")["proposals"]
                        if p["client_id"] == body["client_id"] and p["status"] == "open")
        approver.ok("POST", f"/proposals/{proposal['id']}/approve")
    assert alice.ok("GET", f"/services/{body['client_id']}")["status"] == "active"
    wider = http.put(url, json={**METADATA, "client_id": body["client_id"], "scope": "openid profile tax:read",
                                "grant_types": ["authorization_code", "client_credentials"],
                                "subject_type": "public",
                                "post_logout_redirect_uris": ["https://evil.example/"]}, headers=bearer(token))
    assert wider.status_code == 200 and wider.get_json().get("proposal_id")
    service = alice.ok("GET", f"/services/{body['client_id']}")
    assert service["scope"] == "openid profile" and service["grant_types"] == ["authorization_code"]
    assert service["post_logout_redirect_uris"] == METADATA["post_logout_redirect_uris"]


def test_delete_retires_and_nothing_is_deleted(http, alice, initial_token):
    body = registered(http, initial_token)
    url, token = "/register/" + body["client_id"], body["registration_access_token"]
    assert http.delete(url, headers=bearer(token)).status_code == 204
    assert alice.ok("GET", f"/services/{body['client_id']}")["status"] == "retired"
    assert http.get(url, headers=bearer(token)).status_code == 401
    record = alice.ok("GET", f"/actions?target_id={body['client_id']}&action=service.retired")["actions"][0]
    assert record["actor"] == "agency:customs" and record["via"] == "self-service"


def test_a_suspended_service_cannot_be_changed_by_its_agency(http, alice, bob, initial_token):
    body = registered(http, initial_token)
    for admin in (alice, bob):
        admin.ok("POST", f"/proposals/{body['proposal_id']}/approve")
    alice.ok("POST", f"/services/{body['client_id']}/suspend")
    url, token = "/register/" + body["client_id"], body["registration_access_token"]
    assert http.get(url, headers=bearer(token)).get_json()["status"] == "suspended"
    refused = http.put(url, json={**METADATA, "client_id": body["client_id"]}, headers=bearer(token))
    assert refused.status_code == 403 and "suspended" in refused.get_json()["error_description"]
    assert token_request(http, body["client_id"], body["client_secret"], grant_type="client_credentials",
                         ).status_code == 401
