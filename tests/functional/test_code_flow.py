"""The authorization code flow with PKCE, the way a relying party sees it."""

from tests.support import page_step, query


def test_full_flow(app, rp, browser, citizen):
    response = browser.get(rp.authorize_url())
    assert response.status_code == 200 and page_step(response) == "identify"  # the sign-in page at once
    response = browser.login(response, citizen["national_id"], citizen["mobile"])
    response = browser.consent(response)
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert params["state"] == rp.state
    token = rp.redeem(params["code"])
    assert token.status_code == 200, token.get_data(as_text=True)
    body = token.get_json()
    assert body["token_type"].lower() == "bearer"
    assert "id_token" in body
    info = rp.http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.get_data(as_text=True)
    assert info.get_json()["national_id"] == citizen["national_id"]
