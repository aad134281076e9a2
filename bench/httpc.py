"""A minimal HTTP/1.1 client on asyncio streams: the cheapest load generator Python offers.

Requests are pre-built bytes; responses are parsed only as far as the benchmark
needs (status, a few headers, the body by Content-Length or chunks). A
connection is kept alive unless the server says ``Connection: close`` (gunicorn's
sync workers do after every response), then reopened for the next request.
Only 127.0.0.1 is ever a target.
"""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import urlencode

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class HttpError(RuntimeError):
    pass


class Response:
    __slots__ = ("status", "headers", "cookies", "body")

    def __init__(self, status: int, headers: dict[str, str], cookies: list[str], body: bytes):
        self.status = status
        self.headers = headers
        self.cookies = cookies
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def basic_auth(client_id: str, secret: str) -> str:
    # RFC 6749 section 2.3.1: form-encode, then Basic
    from urllib.parse import quote

    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def build(method: str, path: str, host: str, headers: dict[str, str] | None = None,
          form: dict | None = None, body: bytes | None = None) -> bytes:
    """One request as bytes (keep-alive asked for; the server decides)."""
    if form is not None:
        body = urlencode(form).encode()
        headers = dict(headers or {}, **{"Content-Type": "application/x-www-form-urlencoded"})
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: panjereh-bench/1", "Accept: */*"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


class Connection:
    def __init__(self, host: str, port: int):
        if host not in LOOPBACK:
            raise ValueError(f"refusing to send load to {host}: the benchmark targets 127.0.0.1 only")
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def _open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.connects += 1

    def close(self):
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001
                pass
        self.reader = self.writer = None

    async def request(self, raw: bytes, retry_idempotent: bool = True) -> Response:
        for attempt in (0, 1):
            reused = self.writer is not None
            if not reused:
                await self._open()
            try:
                self.writer.write(raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                self.close()
                partial = getattr(exc, "partial", b"")
                # a kept-alive connection the server had closed: nothing was processed, send again
                if reused and attempt == 0 and not partial and retry_idempotent:
                    continue
                raise HttpError(f"connection failed: {exc!r}") from None
            return await self._read(head)
        raise HttpError("unreachable")

    async def _read(self, head: bytes) -> Response:
        lines = head[:-4].split(b"\r\n")
        status_line = lines[0]
        try:
            status = int(status_line[9:12])
        except ValueError:
            self.close()
            raise HttpError(f"bad status line {status_line!r}") from None
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower().decode("latin-1")
            text = value.strip().decode("latin-1")
            if key == "set-cookie":
                cookies.append(text)
            else:
                headers[key] = text
        reader = self.reader
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                parts.append((await reader.readexactly(size + 2))[:-2])
            body = b"".join(parts)
        else:
            body = await reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close" or status_line.startswith(b"HTTP/1.0"):
            self.close()
        return Response(status, headers, cookies, body)
