"""``idp sessions sweep``: end the sign-in sessions whose lifetimes have passed.

A session also ends lazily when its browser comes back; the sweep makes sure
every service that took part in an expired session hears of it (back-channel
logout) even when the browser never returns. Run it every minute or so (cron,
a systemd timer, a Kubernetes CronJob).
"""

from __future__ import annotations

from datetime import timedelta

import click
from sqlalchemy import or_, select

from ..db import db, utcnow
from ..models import LoginSession
from ..services import services
from ._app import app_context


@click.group(help="Single sign-on sessions.")
def sessions():
    pass


@sessions.command(help="End expired sessions and deliver the logout notices they cause.")
@click.option("--limit", default=10000, show_default=True, type=int)
def sweep(limit):
    with app_context() as app:
        svc = services()
        now = utcnow()
        idle = timedelta(seconds=svc.settings.session_idle_timeout)
        expired = db.session.execute(
            select(LoginSession).where(LoginSession.ended_at.is_(None),
                                       or_(LoginSession.expires_at <= now, LoginSession.last_seen_at <= now - idle))
            .limit(limit)).scalars().all()
        ended = sum(1 for login in expired if svc.sessions.end(login))
        courier = app.extensions.get("panjereh.courier")
        delivered = courier.deliver_due() if courier is not None else 0
    click.echo(f"Ended {ended} expired session(s); attempted {delivered} logout notice(s).")
