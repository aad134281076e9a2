"""The production stack, set up as an operator would: PostgreSQL + Redis + the WSGI server.

``Stack.create()`` makes a fresh PostgreSQL database and flushes one Redis
database, lays a temporary instance and keys directory, runs ``idp setup``,
``idp registry import`` of a synthetic CSV and ``idp clients add --json``, then
starts the production server, ``idp serve --production --workers <cores>`` (Granian),
or for comparison ``gunicorn -c gunicorn.conf.py -w <cores> wsgi:app``.
``Stack.destroy()`` stops the server and drops the database.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from . import procstat

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("PANJEREH_BENCH_CACHE", Path.home() / ".cache" / "panjereh-bench"))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
#: codes are minted before the window; the bench raises their 60 s lifetime so none expires while waiting
CODE_TTL = 900
REDIRECT_URI = "http://127.0.0.1:9/callback"  # the discard port: nothing listens, nothing follows it
API_SCOPE = "api:read"
RP_SCOPE = "openid profile phone"
MARKER = "panjereh-bench:owner"


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise StackError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


def clean_environ(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PORTAL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd: list[str], env: dict, what: str, timeout: float = 600, stream: bool = False) -> str:
    try:
        done = subprocess.run(cmd, env=env, cwd=ROOT, timeout=timeout, text=True,
                              stdout=subprocess.PIPE, stderr=None if stream else subprocess.PIPE)
    except subprocess.TimeoutExpired:
        raise StackError(f"{what} did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        raise StackError(f"{what} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr or ''}")
    return done.stdout


# --- PostgreSQL and Redis ---

def pg_connect(dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{dbname}", autocommit=True, connect_timeout=5)


def create_database(name: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    with pg_connect() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def database_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1/{name}"


def claim_redis(db_index: int) -> None:
    """Flush one Redis database, refusing one that holds another program's keys."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db_index, socket_timeout=5)
    size = client.dbsize()
    if size and not client.exists(MARKER):
        raise StackError(f"Redis database {db_index} holds {size} keys that are not the benchmark's; "
                         f"pick an empty one with --redis-db")
    client.flushdb()
    client.set(MARKER, "1")
    client.close()


def release_redis(db_index: int) -> None:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db_index, socket_timeout=5)
    client.flushdb()
    client.close()


# --- the stack ---

@dataclass
class Stack:
    workdir: Path
    dbname: str
    redis_db: int
    port: int
    env: dict
    workers: int
    citizens: int
    clients: dict = field(default_factory=dict)
    server: str = "granian"
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    setup_seconds: dict = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    keep_db: bool = False
    created_db: bool = False
    redis_claimed: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def outbox(self) -> Path:
        return Path(self.env["IDP_SMS_OUTBOX"])

    @classmethod
    def create(cls, *, citizens: int, redis_db: int, workers: int, dbname: str | None = None,
               reuse_db: bool = False, server: str = "granian", log=print) -> "Stack":
        CACHE.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))
        dbname = dbname or f"panjereh_bench_{os.getpid()}_{int(time.time())}"
        port = free_port()
        env = clean_environ(
            IDP_ISSUER=f"http://127.0.0.1:{port}",
            IDP_DATABASE_URL=database_url(dbname),
            IDP_REDIS_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
            IDP_RATE_LIMITS="off",
            IDP_SECRET_KEY=secrets.token_urlsafe(48),
            IDP_KEYS_DIR=str(workdir / "keys"),
            IDP_INSTANCE_DIR=str(workdir / "instance"),
            IDP_SMS_OUTBOX=str(workdir / "instance" / "sms-outbox.jsonl"),
            IDP_AUTHORIZATION_CODE_TTL=CODE_TTL,
        )
        stack = cls(workdir, dbname, redis_db, port, env, workers, citizens, server=server, keep_db=reuse_db)
        try:
            stack._prepare(reuse_db, log)
        except BaseException:
            stack.destroy()
            raise
        return stack

    def _prepare(self, reuse_db: bool, log) -> None:
        idp = [venv_bin("idp")]
        t0 = time.monotonic()
        if not reuse_db:
            create_database(self.dbname)
            self.created_db = True
        claim_redis(self.redis_db)
        self.redis_claimed = True
        run(idp + ["setup"], self.env, "idp setup")
        self.setup_seconds["idp setup"] = time.monotonic() - t0
        if self.citizens:
            from idp.registry_data import write_csv

            t0 = time.monotonic()
            csv_path = self.workdir / "registry.csv"
            write_csv(csv_path, self.citizens)
            out = run(idp + ["registry", "import", str(csv_path)], self.env, "idp registry import")
            if f"Imported {self.citizens:,}" not in out:
                raise StackError(f"unexpected import output: {out}")
            self.setup_seconds["idp registry import"] = time.monotonic() - t0
        t0 = time.monotonic()
        self.clients["api"] = self._add_client(idp, "Bench API client", "bench-api", [
            "--grant-type", "client_credentials", "--scope", API_SCOPE, "--agency", "bench-agency"])
        self.clients["rp"] = self._add_client(idp, "Bench portal", "bench-rp", [
            "--grant-type", "authorization_code", "--scope", RP_SCOPE, "--agency", "bench-agency",
            "--redirect-uri", REDIRECT_URI])
        self.setup_seconds["idp clients add (x2)"] = time.monotonic() - t0
        log(f"  stack: database {self.dbname}, Redis db {self.redis_db}, {self.citizens:,} citizens, "
            f"clients {', '.join(c['client_id'] for c in self.clients.values())}")

    def _add_client(self, idp, name, client_id, extra) -> dict:
        client_id = f"{client_id}-{secrets.token_hex(3)}"  # unique: a kept database may hold earlier runs' clients
        out = run(idp + ["clients", "add", "--json", "--name", name, "--client-id", client_id,
                         "--auth-method", "client_secret_basic"] + extra, self.env, f"idp clients add {client_id}")
        data = json.loads(out.strip().splitlines()[-1])
        if not data.get("client_secret"):
            raise StackError(f"no secret for {client_id}: {data}")
        return data

    def server_command(self) -> list[str]:
        if self.server == "gunicorn":
            cmd = [venv_bin("gunicorn")]
            if (ROOT / "gunicorn.conf.py").exists():
                cmd += ["-c", "gunicorn.conf.py"]
            return cmd + ["-w", str(self.workers), "-b", f"127.0.0.1:{self.port}", "wsgi:app"]
        return [venv_bin("idp"), "serve", "--production", "--workers", str(self.workers),
                "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self, cpus: set[int] | None = None, timeout: float = 60) -> None:
        self.command = self.server_command()
        self.log_path = self.workdir / f"{self.server}-{self.port}.log"
        log_file = open(self.log_path, "w")  # noqa: SIM115 - closed with the process
        preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        self.process = subprocess.Popen(self.command, env=self.env, cwd=ROOT, stdout=log_file,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=preexec, start_new_session=True)
        log_file.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise StackError(f"{self.server} exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200 and \
                        len(self.worker_pids()) >= self.workers:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise StackError(f"{self.server} not ready within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)
        # every worker imports lazily on its first requests: touch each a few times
        with requests.Session() as http:
            for _ in range(4 * self.workers):
                http.get(self.url + "/readyz", timeout=5)

    def log_tail(self, limit: int = 4000) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return text[-limit:]

    def master_pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        return procstat.child_pids(self.process.pid) if self.process else []

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            try:
                if self.created_db and not self.keep_db:
                    drop_database(self.dbname)
                if self.redis_claimed:  # never flush a database the benchmark did not claim
                    release_redis(self.redis_db)
            finally:
                shutil.rmtree(self.workdir, ignore_errors=True)
