"""The civil-registry port (who a national ID is) and the mobile-ownership port
(whether a mobile number is registered to that person)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from ..db import db
from ..models import Citizen


class RegistryUnavailable(RuntimeError):
    """The registry could not answer; a login fails closed."""


@dataclass(frozen=True)
class Person:
    national_id: str
    first_name: str
    last_name: str
    birth_date: date
    mobile: str
    father_name: str | None = None
    gender: str | None = None
    email: str | None = None


class CivilRegistry(Protocol):
    def find(self, national_id: str) -> Person | None: ...


class MobileOwnership(Protocol):
    def owns(self, national_id: str, mobile: str) -> bool: ...


class DatabaseRegistry:
    """The embedded registry: the table filled by ``idp registry import``."""

    def find(self, national_id):
        try:
            row = db.session.get(Citizen, national_id)
        except Exception as exc:  # noqa: BLE001 - any database failure means "cannot answer"
            db.session.rollback()
            raise RegistryUnavailable(str(exc)) from exc
        if row is None:
            return None
        return Person(row.national_id, row.first_name, row.last_name, row.birth_date, row.mobile,
                      row.father_name, row.gender, row.email)


class RegistryOwnership:
    """Ownership as the registry records it: the mobile on file for the person."""

    def __init__(self, registry: CivilRegistry):
        self.registry = registry

    def owns(self, national_id, mobile):
        person = self.registry.find(national_id)
        return person is not None and person.mobile == mobile


def create_registry(settings) -> CivilRegistry:
    if settings.registry_backend != "database":
        raise ValueError(f"unknown registry backend {settings.registry_backend!r}")
    return DatabaseRegistry()


def create_ownership(settings, registry: CivilRegistry) -> MobileOwnership:
    if settings.ownership_backend != "registry":
        raise ValueError(f"unknown ownership backend {settings.ownership_backend!r}")
    return RegistryOwnership(registry)
