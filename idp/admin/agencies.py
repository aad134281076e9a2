"""Agencies: list, search, create, edit, suspend and reactivate.

Suspending an agency suspends each of its active services (each recorded, each
with its live tokens revoked) and stops its initial access tokens. Reactivating
an agency activates none of its services: each needs its own reactivation
proposal (two-person rule)."""

from __future__ import annotations

import re

from sqlalchemy import or_, select

from ..db import db
from ..models import Agency
from ..text import normalize_digits
from .actors import Actor
from .errors import Conflict, InvalidRequest, NotFound
from .policy import AGENCY_STATUSES
from .present import agency_view
from .record import Action, record

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
EMAIL = re.compile(r"^[^@\s\"\\]+@[^@\s\"\\]+\.[^@\s\"\\]+$")
PHONE = re.compile(r"^\+?[0-9]{5,20}$")
AGENCY_FIELDS = ("name_fa", "name_en", "contact_email", "contact_phone", "status")


def list_agencies(q: str | None = None, status: str | None = None, limit: int = 50,
                  offset: int = 0) -> list[Agency]:
    """Agencies by slug, filtered by ``status`` and a text ``q`` (slug or either name)."""
    query = select(Agency)
    if status:
        query = query.where(Agency.status == status)
    if q:
        query = query.where(or_(Agency.slug.icontains(q, autoescape=True), Agency.name_fa.icontains(q, autoescape=True),
                                Agency.name_en.icontains(q, autoescape=True)))
    return list(db.session.execute(query.order_by(Agency.slug).limit(limit).offset(offset)).scalars())


def get_agency(slug: str) -> Agency:
    agency = db.session.execute(select(Agency).where(Agency.slug == slug)).scalar_one_or_none()
    if agency is None:
        raise NotFound(f"no agency {slug!r}")
    return agency


def create_agency(actor: Actor, *, name_fa: str, name_en: str, slug: str | None = None,
                  contact_email: str | None = None, contact_phone: str | None = None) -> Agency:
    from ..registration import agency_slug

    slug = slug or agency_slug(name_en or "")
    if not SLUG.match(slug):
        raise InvalidRequest("slug must be 1-64 lowercase letters, digits or dashes, starting with a letter or digit")
    if db.session.execute(select(Agency.id).where(Agency.slug == slug)).first():
        raise Conflict(f"an agency with slug {slug!r} already exists")
    agency = Agency(slug=slug, name_fa=_name(name_fa, "name_fa"), name_en=_name(name_en, "name_en"),
                    contact_email=_email(contact_email), contact_phone=_phone(contact_phone), status="active")
    db.session.add(agency)
    db.session.flush()
    record(actor, Action.AGENCY_CREATED, "agency", slug, after=agency_view(agency))
    db.session.commit()
    return agency


def update_agency(actor: Actor, agency: Agency, changes: dict) -> Agency:
    """Change names, contacts or status. ``status: suspended`` suspends the agency's active services."""
    unknown = sorted(set(changes) - set(AGENCY_FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown or read-only agency fields: {', '.join(unknown)}")
    before = agency_view(agency)
    if "name_fa" in changes:
        agency.name_fa = _name(changes["name_fa"], "name_fa")
    if "name_en" in changes:
        agency.name_en = _name(changes["name_en"], "name_en")
    if "contact_email" in changes:
        agency.contact_email = _email(changes["contact_email"])
    if "contact_phone" in changes:
        agency.contact_phone = _phone(changes["contact_phone"])
    status = changes.get("status", agency.status)
    if status not in AGENCY_STATUSES:
        raise InvalidRequest(f"agency status must be one of {', '.join(AGENCY_STATUSES)}")
    was = agency.status
    agency.status = status
    after = agency_view(agency)
    if before == after:
        return agency
    action = Action.AGENCY_UPDATED
    if was != status:
        action = Action.AGENCY_SUSPENDED if status == "suspended" else Action.AGENCY_REACTIVATED
    record(actor, action, "agency", agency.slug, before=before, after=after)
    if was != status and status == "suspended":
        from .clients import suspend_service

        for client in list(agency.clients):
            if client.status == "active":
                suspend_service(actor, client, commit=False)
    db.session.commit()
    return agency


def _name(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{field} is required")
    if len(value) > 200:
        raise InvalidRequest(f"{field} must be at most 200 characters")
    return value.strip()


def _email(value) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 254 or not EMAIL.match(value):
        raise InvalidRequest("contact_email must be an email address like name@agency.gov.ir")
    return value


def _phone(value) -> str | None:
    if value in (None, ""):
        return None
    compact = re.sub(r"[\s()-]", "", normalize_digits(value)) if isinstance(value, str) else ""
    if not PHONE.match(compact):
        raise InvalidRequest("contact_phone must be a phone number of 5-20 digits, optionally starting with +")
    return compact


__all__ = ["AGENCY_FIELDS", "create_agency", "get_agency", "list_agencies", "update_agency"]
