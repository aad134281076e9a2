"""Login and consent policy as data: each prompt is a list of named checks.

A check returns the reason it fires (recorded on the interaction) or None.
With ``prompt=none`` a firing check becomes the OpenID error of its prompt
(``login_required``, ``consent_required``) instead of a page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .flow import Interaction
from .levels import rank


@dataclass(frozen=True)
class Context:
    params: dict[str, str]
    user: object | None          # the signed-in EndUser, if any
    interaction: Interaction | None
    consented: bool              # the citizen's remembered consent covers the scopes
    required_acr: str | None = None
    hint_subject: str | None = None  # ``sub`` of a valid id_token_hint
    user_subject: str | None = None  # the signed-in citizen's ``sub`` for this client

    @property
    def prompts(self) -> set[str]:
        return set(self.params.get("prompt", "").split())

    @property
    def logged_in_here(self) -> bool:
        return self.interaction is not None and self.interaction.logged_in_at is not None


Check = Callable[[Context], "str | None"]


# --- login ---
def check_no_session(ctx: Context):
    """A citizen must be signed in."""
    return "no_session" if ctx.user is None else None


def check_prompt_login(ctx: Context):
    """``prompt=login``: authenticate again, unless it happened in this interaction."""
    return "prompt_login" if "login" in ctx.prompts and not ctx.logged_in_here else None


def check_max_age(ctx: Context):
    """``max_age``: the last authentication must be recent enough."""
    raw = ctx.params.get("max_age")
    if raw is None or ctx.user is None or ctx.logged_in_here:
        return None
    try:
        max_age = int(raw)
    except ValueError:
        return None
    return "max_age" if time.time() - ctx.user.auth_time > max_age else None


def check_id_token_hint(ctx: Context):
    """``id_token_hint`` names another citizen than the one signed in."""
    if ctx.hint_subject and ctx.user is not None and ctx.hint_subject != ctx.user_subject and not ctx.logged_in_here:
        return "id_token_hint"
    return None


def check_acr(ctx: Context):
    """A service that needs a higher level of assurance than the session has."""
    if ctx.required_acr and ctx.user is not None and rank(ctx.user.acr) < rank(ctx.required_acr):
        return "acr"
    return None


# --- consent ---
def check_prompt_consent(ctx: Context):
    """``prompt=consent``: ask again even if consent is remembered."""
    asked_here = (ctx.interaction is not None and ctx.interaction.consented_at is not None
                  and ctx.user is not None and ctx.interaction.consented_by == ctx.user.account.id)
    return "prompt_consent" if "consent" in ctx.prompts and not asked_here else None


def check_consent_missing(ctx: Context):
    """The remembered consent does not cover every requested scope."""
    return "consent_missing" if not ctx.consented else None


@dataclass(frozen=True)
class Prompt:
    name: str
    error: str  # the OpenID error when prompt=none
    checks: tuple[Check, ...] = field(default_factory=tuple)


LOGIN = Prompt("login", "login_required",
               (check_no_session, check_prompt_login, check_max_age, check_id_token_hint, check_acr))
CONSENT = Prompt("consent", "consent_required", (check_prompt_consent, check_consent_missing))
PROMPTS = (LOGIN, CONSENT)


@dataclass(frozen=True)
class Decision:
    prompt: Prompt | None
    reasons: tuple[str, ...] = ()

    @property
    def proceed(self) -> bool:
        return self.prompt is None


def decide(ctx: Context) -> Decision:
    """The first prompt with a firing check, or proceed."""
    for prompt in PROMPTS:
        reasons = tuple(r for r in (check(ctx) for check in prompt.checks) if r)
        if reasons:
            return Decision(prompt, reasons)
    return Decision(None)
