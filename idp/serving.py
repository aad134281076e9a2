"""The production WSGI server: Granian, configured here once (``idp serve --production``).

Why Granian and not gunicorn's sync workers: its HTTP layer is written in Rust and keeps
connections alive, so the per-request overhead that every endpoint pays is about half
of gunicorn's. ``python -m bench`` measures both (the floor and the token endpoint); the
figures are in bench/RESULTS.md. ``gunicorn -c gunicorn.conf.py wsgi:app`` still works
for operators who standardise on it.

Settings that the environment adjusts:

``PANJEREH_BIND``               host:port to listen on (default 0.0.0.0:8000)
``WEB_CONCURRENCY``             worker processes (default: one per core; the hot paths are CPU-bound)
``PANJEREH_WORKER_MAX_RSS_MB``  a worker that grows past this is recycled (default 400)

The server's master process is started lean (``python -P -m idp.serving``, which ``idp serve
--production`` becomes by exec): Granian forks the workers from it, and a forked worker carries
every page its master had touched. Started from the ``idp`` command line, each worker would carry
the operator commands and the schema tools (Alembic, Mako, Click's command modules) it never
uses, about 6 MB of resident memory each, and the master itself about 95 MB; started lean, the
master holds little more than Granian, and each worker only what ``worker_app`` builds.

The rest is fixed here; an operator who needs another Granian setting runs Granian's own
command line (``granian --interface wsgi --factory idp.serving:worker_app``, where the
``GRANIAN_*`` variables apply).
"""

from __future__ import annotations

import os
import sys


def production_settings(host: str | None = None, port: int | None = None, workers: int | None = None) -> dict:
    bind_host, _, bind_port = os.environ.get("PANJEREH_BIND", "0.0.0.0:8000").rpartition(":")
    return {
        "target": "idp.serving:worker_app",
        "factory": True,  # each worker builds its own app: its own database pool and threads
        "address": host or bind_host or "0.0.0.0",
        "port": port or int(bind_port or 8000),
        "workers": workers or int(os.environ.get("WEB_CONCURRENCY", 0) or os.cpu_count() or 1),
        # one Python thread per worker: the work is CPU-bound and threads would only
        # contend for the interpreter lock; slow calls out (SMS, registry) are bounded
        # by their own timeouts and circuit breakers
        "blocking_threads": 1,
        "backlog": 2048,
        # a worker that dies (crash, OOM kill) is replaced; one that grows is recycled
        "respawn_failed_workers": True,
        "respawn_interval": 1.0,
        "workers_max_rss": int(os.environ.get("PANJEREH_WORKER_MAX_RSS_MB", 400)),
        "workers_kill_timeout": 20,
        "log_access": False,  # the load balancer logs requests; the audit log records what matters
    }


def worker_app():
    """The app of one production worker, its long-lived objects then frozen out of the cyclic
    garbage collector's way: a full collection would otherwise walk every module, class and
    cached statement (about 140,000 objects, a pause of 100 ms or more) in the middle of some
    citizen's request."""
    import gc

    from .app import create_app

    app = create_app(migrations=False)  # workers serve; `idp setup` migrates
    gc.collect()
    gc.freeze()
    return app


def serve_production(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Become the lean master (``python -P -m idp.serving``): same process id, same environment;
    ``-P``: the working directory is not put on the module path (nothing there can stand in for
    an installed module)."""
    argv = [sys.executable, "-P", "-m", "idp.serving"]
    for flag, value in (("--host", host), ("--port", port), ("--workers", workers)):
        if value is not None:
            argv += [flag, str(value)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def run(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    from granian.constants import Interfaces
    from granian.server import Server

    settings = production_settings(host, port, workers)
    Server(interface=Interfaces.WSGI, **settings).serve()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m idp.serving",
                                     description="Panjereh's production server (what `idp serve --production` runs).")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args(argv)
    run(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
