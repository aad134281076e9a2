"""One-time codes sent by SMS: issue, resend, verify.

A challenge is issued for every national ID and mobile pair typed, matching or
not, so the next page never tells who exists; only a matching pair gets a code
and an SMS. Codes are 6 digits, live ``otp_ttl`` seconds, are single use,
allow ``otp_max_attempts`` wrong tries per challenge, and are kept only as a
keyed hash compared in constant time.

Verification order (each step fails closed): format, challenge present, not
expired, attempt counted, constant-time compare, consumed atomically. A challenge
verified by its id is read with its try counted, in one round trip: a try at an
expired code counts too (stricter, never looser: it is not taken back, since a
counter that expired meanwhile would go below zero and give a resent code more
tries), and one at an absent challenge counts for nothing.
"""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass
from typing import Callable

from ..security import keyed_hash, matches, numeric_code, random_token

PURPOSE = "otp"
CODE_FORMAT = re.compile(r"^[0-9]{6}$")


class Outcome(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"  # too many wrong tries: the challenge is dead
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Challenge:
    id: str
    national_id: str
    mobile: str
    matched: bool
    code_hash: str | None
    expires_at: float
    sent_at: float
    sends: int

    def resend_in(self, wait: int, now: float | None = None) -> int:
        return max(0, int(self.sent_at + wait - (now or time.time())))


@dataclass(frozen=True)
class Verification:
    outcome: Outcome
    challenge: Challenge | None = None
    attempts_left: int = 0


class OtpService:
    def __init__(self, store, sender, *, ttl: int, max_attempts: int, resend_after: int):
        self.store = store
        self.sender = sender
        self.ttl = ttl
        self.max_attempts = max_attempts
        self.resend_after = resend_after

    # storage: the challenge lives a little longer than its code, so "expired" is told apart
    def _keep(self) -> int:
        return self.ttl + 600

    def entry(self, challenge: Challenge) -> tuple[str, dict, int]:
        """The challenge as the store keeps it (key, value, lifetime): for a caller that saves it
        with its own entries in one round trip (``issue(..., save=False)``)."""
        return "otp:" + challenge.id, challenge.__dict__, self._keep()

    def _save(self, challenge: Challenge) -> None:
        self.store.put(*self.entry(challenge))

    def get(self, challenge_id: str | None) -> Challenge | None:
        if not challenge_id:
            return None
        data = self.store.get("otp:" + challenge_id)
        return Challenge(**data) if data else None

    def issue(self, national_id: str, mobile: str, matched: bool,
              render: Callable[[str], str], save: bool = True) -> tuple[Challenge, bool | None]:
        """A new challenge; sends the code when the pair matched.

        Returns the challenge and whether the SMS went out (None when nothing was sent
        because the pair did not match). ``save=False``: the caller saves it (``entry``)."""
        now = time.time()
        challenge = Challenge(random_token(24), national_id, mobile, matched, None, now + self.ttl, now, 0)
        return self._send(challenge, render, now, save)

    def resend(self, challenge: Challenge, render, wait: int | None = None) -> tuple[Challenge, bool | None]:
        now = time.time()
        if challenge.resend_in(self.resend_after if wait is None else wait, now):
            raise ValueError("resend not allowed yet")
        return self._send(challenge, render, now)

    def _send(self, challenge: Challenge, render, now: float, save: bool = True):
        delivered = None
        code_hash = None
        if challenge.matched:
            code = numeric_code(6)
            code_hash = keyed_hash(PURPOSE, f"{challenge.id}:{code}")
            delivered = self.sender.send(challenge.mobile, render(code)).ok
        challenge = Challenge(challenge.id, challenge.national_id, challenge.mobile, challenge.matched,
                              code_hash, now + self.ttl, now, challenge.sends + 1)
        if save:
            self._save(challenge)
        return challenge, delivered

    def verify(self, challenge: Challenge | str | None, code: str, consume: bool = True) -> Verification:
        """Check a code against a challenge (as just read, or by its id). A right code uses the
        challenge up, unless ``consume`` is False: then the caller consumes it (``consume()``) once
        it has done what the code was for, so a failure on the way leaves the code usable."""
        if not CODE_FORMAT.match(code or ""):
            return Verification(Outcome.WRONG)  # not a code at all: not counted as a try
        if isinstance(challenge, Challenge):
            attempts = None
        elif challenge:  # by its id: read, and the try counted, in one round trip
            data, attempts = self.store.get_counting("otp:" + challenge, f"otp:{challenge}:attempts", self._keep())
            challenge = Challenge(**data) if data else None
        else:
            challenge = None
        if challenge is None:
            return Verification(Outcome.UNKNOWN)
        if challenge.expires_at <= time.time():
            return Verification(Outcome.EXPIRED, challenge)
        if attempts is None:
            attempts = self.store.incr(f"otp:{challenge.id}:attempts", self._keep())
        if attempts > self.max_attempts:
            self.kill(challenge)
            return Verification(Outcome.EXHAUSTED, challenge)
        if matches(PURPOSE, f"{challenge.id}:{code}", challenge.code_hash):
            if not consume or self.consume(challenge):
                return Verification(Outcome.OK, challenge)  # its try counter expires with it
            return Verification(Outcome.UNKNOWN)
        left = self.max_attempts - attempts
        if left <= 0:
            self.kill(challenge)
            return Verification(Outcome.EXHAUSTED, challenge)
        return Verification(Outcome.WRONG, challenge, left)

    def consume(self, challenge: Challenge) -> bool:
        """Single use: of the requests that present the right code, only the one that removes the
        challenge wins. With the database as the store, the removal is part of the caller's
        transaction (committed with the sign-in, or undone with it)."""
        return self.store.take("otp:" + challenge.id)

    def kill(self, challenge: Challenge) -> None:
        self.store.delete("otp:" + challenge.id)
        self.store.delete(f"otp:{challenge.id}:attempts")
