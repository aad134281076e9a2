"""Public pages: home, language switch, service catalogue, health and readiness."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, make_response, redirect, render_template, request, session
from sqlalchemy import text

from ..db import db
from ..models import Agency, Client
from ..services import services
from . import CSP

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


#: the catalogue shows agencies' logos from their own https hosts, and nothing else from outside
CATALOGUE_CSP = CSP.replace("img-src 'self' data:", "img-src 'self' data: https:")


def https_only(uri: str | None) -> str | None:
    """A logo is shown only from an https URL; anything else is not shown at all."""
    return uri if uri and urlsplit(uri).scheme == "https" and urlsplit(uri).hostname else None


@bp.get("/services")
def catalogue():
    """The single window: every active service, by agency, with its description, logo and link."""
    clients = db.session.execute(
        db.select(Client).join(Agency).where(Client.status == "active", Agency.status == "active")
        .order_by(Agency.id, Client.id)).scalars().all()
    agencies: dict[int, dict] = {}
    for client in clients:
        entry = agencies.setdefault(client.agency_id, {"agency": client.agency, "services": []})
        entry["services"].append({"client": client, "logo": https_only(client.logo_uri), "link": client.client_uri})
    response = make_response(render_template("services.html", agencies=list(agencies.values())))
    response.headers["Content-Security-Policy"] = CATALOGUE_CSP
    return response


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
