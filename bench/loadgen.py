"""The load generator: a separate process, one asyncio loop, N keep-alive connections.

Run by the orchestrator as ``python -m bench.loadgen`` with a JSON spec on stdin;
prints one JSON result on stdout. Every run is bounded: it stops issuing requests
at ``warmup + duration`` seconds or after ``max_requests``, whichever comes first,
and the orchestrator kills it if it outlives its deadline.

The measured window starts after the warm-up: counters are reset and the
servers' CPU (from /proc, see procstat.py) is snapshotted at its start and end.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import os
import re
import resource
import secrets
import sys
import time
from urllib.parse import parse_qs, urlencode, urlsplit

from . import procstat
from .httpc import Connection, HttpError, basic_auth, build

CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE = re.compile(r'value="([^"]*)"')
OTP_RUN = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(latencies: list[float]) -> dict:
    values = sorted(latencies)
    return {"n": len(values), "p50_ms": _ms(percentile(values, 0.50)), "p90_ms": _ms(percentile(values, 0.90)),
            "p99_ms": _ms(percentile(values, 0.99)), "max_ms": _ms(values[-1] if values else None),
            "mean_ms": _ms(sum(values) / len(values) if values else None)}


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 3)


class Window:
    """Counts and latencies, reset when the measured window opens."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.start = time.perf_counter()
        self.measure_from = self.start + spec["warmup"]
        self.stop_at = self.measure_from + spec["duration"]
        self.max_requests = spec["max_requests"]
        self.issued = 0
        self.issued_measuring = 0
        self.measuring = False
        self.ok = 0
        self.weighted = 0.0
        self.errors: dict[str, int] = {}
        self.latencies: list[float] = []
        self.steps: dict[str, list[float]] = {}
        self.opened_at = None
        self.closed_at = None
        self.last_done = None
        self.exhausted = None  # why the window closed early, if it did
        self.snap_before = None
        self.rusage_before = None
        self.groups = spec.get("pid_groups", {})

    def open(self):
        if self.measuring:
            return
        self.measuring = True
        self.ok = 0
        self.weighted = 0.0
        self.errors = {}
        self.latencies = []
        self.steps = {}
        self.rusage_before = resource.getrusage(resource.RUSAGE_SELF)
        self.everyone_before = procstat.everyone()
        self.snap_before = procstat.Snapshot.take(self._groups())
        self.opened_at = time.perf_counter()

    def _groups(self) -> dict[str, list[int]]:
        groups = {}
        for name, root in self.groups.items():
            groups[name] = procstat.tree(root) if isinstance(root, int) else list(root)
        if self.spec.get("dbname"):
            groups["postgres"] = procstat.postgres_backends(self.spec["dbname"])
            groups["redis"] = procstat.redis_servers()
        return groups

    def may_issue(self) -> bool:
        now = time.perf_counter()
        if not self.measuring and now >= self.measure_from:
            self.open()
        if now >= self.stop_at:
            return False
        if self.issued >= self.max_requests:
            self.exhausted = self.exhausted or "max_requests"
            return False
        if self.measuring and self.spec.get("max_measured") is not None:
            if self.issued_measuring >= self.spec["max_measured"]:
                return False
            self.issued_measuring += 1
        self.issued += 1
        return True

    def done(self, latency: float, ok: bool, error: str | None = None, steps: dict | None = None):
        if not self.measuring:
            return
        now = time.perf_counter()
        self.last_done = now
        if ok:
            self.ok += 1
            # an operation started before the window opened counts for the share of it inside the window,
            # so operations in flight at the opening neither inflate the rate nor deflate CPU per operation
            started = now - latency
            self.weighted += 1.0 if started >= self.opened_at else max(0.0, (now - self.opened_at) / latency)
            self.latencies.append(latency)
            for name, value in (steps or {}).items():
                self.steps.setdefault(name, []).append(value)
        else:
            self.errors[error or "error"] = self.errors.get(error or "error", 0) + 1

    def result(self) -> dict:
        if not self.measuring:
            self.open()
        self.closed_at = time.perf_counter()
        snap_after = procstat.Snapshot.take(self._groups())
        usage = resource.getrusage(resource.RUSAGE_SELF)
        ours = {os.getpid()} | {pid for group in snap_after.groups.values() for pid in group} | \
            {pid for group in self.snap_before.groups.values() for pid in group}
        others = procstat.top_others(self.everyone_before, procstat.everyone(), ours)
        elapsed = max(1e-9, self.closed_at - self.opened_at)
        cpu = procstat.delta(self.snap_before, snap_after)
        loadgen_cpu = (usage.ru_utime + usage.ru_stime) - (self.rusage_before.ru_utime + self.rusage_before.ru_stime)
        out = {
            "ok": self.ok, "ops": self.weighted, "errors": self.errors, "elapsed_s": round(elapsed, 3),
            "rate": self.weighted / elapsed, "latency": summarize(self.latencies),
            "steps": {name: summarize(values) for name, values in self.steps.items()},
            "cpu": cpu, "loadgen_cpu_s": loadgen_cpu, "exhausted": self.exhausted,
            "top_others": [(name, round(seconds, 2)) for name, seconds in others],
        }
        return out


# --- simple scenarios: the same request (per connection) over and over ---

# --- simple scenarios on a hand-rolled selector loop: the least load-generator CPU per request ---

class _Conn:
    __slots__ = ("sock", "raw", "buf", "t0", "reused", "header_end", "length")

    def __init__(self, raw: bytes):
        self.sock = None
        self.raw = raw
        self.buf = b""
        self.t0 = 0.0
        self.reused = False
        self.header_end = -1
        self.length = None


def constant(spec: dict) -> dict:
    """GET or POST a pre-built request over and over; ``requests`` is a list, one per connection
    (round robin). Non-blocking sockets and ``selectors``: no asyncio, no per-request objects."""
    import selectors
    import socket

    window = Window(spec)
    host = f"{spec['host']}:{spec['port']}"
    if spec["host"] not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the benchmark targets 127.0.0.1 only")
    address = (spec["host"], spec["port"])
    raws = [build(r["method"], r["path"], host, r.get("headers"), r.get("form")) for r in spec["requests"]]
    expect_status = spec.get("expect_status", 200)
    idempotent = spec.get("idempotent", True)
    sel = selectors.DefaultSelector()
    READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
    perf = time.perf_counter
    connects = 0

    def send(conn: _Conn):
        nonlocal connects
        conn.buf = b""
        conn.header_end = -1
        conn.length = None
        conn.t0 = perf()
        if conn.sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect_ex(address)
            conn.sock = sock
            conn.reused = False
            connects += 1
            sel.register(sock, WRITE, conn)
        else:
            conn.reused = True
            conn.sock.send(conn.raw)
            sel.modify(conn.sock, READ, conn)

    def drop(conn: _Conn):
        sel.unregister(conn.sock)
        conn.sock.close()
        conn.sock = None

    def next_or_finish(conn: _Conn):
        if window.may_issue():
            send(conn)
        elif conn.sock is not None:
            drop(conn)

    active = [_Conn(raws[i % len(raws)]) for i in range(spec["concurrency"])]
    for conn in active:
        next_or_finish(conn)
    while sel.get_map():
        if not window.measuring:
            wait = window.measure_from - perf()
            if wait <= 0:
                window.open()
        else:
            wait = 1.0
        for key, events in sel.select(timeout=min(1.0, max(0.0, wait))):
            conn = key.data
            sock = conn.sock
            if events & WRITE:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    drop(conn)
                    window.done(0, False, f"transport: connect errno {error}")
                    next_or_finish(conn)
                    continue
                sock.send(conn.raw)
                sel.modify(sock, READ, conn)
                continue
            try:
                data = sock.recv(262144)
            except ConnectionError:
                data = b""
            if not data:
                drop(conn)
                if conn.header_end >= 0 and conn.length is None:
                    pass  # body ended by close: a complete response
                elif conn.reused and not conn.buf and idempotent:
                    send(conn)  # a kept-alive connection the server had closed: ask again
                    continue
                else:
                    window.done(0, False, "transport: closed mid-response")
                    next_or_finish(conn)
                    continue
            else:
                conn.buf += data
            buf = conn.buf
            if conn.header_end < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                conn.header_end = end + 4
                head = buf[:end].lower()
                at = head.find(b"\ncontent-length:")
                if at >= 0:
                    stop = head.find(b"\r", at + 16)
                    conn.length = int(head[at + 16:stop if stop >= 0 else None])
                elif b"chunked" in head:
                    conn.length = -1
                if b"\nconnection: close" in head or buf.startswith(b"HTTP/1.0"):
                    conn.reused = None  # marks "close after this response"
            if conn.length is None:
                if data:
                    continue  # read until the server closes
            elif conn.length == -1:
                if not buf.endswith(b"0\r\n\r\n"):
                    continue
            elif len(buf) - conn.header_end < conn.length:
                continue
            latency = perf() - conn.t0
            status = int(buf[9:12])
            if status == expect_status:
                window.done(latency, True)
            else:
                window.done(latency, False, f"http {status}: {buf[conn.header_end:conn.header_end + 120]!r}")
            if conn.reused is None and conn.sock is not None:
                drop(conn)
            next_or_finish(conn)
    result = window.result()
    result["connects"] = connects
    return result


async def constant_async(spec: dict) -> dict:
    """GET or POST a pre-built request; ``requests`` is a list, one per worker (round robin)."""
    window = Window(spec)
    host = f"{spec['host']}:{spec['port']}"
    raws = [build(r["method"], r["path"], host, r.get("headers"), r.get("form")) for r in spec["requests"]]
    expect = spec.get("expect_status", 200)

    async def worker(index: int):
        conn = Connection(spec["host"], spec["port"])
        raw = raws[index % len(raws)]
        try:
            while window.may_issue():
                t0 = time.perf_counter()
                try:
                    response = await conn.request(raw, retry_idempotent=spec.get("idempotent", True))
                except HttpError as exc:
                    window.done(0, False, f"transport: {str(exc)[:80]}")
                    continue
                latency = time.perf_counter() - t0
                if response.status == expect:
                    window.done(latency, True)
                else:
                    window.done(latency, False, f"http {response.status}: {response.text[:120]}")
        finally:
            conn.close()

    await asyncio.gather(*(worker(i) for i in range(spec["concurrency"])))
    return window.result()


async def redeem(spec: dict) -> dict:
    """Authorization-code redemptions: each request spends one pre-minted code."""
    window = Window(spec)
    host = f"{spec['host']}:{spec['port']}"
    codes = list(spec["codes"])
    codes.reverse()
    auth = basic_auth(spec["client_id"], spec["client_secret"])
    tokens: list[str] = []

    async def worker(index: int):
        conn = Connection(spec["host"], spec["port"])
        try:
            while codes and window.may_issue():
                code = codes.pop()
                raw = build("POST", "/token", host, {"Authorization": auth}, form={
                    "grant_type": "authorization_code", "code": code, "redirect_uri": spec["redirect_uri"],
                    "code_verifier": spec["code_verifier"]})
                t0 = time.perf_counter()
                try:
                    response = await conn.request(raw, retry_idempotent=False)
                except HttpError as exc:
                    window.done(0, False, f"transport: {str(exc)[:80]}")
                    continue
                latency = time.perf_counter() - t0
                if response.status == 200:
                    window.done(latency, True)
                    if len(tokens) < spec.get("keep_tokens", 64):
                        tokens.append(json.loads(response.body)["access_token"])
                else:
                    window.done(latency, False, f"http {response.status}: {response.text[:120]}")
        finally:
            conn.close()

    opener = asyncio.ensure_future(_open_on_time(window))
    await asyncio.gather(*(worker(i) for i in range(spec["concurrency"])))
    opener.cancel()
    if not codes and time.perf_counter() < window.stop_at:
        window.exhausted = "codes"
    result = window.result()
    result["access_tokens"] = tokens
    result["codes_left"] = len(codes)
    return result


# --- the citizen's browser ---

class OutboxTail:
    """Reads the SMS outbox (JSONL) incrementally: mobile -> latest code."""

    def __init__(self, path: str):
        self.path = path
        self.offset = 0
        self.buffer = b""
        self.latest: dict[str, str] = {}

    def poll(self):
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.strip():
                message = json.loads(line)
                match = OTP_RUN.search(message["text"])
                if match:
                    self.latest[message["to"]] = match.group(1)

    async def code_for(self, mobile: str, previous: str | None = None, timeout: float = 5.0) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            code = self.latest.pop(mobile, None)
            if code is not None:
                return code
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.005)


class Browser:
    """Cookies (the provider's session cookie) and redirects within the provider."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.host = f"{spec['host']}:{spec['port']}"
        self.conn = Connection(spec["host"], spec["port"])
        self.cookies: dict[str, str] = {}

    def close(self):
        self.conn.close()

    def _cookie_header(self) -> dict:
        if not self.cookies:
            return {}
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def _remember(self, response):
        for raw in response.cookies:
            pair, _, attrs = raw.partition(";")
            name, _, value = pair.strip().partition("=")
            low = attrs.lower()
            if "max-age=0" in low or "expires=thu, 01 jan 1970" in low or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    async def get(self, path: str, headers: dict | None = None):
        raw = build("GET", path, self.host, dict(self._cookie_header(), **(headers or {})))
        response = await self.conn.request(raw)
        self._remember(response)
        return response

    async def post(self, path: str, form: dict, headers: dict | None = None):
        raw = build("POST", path, self.host, dict(self._cookie_header(), **(headers or {})), form=form)
        response = await self.conn.request(raw, retry_idempotent=False)
        self._remember(response)
        return response


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_path(spec: dict, challenge: str, state: str) -> str:
    return "/authorize?" + urlencode({
        "response_type": "code", "client_id": spec["client_id"], "redirect_uri": spec["redirect_uri"],
        "scope": spec["scope"], "state": state, "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge, "code_challenge_method": "S256"})


def action_of(html: str, step: str) -> str:
    """The address the page's form for ``step`` posts to."""
    match = re.search(r'<form method="post" action="(/interaction/[^/"]+/' + step + ')"', html)
    if not match:
        raise LoginFailed(f"no {step} form on the page: {html[:160]!r}")
    return match.group(1)


def csrf_of(html: str) -> str:
    tag = CSRF.search(html)
    if not tag:
        raise LoginFailed("no csrf_token on the page")
    return VALUE.search(tag.group(0)).group(1)


class LoginFailed(Exception):
    pass


def expect(response, status: int, step: str, location_prefix: str | None = None):
    if response.status != status:
        raise LoginFailed(f"{step}: http {response.status} {response.text[:160]!r}")
    if location_prefix is not None:
        location = response.headers.get("location", "")
        if location_prefix not in location:
            raise LoginFailed(f"{step}: redirected to {location[:160]!r}, not {location_prefix}")


async def full_login(spec: dict, outbox: OutboxTail, citizen: dict, steps: dict, probe=None,
                     cpu: dict | None = None) -> dict:
    """authorize -> identify -> SMS code -> verify -> consent -> token -> userinfo.
    With ``probe`` (a function returning the servers' CPU nanoseconds), each step's server CPU
    goes into ``cpu`` — meaningful only when this is the only browser."""
    browser = Browser(spec)
    try:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(8)

        async def timed(name, coro):
            c0 = probe() if probe else 0
            t0 = time.perf_counter()
            response = await coro
            steps[name] = time.perf_counter() - t0
            if probe:
                cpu[name] = (probe() - c0) / 1e9
            return response

        # each answer shows the next step's page at once (no redirect between the steps); its form
        # posts to the step's own address
        r = await timed("authorize", browser.get(authorize_path(spec, challenge, state)))
        expect(r, 200, "authorize: the identify page")
        r = await timed("identify", browser.post(action_of(r.text, "identify"), {
            "csrf_token": csrf_of(r.text), "national_id": citizen["national_id"], "mobile": citizen["mobile"]}))
        expect(r, 200, "identify: the code page")
        verify, csrf = action_of(r.text, "verify"), csrf_of(r.text)
        code = await outbox.code_for(citizen["mobile"])
        if code is None:
            raise LoginFailed("no SMS code in the outbox")
        r = await timed("verify", browser.post(verify, {"csrf_token": csrf, "otp": code}))
        expect(r, 200, "verify: the consent page")
        r = await timed("consent", browser.post(action_of(r.text, "consent"), {
            "csrf_token": csrf_of(r.text), "decision": "allow"}))
        expect(r, 302, "consent", spec["redirect_uri"])
        query = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}
        if query.get("state") != state or "code" not in query:
            raise LoginFailed(f"consent post: bad redirect {r.headers['location'][:160]!r}")
        r = await timed("token", browser.post("/token", {
            "grant_type": "authorization_code", "code": query["code"], "redirect_uri": spec["redirect_uri"],
            "code_verifier": verifier}, {"Authorization": basic_auth(spec["client_id"], spec["client_secret"])}))
        expect(r, 200, "token")
        token = json.loads(r.body)
        r = await timed("userinfo", browser.get("/userinfo", {"Authorization": f"Bearer {token['access_token']}"}))
        expect(r, 200, "userinfo")
        return {"browser": browser, "cookies": dict(browser.cookies)}
    finally:
        browser.close()


async def login(spec: dict) -> dict:
    window = Window(spec)
    outbox = OutboxTail(spec["outbox"])
    outbox.poll()
    citizens = list(spec["citizens"])
    citizens.reverse()

    async def worker(index: int):
        while citizens and window.may_issue():
            citizen = citizens.pop()
            steps: dict[str, float] = {}
            t0 = time.perf_counter()
            try:
                await full_login(spec, outbox, citizen, steps)
            except LoginFailed as exc:
                window.done(0, False, str(exc)[:200])
                continue
            except HttpError as exc:
                window.done(0, False, f"transport: {str(exc)[:80]}")
                continue
            window.done(time.perf_counter() - t0, True, steps=steps)

    opener = asyncio.ensure_future(_open_on_time(window))
    await asyncio.gather(*(worker(i) for i in range(spec["concurrency"])))
    opener.cancel()
    if not citizens and time.perf_counter() < window.stop_at:
        window.exhausted = "citizens"
    result = window.result()
    result["citizens_used"] = len(spec["citizens"]) - len(citizens)
    return result


async def mint(spec: dict) -> dict:
    """Pre-mint authorization codes: sign ``sessions`` citizens in over HTTP (identify, SMS code,
    consent), then ask /authorize again with each signed-in browser, which answers with a code at
    once (single sign-on, consent remembered). Not a timed benchmark; the rate is reported."""
    outbox = OutboxTail(spec["outbox"])
    outbox.poll()
    verifier, challenge = pkce_pair()
    sessions = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + spec["deadline"]

    async def sign_in(citizen):
        try:
            out = await full_login(spec, outbox, citizen, {})
            sessions.append(out["cookies"])
        except (LoginFailed, HttpError) as exc:
            errors[str(exc)[:200]] = errors.get(str(exc)[:200], 0) + 1

    await asyncio.gather(*(sign_in(c) for c in spec["citizens"]))
    if not sessions:
        return {"codes": [], "errors": errors, "rate": 0.0, "code_verifier": verifier}
    codes: list[str] = []
    wanted = spec["count"]
    t0 = time.monotonic()

    async def worker(index: int):
        browser = Browser(spec)
        browser.cookies = dict(sessions[index % len(sessions)])
        try:
            while len(codes) < wanted and time.monotonic() < deadline:
                state = secrets.token_urlsafe(6)
                try:
                    r = await browser.get(authorize_path(spec, challenge, state))
                except HttpError as exc:
                    errors[str(exc)[:80]] = errors.get(str(exc)[:80], 0) + 1
                    continue
                location = r.headers.get("location", "")
                query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                if r.status == 302 and location.startswith(spec["redirect_uri"]) and "code" in query:
                    codes.append(query["code"])
                else:
                    key = f"authorize: http {r.status} {location[:80]}"
                    errors[key] = errors.get(key, 0) + 1
                    if sum(errors.values()) > 100:
                        return
        finally:
            browser.close()

    await asyncio.gather(*(worker(i) for i in range(spec["concurrency"])))
    elapsed = time.monotonic() - t0
    return {"codes": codes, "errors": errors, "rate": len(codes) / max(elapsed, 1e-9), "elapsed_s": elapsed,
            "code_verifier": verifier, "sessions": len(sessions)}


async def _open_on_time(window: Window):
    """Open the measured window exactly at the end of the warm-up (not at the next request)."""
    delay = window.measure_from - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    window.open()


async def login_steps(spec: dict) -> dict:
    """Logins one after another (one browser), with each step's server CPU read from
    /proc/<pid>/task/<tid>/schedstat (nanoseconds) of the gunicorn master and workers."""
    outbox = OutboxTail(spec["outbox"])
    outbox.poll()
    root = spec["pid_groups"]["server"]
    pids = procstat.tree(root)

    def probe():
        return procstat.oncpu_ns(pids)

    latencies: dict[str, list[float]] = {}
    cpu_sums: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + spec["duration"]
    done = 0
    for index, citizen in enumerate(spec["citizens"]):
        if done >= spec["max_requests"] or time.perf_counter() > deadline:
            break
        steps: dict[str, float] = {}
        cpu: dict[str, float] = {}
        try:
            await full_login(spec, outbox, citizen, steps, probe, cpu)
        except (LoginFailed, HttpError) as exc:
            errors[str(exc)[:200]] = errors.get(str(exc)[:200], 0) + 1
            continue
        if index < spec.get("unmeasured", 2):
            continue
        done += 1
        for name, value in steps.items():
            latencies.setdefault(name, []).append(value)
            cpu_sums.setdefault(name, []).append(cpu.get(name, 0.0))
    return {"logins": done, "errors": errors,
            "steps": {name: {"latency": summarize(latencies[name]),
                             "cpu_ms_mean": 1000 * sum(cpu_sums[name]) / len(cpu_sums[name])}
                      for name in latencies}}


SCENARIOS = {"constant": constant, "constant_async": constant_async, "login_steps": login_steps, "redeem": redeem, "login": login, "mint": mint}


def main():
    spec = json.load(sys.stdin)
    cpu = spec.get("cpu")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    runner = SCENARIOS[spec["scenario"]]
    result = runner(spec) if not asyncio.iscoroutinefunction(runner) else asyncio.run(runner(spec))
    result["affinity"] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
