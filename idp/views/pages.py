"""Public pages: home, language switch, service catalogue, health and readiness."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session
from sqlalchemy import text

from ..db import db
from ..models import Agency, Client
from ..services import services

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    return render_template("home.html")


@bp.get("/language/<lang>")
def set_language(lang):
    if lang in ("fa", "en"):
        session["lang"] = lang
    target = request.args.get("next", "/")
    parts = urlsplit(target)
    # only a local path: never an open redirect
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    return redirect(target.rstrip("?") or "/")


@bp.get("/services")
def catalogue():
    agencies = db.session.execute(
        db.select(Agency).join(Client).where(Client.status == "active").distinct().order_by(Agency.id)
    ).scalars().all()
    return render_template("services.html", agencies=agencies)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means not ready
        db.session.rollback()
        checks["database"] = "fail"
    svc = services()
    if svc.settings.redis_url:
        try:
            svc.store.get("readyz")
            checks["redis"] = "ok"
        except Exception:  # noqa: BLE001
            checks["redis"] = "fail"
    checks["keys"] = "ok" if svc.keys.ready() else "fail"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


def init_app(app):
    app.register_blueprint(bp)
