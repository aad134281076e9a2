"""Python's Authlib client works with Panjereh out of the box, from the discovery document alone.

``OAuth2Session`` with PKCE S256: the authorization URL, the code grant, the ID
token validated as Authlib's own OpenID client does it (joserfc against the
JWKS, then ``CodeIDToken`` for iss, aud, exp, nonce and at_hash), userinfo,
refresh, introspection and revocation; and ``client_credentials`` for an agency
API client.
"""

from __future__ import annotations

import time

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from tests.interop.support import IDENTITY_SCOPE, citizen, query_of, register_client, register_web_app, \
    sign_in_to_callback

LEEWAY = 30


def discover(issuer: str) -> tuple[dict, KeySet]:
    metadata = requests.get(issuer + "/.well-known/openid-configuration", timeout=15).json()
    assert metadata["issuer"] == issuer
    jwks = requests.get(metadata["jwks_uri"], timeout=15).json()
    return metadata, KeySet.import_key_set(jwks)


def validated_id_token(metadata: dict, keys: KeySet, client_id: str, id_token: str, access_token: str,
                       nonce: str | None) -> CodeIDToken:
    """What ``authlib.integrations.base_client.OpenIDMixin.parse_id_token`` does, with the issuer pinned."""
    token = jwt.decode(id_token, keys,
                       registry=JWSRegistry(algorithms=metadata["id_token_signing_alg_values_supported"]))
    claims = CodeIDToken(token.claims, token.header,
                         {"iss": {"essential": True, "value": metadata["issuer"]},
                          "aud": {"essential": True, "value": client_id}},
                         {"client_id": client_id, "nonce": nonce, "access_token": access_token})
    claims.validate(leeway=LEEWAY)  # iss, sub, aud, exp, iat, nonce, azp, at_hash
    return claims


def validated_access_token(metadata: dict, keys: KeySet, access_token: str) -> dict:
    """An agency API validating an RFC 9068 access token locally."""
    token = jwt.decode(access_token, keys, registry=JWSRegistry(algorithms=["ES256"]))
    assert token.header["typ"] == "at+jwt" and token.header.get("kid"), token.header
    jwt.JWTClaimsRegistry(leeway=LEEWAY, iss={"essential": True, "value": metadata["issuer"]},
                          exp={"essential": True}, aud={"essential": True}).validate(token.claims)
    return token.claims


def test_authlib_code_flow_refresh_introspect_revoke(stack):
    metadata, keys = discover(stack.issuer)
    assert "S256" in metadata["code_challenge_methods_supported"]
    client = register_web_app(stack, "Authlib interop")
    browser = citizen(stack, "authlib")
    person = browser.person

    rp = OAuth2Session(client["client_id"], client["client_secret"], scope=IDENTITY_SCOPE,
                       redirect_uri=client["redirect_uri"], code_challenge_method="S256")
    with rp, browser:
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = rp.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=nonce, ui_locales="en")
        sent = query_of(url)
        assert sent["code_challenge_method"] == "S256" and sent["code_challenge"] and sent["state"] == state

        callback = sign_in_to_callback(browser, url, client["redirect_uri"])
        assert query_of(callback)["iss"] == metadata["issuer"], "RFC 9207: the response names the issuer"

        token = rp.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state,
                               code_verifier=verifier)
        assert token["token_type"].lower() == "bearer" and token["refresh_token"] and token["id_token"]
        claims = validated_id_token(metadata, keys, client["client_id"], token["id_token"],
                                    token["access_token"], nonce)
        assert claims["sub"] != person["national_id"]
        assert claims["acr"] in metadata["acr_values_supported"] and "sms" in claims["amr"]
        access = validated_access_token(metadata, keys, token["access_token"])
        assert client["client_id"] in ([access["aud"]] if isinstance(access["aud"], str) else access["aud"])
        assert set(IDENTITY_SCOPE.split()) <= set(access["scope"].split())

        # userinfo with the session's bearer token
        userinfo = rp.get(metadata["userinfo_endpoint"], timeout=15)
        assert userinfo.status_code == 200, userinfo.text
        userinfo = userinfo.json()
        assert userinfo["sub"] == claims["sub"]
        assert userinfo["national_id"] == person["national_id"]
        assert userinfo["given_name"] == person["first_name"] and userinfo["family_name"] == person["last_name"]

        # introspection (RFC 7662) of the service's own token
        seen = rp.introspect_token(metadata["introspection_endpoint"], token=token["access_token"],
                                   token_type_hint="access_token")
        assert seen.status_code == 200, seen.text
        seen = seen.json()
        assert seen["active"] is True and seen["client_id"] == client["client_id"], seen
        assert seen["sub"] == claims["sub"] and set(seen["scope"].split()) == set(IDENTITY_SCOPE.split()), seen

        # refresh: new tokens, the same citizen and authentication (OIDC Core 12.2)
        first = dict(token)
        refreshed = rp.refresh_token(metadata["token_endpoint"], refresh_token=first["refresh_token"])
        assert refreshed["access_token"] != first["access_token"]
        assert refreshed.get("id_token") and refreshed["id_token"] != first["id_token"]
        again = validated_id_token(metadata, keys, client["client_id"], refreshed["id_token"],
                                   refreshed["access_token"], None)
        for name in ("iss", "sub", "aud", "auth_time", "acr", "amr"):
            assert again[name] == claims[name], name
        assert rp.get(metadata["userinfo_endpoint"], timeout=15).json()["sub"] == claims["sub"]
        with pytest.raises(OAuthError) as reused:
            rp.refresh_token(metadata["token_endpoint"], refresh_token=first["refresh_token"])
        assert reused.value.error == "invalid_grant", "a refresh token works once"


def test_authlib_revocation(stack):
    """Revoking the access token, then the refresh token, with ``OAuth2Session.revoke_token``."""
    metadata, keys = discover(stack.issuer)
    client = register_web_app(stack, "Authlib interop (revocation)")
    browser = citizen(stack, "authlib_revoke")
    rp = OAuth2Session(client["client_id"], client["client_secret"], scope=IDENTITY_SCOPE,
                       redirect_uri=client["redirect_uri"], code_challenge_method="S256")
    with rp, browser:
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = rp.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=nonce)
        callback = sign_in_to_callback(browser, url, client["redirect_uri"])
        token = rp.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state,
                               code_verifier=verifier)
        validated_id_token(metadata, keys, client["client_id"], token["id_token"], token["access_token"], nonce)

        done = rp.revoke_token(metadata["revocation_endpoint"], token=token["access_token"],
                               token_type_hint="access_token")
        assert done.status_code == 200, done.text
        seen = rp.introspect_token(metadata["introspection_endpoint"], token=token["access_token"]).json()
        assert seen == {"active": False}, seen
        assert rp.get(metadata["userinfo_endpoint"], timeout=15).status_code == 401

        done = rp.revoke_token(metadata["revocation_endpoint"], token=token["refresh_token"],
                               token_type_hint="refresh_token")
        assert done.status_code == 200, done.text
        assert rp.introspect_token(metadata["introspection_endpoint"],
                                   token=token["refresh_token"]).json() == {"active": False}
        with pytest.raises(OAuthError) as refused:
            rp.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
        assert refused.value.error == "invalid_grant"


def test_authlib_client_credentials(stack):
    """An agency API client: ``client_credentials`` for an API scope, no redirect URI, no citizen."""
    metadata, keys = discover(stack.issuer)
    assert "client_credentials" in metadata["grant_types_supported"]
    client = register_client(stack, "Authlib interop (API)", "--agency", "interop",
                             "--grant-type", "client_credentials", "--scope", "tax:read")
    assert client.get("client_secret")
    with OAuth2Session(client["client_id"], client["client_secret"], scope="tax:read") as api:
        token = api.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"].lower() == "bearer" and token["access_token"]
        assert "refresh_token" not in token and "id_token" not in token
        assert token["expires_in"] > 0 and token["expires_at"] > time.time()
        access = validated_access_token(metadata, keys, token["access_token"])
        assert access["scope"].split() == ["tax:read"]
        assert access["client_id"] == client["client_id"]
        assert client["client_id"] in ([access["aud"]] if isinstance(access["aud"], str) else access["aud"])

        seen = api.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
        assert seen.status_code == 200, seen.text
        seen = seen.json()
        assert seen["active"] is True and seen["client_id"] == client["client_id"] and seen["scope"] == "tax:read"

        assert api.revoke_token(metadata["revocation_endpoint"], token=token["access_token"]).status_code == 200
        assert api.introspect_token(metadata["introspection_endpoint"],
                                    token=token["access_token"]).json() == {"active": False}
