"""The one-time-code lifecycle: OtpService on the SQL key-value store, inside an app context."""

import hashlib
import json
import time

import pytest

from idp.adapters.sms import Delivery
from idp.adapters.store import SqlStore
from idp.auth.otp import Outcome, OtpService
from tests.support import OTP_RUN

NATIONAL_ID, MOBILE = "0012345679", "09121234567"


class Sender:
    def __init__(self, ok=True):
        self.sent: list[tuple[str, str]] = []
        self.ok = ok

    def send(self, to, text):
        self.sent.append((to, text))
        return Delivery(self.ok, None if self.ok else "down")

    @property
    def last_code(self):
        return OTP_RUN.search(self.sent[-1][1]).group(1)


class Clock:
    def __init__(self):
        self.now = time.time()

    def time(self):
        return self.now


def render(code):
    return f"Panjereh code: {code}"


@pytest.fixture
def clock(monkeypatch):
    import idp.auth.otp

    fake = Clock()
    monkeypatch.setattr(idp.auth.otp, "time", fake)
    return fake


@pytest.fixture
def app(bare_app):
    return bare_app


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def sender():
    return Sender()


@pytest.fixture
def otp(ctx, sender):
    return OtpService(SqlStore(), sender, ttl=120, max_attempts=5, resend_after=60)


def wrong(code):
    return f"{(int(code) + 1) % 10 ** 6:06d}"


def test_matching_pair_gets_a_six_digit_code_by_sms(otp, sender):
    challenge, delivered = otp.issue(NATIONAL_ID, MOBILE, True, render)
    assert delivered is True
    assert len(sender.sent) == 1 and sender.sent[0][0] == MOBILE
    assert len(OTP_RUN.findall(sender.sent[0][1])) == 1
    assert otp.verify(challenge.id, sender.last_code).outcome is Outcome.OK


def test_non_matching_pair_gets_a_challenge_but_no_sms(otp, sender):
    challenge, delivered = otp.issue(NATIONAL_ID, MOBILE, False, render)
    assert delivered is None
    assert sender.sent == []
    assert challenge.code_hash is None
    assert otp.get(challenge.id) is not None  # indistinguishable from a real one to the next page
    assert otp.verify(challenge.id, "123456").outcome is Outcome.WRONG


def test_failed_delivery_is_reported(ctx):
    service = OtpService(SqlStore(), Sender(ok=False), ttl=120, max_attempts=5, resend_after=60)
    _challenge, delivered = service.issue(NATIONAL_ID, MOBILE, True, render)
    assert delivered is False


def test_code_is_single_use(otp, sender):
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    code = sender.last_code
    first = otp.verify(challenge.id, code)
    assert first.outcome is Outcome.OK
    assert first.challenge.national_id == NATIONAL_ID
    second = otp.verify(challenge.id, code)
    assert second.outcome is not Outcome.OK
    assert second.outcome is Outcome.UNKNOWN


def test_code_expires(otp, sender, clock):
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    code = sender.last_code
    clock.now += 119
    assert otp.get(challenge.id) is not None
    clock.now += 1  # exactly at expires_at: expired
    assert otp.verify(challenge.id, code).outcome is Outcome.EXPIRED
    clock.now += 60
    assert otp.verify(challenge.id, code).outcome is Outcome.EXPIRED


def test_code_works_until_it_expires(otp, sender, clock):
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    clock.now += 119
    assert otp.verify(challenge.id, sender.last_code).outcome is Outcome.OK


def test_attempt_limit(otp, sender):
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    code = sender.last_code
    lefts = [otp.verify(challenge.id, wrong(code)) for _ in range(4)]
    assert [v.outcome for v in lefts] == [Outcome.WRONG] * 4
    assert [v.attempts_left for v in lefts] == [4, 3, 2, 1]
    assert otp.verify(challenge.id, wrong(code)).outcome is Outcome.EXHAUSTED
    # the challenge is dead: the right code no longer works
    assert otp.verify(challenge.id, code).outcome is not Outcome.OK
    assert otp.get(challenge.id) is None


def test_right_code_on_the_last_try_works(otp, sender):
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    code = sender.last_code
    for _ in range(4):
        otp.verify(challenge.id, wrong(code))
    assert otp.verify(challenge.id, code).outcome is Outcome.OK


def test_attempts_count_for_a_non_matching_pair_too(otp):
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, False, render)
    outcomes = [otp.verify(challenge.id, f"{n:06d}").outcome for n in range(5)]
    assert outcomes == [Outcome.WRONG] * 4 + [Outcome.EXHAUSTED]


def test_malformed_input_is_not_a_try(otp, sender):
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    for junk in ("", "12345", "1234567", "abcdef", "12 456", "۱۲۳۴۵۶"):
        assert otp.verify(challenge.id, junk).outcome is Outcome.WRONG
    assert otp.verify(challenge.id, sender.last_code).outcome is Outcome.OK


def test_unknown_challenge(otp):
    assert otp.verify("no-such-challenge", "123456").outcome is Outcome.UNKNOWN
    assert otp.verify(None, "123456").outcome is Outcome.UNKNOWN
    assert otp.get(None) is None


def test_code_of_one_challenge_does_not_open_another(otp, sender):
    first, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    code_one = sender.last_code
    second, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    if sender.last_code == code_one:
        pytest.skip("two equal random codes")
    assert otp.verify(second.id, code_one).outcome is Outcome.WRONG


def test_resend_waits_then_replaces_the_code(otp, sender, clock):
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    old = sender.last_code
    assert challenge.resend_in(60) == 60
    clock.now += 59
    with pytest.raises(ValueError):
        otp.resend(challenge, render)
    clock.now += 1
    renewed, delivered = otp.resend(challenge, render)
    assert delivered is True and len(sender.sent) == 2
    assert renewed.id == challenge.id and renewed.sends == 2
    assert renewed.expires_at == clock.now + 120  # a new lifetime
    new = sender.last_code
    if new == old:
        pytest.skip("two equal random codes")
    assert otp.verify(challenge.id, old).outcome is Outcome.WRONG
    assert otp.verify(challenge.id, new).outcome is Outcome.OK


def test_code_is_not_stored_in_clear(app, otp, sender):
    from idp.db import db
    from idp.models import KVEntry
    from idp.security import keyed_hash

    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    code = sender.last_code
    otp.verify(challenge.id, wrong(code))  # an attempts row too
    rows = db.session.execute(db.select(KVEntry)).scalars().all()
    assert rows
    for row in rows:
        assert code.encode() not in row.value
        assert hashlib.sha256(code.encode()).hexdigest().encode() not in row.value  # not a bare hash either
    stored = json.loads(db.session.get(KVEntry, "otp:" + challenge.id).value)
    assert stored["code_hash"] == keyed_hash("otp", f"{challenge.id}:{code}")  # an HMAC under the server key
    assert stored["code_hash"] != keyed_hash("otp", f"{challenge.id}:{code}", master="another-server-key")


def test_codes_are_compared_in_constant_time(otp, sender, monkeypatch):
    import idp.security

    calls = []
    real = idp.security.hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(idp.security.hmac, "compare_digest", recording)
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    code = sender.last_code
    assert otp.verify(challenge.id, wrong(code)).outcome is Outcome.WRONG
    assert otp.verify(challenge.id, code).outcome is Outcome.OK
    stored = challenge.code_hash
    assert [b for _a, b in calls] == [stored, stored]


def test_otp_service_uses_the_constant_time_matcher(otp, sender, monkeypatch):
    import idp.auth.otp
    import idp.security

    seen = []

    def spy(purpose, value, digest):
        seen.append(purpose)
        return idp.security.matches(purpose, value, digest)

    monkeypatch.setattr(idp.auth.otp, "matches", spy)
    challenge, _ = otp.issue(NATIONAL_ID, MOBILE, True, render)
    otp.verify(challenge.id, sender.last_code)
    assert seen == ["otp"]


def test_codes_are_uniformly_six_digits(otp, sender):
    for _ in range(30):
        otp.issue(NATIONAL_ID, MOBILE, True, render)
    codes = [OTP_RUN.search(text).group(1) for _to, text in sender.sent]
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert len(set(codes)) > 25  # random, not a counter or a constant
