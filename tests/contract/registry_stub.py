"""A real HTTP server, on 127.0.0.1 and an ephemeral port, that plays the civil registry
(``GET /citizens/<id>``) and the mobile-ownership service (``POST /ownership``) for a list
of citizens, and misbehaves on request: a status, a body, or a hang.

Every request is counted (``requests``), so a test can tell whether a call went out.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


def record(row: dict) -> dict:
    """A citizens row (as ``generate_citizens`` yields it) as the registry's JSON; empty optional
    fields are left out, as a real registry may do."""
    return {name: value for name, value in row.items() if value != ""}


class RegistryStub:
    def __init__(self, citizens: list[dict], token: str = ""):
        self.people = {row["national_id"]: record(row) for row in citizens}
        self.token = token  # when set, any other bearer token is answered 401
        self.status: int | None = None  # answer every request with this status...
        self.body: bytes | None = None  # ...and/or this body (with status 200 unless set)
        self.hang: float = 0.0  # seconds to wait before answering
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # a client that gave up is no news
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def healthy(self) -> None:
        self.status, self.body, self.hang = None, None, 0.0

    def __enter__(self) -> "RegistryStub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()  # wake hanging handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def answer(self, method: str, path: str, authorization: str | None, body: bytes) -> tuple[int, bytes]:
        self.requests.append((method, path, authorization))
        if self.hang:
            self._release.wait(self.hang)
        if self.status is not None or self.body is not None:
            return self.status or 200, self.body if self.body is not None else b"{}"
        if self.token and authorization != f"Bearer {self.token}":
            return 401, b'{"error": "unauthorized"}'
        if method == "GET" and path.startswith("/citizens/"):
            person = self.people.get(unquote(path[len("/citizens/"):]))
            if person is None:
                return 404, b'{"error": "not_found"}'
            return 200, json.dumps(person, ensure_ascii=False).encode()
        if method == "POST" and path == "/ownership":
            asked = json.loads(body)
            person = self.people.get(asked["national_id"])
            owner = person is not None and person["mobile"] == asked["mobile"]
            return 200, json.dumps({"owner": owner}).encode()
        return 404, b'{"error": "not_found"}'

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = stub.answer(self.command, self.path, self.headers.get("Authorization"), body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        return Handler
