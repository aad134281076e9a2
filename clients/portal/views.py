"""Routes of the demo portal: home, login, callback, logout, healthz."""

from __future__ import annotations

import hmac
import json
import re
import secrets
from typing import Any

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from flask import (
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc.errors import JoseError
from werkzeug.exceptions import HTTPException

from .i18n import (
    DEFAULT_LANGUAGE,
    DIRECTION,
    LANGUAGE_NAMES,
    LANGUAGES,
    current_language,
    translate,
)

#: Claim carrying the citizen's national ID (released with the national_id scope).
NATIONAL_ID_CLAIM = "national_id"

#: ID-token claims about the token itself; userinfo may not override them.
PROTOCOL_CLAIMS = frozenset(
    {"iss", "aud", "exp", "iat", "nbf", "jti", "nonce", "at_hash", "c_hash",
     "azp", "auth_time", "acr", "amr", "sid", "sub"}
)

#: Error code -> message key for the friendly error page.
ERROR_MESSAGES = {
    "access_denied": "err_access_denied",
    "login_required": "err_login_required",
    "interaction_required": "err_login_required",
    "consent_required": "err_login_required",
    "temporarily_unavailable": "err_provider_unavailable",
    "provider_unavailable": "err_provider_unavailable",
    "mismatching_state": "err_state",
    "invalid_grant": "err_state",
    "issuer_mismatch": "err_issuer_mismatch",
    "missing_iss": "err_issuer_mismatch",
    "invalid_id_token": "err_provider_error",
    "userinfo_sub_mismatch": "err_provider_error",
    "provider_error": "err_provider_error",
    "discovery_issuer_mismatch": "err_provider_error",
    "csrf_failed": "err_logout_csrf",
}

_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class ProviderUnavailable(Exception):
    """The provider could not be reached (connection refused, timeout)."""


class ProviderError(Exception):
    """The provider answered, but with something this portal cannot accept."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _safe_code(code: str | None) -> str:
    # The error code comes from the query string: show it only if it looks
    # like an OAuth error code, never arbitrary attacker-chosen text.
    return code if code and _SAFE_CODE.match(code) else "invalid_response"


def error_page(code: str, status: int, *, retry: bool = True, title_key: str = "error_title"):
    code = _safe_code(code)
    message_key = ERROR_MESSAGES.get(code, "err_generic")
    return (
        render_template(
            "error.html",
            code=code,
            message=translate(message_key),
            title=translate(title_key),
            retry=retry,
        ),
        status,
    )


def display_name(claims: dict[str, Any]) -> str:
    name = claims.get("name")
    if not name:
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if p)
    return str(name or claims.get("preferred_username") or claims.get("sub", ""))


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def init_app(app: Flask, panjereh) -> None:  # noqa: C901 - one place for all routes
    """Register the portal's routes; ``panjereh`` is the Authlib client."""

    def provider_metadata() -> dict[str, Any]:
        """Discovery document, fetched lazily and checked (OIDC Discovery §4.3)."""
        try:
            metadata = panjereh.load_server_metadata()
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ProviderUnavailable(str(exc)) from exc
        except requests.RequestException as exc:  # HTTP error, not JSON, ...
            raise ProviderError("provider_error") from exc
        expected = current_app.config["PORTAL_ISSUER"]
        if str(metadata.get("issuer", "")).rstrip("/") != expected:
            # Forget it so that a fixed provider is picked up without a restart.
            metadata.pop("_loaded_at", None)
            current_app.logger.error(
                "Discovery issuer %r does not match PORTAL_ISSUER %r",
                metadata.get("issuer"), expected,
            )
            raise ProviderError("discovery_issuer_mismatch")
        return metadata

    # ------------------------------------------------------------------ hooks

    @app.before_request
    def choose_language():
        lang = request.args.get("lang")
        if lang in LANGUAGES:
            if session.get("lang") != lang:
                session["lang"] = lang
        else:
            lang = session.get("lang")
            if lang not in LANGUAGES:
                lang = DEFAULT_LANGUAGE
        g.lang = lang

    @app.context_processor
    def template_globals():
        lang = current_language()
        other = "en" if lang == "fa" else "fa"
        conf = current_app.config
        return {
            "t": translate,
            "lang": lang,
            "dir": DIRECTION[lang],
            "other_lang": other,
            "other_lang_name": LANGUAGE_NAMES[other],
            "other_dir": DIRECTION[other],
            "switch_url": url_for("home", lang=other),
            "portal_name": conf["PORTAL_NAME_FA"] if lang == "fa" else conf["PORTAL_NAME_EN"],
        }

    @app.after_request
    def security_headers(response):
        h = response.headers
        h.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        )
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        # The callback URL carries the authorization code: never leak it.
        h.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            h.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(ProviderUnavailable)
    def provider_unavailable(exc):
        current_app.logger.warning("Provider unreachable: %s", exc)
        return error_page("provider_unavailable", 503)

    @app.errorhandler(ProviderError)
    def provider_error(exc):
        current_app.logger.warning("Provider response rejected: %s", exc.code)
        return error_page(exc.code, 502)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        key = "err_not_found" if exc.code == 404 else "err_bad_request"
        if exc.code and exc.code >= 500:
            key = "err_generic"
        html = render_template(
            "error.html",
            code=str(exc.code),
            message=translate(key),
            title=translate("error_title_generic"),
            retry=False,
        )
        return html, exc.code or 500

    # ----------------------------------------------------------------- routes

    @app.get("/")
    def home():
        if "state" in request.args:
            # Back from the provider's end_session_endpoint (RP-initiated
            # logout): consume the state Authlib stored for it.
            try:
                panjereh.validate_logout_response()
            except OAuthError:
                pass
        notice = session.pop("notice", None)
        user = session.get("user")
        context: dict[str, Any] = {"user": None, "notice": translate(notice) if notice else None}
        if user:
            if "csrf" not in session:
                session["csrf"] = secrets.token_urlsafe(32)
            context.update(
                user=user,
                name=display_name(user),
                national_id=user.get(NATIONAL_ID_CLAIM),
                claims=[(k, _format_value(v)) for k, v in sorted(user.items())],
                csrf_token=session["csrf"],
            )
        return render_template("home.html", **context)

    @app.get("/login")
    def login():
        provider_metadata()  # 503 page if the provider is down, before redirecting
        try:
            # Authlib adds state, nonce (openid scope) and the PKCE S256
            # code_challenge, and keeps state/nonce/code_verifier in the session.
            return panjereh.authorize_redirect(
                redirect_uri=url_for("callback", _external=True),
                ui_locales=current_language(),
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ProviderUnavailable(str(exc)) from exc

    @app.get("/callback")
    def callback():
        args = request.args
        state = args.get("state")

        def abandon(code: str, status: int):
            if state:  # drop the pending request's state/nonce/verifier
                panjereh.framework.clear_state_data(session, state)
            return error_page(code, status)

        try:
            metadata = provider_metadata()
        except ProviderUnavailable:
            if "error" in args:  # nothing to act on: still explain the error
                return abandon(args.get("error"), 400)
            raise

        # RFC 9207: the authorization response names its issuer; a mismatch
        # means a mix-up attack (or misrouted response) -> reject.
        iss = args.get("iss")
        if iss is not None:
            if iss != metadata["issuer"]:
                current_app.logger.warning("Authorization response iss mismatch: %r", iss)
                return abandon("issuer_mismatch", 400)
        elif metadata.get("authorization_response_iss_parameter_supported"):
            return abandon("missing_iss", 400)

        if "error" in args:
            # e.g. access_denied when the citizen declines consent.
            return abandon(args.get("error"), 400)
        if not args.get("code"):
            return abandon("invalid_request", 400)

        try:
            # Exchanges the code (with the PKCE code_verifier) and validates the
            # ID token: signature against the JWKS, iss, aud, exp, nonce.
            token = panjereh.authorize_access_token(
                claims_options={
                    "iss": {"essential": True, "value": metadata["issuer"]},
                    "aud": {"essential": True, "value": panjereh.client_id},
                }
            )
        except MismatchingStateError:
            return abandon("mismatching_state", 400)
        except OAuthError as exc:  # error from the token endpoint
            return abandon(exc.error or "provider_error", 400)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ProviderUnavailable(str(exc)) from exc
        except requests.RequestException as exc:
            current_app.logger.warning("Token exchange failed: %s", exc)
            return abandon("provider_error", 502)
        except JoseError as exc:
            current_app.logger.warning("ID token rejected: %r", exc)
            return abandon("invalid_id_token", 502)

        id_claims = token.get("userinfo")  # validated ID-token claims
        if not id_claims:
            return abandon("invalid_id_token", 502)

        try:
            userinfo = panjereh.userinfo(token=token)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ProviderUnavailable(str(exc)) from exc
        except (requests.RequestException, OAuthError) as exc:
            current_app.logger.warning("Userinfo request failed: %s", exc)
            return abandon("provider_error", 502)

        # OIDC Core §5.3.4: userinfo "sub" MUST equal the ID token's "sub".
        if userinfo.get("sub") != id_claims.get("sub"):
            return abandon("userinfo_sub_mismatch", 502)

        claims = dict(id_claims)
        claims.update({k: v for k, v in userinfo.items() if k not in PROTOCOL_CLAIMS})

        # New sign-in: start from a fresh session (keep only the language).
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        session["user"] = claims
        session["id_token"] = token["id_token"]
        return redirect(url_for("home"))

    @app.post("/logout")
    def logout():
        sent = request.form.get("csrf_token", "")
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return error_page("csrf_failed", 400, retry=False, title_key="error_title_generic")

        id_token = session.get("id_token")
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        session["notice"] = "signed_out"

        if id_token:
            try:
                metadata = provider_metadata()
            except (ProviderUnavailable, ProviderError):
                metadata = {}  # still signed out locally
            if metadata.get("end_session_endpoint"):
                # RP-initiated logout: also end the citizen's Panjereh session.
                return panjereh.logout_redirect(
                    post_logout_redirect_uri=url_for("home", _external=True),
                    id_token_hint=id_token,
                    client_id=panjereh.client_id,
                    ui_locales=current_language(),
                )
        return redirect(url_for("home"))

    @app.get("/healthz")
    def healthz():
        return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}

    @app.get("/theme.css")
    def theme_css():
        css = ":root { --theme: %s; }\n" % current_app.config["PORTAL_THEME"]
        return css, 200, {
            "Content-Type": "text/css; charset=utf-8",
            "Cache-Control": "public, max-age=300",
        }
