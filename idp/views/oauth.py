"""Protocol endpoints: discovery, JWKS, authorization, token, userinfo.

The authorization endpoint reads as four steps: validate the request, decide
whether the citizen must interact, respond, and one error writer.
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, current_app, redirect, request, session, url_for
from flask_babel import gettext as _

from ..audit import Event, record
from ..db import db
from ..interaction.flow import Interaction
from ..interaction.policy import Context, decide
from ..models import Consent
from ..oauth import OAuth2Error
from ..oauth.claims import EndUser
from ..oauth.discovery import provider_metadata
from ..services import services
from . import origin
from .errors import render_error

bp = Blueprint("oauth", __name__)
LOCALES = ("fa", "en")


def _cached_json(payload: dict, max_age: int) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    response = Response(body, mimetype="application/json")
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
    return response.make_conditional(request)


@bp.get("/.well-known/openid-configuration")
def discovery():
    return _cached_json(provider_metadata(services().settings.issuer), 3600)


@bp.get("/jwks.json")
def jwks():
    return _cached_json(services().keys.jwks(), 300)


@bp.post("/token")
def token():
    return services().server.create_token_response()


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    response = services().server.create_endpoint_response("userinfo")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    params = {key: request.values.getlist(key) for key in request.values.keys()}
    params.pop("csrf_token", None)
    ui = (params.get("ui_locales") or [""])[0].split()
    chosen = next((lang for lang in ui if lang in LOCALES), None)
    if chosen:
        session["lang"] = chosen
    return authorize_flow(params, None)


def current_end_user() -> EndUser | None:
    login = services().sessions.current(session.get("sid"))
    if login is None:
        return None
    return EndUser(login.account, login.sid, int(login.auth_time.timestamp()), login.acr, tuple(login.amr))


def has_consent(user: EndUser | None, client, scope: str) -> bool:
    if user is None:
        return False
    consent = db.session.execute(
        db.select(Consent).filter_by(account_id=user.account.id, client_id=client.client_id)
    ).scalar_one_or_none()
    return consent is not None and consent.covers(set(scope.split()))


def authorize_flow(params: dict, interaction: Interaction | None):
    """Validate, decide, respond. Called at /authorize and when an interaction resumes."""
    server = services().server
    user = current_end_user()
    # 1. validate: client, redirect URI, response type, scope, PKCE
    try:
        grant = server.get_consent_grant(params, end_user=user)
    except OAuth2Error as error:
        return authorization_error(error)
    client = grant.request.client
    # 2. decide whether the citizen must interact
    flat = {k: v[0] for k, v in params.items() if v}
    ctx = Context(flat, user, interaction, has_consent(user, client, grant.request.scope))
    decision = decide(ctx)
    if not decision.proceed:
        if "none" in ctx.prompts:
            return authorization_error(OAuth2Error(error=decision.prompt.error, redirect_uri=grant.redirect_uri,
                                                   state=flat.get("state")))
        return start_interaction(params, client, decision, interaction)
    # 3. respond: issue the code
    if interaction is not None:
        services().interactions.finish(interaction)
    response = server.create_authorization_response(params, grant_user=user, grant=grant)
    if response.status_code == 302:
        record(Event.CODE_ISSUED, origin=origin(), account_id=user.account.id, client_id=client.client_id)
    return response


def deny_flow(interaction: Interaction):
    """The citizen declined or cancelled: ``access_denied`` to the verified redirect URI."""
    services().interactions.finish(interaction)
    server = services().server
    try:
        grant = server.get_consent_grant(interaction.params, end_user=current_end_user())
    except OAuth2Error as error:
        return authorization_error(error)
    return server.create_authorization_response(interaction.params, grant_user=None, grant=grant)


def start_interaction(params, client, decision, interaction):
    interactions = services().interactions
    if interaction is None:
        interaction = interactions.start(params, client.client_id, decision.reasons)
        started = session.setdefault("interactions", [])
        session["interactions"] = (started + [interaction.id])[-10:]
        record(Event.LOGIN_STARTED, origin=origin(), client_id=client.client_id, reasons=list(decision.reasons))
    else:
        interaction.reasons = list(decision.reasons)
    target = "consent" if decision.prompt.name == "consent" else "identify"
    if interaction.state != target:
        interaction.move(target)
    interactions.save(interaction)
    return redirect(url_for(f"interaction.{target}", iid=interaction.id))


def authorization_error(error: OAuth2Error):
    """4. The one error writer: redirect only to a verified redirect URI, else render."""
    if error.redirect_uri:
        return redirect(services().server.error_location(error), code=302)
    current_app.logger.info("authorization request rejected: %s %s", error.error, error.description)
    return render_error(_("This sign-in request cannot be processed"),
                        _("The service that sent you here made an invalid request. "
                          "Go back to the service and try again, or contact its support."),
                        400, code=error.error)


def init_app(app):
    app.register_blueprint(bp)
    from ..app import csrf

    for view in (token, userinfo, authorize):
        csrf.exempt(view)
