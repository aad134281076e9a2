"""The certified peer: node-oidc-provider 9, installed from bench/peer/package-lock.json into a
scratch folder outside the repository (``~/.cache/panjereh-bench/peer``) and run as ONE Node process."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests

from .stack import CACHE, ROOT, StackError, free_port

SOURCE = ROOT / "bench" / "peer"
FILES = ("package.json", "package-lock.json", "server.mjs")


def install(log=print) -> Path:
    """``npm ci`` into the cache when the lock file changed; returns the folder."""
    target = CACHE / "peer"
    target.mkdir(parents=True, exist_ok=True)
    lock = (SOURCE / "package-lock.json").read_bytes()
    stamp = target / ".lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    for name in FILES:
        shutil.copyfile(SOURCE / name, target / name)
    if not (target / "node_modules" / "oidc-provider").exists() or \
            not stamp.exists() or stamp.read_text() != digest:
        npm = shutil.which("npm")
        if not npm:
            raise StackError("npm is not installed: the peer cannot run")
        log(f"  peer: npm ci into {target}")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise StackError(f"npm ci failed:\n{done.stdout}\n{done.stderr}")
        stamp.write_text(digest)
    return target


def installed_version(folder: Path) -> str:
    import json

    try:
        return json.loads((folder / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


class Peer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.client_id = "bench-peer"
        self.client_secret = secrets.token_urlsafe(32)
        self.process: subprocess.Popen | None = None
        self.log_path = folder / "peer.log"
        self.version = installed_version(folder)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, cpus: set[int] | None = None, timeout: float = 30) -> None:
        node = shutil.which("node")
        if not node:
            raise StackError("node is not installed: the peer cannot run")
        env = dict(os.environ, PEER_PORT=str(self.port), PEER_CLIENT_ID=self.client_id,
                   PEER_CLIENT_SECRET=self.client_secret, NODE_ENV="production")
        log_file = open(self.log_path, "w")  # noqa: SIM115
        preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        self.process = subprocess.Popen([node, "server.mjs"], cwd=self.folder, env=env, stdout=log_file,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=preexec,
                                        start_new_session=True)
        log_file.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise StackError(f"the peer exited ({self.process.returncode}):\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/.well-known/openid-configuration", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise StackError("the peer did not answer in time:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
