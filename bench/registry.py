"""``python -m bench registry [--rows N]``: the civil registry at national scale.

1. Import N synthetic citizens (default 10 million; ``--quick``: 100 thousand) into a PostgreSQL
   database of their own with ``idp registry import``, timed, under ``/usr/bin/time -v`` for the
   importer's peak RSS. Resumable: the database ``panjereh_bench_registry_<N>`` is kept; a later run
   that finds it complete skips the import (and reports the figures of the run that did it, kept in
   ``~/.cache/panjereh-bench/``), one that finds it partly filled imports only the missing rows.
2. The same for 10 thousand citizens, as the small reference.
3. ``DatabaseRegistry.find`` in an app context: p50/p99 over 2,000 random national IDs, at 10 k and N.
4. Complete logins (one browser at a time, over HTTP, on the production stack) at 10 k and N.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

from . import report
from .stack import CACHE, ROOT, Stack, StackError, claim_redis, clean_environ, create_database, database_exists, \
    database_url, drop_database, pg_connect, release_redis, run, venv_bin

SMALL = 10_000


def log(message: str = "") -> None:
    print(message, file=sys.stderr, flush=True)


def dbname_for(rows: int) -> str:
    return f"panjereh_bench_registry_{rows}"


def count_rows(dbname: str) -> int:
    try:
        with pg_connect(dbname) as conn:
            return conn.execute("SELECT count(*) FROM registry_citizens").fetchone()[0]
    except Exception:  # noqa: BLE001 - no table yet
        return 0


def national_id_at(index: int) -> str:
    """The national ID of row ``index`` of the synthetic registry, without generating the rows before it."""
    from idp import registry_data as rd

    perm = _perm_cache.get("nid")
    if perm is None:
        perm = _perm_cache["nid"] = rd.SeededPermutation(rd._NATIONAL_ID_PREFIXES, f"{rd.DEFAULT_SEED}:national_id")
    return rd._national_id(perm(index))


_perm_cache: dict = {}


def write_rows(path: Path, start: int, stop: int) -> None:
    """Rows [start, stop) of the synthetic registry as CSV (the generator is sequential: rows before
    ``start`` are generated and skipped)."""
    from idp.registry_data import CSV_COLUMNS, generate_citizens

    t0 = time.monotonic()
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for index, row in enumerate(generate_citizens(stop)):
            if index >= start:
                writer.writerow(row)
            if index and index % 1_000_000 == 0:
                log(f"    CSV: {index:,} rows generated ({time.monotonic() - t0:.0f} s)")


def import_registry(rows: int, env: dict, fresh: bool, timeout: float = 4 * 3600) -> dict:
    """Fill ``panjereh_bench_registry_<rows>``; returns the import figures (this run's or the kept ones)."""
    dbname = dbname_for(rows)
    stats_path = CACHE / f"registry-{rows}.json"
    if fresh and database_exists(dbname):
        drop_database(dbname)
        stats_path.unlink(missing_ok=True)
    if not database_exists(dbname):
        create_database(dbname)
    run([venv_bin("idp"), "setup"], env, "idp setup")
    have = count_rows(dbname)
    if have >= rows:
        kept = json.loads(stats_path.read_text()) if stats_path.exists() else {}
        log(f"  {dbname}: already holds {have:,} citizens: import skipped")
        return dict(kept, skipped=True, rows_present=have)
    if have:
        log(f"  {dbname}: holds {have:,} of {rows:,} citizens: resuming")
    csv_path = CACHE / f"registry-{rows}-from-{have}.csv"
    t0 = time.monotonic()
    log(f"  writing rows {have:,}..{rows:,} to {csv_path} …")
    write_rows(csv_path, have, rows)
    generate_s = time.monotonic() - t0
    cmd = [venv_bin("idp"), "registry", "import", "--batch", "2000", str(csv_path)]
    timed = ["/usr/bin/time", "-v"] + cmd if Path("/usr/bin/time").exists() else cmd
    log(f"  importing {rows - have:,} rows with `idp registry import` …")
    t0 = time.monotonic()
    proc = subprocess.Popen(timed, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr_lines = []
    last = t0
    import threading

    def watchdog():  # bounded: an import that outlives its limit is stopped (a later run resumes it)
        if proc.poll() is None:
            log(f"  the import outlived --import-timeout ({timeout:.0f} s): stopping it; run again to resume")
            proc.kill()

    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    timer.start()
    for line in proc.stderr:  # the importer's progress lines, and /usr/bin/time's report at the end
        stderr_lines.append(line)
        if "rows…" in line and time.monotonic() - last > 10:
            last = time.monotonic()
            done = int(re.sub(r"[^0-9]", "", line) or 0)
            log(f"    {done + have:,} / {rows:,} rows, {done / (last - t0):,.0f} rows/s")
    out = proc.stdout.read()
    proc.wait()
    timer.cancel()
    import_s = time.monotonic() - t0
    if proc.returncode != 0:
        csv_path.unlink(missing_ok=True)
        raise StackError(f"idp registry import failed or was stopped ({proc.returncode}); the rows it committed "
                         f"stay, and a later run resumes:\n{out}\n{''.join(stderr_lines[-30:])}")
    peak = None
    for line in stderr_lines:
        if "Maximum resident set size" in line:
            peak = int(line.split(":")[1])
    stats = {"rows": rows, "imported": rows - have, "resumed_from": have, "import_s": import_s,
             "rows_per_s": (rows - have) / import_s, "peak_rss_kib": peak, "csv_generate_s": generate_s,
             "csv_bytes": csv_path.stat().st_size, "importer_output": out.strip().splitlines()[-1:],
             "date": report.environment()["date"]}
    csv_path.unlink(missing_ok=True)
    with pg_connect(dbname) as conn:
        stats["table_size"] = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('registry_citizens'))").fetchone()[0]
    stats_path.write_text(json.dumps(stats))
    log(f"    {stats['rows_per_s']:,.0f} rows/s, importer peak RSS {(peak or 0) / 1024:.0f} MB")
    return stats


def lookups(rows: int, env: dict, count: int) -> dict:
    """DatabaseRegistry.find in an app context, one fresh identity map per lookup."""
    code = f"""
import json, os, random, sys, time
sys.path.insert(0, {str(ROOT)!r})
from bench.registry import national_id_at
from idp.app import create_app
from idp.adapters.registry import DatabaseRegistry
from idp.db import db
app = create_app()
registry = DatabaseRegistry()
rng = random.Random(7)
ids = [national_id_at(rng.randrange({rows})) for _ in range({count} + 200)]
out = []
with app.app_context():
    for i, nid in enumerate(ids):
        t0 = time.perf_counter()
        person = registry.find(nid)
        dt = time.perf_counter() - t0
        db.session.expunge_all()
        assert person is not None and person.national_id == nid, nid
        if i >= 200:
            out.append(dt)
print(json.dumps(out))
"""
    data = json.loads(run([sys.executable, "-c", code], env, f"lookups at {rows:,}", timeout=600).strip()
                      .splitlines()[-1])
    data.sort()
    from .loadgen import summarize

    return summarize(data)


def logins(rows: int, redis_db: int, count: int, duration: float) -> dict:
    """Complete logins, one browser at a time, on the production stack over this registry."""
    stack = Stack.create(citizens=0, redis_db=redis_db, workers=os.cpu_count() or 2, dbname=dbname_for(rows),
                         reuse_db=True, log=log)
    try:
        stack.start()
        rp = stack.clients["rp"]
        rng = random.Random(rows + int(time.time()))
        from idp import registry_data as rd

        mob = rd.SeededPermutation(len(rd.MOBILE_PREFIXES) * rd._MOBILE_SUBSCRIBERS, f"{rd.DEFAULT_SEED}:mobile")
        people = []
        for index in rng.sample(range(rows), count + 20):
            people.append({"national_id": national_id_at(index), "mobile": rd._mobile(mob(index))})
        from .stack import REDIRECT_URI, RP_SCOPE

        spec = {"scenario": "login", "host": "127.0.0.1", "port": stack.port, "concurrency": 1, "warmup": 1,
                "duration": duration, "max_requests": count + 20, "max_measured": count, "pid_groups": {"server": stack.master_pid()},
                "dbname": stack.dbname, "citizens": people, "outbox": str(stack.outbox),
                "client_id": rp["client_id"], "client_secret": rp["client_secret"], "redirect_uri": REDIRECT_URI,
                "scope": RP_SCOPE, "cpu": 0}
        proc = subprocess.run([sys.executable, "-m", "bench.loadgen"], input=json.dumps(spec), capture_output=True,
                              text=True, timeout=duration + 120, cwd=ROOT)
        if proc.returncode != 0:
            raise StackError(f"login load generator failed:\n{proc.stderr[-2000:]}")
        result = json.loads(proc.stdout)
        if result["errors"]:
            log(f"    login errors: {result['errors']}")
        ops = result.get("ops") or max(1, result["ok"])
        result["server_ms_per_login"] = 1000 * result["cpu"]["server"] / ops
        result["pg_ms_per_login"] = 1000 * result["cpu"].get("postgres", 0) / ops
        from .__main__ import accounting

        result["other_pct"] = accounting(result)["other_pct"]
        return result
    finally:
        stack.destroy()


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench registry", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, help="registry size N (default 10,000,000; --quick 100,000)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--logins", type=int, help="logins per registry size (default 40; quick 15)")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--fresh", action="store_true", help="drop the kept databases and import again")
    parser.add_argument("--drop", action="store_true", help="drop the registry databases at the end")
    parser.add_argument("--import-timeout", type=float, default=4 * 3600,
                        help="stop an import after this many seconds (default 4 h; a later run resumes it)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 10_000_000)
    n_logins = args.logins or (15 if args.quick else 40)
    duration = 20.0 if args.quick else 60.0
    if rows < SMALL:
        parser.error(f"--rows must be at least {SMALL:,}")
    CACHE.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    sizes = [SMALL, rows] if rows != SMALL else [SMALL]
    results = {}
    envs = {}
    for size in sizes:  # first every import, so the measurements below run back to back on the same code
        envs[size] = clean_environ(IDP_DATABASE_URL=database_url(dbname_for(size)),
                                   IDP_REDIS_URL=f"redis://127.0.0.1:6379/{args.redis_db}", IDP_RATE_LIMITS="off",
                                   IDP_SECRET_KEY="bench-registry-lookups", IDP_KEYS_DIR=str(CACHE / "registry-keys"),
                                   IDP_INSTANCE_DIR=str(CACHE / "registry-instance"))
        log(f"registry of {size:,} citizens:")
        results[size] = {"import": import_registry(size, envs[size], args.fresh, args.import_timeout)}
    for size in sizes:
        env = envs[size]
        entry = results[size]
        claim_redis(args.redis_db)
        log(f"registry of {size:,} citizens: {args.lookups:,} lookups …")
        entry["lookup"] = lookups(size, env, args.lookups)
        log(f"    p50 {entry['lookup']['p50_ms']} ms, p99 {entry['lookup']['p99_ms']} ms")
        log(f"  up to {n_logins} complete logins, one at a time …")
        entry["login"] = logins(size, args.redis_db, n_logins, duration)
        lat = entry["login"]["latency"]
        log(f"    p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, "
            f"{entry['login']['server_ms_per_login']:.1f} ms server CPU per login")
        release_redis(args.redis_db)
    if args.drop:
        for size in sizes:
            drop_database(dbname_for(size))
    text = render(results, rows, args, time.monotonic() - t_start)
    print(text)
    if not args.no_write:
        path = report.write_section("registry-quick" if args.quick else "registry", text)
        log(f"\nwritten to {path.relative_to(path.parent.parent)}")
    return 0


def render(results: dict, rows: int, args, total_s: float) -> str:
    out = [f"## Registry scale{' (quick)' if args.quick else ''}: {rows:,} citizens vs {SMALL:,}", ""]
    import_rows = []
    for size, entry in results.items():
        imp = entry["import"]
        note = ""
        if imp.get("skipped"):
            note = f"kept database: import done earlier ({imp.get('date', 'date unknown')})"
        elif imp.get("resumed_from"):
            note = f"resumed from {imp['resumed_from']:,} rows"
        import_rows.append([f"{size:,}", f"{imp.get('imported', 0):,}" if "imported" in imp else None,
                            f"{imp['import_s']:.1f}" if "import_s" in imp else None,
                            f"{imp['rows_per_s']:,.0f}" if "rows_per_s" in imp else None,
                            f"{imp['peak_rss_kib'] / 1024:.0f}" if imp.get("peak_rss_kib") else None,
                            imp.get("table_size"), note])
    out.append("Import (`idp registry import FILE.csv`, batches of 2,000, one process; peak RSS from "
               "`/usr/bin/time -v`; CSV generation not included in the time):")
    out.append("")
    out.append(report.table(["registry", "rows imported", "seconds", "rows/s", "importer peak RSS MB",
                             "table + indexes", "note"], import_rows))
    out.append("")
    rows_l = []
    for size, entry in results.items():
        lk, lg = entry["lookup"], entry["login"]
        rows_l.append([f"{size:,}", lk["p50_ms"], lk["p99_ms"], lg["ok"], lg["latency"]["p50_ms"],
                       lg["latency"]["p99_ms"], f"{lg['server_ms_per_login']:.1f}", f"{lg['pg_ms_per_login']:.1f}",
                       f"{lg.get('other_pct', 0):.0f}%"])
    out.append(f"`DatabaseRegistry.find` in an app context ({args.lookups:,} random national IDs of the registry, "
               f"after 200 unmeasured; a fresh identity map for each) and complete logins over HTTP on the "
               f"production stack (one browser at a time; authorize → identify → SMS → verify → consent → token → "
               f"userinfo; \"others\": the machine's CPU taken by programs outside the benchmark during the logins). "
               f"The sizes are measured back to back, after every import.")
    out.append("")
    out.append(report.table(["registry", "find p50 ms", "find p99 ms", "logins", "login p50 ms", "login p99 ms",
                             "server CPU ms/login", "PostgreSQL CPU ms/login", "others"], rows_l))
    out.append("")
    env = report.environment()
    out.append(report.env_block(env, {"command": "`python -m bench registry" + (" --quick" if args.quick else "") + (
        f" --rows {rows}" if args.rows else "") + "`", "run time": f"{total_s:.0f} s"}))
    return "\n".join(out) + "\n"
