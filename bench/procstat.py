"""CPU and memory accounting read from /proc: the servers' own figures, not the load generator's view."""

from __future__ import annotations

import os
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: groups that are one process tree (a master and its workers), accounted as sums
TREE_GROUPS = {"server"}


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    return raw[raw.rindex(")") + 2:].split()


def cpu_seconds(pid: int, children: bool = True) -> float | None:
    """utime + stime (+ cutime + cstime: reaped children) of one process, in seconds."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # after the ')': state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
        except OSError:
            pass
    return found


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(child_pids(current))
    return out


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def postgres_backends(dbname: str) -> list[int]:
    """PostgreSQL backends serving ``dbname`` (their process title names the database)."""
    needle = f" {dbname} "
    return [pid for pid in all_pids() if comm(pid) == "postgres" and needle in cmdline(pid) + " "]


def redis_servers() -> list[int]:
    return [pid for pid in all_pids() if comm(pid) == "redis-server"]


def system_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from the first line of /proc/stat."""
    with open("/proc/stat") as handle:
        parts = [int(x) for x in handle.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return total - idle, total


@dataclass
class Snapshot:
    """CPU seconds of groups of processes at one moment, and the machine's busy/total jiffies."""

    groups: dict[str, dict[int, float]]
    busy: int
    total: int

    @classmethod
    def take(cls, groups: dict[str, list[int]]) -> "Snapshot":
        taken: dict[str, dict[int, float]] = {}
        for name, pids in groups.items():
            taken[name] = {}
            for pid in pids:
                value = cpu_seconds(pid)
                if value is not None:
                    taken[name][pid] = value
        busy, total = system_ticks()
        return cls(taken, busy, total)


def delta(before: Snapshot, after: Snapshot) -> dict:
    """CPU seconds used per group between two snapshots (a process seen only after counts from 0),
    and the machine's busy seconds over the same time."""
    out: dict[str, float] = {}
    for name, now in after.groups.items():
        then = before.groups.get(name, {})
        if name in TREE_GROUPS:
            # a process tree: a worker that exits mid-window is reaped by the master, whose
            # cutime/cstime then holds its whole life, so the sums' difference is exact
            out[name] = sum(now.values()) - sum(then.values())
        else:
            out[name] = sum(value - then.get(pid, 0.0) for pid, value in now.items())
    ncpu = os.cpu_count() or 1
    total_s = (after.total - before.total) / CLK_TCK / ncpu  # wall seconds
    out["_machine_busy"] = (after.busy - before.busy) / CLK_TCK
    out["_machine_wall"] = total_s
    changed = {name: sorted(set(before.groups.get(name, {})) ^ set(now)) for name, now in after.groups.items()}
    out["_pid_changes"] = {k: v for k, v in changed.items() if v}
    return out


def quiet_share(seconds: float = 1.0) -> float:
    """The share of the machine's CPU that is busy over ``seconds`` (0..1)."""
    import time

    b0, t0 = system_ticks()
    time.sleep(seconds)
    b1, t1 = system_ticks()
    return (b1 - b0) / max(1, t1 - t0)


def oncpu_ns(pids: list[int]) -> int:
    """Nanoseconds on CPU of every thread of these processes (/proc/<pid>/task/<tid>/schedstat)."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                    total += int(handle.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def everyone() -> dict[int, tuple[str, float]]:
    """Every process's command name and CPU seconds (its own, children not included)."""
    out = {}
    for pid in all_pids():
        value = cpu_seconds(pid, children=False)
        if value is not None:
            out[pid] = (comm(pid), value)
    return out


def top_others(before: dict, after: dict, ours: set[int], limit: int = 3) -> list[tuple[str, float]]:
    """The processes outside ``ours`` that used the most CPU between two ``everyone()`` readings,
    summed by command name."""
    used: dict[str, float] = {}
    for pid, (name, value) in after.items():
        if pid in ours:
            continue
        delta = value - before.get(pid, (name, 0.0))[1]
        if delta > 0:
            used[name] = used.get(name, 0.0) + delta
    return sorted(used.items(), key=lambda kv: -kv[1])[:limit]
