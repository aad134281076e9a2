"""Authenticator apps (TOTP, RFC 6238) and recovery codes.

Enrolment: a secret is generated and kept (encrypted) on the citizen's browser
session until the first code from the app confirms it; then it is stored,
encrypted at rest, with ten single-use recovery codes shown once and stored
as keyed hashes. A time-step that was used once is never accepted again.
"""

from __future__ import annotations

import hmac
import io
import secrets
import time

import pyotp
from sqlalchemy import select, update

from ..db import db, utcnow
from ..models import Account, Authenticator, RecoveryCode
from ..security import decrypt, encrypt, keyed_hash

SECRET = "totp-secret"
RECOVERY = "recovery-code"
ISSUER_NAME = "Panjereh"
RECOVERY_CODES = 10
WINDOW = 1  # accept the previous and next 30-second step (clock drift)


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, label: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER_NAME)


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code, drawn here (no outside service)."""
    import segno  # only the enrolment page draws a QR code: not loaded into every worker

    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True,
                                    title="QR", dark="#111", light="#fff")
    return buffer.getvalue().decode()


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time-step whose code this is, within the allowed drift, else None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now or time.time())
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def active_authenticator(account: Account) -> Authenticator | None:
    return db.session.execute(
        select(Authenticator).where(Authenticator.account_id == account.id, Authenticator.removed_at.is_(None))
    ).scalars().first()


def enrol(account: Account, secret: str, code: str) -> list[str] | None:
    """Confirm a new authenticator with its first code; returns the recovery codes (shown once)."""
    step = matching_step(secret, code)
    if step is None or active_authenticator(account) is not None:
        return None
    db.session.add(Authenticator(account_id=account.id, secret_encrypted=encrypt(SECRET, secret),
                                 last_used_step=step))
    codes = _new_recovery_codes(account)
    db.session.commit()
    return codes


def _new_recovery_codes(account: Account) -> list[str]:
    db.session.execute(update(RecoveryCode).where(RecoveryCode.account_id == account.id,
                                                  RecoveryCode.used_at.is_(None)).values(used_at=utcnow()))
    codes = [f"{secrets.randbelow(10 ** 10):010d}" for _ in range(RECOVERY_CODES)]
    for code in codes:
        db.session.add(RecoveryCode(account_id=account.id, code_hash=keyed_hash(RECOVERY, code)))
    return codes


def verify(account: Account, code: str) -> bool:
    """Check a code from the app; its time-step is consumed atomically (no replay)."""
    authenticator = active_authenticator(account)
    if authenticator is None or not (len(code) == 6 and code.isdigit()):
        return False
    step = matching_step(decrypt(SECRET, authenticator.secret_encrypted), code)
    if step is None:
        return False
    claimed = db.session.execute(
        update(Authenticator).where(Authenticator.id == authenticator.id, Authenticator.last_used_step < step)
        .values(last_used_step=step)).rowcount
    db.session.commit()
    return bool(claimed)


def use_recovery_code(account: Account, code: str) -> bool:
    code = "".join(ch for ch in code if ch.isdigit())
    claimed = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.account_id == account.id,
                                   RecoveryCode.code_hash == keyed_hash(RECOVERY, code),
                                   RecoveryCode.used_at.is_(None)).values(used_at=utcnow())).rowcount
    db.session.commit()
    return bool(claimed)


def remaining_recovery_codes(account: Account) -> int:
    return len(db.session.execute(select(RecoveryCode.id).where(
        RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))).all())


def remove(account: Account) -> bool:
    authenticator = active_authenticator(account)
    if authenticator is None:
        return False
    authenticator.removed_at = utcnow()
    db.session.execute(update(RecoveryCode).where(RecoveryCode.account_id == account.id,
                                                  RecoveryCode.used_at.is_(None)).values(used_at=utcnow()))
    db.session.commit()
    return True
