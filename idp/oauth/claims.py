"""Scopes to claims (one table), and subject identifiers (public or pairwise)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from ..adapters.registry import Person
from ..models import Account, Client
from ..security import keyed_hash
from ..text import mobile_to_e164

#: what each scope lets a service receive
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "birthdate", "gender"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "national_id": ("national_id",),
}
#: scopes of the OpenID kind (plus ours); any other registered scope is an agency API scope
IDENTITY_SCOPES = ("openid", "profile", "email", "phone", "national_id", "offline_access")
PAIRWISE = "pairwise-subject"


@dataclass(frozen=True)
class EndUser:
    """The signed-in citizen as the protocol layer sees them."""

    account: Account
    sid: str | None
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    subject: str | None = None  # the ``sub`` for the client at hand, once known

    def get_user_id(self):
        return self.account.public_sub


def subject_for(account: Account, client: Client) -> str:
    """``public``: the account's random identifier. ``pairwise``: a keyed hash of
    it and the client's sector, so two sectors cannot correlate a citizen."""
    if client.subject_type == "public":
        return account.public_sub
    digest = keyed_hash(PAIRWISE, f"{client.sector}|{account.public_sub}")
    return base64.urlsafe_b64encode(bytes.fromhex(digest)).rstrip(b"=").decode()


def person_claims(person: Person) -> dict:
    claims = {
        "name": f"{person.first_name} {person.last_name}",
        "given_name": person.first_name,
        "family_name": person.last_name,
        "birthdate": person.birth_date.isoformat(),
        "phone_number": mobile_to_e164(person.mobile),
        "phone_number_verified": True,
        "national_id": person.national_id,
    }
    if person.gender:
        claims["gender"] = person.gender
    if person.email:
        claims["email"] = person.email
        claims["email_verified"] = False
    return claims


def claims_for_scope(person: Person | None, scope: str) -> dict:
    if person is None:
        return {}
    available = person_claims(person)
    allowed = {name for s in scope.split() for name in SCOPE_CLAIMS.get(s, ())}
    return {k: v for k, v in available.items() if k in allowed}


def scope_of(claim: str) -> str | None:
    """The scope that releases a claim (None for ``sub`` and unknown claims)."""
    for scope, names in SCOPE_CLAIMS.items():
        if claim in names and scope != "openid":
            return scope
    return None


def claims_listed(scopes) -> list[str]:
    """The claim names a set of scopes releases (for consent pages)."""
    return [c for s in scopes for c in SCOPE_CLAIMS.get(s, ()) if c != "sub"]


__all__ = ["EndUser", "subject_for", "claims_for_scope", "claims_listed", "scope_of", "SCOPE_CLAIMS",
           "IDENTITY_SCOPES"]
