"""The admin API of the agency registry, over HTTP: who may call it, every operation,
the two-person rule, suspension that takes effect at once, and the admin record."""

from __future__ import annotations

import json

import pytest

from tests.admin_support import (AdminAPI, loa3_citizen_token, CONSOLE_REDIRECT, active_service, admin_token, api_client, bearer,
                                 citizen_token, client_credentials_token, console_client, make_admin)
from tests.support import RelyingParty, basic_header, error_code, introspect, sign_in_tokens, token_request


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
def agency(alice):
    return alice.create_agency()


def actions(api, **filters):
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return api.ok("GET", "/actions?" + query)["actions"]


# --- who may call it ---

def test_no_token_is_401_with_a_bearer_challenge(http):
    response = http.get("/admin/api/services")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"] == "invalid_token"
    assert response.get_json()["error_description"]


def test_an_invalid_token_is_401(http):
    response = http.get("/admin/api/services", headers=bearer("not-a-token"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_client_token_without_the_admin_scope_is_403(app, http):
    client_id, secret = api_client(app, "Tax API", scope="tax:read")
    token = client_credentials_token(http, client_id, secret)
    response = http.get("/admin/api/services", headers=bearer(token))
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_a_revoked_admin_token_is_401(app, http):
    client_id, secret = api_client(app, "Console")
    token = client_credentials_token(http, client_id, secret)
    assert http.get("/admin/api/agencies", headers=bearer(token)).status_code == 200
    assert http.post("/revoke", data={"token": token}, headers=basic_header(client_id, secret)).status_code == 200
    assert http.get("/admin/api/agencies", headers=bearer(token)).status_code == 401


def test_a_citizen_needs_the_admin_role_and_the_admin_scope(app, http, browser, citizen):
    client_id, secret = console_client(app)
    rp = RelyingParty(browser.client, client_id, secret, CONSOLE_REDIRECT)
    token = citizen_token(browser, rp, citizen)
    assert http.get("/admin/api/agencies", headers=bearer(token)).get_json()["error"] == "insufficient_scope"
    make_admin(app, citizen["national_id"])
    # an administrator acts at the highest level only, as at the console: an SMS sign-in is not enough
    assert http.get("/admin/api/agencies", headers=bearer(token)).status_code == 403
    token = loa3_citizen_token(browser, rp, citizen)
    response = http.get("/admin/api/agencies", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    without_scope = citizen_token(browser, rp, citizen, scope="openid")
    assert http.get("/admin/api/agencies", headers=bearer(without_scope)).status_code == 403
    # and a citizen administrator acts under their account
    AdminAPI(http, token).create_agency(slug="health", name_en="Health", name_fa="سلامت")
    assert actions(AdminAPI(http, token), action="agency.created")[0]["actor_type"] == "account"


def test_the_api_needs_no_csrf_token_and_sets_no_cookie(alice):
    response = alice.post("/agencies", {"slug": "edu", "name_en": "Education", "name_fa": "آموزش"})
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


# --- agencies ---

def test_agencies_list_create_get_update(alice, agency):
    assert agency["slug"] == "tax" and agency["status"] == "active"
    alice.create_agency(slug="health", name_en="Ministry of Health", name_fa="وزارت بهداشت",
                        contact_email="it@health.example", contact_phone="+98 21 8836 3560")
    listed = [a["slug"] for a in alice.ok("GET", "/agencies")["agencies"]]
    assert listed == ["health", "registry-operations", "tax"]  # the admin API clients' own agency too
    assert [a["slug"] for a in alice.ok("GET", "/agencies?q=Health")["agencies"]] == ["health"]
    assert alice.ok("GET", "/agencies/health")["contact_phone"] == "+982188363560"
    updated = alice.ok("PATCH", "/agencies/tax", {"contact_email": "sso@tax.example"})
    assert updated["contact_email"] == "sso@tax.example"
    record = actions(alice, target_type="agency", target_id="tax")[0]
    assert record["action"] == "agency.updated"
    assert record["before"]["contact_email"] is None and record["after"]["contact_email"] == "sso@tax.example"


def test_agency_errors_explain_themselves(alice, agency):
    duplicate = alice.post("/agencies", {"slug": "tax", "name_en": "Tax", "name_fa": "مالیات"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.get_json()["error_description"]
    bad = alice.post("/agencies", {"slug": "x", "name_en": "X", "name_fa": "X", "contact_email": "nobody"})
    assert bad.status_code == 400 and "contact_email" in bad.get_json()["error_description"]
    assert alice.get("/agencies/nowhere").status_code == 404
    assert alice.patch("/agencies/tax", {"slug": "other"}).status_code == 400
    not_json = alice.call("POST", "/agencies", data="slug=x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 400 and not_json.get_json()["error"] == "invalid_request"


def test_suspending_an_agency_suspends_its_active_services(alice, bob, agency):
    service = active_service(alice, bob)["service"]
    assert alice.ok("PATCH", "/agencies/tax", {"status": "suspended"})["status"] == "suspended"
    assert alice.ok("GET", f"/services/{service['client_id']}")["status"] == "suspended"
    refused = alice.post("/agencies/tax/initial-access-tokens", {})
    assert refused.status_code == 409


def test_initial_access_tokens_are_issued_once_and_listed_without_the_token(alice, agency):
    issued = alice.ok("POST", "/agencies/tax/initial-access-tokens", {"expires_in": 3600, "single_use": True}, 201)
    assert issued["initial_access_token"] and issued["single_use"] is True
    assert issued["registration_endpoint"].endswith("/register")
    listed = alice.ok("GET", "/agencies/tax/initial-access-tokens")["initial_access_tokens"]
    assert [t["id"] for t in listed] == [issued["id"]]
    assert issued["initial_access_token"] not in json.dumps(listed)
    assert issued["initial_access_token"] not in json.dumps(actions(alice))
    assert alice.post("/agencies/tax/initial-access-tokens", {"expires_in": 5}).status_code == 400


# --- services ---

def test_a_new_service_is_pending_with_an_activation_proposal(alice, agency):
    created = alice.create_service(scope="openid profile national_id", description_en="File taxes",
                                   logo_uri="https://tax.example/logo.png")
    service, proposal = created["service"], created["proposal"]
    assert service["status"] == "pending" and service["registered_via"] == "admin"
    assert service["sensitive_scopes"] == ["national_id"]
    assert created["client_secret"] and "client_secret" not in service
    assert proposal["kind"] == "activate" and proposal["status"] == "open"
    assert proposal["payload"]["service"]["redirect_uris"] == ["https://tax.example/cb"]
    assert alice.ok("GET", f"/services/{service['client_id']}") == service
    assert created["client_secret"] not in json.dumps(actions(alice))


def test_service_list_search_and_filters(alice, bob, agency):
    alice.create_agency(slug="health", name_en="Health", name_fa="سلامت")
    # the shared words hold a space, which no client_id (URL-safe random) can, so only the names match
    tax = active_service(alice, bob, scope="openid tax:read", client_name="Online Tax")["service"]
    health = alice.create_service(agency="health", client_name="Online Health")["service"]

    def ids(query):
        return [s["client_id"] for s in alice.ok("GET", "/services" + query)["services"]]

    assert {tax["client_id"], health["client_id"]} <= set(ids(""))
    assert ids("?agency=health") == [health["client_id"]]
    assert ids("?status=active&agency=tax") == [tax["client_id"]]
    assert ids("?status=pending") == [health["client_id"]]
    assert ids("?scope=tax:read") == [tax["client_id"]]
    assert ids("?q=Health") == [health["client_id"]]
    assert ids("?q=Online%20&limit=1&offset=1") == [health["client_id"]]
    assert ids("?q=Online%20") == [tax["client_id"], health["client_id"]]
    assert alice.get("/services?status=gone").status_code == 400


@pytest.mark.parametrize("uri, reason", [
    ("http://tax.example/cb", "https"),
    ("https://*.tax.example/cb", "wildcard"),
    ("https://tax.example/cb#top", "fragment"),
])
def test_redirect_uris_are_validated_like_the_cli(alice, agency, uri, reason):
    response = alice.post("/services", {"agency": "tax", "client_name": "E-Tax", "redirect_uris": [uri]})
    assert response.status_code == 400
    assert reason in response.get_json()["error_description"]


def test_http_on_loopback_is_accepted(alice, agency):
    alice.create_service(redirect_uris=["http://127.0.0.1:8080/cb"])


def test_ordinary_edits_apply_at_once_and_are_recorded(alice, agency):
    client_id = alice.create_service()["service"]["client_id"]
    changed = alice.ok("PATCH", f"/services/{client_id}", {"client_name_fa": "مالیات", "scope": "openid",
                                                            "description_fa": "پرداخت مالیات"})
    assert changed["proposal"] is None
    assert changed["service"]["client_name_fa"] == "مالیات" and changed["service"]["scope"] == "openid"
    record = actions(alice, target_id=client_id, action="service.updated")[0]
    assert record["before"]["scope"] == "openid profile" and record["after"]["scope"] == "openid"
    unknown = alice.patch(f"/services/{client_id}", {"status": "active"})
    assert unknown.status_code == 400 and "status" in unknown.get_json()["error_description"]


def test_redirect_uri_changes_wait_for_a_second_administrator(alice, bob, agency):
    client_id = active_service(alice, bob)["service"]["client_id"]
    response = alice.patch(f"/services/{client_id}", {"redirect_uris": ["https://tax.example/new"]})
    assert response.status_code == 202
    proposal = response.get_json()["proposal"]
    assert proposal["kind"] == "update" and proposal["payload"]["changes"] == {
        "redirect_uris": ["https://tax.example/new"]}
    assert response.get_json()["service"]["redirect_uris"] == ["https://tax.example/cb"]
    refused = alice.post(f"/proposals/{proposal['id']}/approve")
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    approved = bob.ok("POST", f"/proposals/{proposal['id']}/approve")
    assert approved["proposal"]["status"] == "approved" and approved["proposal"]["decided_by"].startswith("client:")
    assert approved["service"]["redirect_uris"] == ["https://tax.example/new"]


def test_granting_a_sensitive_scope_needs_a_second_administrator(alice, bob, agency):
    client_id = active_service(alice, bob, scope="openid profile")["service"]["client_id"]
    response = alice.patch(f"/services/{client_id}", {"scope": "openid profile national_id"})
    assert response.status_code == 202
    assert "national_id" in " ".join(response.get_json()["proposal"]["payload"]["reasons"])
    assert alice.ok("GET", f"/services/{client_id}")["scope"] == "openid profile"
    bob.ok("POST", f"/proposals/{response.get_json()['proposal']['id']}/approve")
    assert alice.ok("GET", f"/services/{client_id}")["scope"] == "openid profile national_id"
    # taking it away is immediate
    assert alice.ok("PATCH", f"/services/{client_id}", {"scope": "openid"})["proposal"] is None


def test_a_stale_proposal_is_not_applied(alice, bob, agency):
    client_id = active_service(alice, bob)["service"]["client_id"]
    first = alice.ok("PATCH", f"/services/{client_id}", {"redirect_uris": ["https://tax.example/one"]}, 202)
    second = bob.ok("PATCH", f"/services/{client_id}", {"redirect_uris": ["https://tax.example/two"]}, 202)
    bob.ok("POST", f"/proposals/{first['proposal']['id']}/approve")
    stale = alice.post(f"/proposals/{second['proposal']['id']}/approve")
    assert stale.status_code == 409 and "changed since" in stale.get_json()["error_description"]


def test_rotating_the_secret_returns_it_once_and_the_old_one_stops(app, http, alice, bob, agency):
    created = active_service(alice, bob, grant_types=["client_credentials"], redirect_uris=[], scope="tax:read")
    client_id, old = created["service"]["client_id"], created["client_secret"]
    assert token_request(http, client_id, old, grant_type="client_credentials").status_code == 200
    rotated = alice.ok("POST", f"/services/{client_id}/rotate-secret")
    assert rotated["client_id"] == client_id and rotated["client_secret"] != old
    assert token_request(http, client_id, old, grant_type="client_credentials").status_code == 401
    assert token_request(http, client_id, rotated["client_secret"], grant_type="client_credentials").status_code == 200
    record = actions(alice, action="service.secret_rotated")[0]
    assert record["after"] == {"client_secret": "rotated"}
    assert rotated["client_secret"] not in json.dumps(actions(alice, limit=200))


def test_keys_by_value_or_by_uri_public_only(alice, agency):
    from tests.support import client_rsa_key, public_jwks

    client_id = alice.create_service()["service"]["client_id"]
    key = client_rsa_key("admin-api")
    jwks = public_jwks(key)
    assert alice.ok("PUT", f"/services/{client_id}/keys", {"jwks": jwks})["service"]["jwks"] == jwks
    private = {"keys": [key.as_dict(private=True)]}
    refused = alice.put(f"/services/{client_id}/keys", {"jwks": private})
    assert refused.status_code == 400 and "public" in refused.get_json()["error_description"]
    by_uri = alice.ok("PUT", f"/services/{client_id}/keys", {"jwks_uri": "https://tax.example/jwks.json"})
    assert by_uri["service"]["jwks_uri"] == "https://tax.example/jwks.json" and by_uri["service"]["jwks"] is None
    both = alice.put(f"/services/{client_id}/keys", {"jwks": jwks, "jwks_uri": "https://tax.example/jwks.json"})
    assert both.status_code == 400


def test_suspension_is_immediate_authorize_fails_and_tokens_are_inactive(app, http, alice, bob, browser, rp,
                                                                          citizen):
    tokens = sign_in_tokens(browser, rp, citizen)
    rs_id, rs_secret = api_client(app, "Tax API gateway", scope="introspection")
    assert introspect(http, tokens["access_token"], rs_id, rs_secret).get_json()["active"] is True

    suspended = alice.ok("POST", f"/services/{rp.client_id}/suspend")
    assert suspended["service"]["status"] == "suspended" and suspended["revoked_tokens"] == 1

    assert introspect(http, tokens["access_token"], rs_id, rs_secret).get_json() == {"active": False}
    page = browser.get(rp.authorize_url())
    assert page.status_code == 400 and "Location" not in page.headers
    assert error_code(page.get_data(as_text=True)) == "invalid_client"
    assert rp.http.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 401

    reactivation = alice.ok("POST", f"/services/{rp.client_id}/reactivate", status=202)["proposal"]
    assert reactivation["kind"] == "reactivate"
    assert alice.post(f"/proposals/{reactivation['id']}/approve").status_code == 403
    assert browser.get(rp.authorize_url()).status_code == 400  # still suspended
    bob.ok("POST", f"/proposals/{reactivation['id']}/approve")
    assert browser.get(rp.authorize_url()).status_code == 302
    # the old token stays revoked
    assert introspect(http, tokens["access_token"], rs_id, rs_secret).get_json() == {"active": False}


def test_retiring_keeps_the_service_and_is_final(alice, bob, agency):
    client_id = active_service(alice, bob)["service"]["client_id"]
    retired = alice.ok("POST", f"/services/{client_id}/retire")
    assert retired["service"]["status"] == "retired"
    assert alice.ok("GET", f"/services/{client_id}")["status"] == "retired"
    assert alice.post(f"/services/{client_id}/reactivate").status_code == 409
    assert alice.patch(f"/services/{client_id}", {"client_name": "X"}).status_code == 409
    assert alice.post(f"/services/{client_id}/suspend").status_code == 409


def test_activity_counts_codes_and_tokens(http, alice, browser, rp, citizen):
    before = alice.ok("GET", f"/services/{rp.client_id}/activity")
    assert before["codes_issued"] == {"last_24h": 0, "last_30d": 0}
    sign_in_tokens(browser, rp, citizen)
    after = alice.ok("GET", f"/services/{rp.client_id}/activity")
    assert after["codes_issued"] == {"last_24h": 1, "last_30d": 1}
    assert after["tokens_issued"] == {"last_24h": 1, "last_30d": 1}
    assert after["live_access_tokens"] == 1
    assert alice.get("/services/unknown/activity").status_code == 404


# --- proposals ---

def test_proposals_list_get_reject_and_rejected_ones_are_kept(alice, bob, agency):
    created = alice.create_service()
    number = created["proposal"]["id"]
    assert [p["id"] for p in alice.ok("GET", "/proposals?status=open")["proposals"]] == [number]
    assert alice.ok("GET", f"/proposals/{number}")["approvals_needed"] == 1
    rejected = bob.ok("POST", f"/proposals/{number}/reject", {"reason": "redirect URI not on the agency's domain"})
    assert rejected["proposal"]["status"] == "rejected" and rejected["proposal"]["reason"]
    assert alice.ok("GET", "/proposals?status=open")["proposals"] == []
    assert [p["id"] for p in alice.ok("GET", "/proposals?status=rejected")["proposals"]] == [number]
    assert bob.post(f"/proposals/{number}/approve").status_code == 409
    assert alice.ok("GET", f"/services/{created['service']['client_id']}")["status"] == "pending"
    # it can be proposed again
    again = alice.ok("POST", f"/services/{created['service']['client_id']}/reactivate", status=202)
    assert again["proposal"]["kind"] == "activate"
    assert alice.get("/proposals/999999").status_code == 404


def test_the_two_person_rule_end_to_end(alice, bob, agency):
    created = alice.create_service()
    number = created["proposal"]["id"]
    refused = alice.post(f"/proposals/{number}/approve")
    assert refused.status_code == 403 and "two-person" in refused.get_json()["error_description"]
    assert alice.ok("GET", f"/services/{created['service']['client_id']}")["status"] == "pending"
    approved = bob.ok("POST", f"/proposals/{number}/approve")
    assert approved["service"]["status"] == "active"
    assert approved["proposal"]["proposed_by"] != approved["proposal"]["decided_by"]
    names = [a["action"] for a in actions(alice, limit=200)][::-1]
    assert names[-2:] == ["service.activated", "proposal.approved"]
    assert "proposal.created" in names and "service.created" in names


# --- the admin record ---

def test_admin_actions_are_recorded_with_who_what_before_after_and_where(alice, agency):
    record = actions(alice, action="agency.created")[0]
    assert record["actor"].startswith("client:") and record["via"] == "api"
    assert record["target_type"] == "agency" and record["target_id"] == "tax"
    assert record["before"] is None and record["after"]["name_en"] == "Tax Administration"
    assert record["ip"] == "127.0.0.1"
    assert alice.ok("GET", f"/actions/{record['id']}") == record
    assert alice.ok("GET", "/actions")["total"] >= 1
    assert alice.get("/actions/999999").status_code == 404


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_admin_actions_cannot_be_changed_over_the_api(alice, agency, method):
    record = actions(alice)[0]
    assert alice.call(method, f"/actions/{record['id']}", json={"after": {}}).status_code == 405
    assert alice.ok("GET", f"/actions/{record['id']}") == record


def test_admin_actions_cannot_be_changed_in_the_database(app, alice, agency):
    from idp.db import db
    from idp.models import AdminAction, AppendOnlyError

    with app.app_context():
        row = db.session.execute(db.select(AdminAction)).scalars().first()
        row.after = {"name_en": "forged"}
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        with pytest.raises(AppendOnlyError):
            db.session.delete(db.session.get(AdminAction, row.id))
            db.session.commit()
        db.session.rollback()
    assert actions(alice)[0]["after"]["name_en"] == "Tax Administration"


# --- the public catalogue ---

def test_the_catalogue_lists_active_services_by_agency_with_https_logos_only(http, alice, bob, agency):
    shown = active_service(alice, bob, client_name="E-Tax", description_en="File your taxes online",
                           logo_uri="https://tax.example/logo.png", client_uri="https://tax.example/")["service"]
    plain = active_service(alice, bob, client_name="Tax Refunds", logo_uri="http://127.0.0.1:8080/logo.png",
                           client_uri="https://refunds.tax.example/")["service"]
    alice.create_service(client_name="Tax Pending")
    suspended = active_service(alice, bob, client_name="Tax Suspended")["service"]
    alice.ok("POST", f"/services/{suspended['client_id']}/suspend")

    http.get("/language/en")
    page = http.get("/services")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Tax Administration" in html and "E-Tax" in html and "File your taxes online" in html
    assert '<img class="catalogue-logo" src="https://tax.example/logo.png"' in html
    assert 'href="https://tax.example/"' in html and 'href="https://refunds.tax.example/"' in html
    assert "127.0.0.1:8080/logo.png" not in html  # not https: no image at all
    assert html.count("catalogue-logo") == 1
    assert "Tax Pending" not in html and "Tax Suspended" not in html
    assert "img-src 'self' data: https:" in page.headers["Content-Security-Policy"]
    assert shown["client_id"] in html and plain["client_id"] in html
