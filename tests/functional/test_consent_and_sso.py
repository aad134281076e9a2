"""Consent (remembered per service and scope) and single sign-on across services in one browser."""

import pytest

from tests.conftest import ISSUER, make_client
from tests.support import Forms, RelyingParty, at_rp, authorize, query


@pytest.fixture
def settings(module_provider):
    """This module shares one provider (see module_provider in conftest.py)."""
    return module_provider[0]


@pytest.fixture
def app(module_provider):
    return module_provider[1]


@pytest.fixture
def health(app):
    client_id, secret = make_client(app, name="Health Insurance", name_fa="بیمه سلامت",
                                    redirect_uris=["https://health.example/cb"], agency="health")
    return RelyingParty(app.test_client(), client_id, secret, "https://health.example/cb")


def is_consent_page(response) -> bool:
    if response.status_code != 200:
        return False
    buttons = [b for form in Forms(response.get_data(as_text=True)).forms for b in form["buttons"]]
    return ("decision", "allow") in buttons and ("decision", "deny") in buttons


def is_identify_page(response) -> bool:
    return response.status_code == 200 and 'name="national_id"' in response.get_data(as_text=True)


def sign_in_to_consent(browser, rp, citizen, **extra):
    response = browser.follow(browser.get(rp.authorize_url(**extra)))
    assert is_identify_page(response)
    response = browser.login(response, citizen["national_id"], citizen["mobile"])
    assert is_consent_page(response)
    return response


def assert_access_denied(response, rp):
    assert at_rp(response, rp), (response.status_code, response.headers.get("Location"))
    params = query(response.headers["Location"])
    assert params["error"] == "access_denied"
    assert params["state"] == rp.state
    assert params["iss"] == ISSUER
    assert "code" not in params


def test_consent_allow_is_remembered(rp, browser, citizen):
    response = browser.consent(sign_in_to_consent(browser, rp, citizen))
    assert at_rp(response, rp)
    again = browser.get(rp.authorize_url())
    assert at_rp(again, rp)  # no page at all: straight back with a code
    params = query(again.headers["Location"])
    assert params["state"] == rp.state and params["iss"] == ISSUER
    assert rp.redeem(params["code"]).status_code == 200


def test_consent_page_names_the_service_and_the_data(rp, browser, citizen):
    page = sign_in_to_consent(browser, rp, citizen, ui_locales="en").get_data(as_text=True)
    assert "E-Tax" in page
    lowered = page.lower()
    assert "national id" in lowered
    assert "full name" in lowered
    assert "mobile number" not in lowered  # phone was not requested


def test_deny_is_access_denied(rp, browser, citizen):
    response = browser.consent(sign_in_to_consent(browser, rp, citizen), "deny")
    assert_access_denied(response, rp)


def test_deny_is_not_remembered_as_consent(rp, browser, citizen):
    browser.consent(sign_in_to_consent(browser, rp, citizen), "deny")
    response = browser.follow(browser.get(rp.authorize_url()))
    assert is_consent_page(response)  # signed in, but asked again


def test_deny_keeps_the_single_sign_on_session(rp, browser, citizen):
    browser.consent(sign_in_to_consent(browser, rp, citizen), "deny")
    response = browser.get(rp.authorize_url(prompt="none"))
    assert at_rp(response, rp)
    assert query(response.headers["Location"])["error"] == "consent_required"


def test_consent_page_cannot_be_submitted_twice(rp, browser, citizen):
    page = sign_in_to_consent(browser, rp, citizen)
    assert at_rp(browser.consent(page), rp)
    replay = browser.submit(page, "decision", button=("decision", "allow"))
    assert replay.status_code == 400
    assert "Location" not in replay.headers


def test_second_service_needs_no_login_but_its_own_consent(rp, health, browser, citizen):
    authorize(browser, rp, citizen)
    sent = browser.outbox.read_text().count("\n")
    response = browser.follow(browser.get(health.authorize_url(ui_locales="en")))
    assert not is_identify_page(response)
    assert is_consent_page(response)
    page = response.get_data(as_text=True)
    assert "Health Insurance" in page and "E-Tax" not in page
    response = browser.consent(response)
    assert at_rp(response, health)
    params = query(response.headers["Location"])
    assert params["state"] == health.state
    assert health.redeem(params["code"]).status_code == 200
    assert browser.outbox.read_text().count("\n") == sent  # no second SMS


def test_consent_for_one_service_is_not_consent_for_another(rp, health, browser, citizen):
    authorize(browser, rp, citizen)
    response = browser.get(health.authorize_url(prompt="none"))
    assert query(response.headers["Location"])["error"] == "consent_required"


def test_consent_asked_again_for_a_new_scope(rp, browser, citizen):
    authorize(browser, rp, citizen)
    rp.scope = "openid profile national_id phone"
    response = browser.follow(browser.get(rp.authorize_url(ui_locales="en")))
    assert is_consent_page(response)
    assert "mobile number" in response.get_data(as_text=True).lower()
    response = browser.consent(response)
    assert at_rp(response, rp)
    token = rp.redeem(query(response.headers["Location"])["code"]).get_json()
    assert "phone" in token["scope"].split()
    # now both the old and the larger set are covered
    assert at_rp(browser.get(rp.authorize_url()), rp)
    rp.scope = "openid profile national_id"
    assert at_rp(browser.get(rp.authorize_url()), rp)


def test_fewer_scopes_need_no_new_consent(rp, browser, citizen):
    authorize(browser, rp, citizen)
    rp.scope = "openid"
    response = browser.get(rp.authorize_url())
    assert at_rp(response, rp)
    assert "code" in query(response.headers["Location"])


def test_consent_is_per_citizen(app, rp, browser, citizens):
    authorize(browser, rp, citizens[0])
    other_browser = type(browser)(app.test_client(), browser.outbox)
    response = sign_in_to_consent(other_browser, rp, citizens[1])
    assert is_consent_page(response)


def test_cancel_on_the_identify_page_is_access_denied(rp, browser):
    response = browser.follow(browser.get(rp.authorize_url()))
    assert is_identify_page(response)
    response = browser.submit(response, "decision", button=("decision", "deny"))
    assert_access_denied(response, rp)


def test_cancel_on_the_code_page_is_access_denied(rp, browser, citizen):
    response = browser.follow(browser.get(rp.authorize_url()))
    response = browser.follow(browser.submit(response, "national_id", {"national_id": citizen["national_id"],
                                                                       "mobile": citizen["mobile"]}))
    page = response.get_data(as_text=True)
    assert 'name="otp"' in page
    # the code page has no cancel button of its own; the cancel action still applies at this step
    iid = response.request.path.split("/")[2]
    csrf = Forms(page).with_field("otp")["fields"]["csrf_token"]
    response = browser.client.post(f"/interaction/{iid}/abort", data={"csrf_token": csrf, "decision": "deny"})
    assert_access_denied(response, rp)


def test_cancelled_interaction_cannot_be_resumed(rp, browser, citizen):
    identify = browser.follow(browser.get(rp.authorize_url()))
    browser.submit(identify, "decision", button=("decision", "deny"))
    response = browser.submit(identify, "national_id", {"national_id": citizen["national_id"],
                                                        "mobile": citizen["mobile"]})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_consent_step_after_the_redirect_uri_was_deregistered_is_a_400_page(app, rp, browser, citizen,
                                                                            monkeypatch):
    from idp.db import db
    from idp.models import Client

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # what a citizen gets in production
    page = sign_in_to_consent(browser, rp, citizen)
    with app.app_context():
        client = db.session.execute(db.select(Client).filter_by(client_id=rp.client_id)).scalar_one()
        client.redirect_uris = ["https://tax.example/new-callback"]
        db.session.commit()
    shown = browser.get(Forms(page.get_data(as_text=True)).with_field("decision")["action"])  # the consent step's URL
    assert shown.status_code == 400
    allowed = browser.submit(page, "decision", button=("decision", "allow"))
    assert allowed.status_code == 400
    assert "Location" not in allowed.headers


def test_a_consent_given_before_a_sign_in_in_the_same_interaction_is_not_the_new_citizens(app, rp, browser,
                                                                                         citizens, monkeypatch):
    """A allows on a consent page after the request's max_age ran out, so the provider asks for a
    sign-in; B signs in on that page: B is asked for consent, never handed A's."""
    import time as time_module

    import idp.interaction.policy as policy
    from idp.db import db
    from idp.models import Account, Consent

    a, b = citizens[0], citizens[1]
    authorize(browser, rp, a)  # A is signed in and has consented to the default scope
    rp.scope = "openid profile national_id phone"  # a scope A has not consented to: a consent page
    response = browser.follow(browser.get(rp.authorize_url(max_age="60")))
    assert is_consent_page(response)
    real = time_module.time
    monkeypatch.setattr(policy.time, "time", lambda: real() + 120)  # A reads the page past max_age
    after = browser.consent(response)
    assert is_identify_page(after)
    final = browser.login(after, b["national_id"], b["mobile"])
    assert is_consent_page(final)  # B decides for B
    with app.app_context():
        account_b = db.session.execute(db.select(Account).filter_by(national_id=b["national_id"])).scalar_one()
        assert db.session.execute(db.select(Consent).filter_by(account_id=account_b.id)).first() is None


def test_consents_written_at_once_are_neither_an_error_nor_lost(app, rp, browser, citizen):
    """A double tap on "Allow", or two tabs answering for two scopes: both write at once. Neither
    fails (the citizen would see an error page) and the stored consent covers both answers."""
    import threading
    import time

    from idp.db import db
    from idp.models import Account, Consent
    from idp.oauth import consents

    authorize(browser, rp, citizen)  # signed in, the default scope allowed
    with app.app_context():
        account_id = db.session.execute(
            db.select(Account.id).filter_by(national_id=citizen["national_id"])).scalar_one()
        db.session.execute(db.delete(Consent).filter_by(account_id=account_id))  # never asked yet
        db.session.commit()
    start, errors = threading.Barrier(2), []

    def answer(scope, hold):
        try:
            with app.app_context():
                start.wait()
                consents.remember(account_id, rp.client_id, scope)
                time.sleep(hold)  # the first keeps its transaction open while the other writes
                db.session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    tabs = [threading.Thread(target=answer, args=("openid phone", 0.3)),
            threading.Thread(target=answer, args=("openid profile", 0.0))]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join(timeout=60)
    assert errors == []
    with app.app_context():
        stored = db.session.execute(db.select(Consent.scope).filter_by(account_id=account_id,
                                                                      client_id=rp.client_id)).scalar_one()
        assert set(stored.split()) == {"openid", "phone", "profile"}
        assert consents.covers(account_id, rp.client_id, "profile phone openid")


def test_a_consent_grows_to_cover_a_new_scope(app, rp, browser, citizen):
    from idp.db import db
    from idp.models import Account
    from idp.oauth import consents

    authorize(browser, rp, citizen)
    with app.app_context():
        account_id = db.session.execute(
            db.select(Account.id).filter_by(national_id=citizen["national_id"])).scalar_one()
        before = set(consents.consented_scope(account_id, rp.client_id).split())
        consents.remember(account_id, rp.client_id, "openid national_id")
        db.session.commit()
        assert set(consents.consented_scope(account_id, rp.client_id).split()) == before | {"national_id"}


def test_a_first_sign_in_reads_no_consent_and_a_returning_citizens_is_read(app, rp, browser, citizens):
    """A citizen's first sign-in creates the account, which can hold no consent yet: the consent page
    follows without reading any. Once the account exists, each sign-in reads what was allowed."""
    from sqlalchemy import event

    from idp.db import db
    from idp.models import Account

    with app.app_context():
        known = set(db.session.execute(db.select(Account.national_id)).scalars())
        engine = db.engine
    newcomer = next(c for c in citizens if c["national_id"] not in known)
    reads = []

    def on_statement(conn, cursor, statement, params, context, executemany):
        if "FROM consents" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        sign_in_to_consent(browser, rp, newcomer)  # the first sign-in: not answered
        assert reads == []
        again = type(browser)(app.test_client(), browser.outbox)  # no single sign-on: signs in again
        assert_access_denied(again.consent(sign_in_to_consent(again, rp, newcomer), "deny"), rp)
        assert reads, "a returning citizen's consent is read"
        reads.clear()
        third = type(browser)(app.test_client(), browser.outbox)
        assert at_rp(third.consent(sign_in_to_consent(third, rp, newcomer)), rp)
        fourth = type(browser)(app.test_client(), browser.outbox)
        response = fourth.follow(fourth.get(rp.authorize_url()))
        response = fourth.login(response, newcomer["national_id"], newcomer["mobile"])
        assert at_rp(response, rp), "the consent given is honoured after a new sign-in"
        assert reads
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
