"""A sign-in through a real SMS gateway (a local HTTP server): the code travels by HTTP, in the background."""

import dataclasses
import re

import pytest
from flask_migrate import upgrade

from idp.app import create_app
from idp.registry_data import generate_citizens
from idp.registry_import import import_rows
from tests.conftest import make_client
from tests.contract.test_sms_contract import Gateway
from tests.support import Forms, RelyingParty, query


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


@pytest.fixture
def gateway_app(settings, gateway):
    from idp.db import db

    app = create_app(dataclasses.replace(settings, sms_backend="http", sms_gateway_url=gateway.url))
    with app.app_context():
        upgrade()
        app.extensions["panjereh"].keys.ensure()
        import_rows(generate_citizens(20))
    yield app
    app.extensions["panjereh"].sms.flush()
    app.extensions["panjereh.courier"].stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_sign_in_with_the_code_from_the_gateway(gateway_app, gateway, citizen):
    app = gateway_app
    client_id, secret = make_client(app)
    http = app.test_client()
    rp = RelyingParty(http, client_id, secret, "https://tax.example/cb")
    page = http.get(rp.authorize_url())  # each answer shows the next step's page; its form says where to post
    form = Forms(page.get_data(as_text=True)).with_field("national_id")
    verify = http.post(form["action"], data={**form["fields"], "national_id": citizen["national_id"],
                                              "mobile": citizen["mobile"]})
    app.extensions["panjereh"].sms.flush()
    [message] = gateway.received
    assert message["to"] == citizen["mobile"]
    code = re.search(r"(?<!\d)\d{6}(?!\d)", message["text"]).group(0)
    form = Forms(verify.get_data(as_text=True)).with_field("otp")
    consent = http.post(form["action"], data={**form["fields"], "otp": code})
    form = Forms(consent.get_data(as_text=True)).with_field("decision")
    done = http.post(form["action"], data={**form["fields"], "decision": "allow"})
    assert rp.redeem(query(done.headers["Location"])["code"]).status_code == 200
