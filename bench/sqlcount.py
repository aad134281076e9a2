"""SQL statements per request on the hot paths: one request each, in-process (Flask's test client),
on the benchmark's own database, counted with an SQLAlchemy cursor event. Diagnostic, not timed.

Run by the orchestrator as ``python -m bench.sqlcount`` with the stack's environment and a JSON spec
on stdin; prints JSON.
"""

from __future__ import annotations

import base64
import json
import re
import sys


def main():
    spec = json.load(sys.stdin)
    from sqlalchemy import event

    from idp.app import create_app
    from idp.db import db

    app = create_app()
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    checkouts = []

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_connection, record, proxy):
        checkouts.append(1)  # a connection that rested over a second is pinged first (idp.db.ping_when_idle)

    def basic(cid, secret):
        return "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()

    client = app.test_client()
    api, rp = spec["api"], spec["rp"]
    requests = {
        "GET /healthz": lambda: client.get("/healthz"),
        "POST /token client_credentials": lambda: client.post(
            "/token", data={"grant_type": "client_credentials", "scope": spec["api_scope"]},
            headers={"Authorization": basic(api["client_id"], api["client_secret"])}),
        "GET /userinfo": lambda: client.get("/userinfo", headers={"Authorization": f"Bearer {spec['token']}"}),
        "POST /introspect": lambda: client.post(
            "/introspect", data={"token": spec["token"]},
            headers={"Authorization": basic(rp["client_id"], rp["client_secret"])}),
    }
    out = {}
    for name, call in requests.items():
        call()  # warm: first-use queries (e.g. caches) are not what a steady state does
        statements.clear()
        checkouts.clear()
        response = call()
        kinds: dict[str, int] = {}
        for statement in statements:
            words = re.findall(r"[A-Za-z_]+", statement)
            verb = words[0].upper() if words else "?"
            table = ""
            for keyword in ("FROM", "INTO", "UPDATE"):
                if keyword in (w.upper() for w in words):
                    idx = [w.upper() for w in words].index(keyword)
                    if idx + 1 < len(words):
                        table = words[idx + 1] if keyword != "UPDATE" else words[idx + 1]
                    break
            key = f"{verb} {table}".strip()
            kinds[key] = kinds.get(key, 0) + 1
        out[name] = {"status": response.status_code, "statements": len(statements), "kinds": kinds,
                     "checkouts": len(checkouts),
                     "pre_ping": bool(engine.pool._pre_ping) if hasattr(engine.pool, "_pre_ping") else None}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
