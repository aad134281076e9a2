"""The login/consent policy, table-driven: which prompt fires, for which reasons."""

import time
from types import SimpleNamespace
from dataclasses import dataclass

import pytest

from idp.interaction.flow import Interaction
from idp.interaction.levels import LOA1, LOA2, LOA3
from idp.interaction.policy import CONSENT, LOGIN, Context, decide


@dataclass
class User:
    """A signed-in citizen who authenticated ``age`` seconds before the decision."""

    age: int
    acr: str = LOA1
    account_id: int = 1

    @property
    def account(self):
        return SimpleNamespace(id=self.account_id)

    @property
    def auth_time(self) -> int:
        return int(time.time()) - self.age


FRESH = User(age=5)
OLD = User(age=3600)


def interaction(logged_in=False, consented=False, consented_by=1) -> Interaction:
    now = time.time()
    return Interaction("iid", {}, "client", logged_in_at=now if logged_in else None,
                       consented_at=now if consented else None, consented_by=consented_by if consented else None)


PROCEED = None

CASES = [
    # (id, params, user, interaction, consented, extra context, expected prompt, expected reasons)
    ("no session", {}, None, None, False, {}, LOGIN, ("no_session",)),
    ("no session, even with consent", {}, None, None, True, {}, LOGIN, ("no_session",)),
    ("session and consent", {}, FRESH, None, True, {}, PROCEED, ()),
    ("session, no consent", {}, FRESH, None, False, {}, CONSENT, ("consent_missing",)),
    ("login comes before consent", {}, None, None, False, {}, LOGIN, ("no_session",)),
    ("prompt=login with a session", {"prompt": "login"}, FRESH, None, True, {}, LOGIN, ("prompt_login",)),
    ("prompt=login without a session", {"prompt": "login"}, None, None, True, {}, LOGIN,
     ("no_session", "prompt_login")),
    ("prompt=login satisfied by a login in this interaction", {"prompt": "login"}, FRESH,
     interaction(logged_in=True), True, {}, PROCEED, ()),
    ("prompt=login in an interaction without a login yet", {"prompt": "login"}, FRESH,
     interaction(), True, {}, LOGIN, ("prompt_login",)),
    ("prompt=consent with remembered consent", {"prompt": "consent"}, FRESH, None, True, {}, CONSENT,
     ("prompt_consent",)),
    ("prompt=consent and no consent", {"prompt": "consent"}, FRESH, None, False, {}, CONSENT,
     ("prompt_consent", "consent_missing")),
    ("prompt=consent answered in this interaction", {"prompt": "consent"}, FRESH,
     interaction(logged_in=True, consented=True), True, {}, PROCEED, ()),
    ("prompt=consent answered in this interaction by another citizen", {"prompt": "consent"}, FRESH,
     interaction(logged_in=True, consented=True, consented_by=2), True, {}, CONSENT, ("prompt_consent",)),
    ("prompt=login consent", {"prompt": "login consent"}, FRESH, None, True, {}, LOGIN, ("prompt_login",)),
    ("prompt=login consent after the login", {"prompt": "login consent"}, FRESH,
     interaction(logged_in=True), True, {}, CONSENT, ("prompt_consent",)),
    ("prompt=none with session and consent", {"prompt": "none"}, FRESH, None, True, {}, PROCEED, ()),
    ("prompt=none without a session", {"prompt": "none"}, None, None, False, {}, LOGIN, ("no_session",)),
    ("prompt=none without consent", {"prompt": "none"}, FRESH, None, False, {}, CONSENT, ("consent_missing",)),
    ("max_age=0", {"max_age": "0"}, FRESH, None, True, {}, LOGIN, ("max_age",)),
    ("max_age not yet reached", {"max_age": "60"}, FRESH, None, True, {}, PROCEED, ()),
    ("max_age exceeded", {"max_age": "600"}, OLD, None, True, {}, LOGIN, ("max_age",)),
    ("max_age satisfied by a login in this interaction", {"max_age": "0"}, OLD,
     interaction(logged_in=True), True, {}, PROCEED, ()),
    ("max_age not a number is ignored", {"max_age": "soon"}, OLD, None, True, {}, PROCEED, ()),
    ("max_age without a session", {"max_age": "0"}, None, None, True, {}, LOGIN, ("no_session",)),
    ("higher acr required", {}, FRESH, None, True, {"required_acr": LOA2}, LOGIN, ("acr",)),
    ("acr met exactly", {}, User(0, LOA2), None, True, {"required_acr": LOA2}, PROCEED, ()),
    ("acr exceeded", {}, User(0, LOA3), None, True, {"required_acr": LOA2}, PROCEED, ()),
    ("unknown session acr ranks lowest", {}, User(0, "urn:other"), None, True,
     {"required_acr": LOA1}, LOGIN, ("acr",)),
    ("id_token_hint for the signed-in citizen", {}, FRESH, None, True,
     {"hint_subject": "sub-a", "user_subject": "sub-a"}, PROCEED, ()),
    ("id_token_hint for another citizen", {}, FRESH, None, True,
     {"hint_subject": "sub-b", "user_subject": "sub-a"}, LOGIN, ("id_token_hint",)),
    ("id_token_hint for another citizen, signed in here", {}, FRESH, interaction(logged_in=True), True,
     {"hint_subject": "sub-b", "user_subject": "sub-a"}, PROCEED, ()),
    ("several login reasons at once", {"prompt": "login", "max_age": "0"}, OLD, None, False,
     {"required_acr": LOA2}, LOGIN, ("prompt_login", "max_age", "acr")),
]


@pytest.mark.parametrize("params, user, current, consented, extra, prompt, reasons",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decide(params, user, current, consented, extra, prompt, reasons):
    decision = decide(Context(params, user, current, consented, **extra))
    assert decision.prompt is prompt
    assert decision.reasons == reasons
    assert decision.proceed is (prompt is None)


def test_prompt_errors_for_prompt_none():
    assert LOGIN.error == "login_required"
    assert CONSENT.error == "consent_required"


def test_context_reads_prompts_as_a_set():
    ctx = Context({"prompt": "login  consent"}, None, None, False)
    assert ctx.prompts == {"login", "consent"}
    assert Context({}, None, None, False).prompts == set()


def test_logged_in_here_needs_an_interaction_with_a_login():
    assert not Context({}, FRESH, None, True).logged_in_here
    assert not Context({}, FRESH, interaction(), True).logged_in_here
    assert Context({}, FRESH, interaction(logged_in=True), True).logged_in_here
