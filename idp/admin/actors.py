"""Who acts on the registry, and from where.

Every change is made by an :class:`Actor`: an administrator's account (a
citizen with ``is_admin``, through the API or ``idp ... --as NATIONAL_ID``), an
API client holding the ``admin`` scope, an agency registering itself (RFC 7591
self-service, with an initial access token), or the operator's command line
(``idp clients add`` and friends without ``--as``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select

from ..db import db
from ..models import Account
from ..text import InvalidNationalId, normalize_national_id
from .errors import Forbidden, InvalidRequest, NotFound

ACCOUNT, CLIENT, AGENCY, OPERATOR = "account", "client", "agency", "operator"
VIA_API, VIA_CLI, VIA_SELF_SERVICE = "api", "cli", "self-service"


@dataclass(frozen=True)
class Actor:
    kind: str  # account | client | agency | operator
    id: str
    via: str = VIA_API
    ip: str | None = None
    user_agent: str | None = None

    @property
    def ref(self) -> str:
        """How proposals name the actor: ``account:12``, ``client:abc``, ``agency:tax``, ``operator:cli``."""
        return f"{self.kind}:{self.id}"

    @property
    def is_administrator(self) -> bool:
        """A named administrator: may propose and decide under the two-person rule."""
        return self.kind in (ACCOUNT, CLIENT)

    def seen_from(self, ip: str | None, user_agent: str | None) -> "Actor":
        return replace(self, ip=ip, user_agent=(user_agent or "")[:300] or None)


#: the operator at the command line, when no administrator is named
CLI_OPERATOR = Actor(OPERATOR, "cli", via=VIA_CLI)


def account_actor(account: Account, via: str = VIA_API) -> Actor:
    return Actor(ACCOUNT, str(account.id), via=via)


def client_actor(client_id: str) -> Actor:
    return Actor(CLIENT, client_id, via=VIA_API)


def agency_actor(slug: str) -> Actor:
    return Actor(AGENCY, slug, via=VIA_SELF_SERVICE)


def administrator_by_national_id(national_id: str, via: str = VIA_CLI) -> Actor:
    """The administrator with this national ID (``--as``); refuses anyone without ``is_admin``."""
    account = find_account(national_id)
    if account is None or not account.is_admin:
        raise Forbidden(f"{national_id} is not an administrator (grant it with `idp admins grant`)")
    return account_actor(account, via=via)


def find_account(national_id: str) -> Account | None:
    try:
        national_id = normalize_national_id(national_id)
    except InvalidNationalId as exc:
        raise InvalidRequest(f"not a valid national ID: {exc}") from None
    return db.session.execute(select(Account).where(Account.national_id == national_id)).scalar_one_or_none()


def require_administrator(actor: Actor, doing: str) -> None:
    if not actor.is_administrator:
        raise Forbidden(f"{doing} needs a named administrator (two-person rule); "
                        "at the command line name yourself with --as NATIONAL_ID")


__all__ = ["Actor", "CLI_OPERATOR", "account_actor", "administrator_by_national_id", "agency_actor",
           "client_actor", "find_account", "require_administrator", "NotFound"]
