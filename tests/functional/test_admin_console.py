"""The administrators' web console (``/admin/``) over HTTP, with the Flask test client.

Who gets in (a signed-in administrator at loa3: everyone else is sent to sign in, to the
authenticator step, or refused), every page, the forms (CSRF tokens, per-field errors
that explain the registry's rules), the two-person rule as an administrator sees it, and
the append-only record."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from idp.admin import agencies
from idp.admin.actors import CLI_OPERATOR
from tests.admin_support import make_admin
from tests.support import (Browser, basic_header, choose_language, enrol_authenticator, error_code, follow_trace,
                           is_page_with, next_totp, walk)

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SERVICE_FORM = {
    "agency": "customs", "client_name": "E-Customs", "client_name_fa": "گمرک الکترونیک", "description_en": "",
    "description_fa": "", "client_uri": "", "logo_uri": "", "redirect_uris": "https://customs.example/cb",
    "post_logout_redirect_uris": "", "backchannel_logout_uri": "", "scope": "openid profile",
    "grant_types": ["authorization_code"], "token_endpoint_auth_method": "client_secret_basic",
    "subject_type": "pairwise", "id_token_signed_response_alg": "RS256", "default_acr": "",
}


def html(response) -> str:
    return response.get_data(as_text=True)


def csrf_of(response) -> str:
    found = CSRF.search(html(response))
    assert found, f"no CSRF token on {response.request.path}"
    return found.group(1)


def post_form(browser, page_path: str, data: dict, action: str | None = None):
    """Open ``page_path``, then post ``data`` with the page's CSRF token (to ``action`` or the page itself)."""
    page = browser.get(page_path)
    assert page.status_code == 200, (page_path, page.status_code)
    return browser.client.post(action or page_path, data={"csrf_token": csrf_of(page), **data})


def field_error(response, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html(response), re.S)
    assert found, f"no error shown for {field}"
    return re.sub(r"\s+", " ", found.group(1)).replace("\u2068", "").replace("\u2069", "").strip()


def sign_in_at_loa3(app, browser, citizen, admin=True):
    """The citizen signs in to their account (SMS), adds an authenticator app and opens the console,
    which asks for the app's code (loa3). Returns the console's answer and the app's secret."""
    if admin:
        make_admin(app, citizen["national_id"])
    response, seen = walk(browser, browser.get("/account/authenticator"), citizen)
    assert seen == ["identify", "verify"] and 'id="totp-secret"' in html(response)
    secret, _codes = enrol_authenticator(browser)
    response, seen = walk(browser, browser.get("/admin/"), factor=lambda: next_totp(secret))
    assert seen == ["factor"], seen
    return response, secret


@pytest.fixture
def alice(app, browser, citizens):
    choose_language(browser, "en")
    response, _secret = sign_in_at_loa3(app, browser, citizens[0])
    assert response.status_code == 200 and response.request.path == "/admin/"
    return browser


@pytest.fixture
def bob(app, browser, citizens):
    other = Browser(app.test_client(), browser.outbox)
    choose_language(other, "en")
    response, _secret = sign_in_at_loa3(app, other, citizens[1])
    assert response.status_code == 200
    return other


@pytest.fixture
def customs(app):
    with app.app_context():
        return agencies.create_agency(CLI_OPERATOR, slug="customs", name_en="Customs Administration",
                                      name_fa="گمرک").slug


def create_service(browser, **fields):
    response = post_form(browser, "/admin/services/new", {**SERVICE_FORM, **fields})
    assert response.status_code == 200, html(response)[:2000]
    page = html(response)
    client_id = re.search(r'id="client-id">([^<]+)<', page).group(1)
    secret = re.search(r'id="client-secret">([^<]+)<', page)
    return client_id, secret.group(1) if secret else None, page


def api_view(app, client_id):
    from idp.admin.clients import get_service

    with app.app_context():
        client = get_service(client_id)
        return {"status": client.status, "name": client.name_en, "redirect_uris": list(client.redirect_uris),
                "jwks_uri": client.jwks_uri}


# --- who gets in ---

@pytest.mark.parametrize("path", ["/admin/", "/admin/services", "/admin/proposals", "/admin/record"])
def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(app, browser, path):
    response = browser.get(path)
    assert response.status_code == 302
    response, paths = follow_trace(browser, response)
    assert paths[-1].endswith("/identify") and is_page_with(response, "national_id")


def test_signed_in_by_sms_only_is_sent_to_the_authenticator_step(app, browser, citizens):
    citizen = citizens[2]
    make_admin(app, citizen["national_id"])
    walk(browser, browser.get("/account/authenticator"), citizen)
    secret, _codes = enrol_authenticator(browser)
    response = browser.get("/admin/services?status=pending")
    assert response.status_code == 302
    response, paths = follow_trace(browser, response)
    assert paths[-1].endswith("/factor") and is_page_with(response, "recovery_code")
    # the app's code finishes the sign-in, and the console opens where it was asked for
    response, seen = walk(browser, response, factor=lambda: next_totp(secret))
    assert seen == ["factor"] and response.status_code == 200
    assert response.request.path == "/admin/services" and response.request.query_string == b"status=pending"


def test_signed_in_by_sms_without_an_authenticator_is_told_to_add_one(app, browser, citizens):
    citizen = citizens[3]
    make_admin(app, citizen["national_id"])
    choose_language(browser, "en")
    walk(browser, browser.get("/account/authenticator"), citizen)
    response = browser.get("/admin/")
    assert response.status_code == 403
    assert 'href="/account/authenticator"' in html(response)
    assert "authenticator app" in html(response)


def test_a_citizen_at_loa3_who_is_not_an_administrator_is_refused(app, browser, citizens):
    choose_language(browser, "en")
    response, _secret = sign_in_at_loa3(app, browser, citizens[4], admin=False)
    assert response.status_code == 403
    assert "For administrators only" in html(response)
    assert browser.get("/admin/services").status_code == 403
    assert browser.client.post("/admin/services/new", data={}).status_code in (400, 403)


def test_revoking_the_role_closes_the_console_at_once(app, alice, citizens):
    from idp.admin.accounts import revoke_admin

    assert alice.get("/admin/agencies").status_code == 200
    with app.app_context():
        revoke_admin(CLI_OPERATOR, citizens[0]["national_id"])
    assert alice.get("/admin/agencies").status_code == 403


# --- pages ---

def test_the_dashboard_counts_agencies_services_and_waiting_proposals(app, alice, rp, customs):
    create_service(alice)
    page = html(alice.get("/admin/"))
    count = lambda name: re.search(rf'id="count-{name}">([^<]+)<', page).group(1)  # noqa: E731
    assert count("agencies") == "2"  # the rp's agency (registered by the operator) and "customs"
    assert count("services-active") == "1" and count("services-pending") == "1"
    assert count("services-suspended") == "0" and count("proposals") == "1"


def test_agencies_can_be_searched_added_edited_and_suspended(app, alice, customs):
    response = post_form(alice, "/admin/agencies/new", {"slug": "health", "name_fa": "وزارت بهداشت",
                                                        "name_en": "Ministry of Health",
                                                        "contact_email": "it@health.example",
                                                        "contact_phone": ""})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/agencies/health")
    found = html(alice.get("/admin/agencies?q=health"))
    assert "/admin/agencies/health" in found and "/admin/agencies/customs" not in found
    assert "/admin/agencies/customs" in html(alice.get("/admin/agencies?q=Customs"))

    bad = post_form(alice, "/admin/agencies/new", {"slug": "Bad Slug", "name_fa": "x", "name_en": "x",
                                                   "contact_email": "", "contact_phone": ""})
    assert bad.status_code == 200 and "lowercase letters" in field_error(bad, "slug")
    bad = post_form(alice, "/admin/agencies/health/edit", {"name_fa": "وزارت بهداشت", "name_en": "Health",
                                                          "contact_email": "not-an-email", "contact_phone": ""})
    assert "name@agency.gov.ir" in field_error(bad, "contact_email")
    saved = post_form(alice, "/admin/agencies/health/edit", {"name_fa": "وزارت بهداشت", "name_en": "Health Ministry",
                                                            "contact_email": "", "contact_phone": "021 8888 0000"})
    assert saved.status_code == 302
    assert "Health Ministry" in html(alice.get("/admin/agencies/health"))

    confirm = alice.get("/admin/agencies/health/suspend")
    assert confirm.status_code == 200 and 'id="confirm"' in html(confirm)
    done = alice.client.post("/admin/agencies/health/suspend", data={"csrf_token": csrf_of(confirm)})
    assert done.status_code == 302
    assert "badge--suspended" in html(alice.get("/admin/agencies/health"))


def test_an_initial_access_token_is_shown_once(app, alice, customs):
    page = alice.get("/admin/agencies/customs")
    response = alice.client.post("/admin/agencies/customs/initial-access-tokens",
                                 data={"csrf_token": csrf_of(page), "expires_in": str(24 * 3600), "single_use": "y"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="initial-access-token">([^<]+)<', html(response)).group(1)
    assert len(token) >= 32
    # the agency can register with it; the console never shows it again
    registered = alice.client.post("/register", json={"client_name": "Self", "redirect_uris": ["https://s.example/cb"]},
                                   headers={"Authorization": f"Bearer {token}"})
    assert registered.status_code == 201, html(registered)
    again = html(alice.get("/admin/agencies/customs"))
    assert token not in again and "single use" in again


def test_services_are_listed_searched_and_filtered(app, alice, rp, customs):
    customs, _secret, _page = create_service(alice)
    everything = html(alice.get("/admin/services"))
    assert customs in everything and rp.client_id in everything
    pending = html(alice.get("/admin/services?status=pending"))
    assert customs in pending and rp.client_id not in pending
    by_agency = html(alice.get("/admin/services?agency=customs"))
    assert customs in by_agency and rp.client_id not in by_agency
    searched = html(alice.get("/admin/services?q=customs"))
    assert customs in searched and rp.client_id not in searched
    assert alice.get("/admin/services?status=nonsense").status_code == 200  # a bad filter filters nothing


def test_creating_a_service_shows_its_secret_once_and_files_an_activation_proposal(app, alice, customs):
    client_id, secret, page = create_service(alice)
    assert secret and len(secret) >= 32
    assert "shown only once" in page and "waits for a second administrator" in page
    assert api_view(app, client_id)["status"] == "pending"
    detail = html(alice.get(f"/admin/services/{client_id}"))
    assert secret not in detail and "E-Customs" in detail and 'id="activity"' in detail
    assert "Propose activation" not in detail  # one is already open


def test_service_fields_are_checked_and_each_error_explains_itself(app, alice, customs):
    response = post_form(alice, "/admin/services/new", {
        **SERVICE_FORM, "client_name": "",
        "redirect_uris": "http://customs.example/cb\nhttps://customs.example/cb#top\nhttps://*.customs.example/cb",
        "client_uri": "customs.example"})
    assert response.status_code == 200
    uris = field_error(response, "redirect_uris")
    assert "http://customs.example/cb must use https" in uris and "127.0.0.1 or localhost" in uris
    assert "https://customs.example/cb#top must not contain a fragment" in uris
    assert "https://*.customs.example/cb must not contain a wildcard" in uris
    assert "full address" in field_error(response, "client_uri")
    assert "name in English" in field_error(response, "client_name")
    assert 'id="error-summary"' in html(response) and 'href="#redirect_uris"' in html(response)
    # what was typed is shown again, one address per line
    assert "https://customs.example/cb#top\nhttps://*.customs.example/cb</textarea>" in html(response)

    # the registry's own refusals land next to their field too
    refused = post_form(alice, "/admin/services/new", {**SERVICE_FORM, "redirect_uris": ""})
    assert "Add at least one redirect URI" in field_error(refused, "redirect_uris")
    refused = post_form(alice, "/admin/services/new", {**SERVICE_FORM, "scope": 'openid "quoted"'})
    assert "printable ASCII" in field_error(refused, "scope")
    refused = post_form(alice, "/admin/services/new", {**SERVICE_FORM, "token_endpoint_auth_method": "private_key_jwt"})
    assert "public keys" in field_error(refused, "token_endpoint_auth_method")
    # loopback http is fine
    ok = post_form(alice, "/admin/services/new", {**SERVICE_FORM, "redirect_uris": "http://127.0.0.1:8080/cb"})
    assert ok.status_code == 200 and 'id="client-secret"' in html(ok)


def test_editing_applies_at_once_or_files_a_proposal(app, alice, rp):
    edit = f"/admin/services/{rp.client_id}/edit"
    page = alice.get(edit)
    assert page.status_code == 200 and "https://tax.example/cb</textarea>" in html(page)
    form = {**SERVICE_FORM, "client_name": "E-Tax 2", "redirect_uris": "https://tax.example/cb",
            "scope": "openid profile national_id phone"}
    form.pop("agency")
    saved = post_form(alice, edit, form)
    assert saved.status_code == 302
    assert "E-Tax 2 saved" in html(alice.get(saved.headers["Location"]))
    assert api_view(app, rp.client_id)["name"] == "E-Tax 2"

    proposed = post_form(alice, edit, {**form, "redirect_uris": "https://tax.example/cb\nhttps://tax.example/cb2"})
    assert proposed.status_code == 302
    assert "needs a second administrator" in html(alice.get(proposed.headers["Location"]))
    assert api_view(app, rp.client_id)["redirect_uris"] == ["https://tax.example/cb"]  # not yet

    wrong = post_form(alice, edit, {**form, "redirect_uris": "https://tax.example/cb#x"})
    assert wrong.status_code == 200 and "must not contain a fragment" in field_error(wrong, "redirect_uris")


def test_keys_by_value_or_by_address(app, alice, rp):
    from tests.support import client_rsa_key, public_jwks

    keys = f"/admin/services/{rp.client_id}/keys"
    saved = post_form(alice, keys, {"source": "jwks_uri", "jwks": "", "jwks_uri": "https://tax.example/jwks.json"})
    assert saved.status_code == 302 and api_view(app, rp.client_id)["jwks_uri"] == "https://tax.example/jwks.json"
    not_json = post_form(alice, keys, {"source": "jwks", "jwks": "{keys", "jwks_uri": ""})
    assert "not valid JSON" in field_error(not_json, "jwks")
    import json

    private = json.dumps({"keys": [client_rsa_key().as_dict(private=True)]})
    refused = post_form(alice, keys, {"source": "jwks", "jwks": private, "jwks_uri": ""})
    assert "public keys only" in field_error(refused, "jwks")
    public = json.dumps(public_jwks(client_rsa_key()))
    assert post_form(alice, keys, {"source": "jwks", "jwks": public, "jwks_uri": ""}).status_code == 302
    assert "1 key, given by value" in html(alice.get(f"/admin/services/{rp.client_id}"))


def test_rotating_the_secret_shows_the_new_one_once_and_the_old_one_stops(app, alice, rp):
    confirm = alice.get(f"/admin/services/{rp.client_id}/rotate-secret")
    assert "stops working at once" in html(confirm)
    response = alice.client.post(f"/admin/services/{rp.client_id}/rotate-secret",
                                 data={"csrf_token": csrf_of(confirm)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new = re.search(r'id="client-secret">([^<]+)<', html(response)).group(1)
    assert new != rp.secret
    http = app.test_client()
    old = http.post("/token", data={"grant_type": "authorization_code", "code": "x", "redirect_uri": rp.redirect_uri},
                    headers=basic_header(rp.client_id, rp.secret))
    assert old.status_code == 401
    fresh = http.post("/token", data={"grant_type": "authorization_code", "code": "x", "redirect_uri": rp.redirect_uri},
                      headers=basic_header(rp.client_id, new))
    assert fresh.get_json()["error"] == "invalid_grant"  # the client is known again: only the code is wrong


def test_suspending_asks_first_then_stops_sign_ins_at_once(app, alice, rp):
    detail = html(alice.get(f"/admin/services/{rp.client_id}"))
    assert f'href="/admin/services/{rp.client_id}/suspend"' in detail
    confirm = alice.get(f"/admin/services/{rp.client_id}/suspend")
    assert confirm.status_code == 200 and "signs no one in" in html(confirm)
    assert api_view(app, rp.client_id)["status"] == "active"  # asking is not doing
    done = alice.client.post(f"/admin/services/{rp.client_id}/suspend", data={"csrf_token": csrf_of(confirm)})
    assert done.status_code == 302
    assert api_view(app, rp.client_id)["status"] == "suspended"
    page = app.test_client().get(rp.authorize_url())
    assert page.status_code == 400 and error_code(html(page)) == "invalid_client"
    # reactivation is a proposal
    confirm = alice.get(f"/admin/services/{rp.client_id}/reactivate")
    alice.client.post(f"/admin/services/{rp.client_id}/reactivate", data={"csrf_token": csrf_of(confirm)})
    assert api_view(app, rp.client_id)["status"] == "suspended"
    assert "Reactivate the service" in html(alice.get("/admin/proposals"))


def test_retiring_is_final(app, alice, rp):
    confirm = alice.get(f"/admin/services/{rp.client_id}/retire")
    alice.client.post(f"/admin/services/{rp.client_id}/retire", data={"csrf_token": csrf_of(confirm)})
    assert api_view(app, rp.client_id)["status"] == "retired"
    detail = html(alice.get(f"/admin/services/{rp.client_id}"))
    assert 'id="service-actions"' not in detail
    # a second try is explained, not a crash
    again = alice.client.post(f"/admin/services/{rp.client_id}/suspend", data={"csrf_token": csrf_of(confirm)})
    assert again.status_code == 409 and "Only an active service can be suspended" in html(again)


# --- CSRF ---

@pytest.mark.parametrize("path", ["/admin/services/{client_id}/suspend", "/admin/services/{client_id}/retire",
                                  "/admin/services/{client_id}/rotate-secret"])
def test_every_change_needs_the_forms_csrf_token(app, alice, rp, path):
    url = path.format(client_id=rp.client_id)
    assert alice.client.post(url, data={}).status_code == 400
    assert alice.client.post(url, data={"csrf_token": "forged"}).status_code == 400
    assert api_view(app, rp.client_id)["status"] == "active"


def test_creating_and_deciding_need_the_csrf_token_too(app, alice, bob, customs):
    response = alice.client.post("/admin/services/new", data=SERVICE_FORM)
    assert response.status_code == 400
    assert "E-Customs" not in html(alice.get("/admin/services"))
    client_id, _secret, _page = create_service(alice)
    proposal_id = re.search(r'id="approve-(\d+)"', html(bob.get("/admin/proposals"))).group(1)
    assert bob.client.post(f"/admin/proposals/{proposal_id}/approve", data={}).status_code == 400
    assert api_view(app, client_id)["status"] == "pending"


def test_every_console_form_carries_a_csrf_token(app, alice, rp, customs):
    for path in ("/admin/services/new", f"/admin/services/{rp.client_id}/edit", f"/admin/services/{rp.client_id}/keys",
                 f"/admin/services/{rp.client_id}/suspend", f"/admin/services/{rp.client_id}/rotate-secret",
                 "/admin/agencies/new", "/admin/agencies/customs", "/admin/agencies/customs/suspend"):
        page = html(alice.get(path))
        for form in re.findall(r'<form[^>]*method="post".*?</form>', page, re.S):
            assert 'csrf_token"' in form, (path, form[:200])


# --- the two-person rule ---

def test_the_proposer_cannot_approve_and_a_second_administrator_can(app, alice, bob, customs):
    client_id, _secret, _page = create_service(alice)
    mine = html(alice.get("/admin/proposals"))
    article = re.search(r'<article class="proposal".*?</article>', mine, re.S).group(0)
    assert re.search(r'<button[^>]*disabled[^>]*aria-describedby="why-\d+"', article)
    assert "a different administrator must approve it" in article
    assert "Withdraw" in article
    proposal_id = re.search(r'id="proposal-(\d+)"', article).group(1)

    # even a hand-made request is refused, and says why
    refused = alice.client.post(f"/admin/proposals/{proposal_id}/approve", data={"csrf_token": csrf_of(alice.get(
        "/admin/proposals"))})
    assert refused.status_code == 302
    assert "Two-person rule" in html(alice.get("/admin/proposals"))
    assert api_view(app, client_id)["status"] == "pending"

    theirs = bob.get("/admin/proposals")
    assert f'id="approve-{proposal_id}"' in html(theirs)
    approved = bob.client.post(f"/admin/proposals/{proposal_id}/approve", data={"csrf_token": csrf_of(theirs)})
    assert approved.status_code == 302
    assert f"Proposal {proposal_id} is approved and applied" in html(bob.get("/admin/proposals"))
    assert api_view(app, client_id)["status"] == "active"
    decided = html(alice.get("/admin/proposals"))
    assert 'id="decided"' in decided and "badge--approved" in decided


def test_a_proposal_can_be_rejected_with_a_reason(app, alice, bob, customs):
    client_id, _secret, _page = create_service(alice)
    page = bob.get("/admin/proposals")
    proposal_id = re.search(r'id="approve-(\d+)"', html(page)).group(1)
    response = bob.client.post(f"/admin/proposals/{proposal_id}/reject",
                               data={f"p{proposal_id}-csrf_token": csrf_of(page),
                                     f"p{proposal_id}-reason": "Unknown redirect host"})
    assert response.status_code == 302
    after = html(bob.get("/admin/proposals"))
    assert "badge--rejected" in after and "Reason: Unknown redirect host" in after
    assert api_view(app, client_id)["status"] == "pending"


def test_waiting_proposals_come_first(app, alice, bob, customs):
    first, _s, _p = create_service(alice, client_name="First")
    second, _s, _p = create_service(alice, client_name="Second")
    page = bob.get("/admin/proposals")
    ids = re.findall(r'id="approve-(\d+)"', html(page))
    bob.client.post(f"/admin/proposals/{ids[-1]}/approve", data={"csrf_token": csrf_of(page)})
    page = html(bob.get("/admin/proposals"))
    assert page.index("Waiting for approval") < page.index(">Decided<")
    waiting, decided = page.split(">Decided<")
    assert "Second" in waiting and "First" in decided


# --- the admin record ---

def test_the_record_is_newest_first_with_before_and_after(app, alice, rp):
    edit = f"/admin/services/{rp.client_id}/edit"
    form = {**SERVICE_FORM, "client_name": "E-Tax renamed", "redirect_uris": "https://tax.example/cb",
            "scope": "openid profile national_id phone"}
    form.pop("agency")
    post_form(alice, edit, form)
    page = html(alice.get("/admin/record"))
    entries = re.findall(r'<li class="record__entry" id="action-(\d+)"', page)
    assert entries == sorted(entries, key=int, reverse=True)
    newest = re.search(r'<li class="record__entry".*?</li>\s*(?=<li class="record__entry"|</ol>)', page, re.S).group(0)
    assert "Service changed" in newest and rp.client_id in newest
    assert re.search(r'<code class="ltr">client_name</code></th><td class="diff__before ltr">E-Tax</td>'
                     r'<td class="diff__after ltr">E-Tax renamed</td>', newest)
    assert "via admin API or console" in newest and "By you" in newest
    only = html(alice.get(f"/admin/record?target_type=service&target_id={rp.client_id}"))
    assert "Service changed" in only and "Administrator role granted" not in only


def test_the_record_is_paged(app, alice):
    with app.app_context():
        for n in range(25):
            agencies.create_agency(CLI_OPERATOR, slug=f"agency-{n:02d}", name_en=f"Agency {n}", name_fa=f"Agency {n}")
    first = html(alice.get("/admin/record"))
    assert len(re.findall(r'class="record__entry"', first)) == 20
    assert 'rel="next" href="/admin/record?page=2"' in first and "Page 1 of 2" in first
    assert "agency-24" in first
    second = html(alice.get("/admin/record?page=2"))
    assert 'rel="prev"' in second and "agency-00" in second and "agency-24" not in second


# --- languages ---

def test_the_console_is_persian_and_right_to_left_by_default(app, browser, citizens):
    sign_in_at_loa3(app, browser, citizens[5])
    page = html(browser.get("/admin/"))
    assert '<html lang="fa" dir="rtl">' in page
    choose_language(browser, "en")
    assert '<html lang="en" dir="ltr">' in html(browser.get("/admin/"))


def test_the_console_pages_have_no_inline_script_or_style(app, alice, rp, customs):
    for path in ("/admin/", "/admin/agencies", "/admin/agencies/customs", "/admin/services", "/admin/services/new",
                 f"/admin/services/{rp.client_id}", "/admin/proposals", "/admin/record"):
        response = alice.get(path)
        assert response.status_code == 200, path
        page = html(response)
        assert "<script" not in page and "<style" not in page and " style=" not in page, path
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert not [href for href in re.findall(r'(?:href|src|action)="([^"]+)"', page) if urlsplit(href).netloc]
