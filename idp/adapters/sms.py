"""The SMS port: send one text to one mobile number.

Senders return a ``Delivery`` and never raise for a failed delivery; the caller
decides what a failure means for the citizen.
"""

from __future__ import annotations

import json
import logging
import os
import time
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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"to": to, "text": text, "at": int(time.time())}, ensure_ascii=False)
            # O_APPEND writes of one short line are atomic across worker processes
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
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


def create_sender(settings) -> SmsSender:
    if settings.sms_backend == "http":
        return HttpSender(settings.sms_gateway_url, settings.sms_gateway_token,
                          settings.sms_timeout, settings.sms_retries)
    if not settings.testing:
        # a development-only backend announces itself
        log.warning("SMS codes are written to %s, not sent: set IDP_SMS_BACKEND=http in production",
                    settings.sms_outbox)
    return OutboxSender(settings.sms_outbox, echo=settings.sms_echo)
