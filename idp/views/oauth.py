"""Protocol endpoints: discovery, JWKS, authorization, token, userinfo.

The authorization endpoint reads as four steps: validate the request, decide
whether the citizen must interact, respond, and one error writer.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request, session
from flask_babel import gettext as _

from ..audit import Event, record
from ..forms import DecisionForm
from ..interaction.flow import Interaction
from ..interaction.policy import Context, decide
from ..oauth import InvalidRequestError, OAuth2Error, consents
from ..auth import totp
from ..auth.citizens import created_in_request
from ..interaction.levels import LOA2, achievable, rank, requested_acr
from ..oauth.claims import EndUser, subject_for
from ..oauth.discovery import provider_metadata
from ..oauth.requests import PAR_TTL, parse_claims_request, resolve_request, unpack_request_object
from ..oauth.tokens import verify_id_token_hint
from ..services import services
from . import origin, steps
from .errors import render_error

bp = Blueprint("oauth", __name__)
LOCALES = ("fa", "en")
UNUSABLE_HINT = "-"  # an invalid id_token_hint matches no citizen


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


@bp.post("/revoke")
def revoke():
    return services().server.create_endpoint_response("revocation")


@bp.post("/introspect")
def introspect():
    return services().server.create_endpoint_response("introspection")


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    response = services().server.create_endpoint_response("userinfo")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    params = {key: request.values.getlist(key) for key in request.values.keys()}
    try:
        params = resolve_request(services().server, params)
    except OAuth2Error as error:
        return authorization_error(error, params)
    ui = (params.get("ui_locales") or [""])[0].split()
    chosen = next((lang for lang in ui if lang in LOCALES), None)
    if chosen:
        session["lang"] = chosen
    return authorize_flow(params, None)


@bp.post("/par")
def pushed_authorization_request():
    """RFC 9126: an authenticated client pushes its request and gets a one-minute request_uri."""
    server = services().server
    try:
        client = server.authenticate_endpoint_client("par")
        params = {key: request.form.getlist(key) for key in request.form.keys()
                  if key not in ("client_assertion", "client_assertion_type", "client_secret")}
        if "request_uri" in params:
            raise InvalidRequestError("'request_uri' cannot be pushed.")
        if "request" in params:
            params = unpack_request_object(server, params)
        if (params.get("client_id") or [None])[0] != client.client_id:
            raise InvalidRequestError("'client_id' does not match the authenticated client.")
        server.get_consent_grant(params, end_user=None)  # validate now, as /authorize would
    except OAuth2Error as error:
        error.redirect_uri = None  # the client is answered directly, never redirected
        return server.handle_error_response(None, error)  # RFC 6749 section 5.2, as at the token endpoint
    request_uri = server.pushed.push(client.client_id, params)
    return server.handle_response(201, {"request_uri": request_uri, "expires_in": PAR_TTL},
                                  [("Content-Type", "application/json"), ("Cache-Control", "no-store")])


def current_end_user() -> EndUser | None:
    login = services().sessions.current(session.get("sid"))
    if login is None:
        return None
    return EndUser(login.account, login.sid, int(login.auth_time.timestamp()), login.acr, tuple(login.amr))


def has_consent(user: EndUser | None, client, scope: str) -> bool:
    if user is None or created_in_request(user.account.id):  # a first sign-in: nothing to read
        return False
    return consents.covers(user.account.id, client.client_id, scope)


def authorize_flow(params: dict, interaction: Interaction | None, grant=None, consented: bool = False):
    """Validate, decide, respond. Called at /authorize and when an interaction resumes.

    The consent page's answer passes ``grant``, the request as this very request has already
    validated it for the citizen now signed in (not validated twice), and ``consented``: that
    citizen's consent to its scope has just been written in this request's transaction (not
    read back)."""
    server = services().server
    user = current_end_user()
    # 1. validate: client, redirect URI, response type, scope, PKCE
    if grant is None:
        try:
            grant = server.get_consent_grant(params, end_user=user)
        except OAuth2Error as error:
            return authorization_error(error, params)
    client = grant.request.client
    flat = {k: v[0] for k, v in params.items() if v}
    acr, essential = requested_acr(flat, parse_claims_request(flat.get("claims")), client.default_acr_values)
    if essential and not achievable(acr):
        return authorization_error(OAuth2Error(error="unmet_authentication_requirements",
                                               description="The requested level of assurance cannot be met.",
                                               redirect_uri=grant.redirect_uri, state=flat.get("state")), params)
    # 2. decide whether the citizen must interact
    ctx = Context(flat, user, interaction, consented or has_consent(user, client, grant.request.scope),
                  required_acr=acr if essential else None, hint_subject=hint_subject(flat, client),
                  user_subject=subject_for(user.account, client) if user else None)
    decision = decide(ctx)
    if not decision.proceed:
        if "none" in ctx.prompts:
            return authorization_error(OAuth2Error(error=decision.prompt.error, redirect_uri=grant.redirect_uri,
                                                   state=flat.get("state")), params)
        return start_interaction(params, client, decision, interaction, grant.request.scope)
    # 3. respond: issue the code
    if interaction is not None:
        services().interactions.finish(interaction)
    response = server.create_authorization_response(params, grant_user=user, grant=grant)  # the code's event with it
    return in_response_mode(response, flat)


def hint_subject(flat: dict, client) -> str | None:
    if not flat.get("id_token_hint"):
        return None
    settings = services().settings
    claims = verify_id_token_hint(flat["id_token_hint"], services().keys, settings.issuer, client.client_id)
    return claims["sub"] if claims else UNUSABLE_HINT


def in_response_mode(response, flat: dict):
    """``response_mode=form_post``: the parameters are posted to the client by the browser."""
    if flat.get("response_mode") != "form_post" or response.status_code != 302:
        return response
    location = urlsplit(response.headers["Location"])
    target = flat["redirect_uri"]  # the registered URI, its own query included
    own = len(parse_qsl(urlsplit(target).query, keep_blank_values=True))
    fields = parse_qsl(location.query, keep_blank_values=True)[own:]  # only what the response added
    page = render_template("form_post.html", action=target, fields=fields)
    return Response(page, 200, {"Cache-Control": "no-store", "Content-Security-Policy":
                                "default-src 'none'; script-src 'self'; style-src 'self'; form-action " +
                                f"{location.scheme}://{location.netloc}; frame-ancestors 'none'"})


def deny_flow(interaction: Interaction):
    """The citizen declined or cancelled: ``access_denied`` to the verified redirect URI."""
    services().interactions.finish(interaction)
    server = services().server
    try:
        grant = server.get_consent_grant(interaction.params, end_user=current_end_user())
    except OAuth2Error as error:
        return authorization_error(error, interaction.params)
    response = server.create_authorization_response(interaction.params, grant_user=None, grant=grant)
    return in_response_mode(response, {k: v[0] for k, v in interaction.params.items() if v})


def start_interaction(params, client, decision, interaction, scope: str):
    """Move the citizen's interaction to the step the decision asks for, and show that step's page."""
    interactions = services().interactions
    new = interaction is None
    if new:
        interaction = interactions.new(params, client.client_id, decision.reasons)  # saved below, once
    else:
        interaction.reasons = list(decision.reasons)
    target = "consent" if decision.prompt.name == "consent" else "identify"
    if decision.reasons == ("acr",):
        # signed in, but below the level the service needs: ask only for what is missing
        user = current_end_user()
        if rank(user.acr) >= rank(LOA2) and totp.active_authenticator(user.account) is not None:
            target = "factor"
        elif interaction.logged_in_at is not None or rank(user.acr) >= rank(LOA2):
            # a fresh sign-in did not reach it, or no second factor is enrolled: it cannot be met
            interactions.finish(interaction)
            return unmet_requirements(interaction.params)
    if interaction.state != target:
        interaction.move(target)
    interactions.save(interaction)  # first: in a store outage nothing else changes (a clean 503)
    if new:  # the browser that started it is the one that may continue it
        started = session.setdefault("interactions", [])
        session["interactions"] = (started + [interaction.id])[-10:]
        record(Event.LOGIN_STARTED, origin=origin(), client_id=client.client_id, reasons=list(decision.reasons))
    if new and "request_uri" in request.values:
        # a pushed request (PAR) is used once: the page is shown at its step's address, where a
        # reload or the back button finds it, not at /authorize, where they would spend it again
        return redirect(steps.step_url(interaction, target), 303)
    if target == "consent":
        return steps.consent_page(interaction, client, scope)
    if target == "factor":
        return steps.factor_page(interaction, client)
    return steps.identify_page(interaction, client)


def unmet_requirements(params):
    server = services().server
    try:
        grant = server.get_consent_grant(params, end_user=current_end_user())
    except OAuth2Error as error:
        return authorization_error(error, params)
    flat = {k: v[0] for k, v in params.items() if v}
    return authorization_error(OAuth2Error(error="unmet_authentication_requirements",
                                           description="The requested level of assurance cannot be met.",
                                           redirect_uri=grant.redirect_uri, state=flat.get("state")), params)


def authorization_error(error: OAuth2Error, params: dict | None = None):
    """4. The one error writer: redirect only to a verified redirect URI, else render."""
    if error.redirect_uri:
        response = redirect(services().server.error_location(error), code=302)
        return in_response_mode(response, {k: v[0] for k, v in (params or {}).items() if v})
    current_app.logger.info("authorization request rejected: %s %s", error.error, error.description)
    return render_error(_("This sign-in request cannot be processed"),
                        _("The service that sent you here made an invalid request. "
                          "Go back to the service and try again, or contact its support."),
                        400, code=error.error)




logout_bp = Blueprint("logout", __name__)


@logout_bp.route("/logout", methods=["GET", "POST"])
def end_session():
    """RP-initiated logout: with a valid id_token_hint for this session at once,
    otherwise after the citizen confirms (buttons ``decision=logout|cancel``)."""
    server = services().server
    try:
        req = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return render_error(_("This sign-out request cannot be processed"),
                            _("The service that sent you here made an invalid request."), 400, code=error.error)
    login = services().sessions.current(session.get("sid"))
    hint_matches = req.id_token_claims is not None and (login is None or req.id_token_claims.get("sid") == login.sid)
    form = DecisionForm.with_choices("logout", "cancel")
    if not hint_matches:
        if request.method == "GET" or not form.validate_on_submit():
            return render_template("logout/confirm.html", form=form, client=req.client,
                                   params=_logout_params(request.values))
        if form.decision.data == "cancel":
            return render_template("logout/cancelled.html", client=req.client)
    if login is not None:
        services().sessions.end(login)
        record(Event.SESSION_ENDED, origin=origin(), account_id=login.account_id,
               client_id=req.client.client_id if req.client else None, via="rp-logout")
    session.clear()
    return server.create_endpoint_response("end_session", req) or render_template("logout/done.html")


def _logout_params(values) -> dict:
    keep = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales", "logout_hint")
    return {k: values[k] for k in keep if values.get(k)}


def init_app(app):
    app.register_blueprint(bp)
    app.register_blueprint(logout_bp)
    from ..app import csrf

    for view in (token, userinfo, authorize, revoke, introspect, pushed_authorization_request):
        csrf.exempt(view)
    # RP-initiated logout may arrive as a POST from the service; our confirmation form carries its own token
    csrf.exempt(end_session)
