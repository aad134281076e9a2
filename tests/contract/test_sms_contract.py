"""The SMS port: every backend delivers `to` and `text`, answers with a Delivery and never raises."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from idp.adapters.sms import BackgroundSender, Delivery, HttpSender, OutboxSender


class Gateway:
    """A local SMS gateway: records what it receives; answers with the statuses it is told to."""

    def __init__(self):
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.received.append(json.loads(body))
                gateway.headers.append(dict(self.headers))
                time.sleep(gateway.delay)
                status = gateway.statuses.pop(0) if gateway.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


def outbox_backend(tmp_path, gateway):
    path = tmp_path / "outbox.jsonl"
    return OutboxSender(str(path)), lambda: [json.loads(line) for line in path.read_text().splitlines()]


def http_backend(tmp_path, gateway):
    return HttpSender(gateway.url, "gateway-token", timeout=1.0, retries=1, backoff=0.01), lambda: gateway.received


def background_backend(tmp_path, gateway):
    sender = BackgroundSender(HttpSender(gateway.url, timeout=1.0, retries=1, backoff=0.01))

    def received():
        sender.flush()
        return gateway.received
    return sender, received


@pytest.mark.parametrize("backend", [outbox_backend, http_backend, background_backend])
def test_every_backend_delivers_to_and_text(tmp_path, gateway, backend):
    sender, received = backend(tmp_path, gateway)
    delivery = sender.send("09121234567", "Panjereh sign-in code: 123456")
    assert delivery == Delivery(True)
    [message] = received()
    assert message["to"] == "09121234567" and "123456" in message["text"]


def test_http_sends_the_gateway_token(gateway):
    HttpSender(gateway.url, "gateway-token").send("09121234567", "x")
    assert gateway.headers[0]["Authorization"] == "Bearer gateway-token"


def test_http_retries_a_server_error_then_delivers(gateway):
    gateway.statuses = [503]
    assert HttpSender(gateway.url, retries=2, backoff=0.01).send("09121234567", "x").ok
    assert len(gateway.received) == 2


def test_http_gives_up_without_raising(gateway):
    gateway.statuses = [500, 500, 500]
    delivery = HttpSender(gateway.url, retries=2, backoff=0.01).send("09121234567", "x")
    assert delivery == Delivery(False, "http-500") and len(gateway.received) == 3


def test_http_does_not_retry_a_refusal(gateway):
    gateway.statuses = [400]
    assert HttpSender(gateway.url, retries=2, backoff=0.01).send("09121234567", "x") == Delivery(False, "http-400")
    assert len(gateway.received) == 1


def test_http_times_out_without_raising(gateway):
    gateway.delay = 0.5
    delivery = HttpSender(gateway.url, timeout=0.1, retries=0).send("09121234567", "x")
    assert not delivery.ok and delivery.error in ("ReadTimeout", "Timeout", "ConnectionError")


def test_an_unreachable_gateway_is_a_failed_delivery():
    delivery = HttpSender("http://127.0.0.1:9/send", timeout=0.2, retries=0).send("09121234567", "x")
    assert not delivery.ok


def test_background_answers_at_once_and_reports_failures(gateway):
    gateway.delay = 0.3
    gateway.statuses = [500]
    failures = []
    sender = BackgroundSender(HttpSender(gateway.url, timeout=2.0, retries=0),
                              on_failure=lambda to, error: failures.append((to, error)))
    started = time.monotonic()
    assert sender.send("09121234567", "x").ok
    assert time.monotonic() - started < 0.2  # the citizen's page does not wait for the gateway
    sender.flush()
    assert failures == [("09121234567", "http-500")]
