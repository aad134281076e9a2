"""The civil-registry port (who a national ID is) and the mobile-ownership port
(whether a mobile number is registered to that person).

Every answer says whether it is live: the ``http`` backends may answer from a
short-lived cache of recent answers when the service cannot, and such an
answer is marked ``live=False`` (it allows loa1, never loa2). When neither a
live nor a cached answer exists, the port raises its Unavailable error and the
login fails closed.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Callable, Hashable, Protocol
from urllib.parse import quote

import requests
from flask import g, has_request_context
from sqlalchemy import bindparam, select

from ..db import db, run_alone
from ..models import Citizen
from ..text import normalize_mobile
from .breaker import CircuitBreaker

log = logging.getLogger(__name__)


class RegistryUnavailable(RuntimeError):
    """The registry could not answer; a login fails closed."""


class OwnershipUnavailable(RegistryUnavailable):
    """The mobile-ownership service could not answer; a login fails closed."""


@dataclass(frozen=True)
class Person:
    national_id: str
    first_name: str
    last_name: str
    birth_date: date
    mobile: str
    father_name: str | None = None
    gender: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Lookup:
    """A registry answer: the person (None when there is no such national ID) and
    whether it came from the registry at this call (False: from recent answers)."""
    person: Person | None
    live: bool


@dataclass(frozen=True)
class Verdict:
    """An ownership answer and whether it came from the service at this call."""
    owner: bool
    live: bool


class CivilRegistry(Protocol):
    def find(self, national_id: str) -> Person | None: ...

    def lookup(self, national_id: str) -> Lookup: ...


class MobileOwnership(Protocol):
    def owns(self, national_id: str, mobile: str) -> bool: ...

    def verify(self, national_id: str, mobile: str) -> Verdict: ...


class DatabaseRegistry:
    """The embedded registry: the table filled by ``idp registry import``. Always live."""

    def find(self, national_id):
        return self.lookup(national_id).person

    def lookup(self, national_id):
        # asked twice in one request (registry, then ownership): read once per request
        memo = g.setdefault("registry_rows", {}) if has_request_context() else {}
        if national_id in memo:
            row = memo[national_id]
            return Lookup(None if row is None else _person(row), live=True)
        try:
            found = run_alone(_CITIZEN, {"national_id": national_id}, rows=True)  # a read needs no transaction
            row = memo[national_id] = found[0] if found else None
        except Exception as exc:  # noqa: BLE001 - any database failure means "cannot answer"
            db.session.rollback()
            raise RegistryUnavailable(str(exc)) from exc
        return Lookup(None if row is None else _person(row), live=True)


#: built once: a statement made per call costs more to build than to run
_CITIZEN = select(Citizen.__table__).where(Citizen.__table__.c.national_id == bindparam("national_id"))


def _person(row) -> Person:
    return Person(row.national_id, row.first_name, row.last_name, row.birth_date, row.mobile,
                  row.father_name, row.gender, row.email)


class RegistryOwnership:
    """Ownership as the registry records it: the mobile on file for the person.
    As live as the registry's answer."""

    def __init__(self, registry: CivilRegistry):
        self.registry = registry

    def owns(self, national_id, mobile):
        return self.verify(national_id, mobile).owner

    def verify(self, national_id, mobile):
        found = self.registry.lookup(national_id)
        return Verdict(found.person is not None and found.person.mobile == mobile, found.live)


# --- the http backends ------------------------------------------------------------------------

_MISSING = object()


class RecentAnswers:
    """The last live answers, kept ``ttl`` seconds, at most ``size`` of them (least recently
    used go first). Read only when the service cannot answer. Thread-safe."""

    def __init__(self, ttl: float, size: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()

    def put(self, key, value) -> None:
        if self.ttl <= 0 or self.size <= 0:
            return
        with self._lock:
            self._entries[key] = (self.clock() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def get(self, key, default=_MISSING):
        """The value, or ``default`` when there is none or it has expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return default
            if entry[0] <= self.clock():
                del self._entries[key]
                return default
            self._entries.move_to_end(key)
            return entry[1]

    def __len__(self):
        with self._lock:
            return len(self._entries)


class _Transient(Exception):
    """This attempt failed in a way another attempt may not (5xx, timeout, bad body)."""


class _Refused(Exception):
    """The service refused us (a 4xx): misconfiguration, retrying will not help."""


class _HttpPort:
    """Timeouts, retries with capped exponential back-off, a circuit breaker and the
    recent-answers fallback, shared by the http backends of both ports."""

    unavailable: type[RegistryUnavailable] = RegistryUnavailable
    name = "service"

    def __init__(self, base_url: str, token: str = "", timeout: float = 3.0, retries: int = 2,
                 breaker: CircuitBreaker | None = None, cache_ttl: float = 60.0, *,
                 cache_size: int = 10_000, backoff: float = 0.1, backoff_cap: float = 2.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self.recent = RecentAnswers(cache_ttl, cache_size)
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def _answer(self, key, send: Callable[[], requests.Response],
                read: Callable[[requests.Response], object]) -> tuple[object, bool]:
        """(value, live): the live answer, else a recent one, else the Unavailable error."""
        try:
            value = self._live(send, read)
        except RegistryUnavailable as exc:
            cached = self.recent.get(key)
            if cached is _MISSING:
                raise
            log.warning("%s unavailable (%s): answering from a recent answer", self.name, exc)
            return cached, False
        self.recent.put(key, value)
        return value, True

    def _live(self, send, read):
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self._delay(attempt))
            if not self.breaker.allow():
                raise self.unavailable(f"{self.name}: circuit open" + (f" after {reason}" if reason else ""))
            try:
                value = self._attempt(send, read)
            except _Transient as exc:
                self.breaker.record_failure()
                reason = str(exc)
                continue
            except _Refused as exc:
                self.breaker.record_failure()
                log.error("%s refused the request (%s): check its URL and token", self.name, exc)
                raise self.unavailable(f"{self.name}: refused ({exc})") from None
            except BaseException:
                self.breaker.record_failure()  # never leave a half-open trial unaccounted for
                raise
            self.breaker.record_success()
            return value
        raise self.unavailable(f"{self.name}: {reason} after {self.retries + 1} attempts")

    @staticmethod
    def _attempt(send, read):
        try:
            response = send()
        except requests.RequestException as exc:
            raise _Transient(type(exc).__name__) from None
        if response.status_code >= 500:
            raise _Transient(f"http-{response.status_code}")
        return read(response)

    def _delay(self, attempt: int) -> float:
        """Capped exponential back-off with jitter (so callers do not retry in step)."""
        delay = min(self.backoff_cap, self.backoff * 2 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)

    @staticmethod
    def _json(response: requests.Response):
        if response.status_code != 200:
            raise _Refused(f"http-{response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise _Transient("malformed JSON") from None


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def person_from_json(payload, national_id: str) -> Person:
    """The registry's JSON record as a Person; ValueError when it is not one (or not this one)."""
    if not isinstance(payload, dict):
        raise ValueError("not an object")

    def text(name, required=False):
        value = payload.get(name)
        if value is None or value == "":
            if required:
                raise ValueError(f"{name} missing")
            return None
        if not isinstance(value, str):
            raise ValueError(f"{name} not a string")
        return value.strip()

    if text("national_id", required=True) != national_id:
        raise ValueError("the record is for another national ID")
    birth_date = text("birth_date", required=True)
    if not _DATE.fullmatch(birth_date):
        raise ValueError("birth_date not YYYY-MM-DD")
    return Person(national_id, text("first_name", True), text("last_name", True), date.fromisoformat(birth_date),
                  normalize_mobile(text("mobile", True)), text("father_name"), text("gender"), text("email"))


class HttpRegistry(_HttpPort):
    """``GET {base_url}/citizens/{national_id}``: 200 with the record, 404 for no such person."""

    unavailable = RegistryUnavailable
    name = "civil registry"

    def find(self, national_id):
        return self.lookup(national_id).person

    def lookup(self, national_id):
        url = f"{self.base_url}/citizens/{quote(national_id, safe='')}"

        def send():
            return self.session.get(url, timeout=(self.timeout, self.timeout), allow_redirects=False)

        def read(response):
            if response.status_code == 404:
                return None
            try:
                return person_from_json(self._json(response), national_id)
            except ValueError as exc:
                raise _Transient(f"malformed record: {exc}") from None

        person, live = self._answer(national_id, send, read)
        return Lookup(person, live)


class HttpOwnership(_HttpPort):
    """``POST {base_url}/ownership`` with ``{national_id, mobile}``: 200 with ``{"owner": bool}``."""

    unavailable = OwnershipUnavailable
    name = "mobile-ownership service"

    def owns(self, national_id, mobile):
        return self.verify(national_id, mobile).owner

    def verify(self, national_id, mobile):
        url = f"{self.base_url}/ownership"

        def send():
            return self.session.post(url, json={"national_id": national_id, "mobile": mobile},
                                     timeout=(self.timeout, self.timeout), allow_redirects=False)

        def read(response):
            payload = self._json(response)
            owner = payload.get("owner") if isinstance(payload, dict) else None
            if not isinstance(owner, bool):
                raise _Transient("malformed answer: no boolean 'owner'")
            return owner

        owner, live = self._answer((national_id, mobile), send, read)
        return Verdict(owner, live)


# --- one configuration key picks a backend; each backend has a factory ------------------------

def _breaker(settings) -> CircuitBreaker:
    return CircuitBreaker(settings.adapter_breaker_threshold, settings.adapter_breaker_cooldown)


def _database_registry(settings) -> CivilRegistry:
    return DatabaseRegistry()


def _http_registry(settings) -> CivilRegistry:
    return HttpRegistry(settings.registry_url, settings.registry_token, settings.adapter_timeout,
                        settings.adapter_retries, _breaker(settings), settings.registry_cache_ttl)


def _registry_ownership(settings, registry: CivilRegistry) -> MobileOwnership:
    return RegistryOwnership(registry)


def _http_ownership(settings, registry: CivilRegistry) -> MobileOwnership:
    return HttpOwnership(settings.ownership_url, settings.ownership_token, settings.adapter_timeout,
                         settings.adapter_retries, _breaker(settings), settings.registry_cache_ttl)


REGISTRY_BACKENDS: dict[str, Callable[..., CivilRegistry]] = {
    "database": _database_registry,
    "http": _http_registry,
}
OWNERSHIP_BACKENDS: dict[str, Callable[..., MobileOwnership]] = {
    "registry": _registry_ownership,
    "http": _http_ownership,
}


def create_registry(settings) -> CivilRegistry:
    factory = REGISTRY_BACKENDS.get(settings.registry_backend)
    if factory is None:
        raise ValueError(f"unknown registry backend {settings.registry_backend!r}")
    return factory(settings)


def create_ownership(settings, registry: CivilRegistry) -> MobileOwnership:
    factory = OWNERSHIP_BACKENDS.get(settings.ownership_backend)
    if factory is None:
        raise ValueError(f"unknown ownership backend {settings.ownership_backend!r}")
    return factory(settings, registry)
