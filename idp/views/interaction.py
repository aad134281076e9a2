"""The citizen's steps: identify (national ID + mobile), verify (SMS code), consent."""

from __future__ import annotations

import time
from functools import wraps

from flask import Blueprint, abort, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.exc import IntegrityError

from ..audit import Event, record
from ..auth.citizens import account_for, identify
from ..auth.limits import Limited
from ..auth.otp import Outcome
from ..db import db
from ..auth import totp
from ..forms import DecisionForm, FactorForm, IdentifyForm, OtpForm, ResendForm
from ..interaction.flow import CONSENT, FACTOR, IDENTIFY, VERIFY, InteractionError, Interactions
from ..interaction.levels import AMR_MFA, AMR_SMS, LOA1, LOA2, LOA3, rank
from ..oauth import consents
from ..services import services
from ..web_session import rotate, take_read_ahead
from . import local_digits, origin, steps
from .errors import render_error
from ..oauth import OAuth2Error
from .oauth import authorization_error, authorize_flow, current_end_user, deny_flow

bp = Blueprint("interaction", __name__, url_prefix="/interaction")
PER_CITIZEN_KEYS = ("totp-enrol",)
FACTOR_LOCK_SECONDS = 15 * 60


def read_ahead(path: str) -> list[str]:
    """What a step's request reads besides the browser session: its interaction (read with the
    session in one round trip; see ServerSessionInterface)."""
    if not path.startswith(bp.url_prefix + "/"):
        return []
    key = Interactions.key(path[len(bp.url_prefix) + 1:].partition("/")[0])
    return [key] if key else []


def sms_text(code: str) -> str:
    return _("Panjereh sign-in code: %(code)s\nDo not share this code with anyone.", code=code)


def with_interaction(*states):
    """Load the interaction named in the URL; it must belong to this browser and be at one of ``states``.

    A request for a step the sign-in is no longer at (a page reloaded after its form was sent, the
    back button, a form sent twice) does nothing and is sent on to the step's page it is at now."""
    def decorator(view):
        @wraps(view)
        def wrapped(iid, **kwargs):
            if iid not in session.get("interactions", []):
                return expired()
            try:
                interaction = services().interactions.get(iid, read=take_read_ahead)
            except InteractionError:
                return expired()
            if interaction.state not in states:
                return redirect(steps.step_url(interaction), 303)
            g.ui_locale = _ui_locale(interaction)
            client = None  # an account flow signs in to Panjereh itself
            if interaction.client_id:
                client = services().server.find_client(interaction.client_id)  # cached; active only
                if client is None:
                    return expired()
            return view(interaction, client, **kwargs)
        return wrapped
    return decorator


def _ui_locale(interaction):
    if session.get("lang"):
        return session["lang"]
    for lang in interaction.param.get("ui_locales", "").split():
        if lang in ("fa", "en"):
            return lang
    return None


def expired():
    return render_error(_("This sign-in has expired"),
                        _("Go back to the service you were using and start signing in again."), 400)


@bp.route("/<iid>/identify", methods=["GET", "POST"], endpoint="identify")
@with_interaction(IDENTIFY)
def identify_view(interaction, client):
    if request.method == "GET":
        return steps.identify_page(interaction, client)
    form = IdentifyForm()
    if form.validate_on_submit():
        svc = services()
        national_id, mobile = form.national_id.data, form.mobile.data
        try:
            svc.limits.before_sending(national_id, mobile, request.remote_addr)
        except Limited as limited:
            record(Event.LOCKED_OUT if limited.reason == "lockout" else Event.RATE_LIMITED, "refused",
                   origin=origin(), national_id=national_id, client_id=client_id(client), limit=limited.reason)
            form.national_id.errors.append(limited_message(limited))
            return steps.identify_page(interaction, client, form, 429)
        result = identify(svc.registry, svc.ownership, national_id, mobile)
        interaction.identified_live = getattr(result, "live", True)
        challenge, delivered = svc.otp.issue(national_id, mobile, result.matched, sms_text, save=False)
        event = Event.OTP_NOT_SENT if delivered is None else (Event.OTP_SENT if delivered else Event.OTP_SEND_FAILED)
        record(event, "ok" if delivered else "fail", origin=origin(), national_id=national_id,
               client_id=client_id(client))
        interaction.challenge_id = challenge.id
        interaction.move(VERIFY)
        svc.interactions.save(interaction, svc.otp.entry(challenge))  # both in one round trip
        return steps.verify_page(interaction, client, challenge)  # shown at once: no redirect to it
    return steps.identify_page(interaction, client, form)


@bp.route("/<iid>/verify", methods=["GET", "POST"])
@with_interaction(VERIFY)
def verify(interaction, client):
    svc = services()
    form = OtpForm()
    submitted = form.validate_on_submit()
    if submitted:  # the challenge read and the try counted in one round trip; consumed by signed_in
        result = svc.otp.verify(interaction.challenge_id, form.otp.data, consume=False)
        challenge = result.challenge
    else:
        challenge = svc.otp.get(interaction.challenge_id)
    if challenge is None:
        return restart(interaction, _("The code has expired. Please start again."))
    if submitted:
        if result.outcome is Outcome.OK:
            return signed_in(interaction, client, challenge)
        record(Event.OTP_FAILED, result.outcome.value, origin=origin(), national_id=challenge.national_id,
               client_id=client_id(client))
        if result.outcome is Outcome.WRONG:
            form.otp.errors.append(ngettext("That code is incorrect. You have %(count)s more try.",
                                            "That code is incorrect. You have %(count)s more tries.",
                                            result.attempts_left, count=local_digits(result.attempts_left)))
        elif result.outcome is Outcome.EXPIRED:
            form.otp.errors.append(_("The code has expired. Ask for a new one."))
        else:
            record(Event.OTP_EXHAUSTED, "fail", origin=origin(), national_id=challenge.national_id,
                   client_id=client_id(client))
            if svc.limits.challenge_failed(challenge.national_id, challenge.mobile):
                record(Event.LOCKED_OUT, "locked", origin=origin(), national_id=challenge.national_id,
                       client_id=client_id(client))
            return restart(interaction, _("Too many wrong codes. Please start again."))
    return steps.verify_page(interaction, client, challenge, form)


@bp.post("/<iid>/resend")
@with_interaction(VERIFY)
def resend(interaction, client):
    svc = services()
    challenge = svc.otp.get(interaction.challenge_id)
    if challenge is None:
        return restart(interaction, _("The code has expired. Please start again."))
    if not ResendForm().validate_on_submit():
        abort(400)
    wait = challenge.resend_in(steps.resend_wait(challenge))
    if wait:
        flash(ngettext("You can ask for a new code in %(count)s second.", "You can ask for a new code in %(count)s seconds.",
                       wait, count=local_digits(wait)), "error")
        return redirect(url_for("interaction.verify", iid=interaction.id))
    try:
        svc.limits.before_sending(challenge.national_id, challenge.mobile, request.remote_addr)
    except Limited as limited:
        record(Event.RATE_LIMITED, "refused", origin=origin(), national_id=challenge.national_id,
               client_id=client_id(client), limit=limited.reason, resend=True)
        flash(limited_message(limited), "error")
    else:
        _challenge, delivered = svc.otp.resend(challenge, sms_text, steps.resend_wait(challenge))
        if delivered is not None:
            record(Event.OTP_SENT if delivered else Event.OTP_SEND_FAILED, "ok" if delivered else "fail",
                   origin=origin(), national_id=challenge.national_id, client_id=client_id(client), resend=True)
        flash(_("If this mobile number belongs to this national ID, a new code has been sent."), "info")
    return redirect(url_for("interaction.verify", iid=interaction.id))


def limited_message(limited: Limited) -> str:
    minutes = max(1, -(-limited.retry_after // 60))
    if limited.reason == "lockout":
        return ngettext("Too many failed attempts with this national ID and mobile number. Try again in %(count)s minute.",
                        "Too many failed attempts with this national ID and mobile number. Try again in %(count)s minutes.",
                        minutes, count=local_digits(minutes))
    return ngettext("Too many codes were requested. Try again in %(count)s minute.",
                    "Too many codes were requested. Try again in %(count)s minutes.", minutes, count=local_digits(minutes))


def restart(interaction, message):
    interaction.move(IDENTIFY)
    services().interactions.save(interaction)
    flash(message, "error")
    return redirect(url_for("interaction.identify", iid=interaction.id))


def signed_in(interaction, client, challenge):
    svc = services()
    previous = svc.sessions.current(session.get("sid"))
    if previous is not None:
        svc.sessions.end(previous)
    try:
        account = account_for(challenge.national_id)  # committed with the session below
    except IntegrityError:  # a first sign-in submitted twice at once: the other request creates the account
        db.session.rollback()
        return restart(interaction, _("The code has expired. Please start again."))
    acr = LOA2 if interaction.identified_live else LOA1  # a cached registry answer is only loa1
    # the account, the session and the event that reports them are written together, in one commit
    # (with the code too, when the service gets one at once)
    record(Event.LOGIN_SUCCEEDED, origin=origin(), account_id=account.id, client_id=client_id(client),
           acr=acr, amr=list(AMR_SMS), commit=False)
    login = svc.sessions.start(account, acr, AMR_SMS, *origin_pair())
    # the code is used up only now, with the sign-in written (not yet committed): a database that
    # fails on the way leaves the citizen's code usable; of two requests with it, one wins
    if not svc.otp.consume(challenge):
        db.session.rollback()
        return restart(interaction, _("The code has expired. Please start again."))
    rotate(session)  # a new browser-session id at sign-in (no fixation)
    for key in PER_CITIZEN_KEYS:  # nothing of a previous citizen survives a sign-in
        session.pop(key, None)
    session["sid"] = login.sid
    interaction.logged_in_at = time.time()  # saved by what comes next: consent, a factor, or the finish
    # a consent given in this interaction before this sign-in was someone else's
    interaction.consented_at = interaction.consented_by = None
    response = resume(interaction)
    db.session.commit()  # the sign-in, unless the code it led to was already committed with it
    return response


def resume(interaction):
    """Back to where the sign-in was needed: the authorization request, or an account page."""
    if interaction.client_id:
        return authorize_flow(interaction.params, interaction)
    svc = services()
    login = svc.sessions.current(session.get("sid"))
    if login is None:
        return restart(interaction, _("Please sign in again."))
    if (interaction.required_acr and rank(login.acr) < rank(interaction.required_acr)
            and totp.active_authenticator(login.account) is not None):
        if interaction.state != FACTOR:
            interaction.move(FACTOR)
        svc.interactions.save(interaction)
        return steps.factor_page(interaction, None)
    svc.interactions.finish(interaction)
    if interaction.intent:
        from .account import carry_out  # account intents live with the account pages

        carry_out(interaction.intent, login)
    return redirect(interaction.return_to or url_for("account.overview"))


def client_id(client):
    return client.client_id if client is not None else None


@bp.route("/<iid>/factor", methods=["GET", "POST"])
@with_interaction(FACTOR)
def factor(interaction, client):
    """Step-up to loa3: only the missing factor, the SMS sign-in stands."""
    svc = services()
    login = svc.sessions.current(session.get("sid"))
    if login is None or rank(login.acr) < rank(LOA2):
        # loa3 builds on a live-verified SMS sign-in: a loa1 session signs in again first
        return restart(interaction, _("Please sign in again."))
    form = FactorForm()
    wrong_key = f"factor-attempts:{login.account_id}"
    if form.validate_on_submit():
        # count the attempt before checking it, so concurrent guesses cannot slip past the limit
        if svc.store.incr(wrong_key, FACTOR_LOCK_SECONDS) > svc.settings.otp_max_attempts:
            form.otp.errors.append(_("Too many wrong codes. Try again in 15 minutes."))
            return steps.factor_page(interaction, client, form, 429)
        account = login.account
        if form.otp.data:
            ok, method = totp.verify(account, form.otp.data), "totp"
        else:
            ok, method = totp.use_recovery_code(account, form.recovery_code.data), "recovery_code"
        if ok:
            svc.store.delete(wrong_key)
            svc.sessions.step_up(login, LOA3, AMR_MFA)
            interaction.logged_in_at = time.time()
            svc.interactions.save(interaction)
            if method == "recovery_code":
                record(Event.RECOVERY_CODE_USED, origin=origin(), account_id=account.id, client_id=client_id(client))
            record(Event.LEVEL_REACHED, origin=origin(), account_id=account.id, client_id=client_id(client),
                   acr=LOA3, amr=list(AMR_MFA), method=method)
            return resume(interaction)
        record(Event.FACTOR_FAILED, "fail", origin=origin(), account_id=account.id, client_id=client_id(client),
               method=method)
        target = form.otp if form.otp.data else form.recovery_code
        target.errors.append(_("That code is not valid. Codes from the app change every 30 seconds and work once."))
    return steps.factor_page(interaction, client, form)


def origin_pair():
    o = origin()
    return o.ip, o.user_agent


@bp.route("/<iid>/consent", methods=["GET", "POST"])
@with_interaction(CONSENT)
def consent(interaction, client):
    user = current_end_user()
    if user is None:
        return restart(interaction, _("Please sign in again."))
    try:
        grant = services().server.get_consent_grant(interaction.params, end_user=user)
    except OAuth2Error as error:  # the registration changed while the citizen was here
        services().interactions.finish(interaction)
        return authorization_error(error, interaction.params)
    grant_scope = grant.request.scope
    form = DecisionForm.with_choices("allow", "deny")
    if form.validate_on_submit():
        if form.decision.data == "deny":
            record(Event.CONSENT_DENIED, origin=origin(), account_id=user.account.id, client_id=client.client_id)
            return deny_flow(interaction)
        record(Event.CONSENT_GRANTED, origin=origin(), account_id=user.account.id, client_id=client.client_id,
               scope=grant_scope, commit=False)
        consents.remember(user.account.id, client.client_id, grant_scope)
        interaction.consented_at = time.time()  # kept by the flow if it goes on (finished when a code is issued)
        interaction.consented_by = user.account.id
        # commits them with the code it issues
        response = authorize_flow(interaction.params, interaction, grant, consented=True)
        db.session.commit()  # or now, when the flow ended otherwise (a step-up, an error to the service)
        return response
    return steps.consent_page(interaction, client, grant_scope)


@bp.post("/<iid>/abort")
@with_interaction(IDENTIFY, VERIFY, FACTOR, CONSENT)
def abort_login(interaction, client):
    if not DecisionForm().validate_on_submit():
        abort(400)
    if client is None:  # an account flow: nothing to tell a service
        services().interactions.finish(interaction)
        return redirect(url_for("pages.home"))
    return deny_flow(interaction)


def init_app(app):
    app.register_blueprint(bp)
