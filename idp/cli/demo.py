"""``idp demo``: setup, a synthetic registry, two demo agency portals, and the provider."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import click
from sqlalchemy import func, select

from ..db import db
from ..models import Citizen, Client
from ..admin.actors import CLI_OPERATOR
from ..admin.clients import register_by_operator, rotate_secret
from ..registration import ClientRequest
from ..registry_data import demo_citizens, write_csv
from ..registry_import import import_csv
from ._app import app_context
from .setup import run_setup

PORTALS = (
    # client_id, port, agency slug, English name, Persian name, agency names, scope, theme
    ("demo-tax", 5001, "ministry-of-economy", "E-Tax Portal", "سامانه مالیات الکترونیک",
     ("Iranian National Tax Administration", "سازمان امور مالیاتی کشور"), "openid profile national_id", "#0b6e4f"),
    ("demo-health", 5002, "ministry-of-health", "E-Health Portal", "سامانه سلامت الکترونیک",
     ("Ministry of Health", "وزارت بهداشت، درمان و آموزش پزشکی"), "openid profile phone national_id", "#8a1c4a"),
)
DEMO_REGISTRY_SIZE = 1000


def ensure_registry() -> int:
    count = db.session.scalar(select(func.count()).select_from(Citizen))
    if count >= DEMO_REGISTRY_SIZE:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registry.csv"
        write_csv(path, DEMO_REGISTRY_SIZE)
        return import_csv(str(path)).imported


def ensure_portal(client_id, port, agency, name_en, name_fa, agency_names, scope) -> str:
    """Register (or refresh) a demo portal; returns a new secret for this run."""
    base = f"http://127.0.0.1:{port}"
    client = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
    if client is None:
        _client, secret = register_by_operator(ClientRequest(
            name=name_en, name_fa=name_fa, client_id=client_id, agency=agency, scope=scope,
            agency_name_en=agency_names[0], agency_name_fa=agency_names[1],
            redirect_uris=[f"{base}/callback"], post_logout_redirect_uris=[f"{base}/"], client_uri=f"{base}/"))
        return secret
    return rotate_secret(CLI_OPERATOR, client)  # only hashes are kept, so each run gets a fresh secret (recorded)


@click.command(help="Set up, load a synthetic registry and two demo services, and serve them all.")
@click.option("--port", default=5000, show_default=True, type=int)
def demo(port):
    with app_context(sms_echo=True) as app:
        run_setup()
        loaded = ensure_registry()
        secrets = {p[0]: ensure_portal(*p[:7]) for p in PORTALS}
        issuer = app.extensions["panjereh"].settings.issuer
    children = []
    for client_id, portal_port, *_rest, theme in PORTALS:
        entry = next(p for p in PORTALS if p[0] == client_id)
        env = dict(os.environ, PORTAL_ISSUER=issuer, PORTAL_CLIENT_ID=client_id,
                   PORTAL_CLIENT_SECRET=secrets[client_id], PORTAL_NAME_EN=entry[3], PORTAL_NAME_FA=entry[4],
                   PORTAL_SCOPE=entry[6], PORTAL_THEME=theme)
        children.append(subprocess.Popen([sys.executable, "-m", "clients.portal", "--port", str(portal_port)],
                                         env=env))
    _banner(issuer, loaded)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the portals too
    try:
        from ..app import create_app
        from ..config import Settings

        create_app(Settings.from_env(sms_echo=True)).run(host="127.0.0.1", port=port, threaded=True,
                                                          use_reloader=False)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=10)


def _banner(issuer, loaded):
    line = "=" * 64
    click.echo(line)
    click.echo(f"Panjereh identity provider: {issuer}")
    if loaded:
        click.echo(f"Loaded a synthetic civil registry of {loaded:,} citizens.")
    for client_id, portal_port, _agency, name_en, *_ in PORTALS:
        click.echo(f"{name_en}: http://127.0.0.1:{portal_port}/")
    click.echo("Demo citizens (national ID / mobile):")
    for person in demo_citizens():
        click.echo(f"  {person['national_id']} / {person['mobile']}  ({person['first_name']} {person['last_name']})")
    click.echo("One-time codes are printed here and written to the SMS outbox.")
    click.echo(line, nl=True)
