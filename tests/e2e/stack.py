"""The whole system as real processes: Panjereh and two agency portals, on free ports.

Shared by ``tests/e2e`` and ``tests/browser``. ``start_stack(workdir)`` runs the
operator commands exactly as documented (``idp setup``, ``idp registry import``,
``idp clients add --json``), then starts ``idp serve`` and two
``python -m clients.portal`` processes, and waits until every ``/healthz``
answers. ``Stack.stop()`` terminates them (then kills after a timeout).

Ports are picked by binding port 0, so the stack never collides with
``make run`` on 5000-5002 or with another test run.

One stack serves the whole pytest session (``shared_stack``): both test folders
get the same processes, and each test uses its own citizen from the registry,
so remembered consents and signed-in sessions never leak between tests.
The provider runs with its real abuse limits (e.g. 20 identify posts per IP
per 10 minutes): the whole session stays well below them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from idp.registry_data import generate_citizens, write_csv

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_SIZE = 50
START_TIMEOUT = float(os.environ.get("PANJEREH_E2E_START_TIMEOUT", "30"))
COMMAND_TIMEOUT = 120
STOP_TIMEOUT = 5

TAX = {
    "client_id": "e2e-tax",
    "name_en": "E-Tax Portal",
    "name_fa": "سامانه مالیات الکترونیک",
    "agency": "ministry-of-economy",
    "scope": "openid profile national_id",
    "theme": "#0b6e4f",
}
HEALTH = {
    "client_id": "e2e-health",
    "name_en": "E-Health Portal",
    "name_fa": "سامانه سلامت الکترونیک",
    "agency": "ministry-of-health",
    "scope": "openid profile phone",
    "theme": "#8a1c4a",
}


class StackError(RuntimeError):
    """A command failed or a process did not come up; the message carries its output."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (all held open until all are chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def idp_command() -> list[str]:
    """The ``idp`` console script of the running interpreter's environment."""
    script = Path(sys.executable).with_name("idp")
    if script.exists():
        return [str(script)]
    found = shutil.which("idp")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from idp.cli import main; sys.exit(main())"]


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without inherited IDP_*/PORTAL_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PORTAL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@dataclass
class Process:
    name: str
    url: str
    popen: subprocess.Popen
    log_path: Path
    log_file: object

    def output(self, limit: int = 6000) -> str:
        try:
            self.log_file.flush()
        except ValueError:
            pass
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text[-limit:] if len(text) > limit else text

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT)
        self.log_file.close()


@dataclass
class Stack:
    workdir: Path
    issuer: str
    tax_url: str
    health_url: str
    outbox: Path
    env: dict[str, str]
    clients: dict[str, dict] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    citizens: list[dict] = field(default_factory=list)

    # --- helpers for the tests ---
    def sms_lines(self) -> list[dict]:
        if not self.outbox.exists():
            return []
        return [json.loads(line) for line in self.outbox.read_text(encoding="utf-8").splitlines()
                if line.strip()]

    def sms_count(self) -> int:
        return len(self.sms_lines())

    def check_alive(self) -> None:
        for proc in self.processes:
            if proc.popen.poll() is not None:
                raise StackError(f"{proc.name} exited with code {proc.popen.returncode}:\n{proc.output()}")

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} ({p.url}) -----\n{p.output(3000)}" for p in self.processes)

    def stop(self) -> None:
        errors = []
        for proc in reversed(self.processes):
            try:
                proc.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                errors.append(f"{proc.name}: {exc!r}")
        self.processes.clear()
        if errors:
            raise StackError("could not stop: " + "; ".join(errors))


def run(cmd: list[str], env: dict[str, str], what: str) -> str:
    try:
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what} did not finish in {COMMAND_TIMEOUT}s: {' '.join(cmd)}\n"
                         f"stdout:\n{exc.stdout}\nstderr:\n{exc.stderr}") from None
    if done.returncode != 0:
        raise StackError(f"{what} failed (exit {done.returncode}): {' '.join(cmd)}\n"
                         f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done.stdout


def register_client(idp: list[str], env: dict, spec: dict, port: int) -> dict:
    base = f"http://127.0.0.1:{port}"
    out = run(idp + ["clients", "add", "--json", "--name", spec["name_en"], "--name-fa", spec["name_fa"],
                     "--client-id", spec["client_id"], "--agency", spec["agency"], "--scope", spec["scope"],
                     "--redirect-uri", f"{base}/callback", "--post-logout-redirect-uri", f"{base}/",
                     "--client-uri", f"{base}/", "--auth-method", "client_secret_basic"],
              env, f"idp clients add {spec['client_id']}")
    data = json.loads(out.strip().splitlines()[-1])
    assert data["client_id"] == spec["client_id"], data
    assert data.get("client_secret"), f"a confidential client gets a secret: {data}"
    return dict(spec, **data, base_url=base)


def spawn(name: str, cmd: list[str], env: dict, url: str, workdir: Path) -> Process:
    log_path = workdir / f"{name}.log"
    log_file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in Process.stop
    popen = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    return Process(name, url, popen, log_path, log_file)


def wait_healthy(processes: list[Process], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    pending = list(processes)
    with requests.Session() as http:
        while pending:
            for proc in list(pending):
                if proc.popen.poll() is not None:
                    raise StackError(f"{proc.name} exited with code {proc.popen.returncode} before "
                                     f"{proc.url}/healthz answered. Its output:\n{proc.output()}")
                try:
                    if http.get(proc.url + "/healthz", timeout=1).status_code == 200:
                        pending.remove(proc)
                except requests.RequestException:
                    pass
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(f"{p.name} ({p.url})" for p in pending)
                raise StackError(f"no answer from /healthz within {timeout:.0f}s: {names}\n" +
                                 "\n".join(f"----- output of {p.name} -----\n{p.output()}" for p in pending))
            time.sleep(0.1)


def start_stack(workdir: Path) -> Stack:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    idp_port, tax_port, health_port = free_ports(3)
    issuer = f"http://127.0.0.1:{idp_port}"
    outbox = workdir / "sms-outbox.jsonl"
    env = clean_environ(
        IDP_INSTANCE_DIR=str(workdir / "instance"),
        IDP_KEYS_DIR=str(workdir / "keys"),
        IDP_DATABASE_URL=f"sqlite:///{workdir / 'panjereh.sqlite'}",
        IDP_SMS_OUTBOX=str(outbox),
        IDP_SECRET_KEY="e2e-secret-key-" + os.urandom(16).hex(),
        IDP_ISSUER=issuer,
    )
    idp = idp_command()
    run(idp + ["setup"], env, "idp setup")
    csv_path = workdir / "registry.csv"
    write_csv(csv_path, REGISTRY_SIZE)
    out = run(idp + ["registry", "import", str(csv_path)], env, "idp registry import")
    assert f"Imported {REGISTRY_SIZE}" in out, out

    stack = Stack(workdir=workdir, issuer=issuer, tax_url=f"http://127.0.0.1:{tax_port}",
                  health_url=f"http://127.0.0.1:{health_port}", outbox=outbox, env=env,
                  citizens=list(generate_citizens(REGISTRY_SIZE)))
    try:
        # The provider boots (imports, keys) while the services are registered; it reads them per request.
        stack.processes.append(spawn("provider", idp + ["serve", "--port", str(idp_port)], env, issuer, workdir))
        stack.clients["tax"] = register_client(idp, env, TAX, tax_port)
        stack.clients["health"] = register_client(idp, env, HEALTH, health_port)
        for key, port in (("tax", tax_port), ("health", health_port)):
            client = stack.clients[key]
            portal_env = dict(env, PORTAL_ISSUER=issuer, PORTAL_CLIENT_ID=client["client_id"],
                              PORTAL_CLIENT_SECRET=client["client_secret"], PORTAL_NAME_FA=client["name_fa"],
                              PORTAL_NAME_EN=client["name_en"], PORTAL_SCOPE=client["scope"],
                              PORTAL_THEME=client["theme"], PORTAL_SECRET_KEY=os.urandom(16).hex())
            stack.processes.append(spawn(f"portal-{key}", [sys.executable, "-m", "clients.portal", "--port",
                                                           str(port)], portal_env, client["base_url"], workdir))
        wait_healthy(stack.processes)
    except BaseException:
        stack.stop()
        raise
    return stack


_shared: Stack | None = None


def shared_stack(tmp_path_factory, config) -> Stack:
    """One stack per pytest session, whichever test folder asks first; stopped at the session's end."""
    global _shared
    if _shared is None:
        stack = start_stack(tmp_path_factory.mktemp("panjereh-stack"))

        def stop():
            global _shared
            _shared = None
            stack.stop()

        config.add_cleanup(stop)
        _shared = stack
    _shared.check_alive()
    return _shared


# Citizens of the synthetic registry, one per test, so remembered consents and
# sessions never leak from one test to another.
CITIZEN_FOR = {
    "tax_sign_in": 1,
    "sso": 2,
    "rp_library": 3,
    "wrong_code": 4,
    "deny": 5,
    "persian_pages": 6,
    "browser_fa": 10,
    "browser_en": 11,
    "browser_bidi": 12,
}
