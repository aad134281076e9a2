"""Several hosts behave as one provider; outages give clean errors and heal by themselves."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from idp.registry_data import generate_citizens
from tests.support import Forms, last_code, pkce_pair, query

CITIZENS = list(generate_citizens(40))
REDIRECT = "https://tax.example/cb"


@pytest.fixture(scope="module")
def client(cluster):
    data = json.loads(cluster.idp("clients", "add", "--name", "Tax", "--redirect-uri", REDIRECT,
                                  "--scope", "openid profile national_id", "--json").splitlines()[-1])
    return data["client_id"], data["client_secret"]


class Browser:
    """A citizen's browser whose requests a load balancer spreads over the instances."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.http = requests.Session()

    def at(self, instance, path, data=None):
        url = instance.url + path
        if data is None:
            return self.http.get(url, allow_redirects=False, timeout=15)
        return self.http.post(url, data=data, allow_redirects=False, timeout=15)

    def submit(self, instance, page, field, values=None, button=None):
        form = Forms(page.text).with_field(field)
        data = dict(form["fields"]) | (values or {})
        if button:
            data[button[0]] = button[1]
        path = form["action"] or urlsplit(page.url).path
        return self.at(instance, path, data)


def authorize_path(client_id, **extra):
    verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid profile",
              "state": "s1", "nonce": "n1", "code_challenge": challenge, "code_challenge_method": "S256"} | extra
    return "/authorize?" + "&".join(f"{k}={requests.utils.quote(v)}" for k, v in params.items()), verifier


def sign_in(cluster, browser, client_id, person, hops):
    """The whole login, each step on the instance ``hops`` names (the authorization request, the
    national ID, the code, the consent; each answer shows the next step's page); returns
    (code, verifier)."""
    path, verifier = authorize_path(client_id)
    identify = browser.at(hops[0], path)
    verify = browser.submit(hops[1], identify, "national_id",
                            {"national_id": person["national_id"], "mobile": person["mobile"]})
    consent = browser.submit(hops[2], verify, "otp", {"otp": last_code(cluster.outbox, person["mobile"])})
    back = browser.submit(hops[3], consent, "decision", button=("decision", "allow"))
    location = back.headers["Location"]
    assert location.startswith(REDIRECT), location
    return query(location)["code"], verifier


def redeem(instance, client, code, verifier):
    auth = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    return requests.post(instance.url + "/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        headers={"Authorization": f"Basic {auth}"}, timeout=15)


def introspect(instance, client, token):
    return requests.post(instance.url + "/introspect", data={"token": token}, auth=client, timeout=15).json()


def test_setup_on_two_hosts_at_once_made_one_schema_and_one_key_pair(cluster):
    keys = sorted(p.name for p in (cluster.workdir / "keys").glob("*.json"))
    assert len(keys) == 2  # one RS256 and one ES256 key, not two of each
    assert all("Database schema is up to date." in out for out in cluster.setup_outputs)


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_the_production_servers_master_holds_only_the_server(cluster):
    """``idp serve --production`` becomes the lean ``python -m idp.serving`` (same process): the master
    that forks and watches the workers does not carry the operator commands and schema tools."""
    master = cluster.b.proc.pid
    command = Path(f"/proc/{master}/cmdline").read_bytes().split(b"\0")
    assert command[1:4] == [b"-P", b"-m", b"idp.serving"], command  # -P: nothing in the working directory stands in
    assert b"--workers" in command and b"2" in command
    assert resident_mb(master) < 60  # the command line's process held about 95 MB


def test_a_login_started_on_one_host_finishes_on_the_other(cluster, client):
    a, b = cluster.a, cluster.b
    code, verifier = sign_in(cluster, Browser(cluster), client[0], CITIZENS[0], [a, b, a, b])
    token = redeem(a, client, code, verifier)
    assert token.status_code == 200, token.text
    assert token.json()["id_token"]


def test_a_code_issued_by_one_host_is_redeemed_at_the_other_once(cluster, client):
    a, b = cluster.a, cluster.b
    code, verifier = sign_in(cluster, Browser(cluster), client[0], CITIZENS[1], [a, a, a, a])
    first = redeem(b, client, code, verifier)
    assert first.status_code == 200, first.text
    again = redeem(a, client, code, verifier)
    assert again.json()["error"] == "invalid_grant"
    # the replay revoked what the first redemption issued, on every host
    assert introspect(b, client, first.json()["access_token"]) == {"active": False}


def test_a_token_revoked_on_one_host_is_inactive_on_the_other_at_once(cluster, client):
    a, b = cluster.a, cluster.b
    code, verifier = sign_in(cluster, Browser(cluster), client[0], CITIZENS[2], [b, b, b, b])
    token = redeem(b, client, code, verifier).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for _ in range(6):  # every worker of both hosts has now read the token's record (and keeps a copy)
        for host in (a, b):
            assert introspect(host, client, token)["active"] is True
            assert requests.get(host.url + "/userinfo", headers=bearer, timeout=15).status_code == 200
    assert requests.post(a.url + "/revoke", data={"token": token}, auth=client, timeout=15).status_code == 200
    for _ in range(6):
        assert introspect(b, client, token) == {"active": False}
        assert requests.get(b.url + "/userinfo", headers=bearer, timeout=15).status_code == 401


def test_single_sign_on_spans_the_hosts(cluster, client):
    a, b = cluster.a, cluster.b
    browser = Browser(cluster)
    sign_in(cluster, browser, client[0], CITIZENS[3], [a, a, a, a])
    path, _verifier = authorize_path(client[0], prompt="none")
    response = browser.at(b, path)
    assert "code=" in response.headers["Location"], response.headers["Location"]


def test_key_rotation_on_one_host_is_picked_up_by_the_others_without_restart(cluster, client):
    a, b = cluster.a, cluster.b
    before = {k["kid"] for k in requests.get(b.url + "/jwks.json", timeout=5).json()["keys"]}
    cluster.idp("keys", "rotate")
    deadline = time.time() + 15
    while time.time() < deadline:
        # caches may hold the old document for a moment; ask past them
        after = {k["kid"] for k in requests.get(b.url + "/jwks.json", headers={"Cache-Control": "no-cache"},
                                                timeout=5).json()["keys"]}
        if len(after - before) == 2:
            break
        time.sleep(0.5)
    assert len(after - before) == 2 and before <= after  # new keys published, old ones kept
    code, verifier = sign_in(cluster, Browser(cluster), client[0], CITIZENS[4], [b, b, b, b])
    id_token = redeem(a, client, code, verifier).json()["id_token"]
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    assert header["kid"] in after - before  # the other host signs with the new key


def test_killing_a_worker_mid_login_loses_nobody_elses_login(cluster, client):
    b = cluster.b
    browsers = [Browser(cluster) for _ in range(3)]
    people = CITIZENS[10:13]
    pages = []
    for browser, person in zip(browsers, people):
        path, verifier = authorize_path(client[0])
        identify = browser.at(b, path)
        verify = browser.submit(b, identify, "national_id",
                                {"national_id": person["national_id"], "mobile": person["mobile"]})
        pages.append((browser, person, verify, verifier))
    victim = b.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)  # the server starts a new worker in its place
    time.sleep(1.0)
    for browser, person, page, verifier in pages:
        consent = browser.submit(b, page, "otp", {"otp": last_code(cluster.outbox, person["mobile"])})
        back = browser.submit(b, consent, "decision", button=("decision", "allow"))
        code = query(back.headers["Location"])["code"]
        assert redeem(b, client, code, verifier).status_code == 200


def test_a_redis_outage_fails_cleanly_and_heals(cluster, client):
    a = cluster.a
    code, verifier = sign_in(cluster, Browser(cluster), client[0], CITIZENS[22], [a, a, a, a])
    token = redeem(a, client, code, verifier).json()["access_token"]
    for _ in range(6):
        assert introspect(a, client, token)["active"] is True
    cluster.redis_relay.cut()
    try:
        ready = requests.get(a.url + "/readyz", timeout=15)
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "fail"
        # a token a worker had read before the outage is not answered from its copy: it could be revoked
        for _ in range(4):
            seen = requests.post(a.url + "/introspect", data={"token": token}, auth=client, timeout=15)
            assert seen.status_code == 503 and seen.json()["error"] == "temporarily_unavailable"
        path, _verifier = authorize_path(client[0])
        response = Browser(cluster).at(a, path)
        assert response.status_code == 503
        assert 'lang="fa"' in response.text  # a page in the citizen's language, not a traceback
    finally:
        cluster.redis_relay.restore()
    deadline = time.time() + 20
    while requests.get(a.url + "/readyz", timeout=15).status_code != 200 and time.time() < deadline:
        time.sleep(0.5)
    assert requests.get(a.url + "/readyz", timeout=15).status_code == 200
    code, verifier = sign_in(cluster, Browser(cluster), client[0], CITIZENS[20], [a, a, a, a])
    assert redeem(a, client, code, verifier).status_code == 200


def test_a_database_outage_fails_cleanly_and_heals(cluster, client):
    a = cluster.a
    cluster.pg_relay.cut()
    try:
        ready = requests.get(a.url + "/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "fail"
        response = requests.post(a.url + "/token", data={"grant_type": "authorization_code", "code": "x" * 40,
                                                          "redirect_uri": REDIRECT}, auth=client, timeout=30)
        assert response.status_code == 503
        assert response.json()["error"] == "temporarily_unavailable"
    finally:
        cluster.pg_relay.restore()
    deadline = time.time() + 30
    while requests.get(a.url + "/readyz", timeout=30).status_code != 200 and time.time() < deadline:
        time.sleep(0.5)
    assert requests.get(a.url + "/readyz", timeout=30).status_code == 200
    code, verifier = sign_in(cluster, Browser(cluster), client[0], CITIZENS[21], [a, a, a, a])
    assert redeem(a, client, code, verifier).status_code == 200
