"""Abuse limits on the costly, attackable part: sending SMS codes.

Flask-Limiter (on the ``limits`` library) counts in the shared key-value store
(Redis when ``IDP_REDIS_URL`` is set, the database otherwise), so every limit
holds across workers and hosts. On top of its per-route IP limits, the login
asks ``AbuseLimits`` about the national ID, the mobile number, the IP range
and the day's SMS budget of a mobile, and locks a national ID out for a while
after repeated failed challenges.

``IDP_RATE_LIMITS=off`` turns all of this off; the per-challenge attempt limit
of the one-time code is not here and always holds.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from flask import current_app
from limits import parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

from ..adapters.store import StoreUnavailable


class KeyValueLimitStorage(Storage):
    """``limits`` storage on the provider's key-value store (``panjereh+kv://``)."""

    STORAGE_SCHEME = ["panjereh+kv"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self):
        return (StoreUnavailable,)

    @staticmethod
    def _store():
        return current_app.extensions["panjereh"].store

    def incr(self, key, expiry, amount=1):
        return self._store().incr("limit:" + key, max(int(expiry), 1), amount)

    def get(self, key):
        return self._store().count("limit:" + key)

    def get_expiry(self, key):
        return self._store().expires_at("limit:" + key) or time.time()

    def check(self):
        return True

    def reset(self):
        return None

    def clear(self, key):
        self._store().delete("limit:" + key)


class Limited(Exception):
    """A limit was reached; ``retry_after`` seconds until it lifts."""

    def __init__(self, reason: str, retry_after: int):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = max(1, int(retry_after))


@dataclass(frozen=True)
class LimitSettings:
    national_id: str = "5 per 15 minutes"
    mobile: str = "5 per 15 minutes"
    mobile_daily: str = "10 per day"
    ip_range: str = "200 per hour"
    lockout_after: int = 3       # failed (exhausted) challenges of one national ID ...
    lockout_window: int = 3600   # ... within this many seconds ...
    lockout_for: int = 1800      # ... lock it out this long


def pair(national_id: str, mobile: str) -> str:
    return f"{national_id}:{mobile}"


def ip_range(ip: str | None) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of an address: SMS pumping comes in ranges."""
    try:
        address = ipaddress.ip_address(ip or "0.0.0.0")
    except ValueError:
        return "unknown"
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class AbuseLimits:
    def __init__(self, limiter: FixedWindowRateLimiter, store, settings: LimitSettings, enabled: bool):
        self.limiter = limiter
        self.store = store
        self.settings = settings
        self.enabled = enabled

    def _hit(self, reason: str, limit: str, *keys: str) -> None:
        item = parse(limit)
        if not self.limiter.hit(item, reason, *keys):
            reset_at = self.limiter.get_window_stats(item, reason, *keys).reset_time
            raise Limited(reason, reset_at - time.time())

    def before_sending(self, national_id: str, mobile: str, ip: str | None) -> None:
        """Count one code request; raises Limited when any limit is reached.

        The national-ID limit and the lockout are kept per national ID *and* mobile
        typed: whoever does not know a citizen's mobile cannot lock them out, and the
        answer depends only on what was typed, never on what the registry holds."""
        if not self.enabled:
            return
        self.check_lockout(national_id, mobile)
        s = self.settings
        self._hit("ip-range", s.ip_range, ip_range(ip))
        self._hit("national-id", s.national_id, pair(national_id, mobile))
        self._hit("mobile", s.mobile, mobile)
        self._hit("mobile-daily", s.mobile_daily, mobile)

    def check_lockout(self, national_id: str, mobile: str) -> None:
        if not self.enabled:
            return
        until = self.store.get("lockout:" + pair(national_id, mobile))
        if until and until["until"] > time.time():
            raise Limited("lockout", until["until"] - time.time())

    def challenge_failed(self, national_id: str, mobile: str) -> bool:
        """A challenge died of wrong codes; True when this locks the pair out."""
        if not self.enabled:
            return False
        s = self.settings
        key = pair(national_id, mobile)
        failures = self.store.incr("failed-challenges:" + key, s.lockout_window)
        if failures >= s.lockout_after:
            self.store.put("lockout:" + key, {"until": time.time() + s.lockout_for}, s.lockout_for)
            self.store.delete("failed-challenges:" + key)
            return True
        return False

    def resend_wait(self, base: int, sends: int) -> int:
        """Seconds between sends: doubling with every resend while limits are on."""
        if not self.enabled:
            return base
        return base * 2 ** max(0, min(sends - 1, 6))
