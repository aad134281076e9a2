"""Token revocation (RFC 7009) and introspection (RFC 7662) for access and refresh tokens."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.conftest import make_client
from tests.support import RelyingParty, basic_header, introspect, revoke, sign_in_tokens, verify_provider_jwt

REFRESHING = ["authorization_code", "refresh_token"]


@pytest.fixture
def refresh_rp(app):
    client_id, secret = make_client(app, grant_types=REFRESHING)
    return RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")


@pytest.fixture
def tokens(refresh_rp, browser, citizen):
    return sign_in_tokens(browser, refresh_rp, citizen)


@pytest.fixture
def other(app):
    """A second service of another agency (no special rights)."""
    client_id, secret = make_client(app, name="E-Health", agency="health", redirect_uris=["https://health.example/cb"])
    return client_id, secret


def active(rp, token, **extra) -> dict:
    response = introspect(rp.http, token, rp.client_id, rp.secret, **extra)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def userinfo(rp, access_token):
    return rp.http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def refresh(rp, refresh_token):
    return rp.http.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                        headers=basic_header(rp.client_id, rp.secret))


def assert_invalid_client(response):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_client"


# --- client authentication ---

def test_endpoints_require_client_authentication(refresh_rp, tokens):
    for endpoint, token in ((e, t) for e in ("/introspect", "/revoke")
                            for t in (tokens["access_token"], tokens["refresh_token"])):
        assert_invalid_client(refresh_rp.http.post(endpoint, data={"token": token}))
        assert_invalid_client(refresh_rp.http.post(endpoint, data={"token": token},
                                                   headers=basic_header(refresh_rp.client_id, "wrong-secret")))
        assert_invalid_client(refresh_rp.http.post(endpoint, data={"token": token},
                                                   headers=basic_header("no-such-client", refresh_rp.secret)))
    # nothing was revoked by the refused requests
    assert active(refresh_rp, tokens["access_token"])["active"] is True
    assert active(refresh_rp, tokens["refresh_token"])["active"] is True


def test_confidential_client_cannot_revoke_with_its_client_id_alone(refresh_rp, tokens):
    response = refresh_rp.http.post("/revoke", data={"token": tokens["access_token"],
                                                     "client_id": refresh_rp.client_id})
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"
    assert active(refresh_rp, tokens["access_token"])["active"] is True


# --- introspection ---

def test_introspect_access_token(refresh_rp, tokens):
    id_token = verify_provider_jwt(refresh_rp.http, tokens["id_token"]).claims
    access = verify_provider_jwt(refresh_rp.http, tokens["access_token"]).claims
    body = active(refresh_rp, tokens["access_token"])
    assert body["active"] is True
    assert set(body["scope"].split()) == set(tokens["scope"].split())
    assert body["client_id"] == refresh_rp.client_id
    assert body["sub"] == id_token["sub"]
    assert body["token_type"].lower() == "bearer"
    assert body["exp"] == access["exp"]
    assert body["iat"] == access["iat"]
    assert body["exp"] > body["iat"]
    assert body.get("iss", "http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_introspect_access_token_with_type_hint(refresh_rp, tokens):
    assert active(refresh_rp, tokens["access_token"], token_type_hint="access_token")["active"] is True
    # a wrong hint is only a hint (RFC 7662 section 2.1)
    assert active(refresh_rp, tokens["access_token"], token_type_hint="refresh_token")["active"] is True


def test_introspect_refresh_token(refresh_rp, tokens):
    id_token = verify_provider_jwt(refresh_rp.http, tokens["id_token"]).claims
    body = active(refresh_rp, tokens["refresh_token"], token_type_hint="refresh_token")
    assert body["active"] is True
    assert set(body["scope"].split()) == set(tokens["scope"].split())
    assert body["client_id"] == refresh_rp.client_id
    assert body["sub"] == id_token["sub"]
    assert isinstance(body["exp"], int) and isinstance(body["iat"], int)
    assert body["exp"] > body["iat"]
    assert "token_type" in body


def test_introspect_unknown_or_garbage_is_inactive(refresh_rp):
    for garbage in ("unknown-token", "a.b.c", "", "eyJhbGciOiJub25lIn0.e30.", "x" * 2000):
        assert active(refresh_rp, garbage) == {"active": False}, garbage


def test_introspect_revoked_tokens_is_inactive(refresh_rp, tokens):
    assert revoke(refresh_rp.http, tokens["access_token"], refresh_rp.client_id, refresh_rp.secret).status_code == 200
    assert active(refresh_rp, tokens["access_token"]) == {"active": False}


def test_introspect_expired_access_token_is_inactive(monkeypatch, refresh_rp, tokens):
    """The signed ``exp`` is the access token's lifetime: past it, introspection and userinfo
    refuse it, even though the provider has already seen (and remembered) it."""
    import time

    assert active(refresh_rp, tokens["access_token"])["active"] is True
    exp = verify_provider_jwt(refresh_rp.http, tokens["access_token"]).claims["exp"]
    monkeypatch.setattr(time, "time", lambda: exp + 1)
    assert active(refresh_rp, tokens["access_token"]) == {"active": False}
    assert userinfo(refresh_rp, tokens["access_token"]).status_code == 401


def test_introspect_expired_refresh_token_is_inactive(app, refresh_rp, tokens):
    from idp.db import db, utcnow
    from idp.models import Token

    with app.app_context():
        db.session.execute(update(Token).where(Token.refresh_token_hash.is_not(None))
                           .values(refresh_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert active(refresh_rp, tokens["refresh_token"]) == {"active": False}
    assert refresh(refresh_rp, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_introspect_token_of_another_client_is_inactive(refresh_rp, tokens, other):
    other_id, other_secret = other
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = introspect(refresh_rp.http, token, other_id, other_secret)
        assert response.status_code == 200
        assert response.get_json() == {"active": False}


def test_client_with_the_introspection_scope_may_introspect_any_token(app, refresh_rp, tokens):
    gateway_id, gateway_secret = make_client(app, name="API gateway", agency="gateway", redirect_uris=[],
                                             grant_types=["client_credentials"], scope="introspection")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = introspect(refresh_rp.http, token, gateway_id, gateway_secret)
        assert response.status_code == 200
        body = response.get_json()
        assert body["active"] is True
        assert body["client_id"] == refresh_rp.client_id


# --- revocation ---

def test_revoke_access_token(refresh_rp, tokens):
    assert userinfo(refresh_rp, tokens["access_token"]).status_code == 200
    response = revoke(refresh_rp.http, tokens["access_token"], refresh_rp.client_id, refresh_rp.secret,
                      token_type_hint="access_token")
    assert response.status_code == 200
    assert userinfo(refresh_rp, tokens["access_token"]).status_code == 401
    assert active(refresh_rp, tokens["access_token"]) == {"active": False}
    # revoking again is fine
    assert revoke(refresh_rp.http, tokens["access_token"], refresh_rp.client_id, refresh_rp.secret).status_code == 200


def test_revoking_a_refresh_token_revokes_its_access_tokens(refresh_rp, tokens):
    rotated = refresh(refresh_rp, tokens["refresh_token"]).get_json()
    response = revoke(refresh_rp.http, rotated["refresh_token"], refresh_rp.client_id, refresh_rp.secret,
                      token_type_hint="refresh_token")
    assert response.status_code == 200
    assert active(refresh_rp, rotated["refresh_token"]) == {"active": False}
    assert refresh(refresh_rp, rotated["refresh_token"]).get_json()["error"] == "invalid_grant"
    # the access tokens of the grant: the one issued with it and the earlier one
    for access_token in (rotated["access_token"], tokens["access_token"]):
        assert active(refresh_rp, access_token) == {"active": False}
        assert userinfo(refresh_rp, access_token).status_code == 401


def test_revoking_an_unknown_token_returns_200(refresh_rp):
    for token in ("unknown-token", "a.b.c"):
        response = revoke(refresh_rp.http, token, refresh_rp.client_id, refresh_rp.secret)
        assert response.status_code == 200, response.get_data(as_text=True)
    response = revoke(refresh_rp.http, "unknown-token", refresh_rp.client_id, refresh_rp.secret,
                      token_type_hint="refresh_token")
    assert response.status_code == 200


def test_revocation_without_token_is_invalid_request(refresh_rp):
    response = refresh_rp.http.post("/revoke", data={}, headers=basic_header(refresh_rp.client_id, refresh_rp.secret))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_a_client_cannot_revoke_another_clients_token(refresh_rp, tokens, other):
    other_id, other_secret = other
    for token in (tokens["access_token"], tokens["refresh_token"]):
        revoke(refresh_rp.http, token, other_id, other_secret)
    assert active(refresh_rp, tokens["access_token"])["active"] is True
    assert active(refresh_rp, tokens["refresh_token"])["active"] is True
    assert userinfo(refresh_rp, tokens["access_token"]).status_code == 200


# --- the shared record of an access token ---

def test_a_lost_token_record_is_rebuilt_from_the_database(app, refresh_rp, tokens):
    """Userinfo and introspection read the access token's record in the shared store; when the
    store has lost it (Redis restarted empty), the database answers, revocations included."""
    from idp.oauth.tokens import ACCESS

    store = app.extensions["panjereh"].store
    jti = verify_provider_jwt(refresh_rp.http, tokens["access_token"]).claims["jti"]
    before = userinfo(refresh_rp, tokens["access_token"]).get_json()
    with app.app_context():
        assert store.delete(ACCESS + jti)
    assert userinfo(refresh_rp, tokens["access_token"]).get_json() == before
    assert active(refresh_rp, tokens["access_token"])["active"] is True
    with app.app_context():
        assert store.get(ACCESS + jti) is not None  # written again
    assert revoke(refresh_rp.http, tokens["access_token"], refresh_rp.client_id, refresh_rp.secret).status_code == 200
    with app.app_context():
        assert set(store.get(ACCESS + jti)) == {"revoked"}  # nothing of the citizen is kept
        assert store.delete(ACCESS + jti)  # the store forgets the revocation too
    assert active(refresh_rp, tokens["access_token"]) == {"active": False}
    assert userinfo(refresh_rp, tokens["access_token"]).status_code == 401


def test_introspection_reads_its_parameters_as_rfc_7662_says(refresh_rp, tokens):
    auth = basic_header(refresh_rp.client_id, refresh_rp.secret)

    def post(data):
        return refresh_rp.http.post("/introspect", data=data, headers=auth)

    assert post({"token": tokens["access_token"], "token_type_hint": ""}).get_json()["active"] is True
    unknown = post({"token": tokens["access_token"], "token_type_hint": "id_token"})
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "unsupported_token_type"
    missing = post({"token_type_hint": "access_token"})
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"
    for response in (unknown, missing):
        assert response.headers["Cache-Control"] == "no-store"


def test_revocation_of_a_kind_of_token_we_do_not_issue_is_a_400(refresh_rp, tokens):
    """RFC 7009 section 2.2.1: ``unsupported_token_type``, answered as RFC 6749 section 5.2 says (400),
    and the token named is left alone."""
    response = refresh_rp.http.post("/revoke", data={"token": tokens["access_token"], "token_type_hint": "id_token"},
                                    headers=basic_header(refresh_rp.client_id, refresh_rp.secret))
    assert response.status_code == 400 and response.get_json()["error"] == "unsupported_token_type"
    assert active(refresh_rp, tokens["access_token"])["active"] is True


def test_plain_http_is_refused_for_every_public_host_however_many_are_seen(refresh_rp, tokens):
    """The transport is judged per origin: serving one origin never lets another through."""
    auth = basic_header(refresh_rp.client_id, refresh_rp.secret)

    def post(base_url):
        return refresh_rp.http.post("/introspect", data={"token": tokens["access_token"]}, headers=auth,
                                    base_url=base_url)

    plain = ["http://idp.example", "http://idp.example:443"] + [f"http://h{n}.example" for n in range(70)]
    for base_url in ["https://idp.example", *plain, "http://localhost", "http://127.0.0.1:5000", "http://idp.example"]:
        if base_url.startswith("https://") or base_url in ("http://localhost", "http://127.0.0.1:5000"):
            response = post(base_url)
            assert response.status_code == 200 and response.get_json()["active"] is True, base_url
        else:  # refused before the token is looked at: a 400, never the token's data
            response = post(base_url)
            assert response.status_code == 400, base_url
            assert response.get_json() == {"error": "invalid_request",
                                           "error_description": "OAuth 2.0 requires https."}
