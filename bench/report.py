"""The environment a run was measured on, Markdown tables, and bench/RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


def _out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _python() -> str:
    """The interpreter the server runs under (the venv's): its version, its executable, and whether
    the interpreter lives in a shared libpython (a build option that costs speed)."""
    import sys
    import sysconfig

    shared = "shared libpython" if sysconfig.get_config_var("Py_ENABLE_SHARED") and not _static(sys.executable) \
        else "one executable"
    return f"{platform.python_version()} ({os.path.realpath(sys.executable)}, {shared})"


def _static(executable: str) -> bool:
    """Whether the executable carries the interpreter itself (it links no libpython)."""
    return "libpython" not in _out(["ldd", os.path.realpath(executable)])


def environment() -> dict:
    status = _out(["git", "status", "--porcelain", "--untracked-files=no"])
    changed = [line for line in status.splitlines() if line.strip()]
    node = shutil.which("node")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "uname": _out(["uname", "-a"]),
        "cpu": f"{cpu_model()} × {os.cpu_count()} cores",
        "memory": _meminfo(),
        "python": _python(),
        "node": _out([node, "--version"]) if node else "not installed",
        "postgres": _pg_version(),
        "redis": _out(["redis-server", "--version"]).split(" sha=")[0] if shutil.which("redis-server") else "?",
        "git": _out(["git", "rev-parse", "--short=12", "HEAD"]) + (
            f" + uncommitted changes in {len(changed)} tracked file(s) (diff sha256 {tree_fingerprint()})"
            if changed else ""),
    }


def tree_fingerprint() -> str:
    """A short digest of the working tree's changes to tracked files: tells whether the code under
    test changed while a run was going on."""
    import hashlib

    try:
        diff = subprocess.run(["git", "diff", "HEAD"], capture_output=True, timeout=30, cwd=ROOT).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return hashlib.sha256(diff).hexdigest()[:12]


def _meminfo() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def _pg_version() -> str:
    try:
        from .stack import pg_connect

        with pg_connect() as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # noqa: BLE001
        return "?"


def table(header: list[str], rows: list[list]) -> str:
    def cell(value):
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def env_block(env: dict, extra: dict | None = None) -> str:
    rows = [[k, v] for k, v in env.items()] + [[k, v] for k, v in (extra or {}).items()]
    return table(["", ""], rows)


def write_section(name: str, body: str) -> Path:
    """Replace the section ``name`` of bench/RESULTS.md (between markers), keeping the others."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else (
        "# Panjereh benchmark results\n\n"
        "Written by `python -m bench` (`make bench`); each kind of run replaces only its own section. "
        "How the figures are measured: [README.md](README.md).\n")
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        order = ["full", "quick", "registry", "registry-quick"]
        text = text.rstrip() + "\n\n" + block + "\n"
        # keep a stable order of sections
        sections = {n: re.search(re.escape(f"<!-- bench:{n}:begin -->") + r".*?" +
                                 re.escape(f"<!-- bench:{n}:end -->"), text, re.S) for n in order}
        head = text
        for match in sections.values():
            if match:
                head = head.replace(match.group(0), "")
        head = re.sub(r"\n{3,}", "\n\n", head).rstrip() + "\n"
        text = head + "".join(f"\n{m.group(0)}\n" for n in order if (m := sections[n]))
    RESULTS.write_text(text)
    return RESULTS
