"""gunicorn settings for Panjereh in production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os

bind = os.environ.get("PANJEREH_BIND", "0.0.0.0:8000")
# the hot paths (token, userinfo, introspection) are CPU-bound: one worker per core
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "sync"
# recycle workers now and then, staggered, so slow leaks never add up
max_requests = 20000
max_requests_jitter = 2000
timeout = 30
graceful_timeout = 20
keepalive = 5
# behind a load balancer: trust its X-Forwarded-* headers only from these addresses
forwarded_allow_ips = os.environ.get("PANJEREH_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
# load the app in the master once (keys parsed once, shared pages), then open
# database connections per worker after the fork
preload_app = True


def pre_fork(server, worker):
    # the preloaded app's objects stay out of the cyclic collector's way in every worker
    # (no full collection walks them mid-request) and their pages stay shared
    import gc

    gc.collect()
    gc.freeze()


def post_fork(server, worker):
    from idp.db import db

    with worker.app.wsgi().app_context():
        db.engine.dispose(close=False)
