"""Panjereh in its production shape: server processes (Granian and gunicorn) on PostgreSQL and Redis.

Two instances on different ports share one database, one Redis, one keys
directory and one secret, as two hosts behind a load balancer would. The
database and Redis are reached through small TCP relays that a test can cut
and restore, to see what an outage does. These tests need the real servers on
127.0.0.1 (PostgreSQL 5432, Redis 6379); CI has them.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from idp.registry_data import write_csv

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("PANJEREH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Relay:
    """A TCP relay to a real server that a test can cut (an outage) and restore.

    One thread moves every connection's bytes, in the order they arrive, as a proxy in one
    event loop would: what the server sent on one connection before it answered on another is
    passed on first (a thread per connection would let a later answer overtake an earlier
    message, which no network between two hosts and Redis does)."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.up = threading.Event()
        self.up.set()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._server, selectors.EVENT_READ)
        self._closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self._closed:
            try:
                events = self._selector.select(timeout=0.2)
            except (OSError, ValueError):
                return
            with self._lock:
                for key, _mask in events:
                    sock = key.fileobj
                    if sock is self._server:
                        self._accept()
                    elif sock in self._peers:
                        self._forward(sock)

    def _accept(self):
        try:
            client, _ = self._server.accept()
        except OSError:
            return
        if not self.up.is_set():
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for end, other in ((client, upstream), (upstream, client)):
            end.settimeout(5)
            end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Redis, PostgreSQL and any proxy do
            self._peers[end] = other
            self._selector.register(end, selectors.EVENT_READ)

    def _forward(self, sock):
        try:
            data = sock.recv(65536)
            if data:
                self._peers[sock].sendall(data)
                return
        except OSError:
            pass
        self._drop(sock)

    def _drop(self, sock):
        for end in (sock, self._peers.get(sock)):
            if end is None:
                continue
            self._peers.pop(end, None)
            try:
                self._selector.unregister(end)
            except (KeyError, ValueError):
                pass
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def cut(self):
        """Refuse new connections and drop the open ones."""
        self.up.clear()
        with self._lock:
            for sock in list(self._peers):
                self._drop(sock)

    def restore(self):
        self.up.set()

    def close(self):
        self.cut()
        self._closed = True
        with self._lock:
            self._selector.unregister(self._server)
            self._server.close()


class Instance:
    def __init__(self, name, port, proc, log):
        self.name, self.port, self.proc, self.log = name, port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class Cluster:
    """Two provider instances sharing PostgreSQL, Redis, keys and secret."""

    def __init__(self, workdir: Path, db_url: str, redis_db: int):
        self.workdir = workdir
        self.pg_relay = Relay(5432)
        self.redis_relay = Relay(REDIS_PORT)
        self.db_url = db_url
        self.issuer = f"http://127.0.0.1:{free_port()}"  # the load balancer's address, as published
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("IDP_")
        } | {
            "IDP_ISSUER": self.issuer,
            "IDP_DATABASE_URL": db_url.replace(":5432/", f":{self.pg_relay.port}/"),
            "IDP_REDIS_URL": f"redis://127.0.0.1:{self.redis_relay.port}/{redis_db}",
            "IDP_KEYS_DIR": str(workdir / "keys"),
            "IDP_INSTANCE_DIR": str(workdir / "instance"),
            "IDP_SMS_OUTBOX": str(workdir / "outbox.jsonl"),
            "IDP_SECRET_KEY": "production-test-secret-" + uuid.uuid4().hex,
            "IDP_RATE_LIMITS": "off",
        }
        self.instances: list[Instance] = []

    @property
    def outbox(self) -> Path:
        return Path(self.env["IDP_SMS_OUTBOX"])

    def idp(self, *args) -> str:
        done = subprocess.run([str(BIN / "idp"), *args], env=self.env, cwd=self.workdir, capture_output=True,
                              text=True, timeout=180)
        if done.returncode:
            raise RuntimeError(f"idp {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self, name: str, workers: int = 1, server: str = "granian") -> Instance:
        """A host: the production server (``idp serve --production``, Granian), or gunicorn with
        its checked-in configuration (``gunicorn -c gunicorn.conf.py wsgi:app``)."""
        port = free_port()
        log = self.workdir / f"{name}.log"
        if server == "gunicorn":
            command = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "-w", str(workers),
                       "-b", f"127.0.0.1:{port}", "--access-logfile", "-", "wsgi:app"]
        else:
            command = [str(BIN / "idp"), "serve", "--production", "--workers", str(workers),
                       "--host", "127.0.0.1", "--port", str(port)]
        with log.open("w") as sink:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=sink, stderr=subprocess.STDOUT)
        instance = Instance(name, port, proc, log)
        deadline = time.time() + 40
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{instance.output()}")
            try:
                if requests.get(instance.url + "/healthz", timeout=1).ok:
                    self.instances.append(instance)
                    return instance
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not start:\n{instance.output()}")

    def stop(self):
        for instance in self.instances:
            instance.proc.terminate()
        for instance in self.instances:
            try:
                instance.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                instance.proc.kill()
        self.pg_relay.close()
        self.redis_relay.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cluster")
    name = f"panjereh_prod_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed on 127.0.0.1:5432 for the production tests: {exc}")
    redis_db = 13
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=redis_db).flushdb()
    cluster = Cluster(workdir, POSTGRES.rsplit("/", 1)[0] + "/" + name, redis_db)
    try:
        # two hosts run setup at the same time: migrations and keys must come out once
        first = subprocess.Popen([str(BIN / "idp"), "setup"], env=cluster.env, cwd=workdir,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        second = subprocess.Popen([str(BIN / "idp"), "setup"], env=cluster.env, cwd=workdir,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        outputs = [p.communicate(timeout=180)[0] for p in (first, second)]
        assert first.returncode == 0 and second.returncode == 0, outputs
        cluster.setup_outputs = outputs
        write_csv(workdir / "registry.csv", 40)
        cluster.idp("registry", "import", str(workdir / "registry.csv"))
        cluster.a = cluster.start("a", server="gunicorn")  # both servers an operator may run, side by side
        cluster.b = cluster.start("b", workers=2)
        yield cluster
    finally:
        cluster.stop()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=redis_db).flushdb()
