"""The administrators' web console under ``/admin/``: the agency registry in pages.

The same operations as the admin API (``idp.views.admin_api``), over the same
service layer (``idp.admin``), for a person in a browser:

- Who: a signed-in citizen whose account ``is_admin``, at ``urn:panjereh:loa:3``
  (SMS code and authenticator app). Not signed in, or below loa3: the account
  sign-in (the missing factor only, when already signed in by SMS). Signed in
  at loa3 without the role: 403. Every change is made as that account
  (:func:`idp.admin.actors.account_actor`) and lands in the admin record.
- Every form is a Flask-WTF form with a CSRF token; changes are POSTs behind a
  confirmation; secrets and initial access tokens are shown once, on the
  response of the POST that made them, and never stored anywhere readable.
- The registry's refusals (``AdminError``) are shown in the page's language:
  next to the field they are about when there is one.
"""

from __future__ import annotations

import json
import re
from math import ceil

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..admin import access_tokens, agencies, clients, console_support, proposals, record
from ..admin.actors import account_actor
from ..admin.errors import AdminError, NotFound
from ..admin.policy import AGENCY_STATUSES, SERVICE_STATUSES, sensitive_in
from ..auth import totp
from ..db import db
from ..forms import (AgencyForm, ConfirmForm, ConsoleFilterForm, DecisionForm, InitialTokenForm, KeysForm,
                     RejectForm, ServiceForm, choices, uri_problem)
from ..interaction.levels import LOA2, LOA3, rank
from ..services import services
from . import local_digits
from .account import sign_in_first, signed_in
from .errors import render_error

bp = Blueprint("admin_console", __name__, url_prefix="/admin")
PAGE_SIZE = 25
RECORD_PAGE_SIZE = 20
MAX_PAGE = 100_000

STATUS_LABELS = {
    "pending": _l("Pending"), "active": _l("Active"), "suspended": _l("Suspended"), "retired": _l("Retired"),
    "open": _l("Waiting for approval"), "approved": _l("Approved"), "rejected": _l("Rejected"),
}
KIND_LABELS = {
    "activate": _l("Activate the service"), "reactivate": _l("Reactivate the service"),
    "update": _l("Change the service"),
}
ACTION_LABELS = {
    "agency.created": _l("Agency added"), "agency.updated": _l("Agency changed"),
    "agency.suspended": _l("Agency suspended"), "agency.reactivated": _l("Agency reactivated"),
    "initial_token.issued": _l("Initial access token issued"), "service.created": _l("Service registered"),
    "service.registered": _l("Service registered by its agency"), "service.updated": _l("Service changed"),
    "service.secret_rotated": _l("Client secret rotated"), "service.keys_set": _l("Service keys set"),
    "service.suspended": _l("Service suspended"), "service.activated": _l("Service activated"),
    "service.reactivated": _l("Service reactivated"), "service.retired": _l("Service retired"),
    "proposal.created": _l("Proposal made"), "proposal.endorsed": _l("Proposal approved by a first administrator"),
    "proposal.approved": _l("Proposal approved"), "proposal.rejected": _l("Proposal rejected"),
    "admin.granted": _l("Administrator role granted"), "admin.revoked": _l("Administrator role revoked"),
}
TARGET_LABELS = {"agency": _l("Agency"), "service": _l("Service"), "proposal": _l("Proposal"),
                 "account": _l("Account"), "initial_token": _l("Initial access token")}
VIA_LABELS = {"api": _l("admin API or console"), "cli": _l("command line"), "self-service": _l("agency self-service")}


# --- who may come in ---

@bp.before_request
def require_administrator():
    """A signed-in administrator at loa3, or the way there."""
    login = signed_in()
    here = request.full_path.rstrip("?") if request.method == "GET" else url_for("admin_console.dashboard")
    if login is None:
        return sign_in_first(here, required_acr=LOA3)
    if rank(login.acr) < rank(LOA3):
        if rank(login.acr) >= rank(LOA2) and totp.active_authenticator(login.account) is None:
            return render_template("admin/needs_authenticator.html"), 403
        return sign_in_first(here, required_acr=LOA3)
    if not login.account.is_admin:
        return render_error(_("For administrators only"),
                            _("The registry console is for administrators of Panjereh, and your account is not "
                              "one. If you should have access, ask the registry's operators."), 403)
    g.admin_account = login.account
    g.admin_actor = account_actor(login.account).seen_from(request.remote_addr, request.headers.get("User-Agent"))
    return None


@bp.context_processor
def console_globals():
    if "admin_actor" not in g:
        return {}
    return {"status_label": lambda s: STATUS_LABELS.get(s, s), "kind_label": lambda k: KIND_LABELS.get(k, k),
            "action_label": lambda a: ACTION_LABELS.get(a, a), "target_label": lambda t: TARGET_LABELS.get(t, t),
            "via_label": lambda v: VIA_LABELS.get(v, v), "me": g.admin_actor.ref, "name_of": name_of, "shown": shown,
            "open_proposals": console_support.open_proposals() if request.method == "GET" else 0,
            "sign_out_form": DecisionForm()}


@bp.errorhandler(AdminError)
def registry_refused(error: AdminError):
    if isinstance(error, NotFound):
        return render_error(_("Not found"), _("There is nothing in the registry at this address."), 404)
    return render_error(_("This could not be done"), explain(error), error.status)


def actor():
    return g.admin_actor


def locale() -> str:
    return str(get_locale() or "fa")


def name_of(thing) -> str:
    """An agency's or a service's name in the page's language."""
    return (thing.name_fa if locale() == "fa" else thing.name_en) or thing.name_en


# --- the registry's refusals, in the page's language ---

CONFLICTS = (
    ("two-person rule", _l("Two-person rule: a different administrator must approve this proposal.")),
    ("decided or endorsed meanwhile", _l("Another administrator decided this proposal meanwhile. Reload the page "
                                         "to see where it stands.")),
    ("was already", _l("This proposal was already decided.")),
    ("is already open", _l("A proposal to activate this service is already waiting for a second administrator.")),
    ("only an active service can be suspended", _l("Only an active service can be suspended.")),
    ("only a pending or suspended service", _l("Only a pending or suspended service can be activated.")),
    ("the service is retired", _l("The service is retired: it cannot be changed.")),
    ("reactivate the agency first", _l("The agency is suspended: reactivate the agency first.")),
    ("is suspended: it cannot get new services", _l("The agency is suspended: it cannot get new services.")),
    ("changed since this was proposed", _l("The service changed since this was proposed: reject this proposal and "
                                           "propose the change again.")),
    ("no longer applies", _l("The service's status changed, so this proposal no longer applies: reject it.")),
    ("has no client secret to rotate", _l("This service does not authenticate with a client secret, so it has "
                                          "none to rotate.")),
    ("already exists", _l("An agency with this short name already exists.")),
    ("is suspended", _l("The agency is suspended.")),
    ("expires_in must be between", _l("Choose how long the token is valid for.")),
)

#: (what the registry says, the field it is about, what the console says)
FIELD_ERRORS = (
    ("the service needs a name", "client_name", _l("Enter the service's name in English.")),
    ("unknown grant type", "grant_types", _l("Choose grant types from the list.")),
    ("unknown auth method", "token_endpoint_auth_method", _l("Choose a client authentication method from the list.")),
    ("subject type must be", "subject_type", _l("Choose pairwise or public.")),
    ("ID token algorithm", "id_token_signed_response_alg", _l("Choose RS256 or ES256.")),
    ("a redirect URI is required", "redirect_uris",
     _l("Add at least one redirect URI, or choose only the client credentials grant type.")),
    ("cannot use client_credentials", "token_endpoint_auth_method",
     _l("A public client (no client authentication) cannot use the client credentials grant type.")),
    ("private_key_jwt needs", "token_endpoint_auth_method",
     _l("Private key JWT authentication needs the service's public keys: set them on the keys page first.")),
    ("unknown level of assurance", "default_acr", _l("Choose a level of assurance from the list.")),
    ("invalid scope", "scope",
     _l("Scope names are printable ASCII, separated by spaces, without quotes or backslashes.")),
    ("client_name must be at most", "client_name", _l("The name is too long: at most 200 characters.")),
    ("client_name_fa must be at most", "client_name_fa", _l("The name is too long: at most 200 characters.")),
    ("description_en must be at most", "description_en", _l("The description is too long: at most 2000 characters.")),
    ("description_fa must be at most", "description_fa", _l("The description is too long: at most 2000 characters.")),
    ("cannot be requested by self-registration", "scope", _l("This scope cannot be granted this way.")),
    ("either jwks or jwks_uri", "jwks", _l("Give either a key set or its address, not both.")),
    ("public keys only", "jwks", _l("The key set must hold public keys only: remove the private key members.")),
    ("non-empty 'keys' list", "jwks", _l("A JSON Web Key Set is a JSON object with a non-empty keys list.")),
    ("not a valid JSON Web Key Set", "jwks", _l("This is not a valid JSON Web Key Set: check each key.")),
    ("'keys' list", "jwks", _l("A JSON Web Key Set is a JSON object with a non-empty keys list.")),
    ("slug must be", "slug", _l("Use 1 to 64 lowercase letters, digits or dashes, starting with a letter or digit.")),
    ("an agency with slug", "slug", _l("An agency with this short name already exists.")),
    ("name_fa is required", "name_fa", _l("Enter the agency's name in Persian.")),
    ("name_en is required", "name_en", _l("Enter the agency's name in English.")),
    ("contact_email must be", "contact_email", _l("Enter an email address like name@agency.gov.ir.")),
    ("contact_phone must be", "contact_phone",
     _l("Enter a phone number of 5 to 20 digits, optionally starting with +.")),
)
URI_REFUSAL = re.compile(r"must (?:use https|not contain a fragment|not contain a wildcard|be an absolute)[^:]*: (.+)$")
URI_FIELDS = ("redirect_uris", "post_logout_redirect_uris", "client_uri", "logo_uri", "backchannel_logout_uri",
              "jwks_uri")


def explain(error: AdminError) -> str:
    """A refusal that is not about one field (states, the two-person rule), in the page's language."""
    for marker, message in CONFLICTS:
        if marker in error.description:
            return str(message)
    for marker, _field, message in FIELD_ERRORS:
        if marker in error.description:
            return str(message)
    found = URI_REFUSAL.search(error.description)
    if found:
        return uri_problem(error.description, found.group(1))
    return _("The registry refused this: %(reason)s", reason=error.description)


def show_on_form(form, error: AdminError) -> None:
    """Put the registry's refusal next to the field it is about (or above the form)."""
    db.session.rollback()  # nothing of the refused change stays in the session the page is drawn with
    description = error.description
    found = URI_REFUSAL.search(description)
    if found:
        uri = found.group(1)
        for name in URI_FIELDS:
            field = getattr(form, name, None)
            values = field.data if field is not None and isinstance(field.data, list) else [getattr(field, "data", None)]
            if field is not None and uri in values:
                field.errors = list(field.errors) + [uri_problem(description, uri)]
                return
    for marker, name, message in FIELD_ERRORS:
        field = getattr(form, name, None)
        if marker in description and field is not None:
            field.errors = list(field.errors) + [str(message)]
            return
    form.form_errors.append(explain(error))


# --- the dashboard ---

@bp.get("/")
def dashboard():
    counts = console_support.counts()
    waiting = proposals.list_proposals(status="open", limit=5)
    return render_template("admin/dashboard.html", counts=counts, waiting=waiting, section="dashboard")


# --- agencies ---

def page_number() -> int:
    try:
        page = int(request.args.get("page", 1))
    except ValueError:
        page = 1
    return min(max(page, 1), MAX_PAGE)


@bp.get("/agencies")
def agency_list():
    form = ConsoleFilterForm(request.args)
    form.status.choices = choices(("", _("Any status")), *((s, STATUS_LABELS[s]) for s in AGENCY_STATUSES))
    valid = form.validate()
    page = page_number()
    found = agencies.list_agencies(q=form.q.data if valid else None, status=form.status.data if valid else None,
                                   limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render_template("admin/agencies.html", form=form, agencies=found[:PAGE_SIZE], page=page,
                           has_next=len(found) > PAGE_SIZE, section="agencies")


@bp.route("/agencies/new", methods=["GET", "POST"])
def agency_new():
    form = AgencyForm()
    if form.validate_on_submit():
        try:
            agency = agencies.create_agency(actor(), slug=form.slug.data, name_fa=form.name_fa.data,
                                            name_en=form.name_en.data, contact_email=form.contact_email.data,
                                            contact_phone=form.contact_phone.data)
        except AdminError as error:
            show_on_form(form, error)
        else:
            flash(_("Agency %(name)s added.", name=name_of(agency)), "success")
            return redirect(url_for("admin_console.agency_detail", slug=agency.slug))
    return render_template("admin/agency_form.html", form=form, agency=None, section="agencies")


@bp.get("/agencies/<slug>")
def agency_detail(slug):
    agency = agencies.get_agency(slug)
    return render_template("admin/agency.html", agency=agency,
                           services=clients.list_services(agency=agency.slug, limit=200),
                           tokens=access_tokens.list_for(agency), token_form=InitialTokenForm(),
                           section="agencies")


@bp.route("/agencies/<slug>/edit", methods=["GET", "POST"])
def agency_edit(slug):
    agency = agencies.get_agency(slug)
    form = AgencyForm(obj=agency)
    del form.slug  # the slug names the agency everywhere: it does not change
    if form.validate_on_submit():
        try:
            agencies.update_agency(actor(), agency, {"name_fa": form.name_fa.data, "name_en": form.name_en.data,
                                                     "contact_email": form.contact_email.data,
                                                     "contact_phone": form.contact_phone.data})
        except AdminError as error:
            show_on_form(form, error)
        else:
            flash(_("Agency %(name)s saved.", name=name_of(agency)), "success")
            return redirect(url_for("admin_console.agency_detail", slug=agency.slug))
    return render_template("admin/agency_form.html", form=form, agency=agency, section="agencies")


@bp.route("/agencies/<slug>/<any(suspend, reactivate):change>", methods=["GET", "POST"])
def agency_status(slug, change):
    agency = agencies.get_agency(slug)
    form = ConfirmForm()
    if form.validate_on_submit():
        agencies.update_agency(actor(), agency, {"status": "suspended" if change == "suspend" else "active"})
        if change == "suspend":
            flash(_("Agency %(name)s is suspended, and so are its active services.", name=name_of(agency)), "success")
        else:
            flash(_("Agency %(name)s is active again. Its services stay as they are: reactivate each one "
                    "separately.", name=name_of(agency)), "success")
        return redirect(url_for("admin_console.agency_detail", slug=agency.slug))
    active_services = [c for c in agency.clients if c.status == "active"]
    return render_template("admin/confirm_agency.html", form=form, agency=agency, change=change,
                           active_services=active_services, section="agencies")


@bp.post("/agencies/<slug>/initial-access-tokens")
def issue_token(slug):
    agency = agencies.get_agency(slug)
    form = InitialTokenForm()
    if not form.validate_on_submit():
        flash(_("Choose how long the token is valid for."), "error")
        return redirect(url_for("admin_console.agency_detail", slug=agency.slug))
    row, token = access_tokens.issue(actor(), agency, form.expires_in.data, bool(form.single_use.data))
    return render_template("admin/token_issued.html", agency=agency, row=row, token=token,
                           registration_endpoint=services().settings.issuer + "/register", section="agencies")


# --- services ---

def agency_choices(active_only: bool = False) -> list[tuple[str, str]]:
    found = agencies.list_agencies(status="active" if active_only else None, limit=500)
    return [(a.slug, a.slug if name_of(a) == a.slug else f"{name_of(a)} ({a.slug})") for a in found]


@bp.get("/services")
def service_list():
    form = ConsoleFilterForm(request.args)
    form.status.choices = choices(("", _("Any status")), *((s, STATUS_LABELS[s]) for s in SERVICE_STATUSES))
    form.agency.choices = choices(("", _("Any agency")), *agency_choices())
    valid = form.validate()
    page = page_number()
    found = clients.list_services(q=form.q.data if valid else None, status=form.status.data if valid else None,
                                  agency=form.agency.data if valid else None, limit=PAGE_SIZE + 1,
                                  offset=(page - 1) * PAGE_SIZE)
    return render_template("admin/services.html", form=form, services=found[:PAGE_SIZE], page=page,
                           has_next=len(found) > PAGE_SIZE, section="services")


@bp.route("/services/new", methods=["GET", "POST"])
def service_new():
    form = ServiceForm()
    form.agency.choices = choices(*agency_choices(active_only=True))
    if not form.is_submitted() and request.args.get("agency"):
        form.agency.data = request.args["agency"]
    if form.validate_on_submit():
        try:
            change, proposal = clients.create_service(actor(), agencies.get_agency(form.agency.data), form.changes())
        except AdminError as error:
            show_on_form(form, error)
        else:
            return render_template("admin/service_created.html", client=change.client,
                                   client_secret=change.client_secret, proposal=proposal, section="services")
    return render_template("admin/service_form.html", form=form, client=None, section="services")


@bp.get("/services/<client_id>")
def service_detail(client_id):
    client = clients.get_service(client_id)
    return render_template("admin/service.html", client=client, activity=clients.activity(client),
                           sensitive=sensitive_in(client.scope),
                           proposals=proposals.list_proposals(client_id=client.client_id, limit=20),
                           section="services")


@bp.route("/services/<client_id>/edit", methods=["GET", "POST"])
def service_edit(client_id):
    client = clients.get_service(client_id)
    form = ServiceForm()
    del form.agency  # a service stays with its agency
    if not form.is_submitted():
        form.fill(clients.state_of(client))
    if form.validate_on_submit():
        try:
            change = clients.update_service(actor(), client, form.changes())
        except AdminError as error:
            show_on_form(form, error)
        else:
            if change.client_secret:
                return render_template("admin/secret.html", client=client, client_secret=change.client_secret,
                                       section="services")
            if change.proposal is not None:
                flash(_("The change needs a second administrator: it waits as proposal %(id)s. Nothing changes "
                        "until it is approved.", id=local_digits(change.proposal.id)), "info")
            else:
                flash(_("Service %(name)s saved.", name=name_of(client)), "success")
            return redirect(url_for("admin_console.service_detail", client_id=client.client_id))
    return render_template("admin/service_form.html", form=form, client=client, section="services")


@bp.route("/services/<client_id>/keys", methods=["GET", "POST"])
def service_keys(client_id):
    client = clients.get_service(client_id)
    form = KeysForm()
    if not form.is_submitted():
        form.source.data = "jwks_uri" if client.jwks_uri else "jwks" if client.jwks else "none"
        form.jwks.data = json.dumps(client.jwks, indent=2) if client.jwks else ""
        form.jwks_uri.data = client.jwks_uri
    if form.validate_on_submit():
        try:
            clients.set_keys(actor(), client, **form.keys())
        except AdminError as error:
            show_on_form(form, error)
        else:
            flash(_("The keys of %(name)s are saved.", name=name_of(client)), "success")
            return redirect(url_for("admin_console.service_detail", client_id=client.client_id))
    return render_template("admin/keys.html", form=form, client=client, section="services")


@bp.route("/services/<client_id>/rotate-secret", methods=["GET", "POST"])
def rotate_secret(client_id):
    client = clients.get_service(client_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        secret = clients.rotate_secret(actor(), client)
        return render_template("admin/secret.html", client=client, client_secret=secret, rotated=True,
                               section="services")
    return render_template("admin/confirm_service.html", form=form, client=client, change="rotate-secret",
                           section="services")


@bp.route("/services/<client_id>/<any(suspend, reactivate, activate, retire):change>", methods=["GET", "POST"])
def service_status(client_id, change):
    client = clients.get_service(client_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        if change == "suspend":
            clients.suspend_service(actor(), client)  # how many tokens it revoked is in the admin record
            flash(_("%(name)s is suspended: it signs no one in, and none of its tokens work any more.",
                    name=name_of(client)), "success")
        elif change == "retire":
            clients.retire_service(actor(), client)
            flash(_("%(name)s is retired: it never signs anyone in again, and none of its tokens work any more.",
                    name=name_of(client)), "success")
        else:
            proposal = clients.propose_activation(actor(), client)
            flash(_("Proposal %(id)s waits for a second administrator: the service becomes active when another "
                    "administrator approves it.", id=local_digits(proposal.id)), "info")
        return redirect(url_for("admin_console.service_detail", client_id=client.client_id))
    return render_template("admin/confirm_service.html", form=form, client=client, change=change,
                           section="services")


# --- proposals: the two-person rule ---

@bp.get("/proposals")
def proposal_list():
    waiting = proposals.list_proposals(status="open", limit=200)
    decided = [p for p in proposals.list_proposals(limit=60) if not p.is_open][:40]
    return render_template("admin/proposals.html", waiting=waiting, decided=decided, section="proposals",
                           approve_form=ConfirmForm, reject_form=reject_form)


def reject_form(proposal_id: int) -> RejectForm:
    return RejectForm(prefix=f"p{proposal_id}")


@bp.post("/proposals/<int:proposal_id>/approve")
def approve(proposal_id):
    proposal = proposals.get_proposal(proposal_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("admin_console.proposal_list"))
    try:
        proposals.approve(actor(), proposal)
    except AdminError as error:
        flash(explain(error), "error")
    else:
        if proposal.is_open:
            flash(_("Proposal %(id)s has your approval. It was made by the agency itself, so a second "
                    "administrator must approve it too.", id=local_digits(proposal.id)), "success")
        else:
            flash(_("Proposal %(id)s is approved and applied.", id=local_digits(proposal.id)), "success")
    return redirect(url_for("admin_console.proposal_list"))


@bp.post("/proposals/<int:proposal_id>/reject")
def reject(proposal_id):
    proposal = proposals.get_proposal(proposal_id)
    form = reject_form(proposal_id)
    if not form.validate_on_submit():
        flash(_("The reason is too long: at most 1000 characters."), "error")
        return redirect(url_for("admin_console.proposal_list"))
    try:
        proposals.reject(actor(), proposal, form.reason.data)
    except AdminError as error:
        flash(explain(error), "error")
    else:
        flash(_("Proposal %(id)s is rejected.", id=local_digits(proposal.id)), "success")
    return redirect(url_for("admin_console.proposal_list"))


# --- the admin record ---

def shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value) if value else "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def diff(before: dict | None, after: dict | None) -> list[tuple[str, str, str]]:
    """(field, before, after) for each field that differs; every field of a creation."""
    before, after = before or {}, after or {}
    names = list(dict.fromkeys([*before, *after]))
    return [(name, shown(before.get(name)), shown(after.get(name))) for name in names
            if name not in before or name not in after or before[name] != after[name]]


@bp.get("/record")
def record_list():
    target_type = request.args.get("target_type")
    target_type = target_type if target_type in record.TARGET_TYPES else None
    target_id = (request.args.get("target_id") or "")[:64] or None
    page = page_number()
    rows, total = record.list_actions(target_type=target_type, target_id=target_id, limit=RECORD_PAGE_SIZE,
                                      offset=(page - 1) * RECORD_PAGE_SIZE)
    entries = [{"row": row, "diff": diff(row.before, row.after)} for row in rows]
    return render_template("admin/record.html", entries=entries, total=total, page=page,
                           pages=max(1, ceil(total / RECORD_PAGE_SIZE)), target_type=target_type,
                           target_id=target_id, section="record")


def init_app(app):
    app.register_blueprint(bp)
