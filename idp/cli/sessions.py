"""``idp sessions sweep``: end the sign-in sessions whose lifetimes have passed.

A session also ends lazily when its browser comes back; the sweep makes sure
every service that took part in an expired session hears of it (back-channel
logout) even when the browser never returns. Run it every minute or so (cron,
a systemd timer, a Kubernetes CronJob).

It also removes the authorization codes that expired an hour ago or more: a code
is kept while it can be redeemed (and a while after, for the record), and a
replayed code is still recognised without it (its tokens carry its hash), so the
table holds about an hour of sign-ins rather than every one ever made.

And it removes the token records whose every lifetime ended 31 days ago or more: a
record is one token response (its access token's ``jti``, its refresh token's
hash), one per sign-in to a service and one per refresh. They are kept past the
30 days of a service's activity counts (``admin.clients.activity``), and the
records of a refresh token's family only go once every one of them has ended,
so a rotated refresh token is recognised (and revokes its family) for as long as
the family lives. Several hosts may run the sweep at once: each batch skips the
rows another is removing.
"""

from __future__ import annotations

from datetime import timedelta

import click
from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.orm import aliased

from ..admin.clients import ACTIVITY_WINDOW
from ..db import db, utcnow
from ..models import AuthorizationCode, LoginSession, Token
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
        removed = remove_expired_codes(now - CODES_KEPT_AFTER_EXPIRY, limit)
        tokens = remove_expired_tokens(now - TOKENS_KEPT_AFTER_EXPIRY, limit)
    click.echo(f"Ended {ended} expired session(s); attempted {delivered} logout notice(s); "
               f"removed {removed} expired authorization code(s) and {tokens} expired token record(s).")


CODES_KEPT_AFTER_EXPIRY = timedelta(hours=1)
TOKENS_KEPT_AFTER_EXPIRY = ACTIVITY_WINDOW + timedelta(days=1)


def _ended_before(row, cutoff):
    """The row's access token and its refresh token (if any) both expired before ``cutoff`` (a refresh
    token with no expiry never ends)."""
    return and_(row.expires_at < cutoff, or_(row.refresh_token_hash.is_(None), row.refresh_expires_at < cutoff))


def remove_expired_tokens(expired_before, limit: int) -> int:
    """Delete at most ``limit`` token records (a bounded batch: the next run takes the rest) whose
    lifetimes all ended before ``expired_before``, and whose family (the refresh tokens that one
    sign-in's grant rotated through) has no member that had not ended by then, in one statement."""
    member = aliased(Token)
    family_alive = exists().where(member.family_id == Token.family_id, ~_ended_before(member, expired_before))
    return _remove_batch(Token.id, limit, _ended_before(Token, expired_before),
                         or_(Token.family_id.is_(None), ~family_alive))


def remove_expired_codes(expired_before, limit: int) -> int:
    """Delete at most ``limit`` codes that expired before ``expired_before`` (a bounded batch: the
    next run takes the rest), in one statement."""
    return _remove_batch(AuthorizationCode.code_hash, limit, AuthorizationCode.expires_at < expired_before)


def _remove_batch(key, limit: int, *criteria) -> int:
    """Delete at most ``limit`` rows that match, found by their ``key`` column, in one statement and
    committed; rows another run (on another host) is removing at the same time are skipped."""
    batch = select(key).where(*criteria).limit(limit).with_for_update(skip_locked=True).scalar_subquery()
    removed = db.session.execute(delete(key.class_).where(key.in_(batch))).rowcount
    db.session.commit()
    return removed
