"""One contract per port, run against every backend of that port: the embedded database
registry and the http registry (against a real local server), the registry-backed and the
http ownership services. A backend that passes is interchangeable with the others."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date

import pytest

from idp.adapters.registry import (
    HttpOwnership,
    HttpRegistry,
    Lookup,
    Person,
    RegistryOwnership,
    Verdict,
    create_ownership,
    create_registry,
)
from idp.auth.citizens import Identification, identify
from idp.config import Settings
from idp.registry_data import generate_citizens
from idp.text import national_id_check_digit
from tests.contract.registry_stub import RegistryStub

CITIZENS = list(generate_citizens(20))


def unknown_national_id() -> str:
    """A valid national ID that is none of the citizens'."""
    known = {row["national_id"] for row in CITIZENS}
    for n in range(100_000_000, 100_001_000):
        candidate = f"{n:09d}{national_id_check_digit(f'{n:09d}')}"
        if candidate not in known:
            return candidate
    raise AssertionError("unreachable")


def expected_person(row: dict) -> Person:
    return Person(row["national_id"], row["first_name"], row["last_name"], date.fromisoformat(row["birth_date"]),
                  row["mobile"], row["father_name"] or None, row["gender"] or None, row["email"] or None)


# --- the contracts ---

def check_registry_contract(make_registry) -> None:
    """What every CivilRegistry backend does: found, not found, always live when it can answer."""
    registry = make_registry()
    for row in CITIZENS:
        assert registry.lookup(row["national_id"]) == Lookup(expected_person(row), live=True)
        assert registry.find(row["national_id"]) == expected_person(row)
    missing = unknown_national_id()
    assert registry.lookup(missing) == Lookup(None, live=True)
    assert registry.find(missing) is None


def check_ownership_contract(make_ownership) -> None:
    """What every MobileOwnership backend does: the registered mobile is owned, any other is not."""
    ownership = make_ownership()
    first, second = CITIZENS[0], CITIZENS[1]
    assert ownership.verify(first["national_id"], first["mobile"]) == Verdict(True, live=True)
    assert ownership.owns(first["national_id"], first["mobile"]) is True
    assert ownership.verify(first["national_id"], second["mobile"]) == Verdict(False, live=True)
    assert ownership.owns(first["national_id"], second["mobile"]) is False
    assert ownership.verify(unknown_national_id(), first["mobile"]) == Verdict(False, live=True)


# --- the backends, each built by the same factory the app uses ---

def http_settings(stub: RegistryStub, **overrides) -> Settings:
    return Settings.from_env(environ={}, registry_url=stub.url, ownership_url=stub.url,
                             registry_token="contract-token", ownership_token="contract-token",
                             adapter_timeout=2.0, **overrides)


@pytest.fixture
def stub():
    with RegistryStub(CITIZENS, token="contract-token") as server:
        yield server


@pytest.fixture
def backends(app, stub):
    """Builds the (registry, ownership) pair named by the test's parameter; closes what it opened.

    It takes the app itself (not lazily), so the app and its database outlive the context opened here."""
    with ExitStack() as stack:
        def build(registry_backend: str, ownership_backend: str):
            if registry_backend == "database":
                stack.enter_context(app.app_context())
            settings = http_settings(stub, registry_backend=registry_backend, ownership_backend=ownership_backend)
            registry = create_registry(settings)
            ownership = create_ownership(settings, registry)
            for adapter in (registry, ownership):
                if hasattr(adapter, "close"):
                    stack.callback(adapter.close)
            return registry, ownership

        yield build


@pytest.mark.parametrize("registry_backend", ["database", "http"])
def test_registry_contract(backends, registry_backend):
    check_registry_contract(lambda: backends(registry_backend, "registry")[0])


@pytest.mark.parametrize("registry_backend, ownership_backend",
                         [("database", "registry"), ("http", "registry"), ("database", "http"), ("http", "http")])
def test_ownership_contract(backends, registry_backend, ownership_backend):
    check_ownership_contract(lambda: backends(registry_backend, ownership_backend)[1])


@pytest.mark.parametrize("registry_backend, ownership_backend",
                         [("database", "registry"), ("http", "registry"), ("database", "http"), ("http", "http")])
def test_identify_is_live_on_every_backend(backends, registry_backend, ownership_backend):
    registry, ownership = backends(registry_backend, ownership_backend)
    first, second = CITIZENS[0], CITIZENS[1]
    assert identify(registry, ownership, first["national_id"], first["mobile"]) == Identification(True, True)
    assert identify(registry, ownership, first["national_id"], second["mobile"]) == Identification(False, True)
    assert identify(registry, ownership, unknown_national_id(), first["mobile"]) == Identification(False, True)


def test_the_factories_pick_the_backend_the_settings_name(backends):
    registry, ownership = backends("http", "http")
    assert isinstance(registry, HttpRegistry) and isinstance(ownership, HttpOwnership)
    assert registry.breaker is not ownership.breaker  # each adapter has its own
    registry, ownership = backends("http", "registry")
    assert isinstance(ownership, RegistryOwnership) and ownership.registry is registry


def test_the_http_backends_present_the_bearer_token(backends, stub):
    registry, ownership = backends("http", "http")
    registry.lookup(CITIZENS[0]["national_id"])
    ownership.verify(CITIZENS[0]["national_id"], CITIZENS[0]["mobile"])
    assert [r[2] for r in stub.requests] == ["Bearer contract-token"] * 2
