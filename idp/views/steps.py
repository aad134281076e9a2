"""The pages of a sign-in's steps, drawn by the request that leads to them.

The authorization request shows the first step's page itself, the national ID's
answer shows the code's page, and the code's answer shows the consent page: no
redirect between the steps, so a citizen on a mobile network waits for one
round trip less at each of them. Every page also has its own address, the step's
URL (``/interaction/<id>/<step>``): its forms post there, and a reload, the back
button or the language switch finds the step there (a request for a step the
sign-in has already passed is sent on to the step it is at now).
"""

from __future__ import annotations

from flask import g, render_template, url_for

from ..forms import FactorForm, IdentifyForm, OtpForm
from ..interaction.flow import CONSENT, FACTOR, IDENTIFY, VERIFY
from ..oauth.claims import IDENTITY_SCOPES, claims_listed
from ..services import services
from ..text import mask_mobile

ENDPOINTS = {IDENTIFY: "interaction.identify", VERIFY: "interaction.verify", FACTOR: "interaction.factor",
             CONSENT: "interaction.consent"}


def step_url(interaction, state: str | None = None) -> str:
    return url_for(ENDPOINTS[state or interaction.state], iid=interaction.id)


def _page(template: str, interaction, status: int = 200, **context):
    g.page_path = step_url(interaction)  # where the language switch comes back to
    return render_template(template, interaction=interaction, action=g.page_path, **context), status


def identify_page(interaction, client, form=None, status: int = 200):
    if form is None:  # a new page (not the answer to this page's own form)
        form = IdentifyForm(formdata=None)
        form.national_id.data = interaction.param.get("login_hint")
    return _page("login/identify.html", interaction, status, form=form, client=client)


def verify_page(interaction, client, challenge, form=None, status: int = 200):
    settings = services().settings
    return _page("login/verify.html", interaction, status, form=form or OtpForm(formdata=None), client=client,
                 masked_mobile=mask_mobile(challenge.mobile), resend_in=challenge.resend_in(resend_wait(challenge)),
                 ttl_minutes=max(1, settings.otp_ttl // 60))


def consent_page(interaction, client, scope: str):
    """The consent page (its form sends only the CSRF token and the button pressed: no form object to build)."""
    scopes = scope.split()
    return _page("login/consent.html", interaction, client=client,
                 claims=claims_listed(scopes), api_scopes=[s for s in scopes if s not in IDENTITY_SCOPES])


def factor_page(interaction, client, form=None, status: int = 200):
    return _page("login/factor.html", interaction, status, form=form or FactorForm(formdata=None), client=client)


def resend_wait(challenge) -> int:
    svc = services()
    return svc.limits.resend_wait(svc.settings.otp_resend_after, challenge.sends)
