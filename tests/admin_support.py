"""Helpers for the agency-registry suites: administrators, their tokens, and the admin API over HTTP."""

from __future__ import annotations

from idp.admin.accounts import grant_admin
from idp.admin.actors import CLI_OPERATOR
from idp.registration import ClientRequest, register
from tests.support import basic_header, query, sign_in_tokens

CONSOLE_REDIRECT = "https://console.example/cb"


def api_client(app, name: str, scope: str = "admin") -> tuple[str, str]:
    """An API client (client_credentials) registered by the operator with ``scope``: client_id, secret."""
    with app.app_context():
        client, secret = register(ClientRequest(name=name, grant_types=["client_credentials"], scope=scope,
                                                agency="registry-operations"))
        return client.client_id, secret


def client_credentials_token(http, client_id: str, secret: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = http.post("/token", data=data, headers=basic_header(client_id, secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def admin_token(app, http, name: str = "Registry console A") -> str:
    """A bearer token of a fresh admin API client (each name is a different administrator)."""
    client_id, secret = api_client(app, name)
    return client_credentials_token(http, client_id, secret)


def make_admin(app, national_id: str) -> None:
    with app.app_context():
        grant_admin(CLI_OPERATOR, national_id)


def console_client(app) -> tuple[str, str]:
    """The console: a relying party entitled to ``openid admin`` (citizen administrators sign in through it)."""
    with app.app_context():
        client, secret = register(ClientRequest(name="Registry console", redirect_uris=[CONSOLE_REDIRECT],
                                                scope="openid admin", agency="registry-operations"))
        return client.client_id, secret


def citizen_token(browser, rp, citizen, scope: str = "openid admin") -> str:
    """A citizen signs in at ``rp`` (asking for ``scope``); returns the access token."""
    rp.scope = scope
    return sign_in_tokens(browser, rp, citizen)["access_token"]


def loa3_citizen_token(browser, rp, citizen, scope: str = "openid admin") -> str:
    """As citizen_token, at the highest level: the citizen adds an authenticator app and steps up."""
    import json

    from tests.support import enrol_authenticator, next_totp, query, walk

    citizen_token(browser, rp, citizen, scope)
    secret, _codes = enrol_authenticator(browser)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:panjereh:loa:3"]}}})
    response, _seen = walk(browser, browser.get(rp.authorize_url(claims=claims)), citizen=citizen,
                           factor=next_totp(secret))
    return rp.redeem(query(response.headers["Location"])["code"]).get_json()["access_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class AdminAPI:
    """The admin API as one administrator calls it."""

    PREFIX = "/admin/api"

    def __init__(self, http, token: str):
        self.http = http
        self.token = token

    def call(self, method: str, path: str, json=None, **kw):
        headers = {**bearer(self.token), **kw.pop("headers", {})}
        return self.http.open(self.PREFIX + path, method=method, json=json, headers=headers, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.call("PATCH", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.call("PUT", path, json=json, **kw)

    def ok(self, method: str, path: str, json=None, status: int = 200):
        response = self.call(method, path, json=json)
        assert response.status_code == status, (method, path, response.status_code, response.get_data(as_text=True))
        return response.get_json()

    # --- the registry's common steps ---

    def create_agency(self, slug="tax", name_en="Tax Administration", name_fa="سازمان امور مالیاتی", **extra):
        return self.ok("POST", "/agencies", {"slug": slug, "name_en": name_en, "name_fa": name_fa, **extra}, 201)

    def create_service(self, agency="tax", **fields):
        body = {"agency": agency, "client_name": "E-Tax", "redirect_uris": ["https://tax.example/cb"],
                "scope": "openid profile", **fields}
        return self.ok("POST", "/services", body, 201)

    def issue_initial_token(self, agency="tax", **options) -> str:
        return self.ok("POST", f"/agencies/{agency}/initial-access-tokens", options, 201)["initial_access_token"]


def active_service(first: AdminAPI, second: AdminAPI, **fields) -> dict:
    """Create a service as ``first`` and have ``second`` approve its activation; returns the creation's body."""
    created = first.create_service(**fields)
    second.ok("POST", f"/proposals/{created['proposal']['id']}/approve")
    return created


def code_flow_params(browser, rp, citizen) -> dict:
    from tests.support import authorize

    return query(authorize(browser, rp, citizen).headers["Location"])
