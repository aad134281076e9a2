"""A citizen's account at the provider: created at first sign-in.

The account holds what is ours (the public subject identifier, roles, last
sign-in); the person's data stays in the civil registry.
"""

import uuid
from datetime import datetime

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from ..db import UTCDateTime, db, utcnow


def new_public_sub() -> str:
    return str(uuid.uuid4())


class Account(db.Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    national_id: Mapped[str] = mapped_column(String(10), unique=True)
    # never the national ID and never derived from it: a random, stable identifier
    public_sub: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_sub)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # an administrator of the agency registry (``idp admins grant|revoke``)
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=false())

    def get_user_id(self):
        return self.public_sub
