"""The SMS port: send one text to one mobile number.

Senders return a ``Delivery`` and never raise for a failed delivery; the caller
decides what a failure means for the citizen.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    error: str | None = None


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> Delivery: ...


class OutboxSender:
    """Appends one JSON object per line to a file (``to``, ``text``, ``at``)."""

    def __init__(self, path: str, echo: bool = False):
        self.path = Path(path)
        self.echo = echo

    def send(self, to, text):
        line = json.dumps({"to": to, "text": text, "at": int(time.time())}, ensure_ascii=False) + "\n"
        try:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            except FileNotFoundError:  # the first message: its folder is made then
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            data = line.encode()
            try:
                if os.write(fd, data) != len(data):  # one O_APPEND write of one short line: whole, across workers
                    raise OSError("short write (disk full?)")
            finally:
                os.close(fd)
        except OSError as exc:
            log.error("SMS outbox not writable: %s", exc)
            return Delivery(False, "outbox-unwritable")
        if self.echo:
            print(f"[sms to {to}] {text}", flush=True)
        return Delivery(True)


class HttpSender:
    """Posts ``{"to", "text"}`` as JSON to an SMS gateway, with timeout and retry."""

    def __init__(self, url: str, token: str = "", timeout: float = 5.0, retries: int = 2,
                 backoff: float = 0.2):
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def send(self, to, text):
        error = "unknown"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self.session.post(self.url, json={"to": to, "text": text}, timeout=self.timeout)
            except requests.RequestException as exc:
                error = type(exc).__name__
                continue
            if response.status_code < 300:
                return Delivery(True)
            error = f"http-{response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # the gateway refused this message; retrying will not help
        log.warning("SMS delivery failed: %s", error)
        return Delivery(False, error)


class BackgroundSender:
    """Hands each message to a small pool of threads and answers at once.

    The page after the national ID and mobile must take as long whether or not a
    code was sent (only a matching pair gets one), so a real gateway's latency
    cannot show who exists. A delivery that fails is logged and reported to
    ``on_failure(to, error)``."""

    def __init__(self, sender: SmsSender, workers: int = 4, on_failure=None):
        self.sender = sender
        self.on_failure = on_failure
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sms")
        self._pending: list[Future] = []

    def send(self, to, text):
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self.pool.submit(self._deliver, to, text))
        return Delivery(True)  # accepted for delivery

    def _deliver(self, to, text):
        delivery = self.sender.send(to, text)
        if not delivery.ok and self.on_failure is not None:
            try:
                self.on_failure(to, delivery.error)
            except Exception:  # noqa: BLE001 - a report that fails must not hide the failure itself
                log.exception("could not report an SMS delivery failure")
        return delivery

    def flush(self, timeout: float = 30.0) -> list[Delivery]:
        """Wait for the messages handed over so far (for tests and orderly shutdown)."""
        pending, self._pending = self._pending, []
        return [f.result(timeout=timeout) for f in pending]


def create_sender(settings, on_failure=None) -> SmsSender:
    if settings.sms_backend == "http":
        return BackgroundSender(HttpSender(settings.sms_gateway_url, settings.sms_gateway_token,
                                           settings.sms_timeout, settings.sms_retries), on_failure=on_failure)
    if not settings.testing:
        # a development-only backend announces itself
        log.warning("SMS codes are written to %s, not sent: set IDP_SMS_BACKEND=http in production",
                    settings.sms_outbox)
    return OutboxSender(settings.sms_outbox, echo=settings.sms_echo)
