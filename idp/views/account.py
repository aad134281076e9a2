"""The citizen's own account: sessions, authenticator app, recovery codes."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, redirect, render_template, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..audit import Event, record
from ..auth import totp
from ..db import db, utcnow
from ..forms import DecisionForm, OtpForm
from ..interaction.levels import LOA2, LOA3, rank
from ..models import LoginSession
from ..security import decrypt, encrypt
from ..services import services
from ..text import mask_mobile
from . import origin

bp = Blueprint("account", __name__, url_prefix="/account")
FRESH = timedelta(minutes=10)  # how recent a sign-in must be to change factors
PENDING = "totp-enrol"
REMOVE_AUTHENTICATOR = "remove-authenticator"


def signed_in():
    return services().sessions.current(session.get("sid"))


def sign_in_first(return_to: str, required_acr: str | None = None, fresh: bool = False, intent: str | None = None):
    """Start an account interaction (no service involved) and come back here afterwards."""
    reasons = ["no_session"] if not fresh else ["fresh_login"]
    interaction = services().interactions.start({}, "", reasons, return_to=return_to, required_acr=required_acr,
                                                intent=intent)
    session["interactions"] = (session.get("interactions", []) + [interaction.id])[-10:]
    login = signed_in()
    if login is not None and not fresh and required_acr and rank(login.acr) >= rank(LOA2):
        interaction.move("factor")
        services().interactions.save(interaction)
        return redirect(url_for("interaction.factor", iid=interaction.id))
    return redirect(url_for("interaction.identify", iid=interaction.id))


def is_fresh(login: LoginSession) -> bool:
    return utcnow() - login.auth_time <= FRESH


@bp.get("/")
def overview():
    login = signed_in()
    if login is None:
        return sign_in_first(url_for("account.overview"))
    account = login.account
    person = services().registry.find(account.national_id)
    sessions = db.session.execute(
        select(LoginSession).where(LoginSession.account_id == account.id, LoginSession.ended_at.is_(None),
                                   LoginSession.expires_at > utcnow()).order_by(LoginSession.created_at.desc())
    ).scalars().all()
    return render_template("account/overview.html", login=login, person=person,
                           masked_mobile=mask_mobile(person.mobile) if person else "",
                           authenticator=totp.active_authenticator(account),
                           recovery_left=totp.remaining_recovery_codes(account), sessions=sessions,
                           form=DecisionForm())


@bp.route("/authenticator", methods=["GET", "POST"])
def authenticator():
    """Enrol an authenticator app: only right after a fresh SMS check."""
    login = signed_in()
    if login is None or not is_fresh(login):
        return sign_in_first(url_for("account.authenticator"), fresh=True)
    account = login.account
    if totp.active_authenticator(account) is not None:
        return redirect(url_for("account.overview"))
    form = OtpForm()
    pending = session.get(PENDING)
    if not pending or pending.get("account") != account.id:  # a secret is only ever shown to one citizen
        pending = session[PENDING] = {"account": account.id,
                                      "secret": encrypt(totp.SECRET, totp.new_secret()).decode()}
    secret = decrypt(totp.SECRET, pending["secret"].encode())
    if form.validate_on_submit():
        codes = totp.enrol(account, secret, form.otp.data)
        if codes is not None:
            session.pop(PENDING, None)
            record(Event.FACTOR_ENROLLED, origin=origin(), account_id=account.id, factor="totp")
            return render_template("account/recovery_codes.html", codes=codes)
        form.otp.errors.append(_("That code does not match. Check the time on your phone and try the next code."))
    person = services().registry.find(account.national_id)
    uri = totp.provisioning_uri(secret, mask_mobile(person.mobile) if person else "Panjereh")
    return render_template("account/authenticator.html", form=form, qr=totp.qr_svg(uri),
                           secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)))


@bp.post("/authenticator/remove")
def remove_authenticator():
    """Removing the app needs a fresh loa3 sign-in (the app, or a recovery code, after SMS)."""
    form = DecisionForm.with_choices("remove")
    if not form.validate_on_submit():
        abort(400)
    login = signed_in()
    if login is None or not is_fresh(login) or rank(login.acr) < rank(LOA3):
        return sign_in_first(url_for("account.overview"), required_acr=LOA3, intent=REMOVE_AUTHENTICATOR,
                             fresh=login is None or not is_fresh(login) or rank(login.acr) < rank(LOA2))
    carry_out(REMOVE_AUTHENTICATOR, login)
    return redirect(url_for("account.overview"))


def carry_out(intent: str, login: LoginSession) -> None:
    """An account action the citizen asked for (with a CSRF-checked form), once the sign-in it needed is done."""
    if intent == REMOVE_AUTHENTICATOR and is_fresh(login) and rank(login.acr) >= rank(LOA3):
        if totp.remove(login.account):
            record(Event.FACTOR_REMOVED, origin=origin(), account_id=login.account.id, factor="totp")


@bp.post("/sign-out")
def sign_out():
    if not DecisionForm.with_choices("logout").validate_on_submit():
        abort(400)
    login = signed_in()
    if login is not None:
        services().sessions.end(login)
        record(Event.SESSION_ENDED, origin=origin(), account_id=login.account_id, via="account")
    session.clear()
    return render_template("logout/done.html")


def init_app(app):
    app.register_blueprint(bp)
