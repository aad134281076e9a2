"""Fixtures: a provider on a fresh database with keys, a small registry and services."""

from __future__ import annotations

import os
import uuid

import pytest

from idp.app import create_app
from idp.config import Settings
from idp.registration import ClientRequest, register
from idp.registry_data import generate_citizens
from idp.registry_import import import_rows
from tests.support import Browser, RelyingParty

ISSUER = "http://127.0.0.1:5000"
# Run the suite on the production parts: PANJEREH_TEST_POSTGRES=postgresql+psycopg://postgres@127.0.0.1/test
# (a fresh database per test is created next to it) and PANJEREH_TEST_REDIS=redis://127.0.0.1:6379/15.
POSTGRES = os.environ.get("PANJEREH_TEST_POSTGRES", "")
REDIS = os.environ.get("PANJEREH_TEST_REDIS", "")


@pytest.fixture
def database_url(tmp_path):
    if not POSTGRES:
        yield f"sqlite:///{tmp_path / 'idp.sqlite'}"
        return
    import sqlalchemy as sa

    name = f"panjereh_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(autouse=True)
def fresh_redis():
    """With PANJEREH_TEST_REDIS, every test starts from an empty Redis database (like a fresh SQLite file)."""
    if REDIS:
        import redis

        redis.Redis.from_url(REDIS).flushdb()
    yield


@pytest.fixture
def settings(tmp_path, database_url):
    return Settings.from_env(
        environ={},
        issuer=ISSUER,
        redis_url=REDIS,
        database_url=database_url,
        keys_dir=str(tmp_path / "keys"),
        sms_outbox=str(tmp_path / "outbox.jsonl"),
        secret_key="test-secret-key-for-hmacs-only",
        client_cache_seconds=0,  # tests change clients in the database and expect the change at once
        rate_limits=False,  # as automated environments run it; tests of the limits turn them on
        testing=True,
    )


@pytest.fixture
def app(settings):
    from flask_migrate import upgrade

    app = create_app(settings)
    with app.app_context():
        upgrade()
        app.extensions["panjereh"].keys.ensure()
        import_rows(generate_citizens(20))
    yield app
    app.extensions["panjereh.courier"].stop()  # no delivery thread outlives its database
    with app.app_context():
        from idp.db import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def citizens():
    return list(generate_citizens(20))


@pytest.fixture
def citizen(citizens):
    return citizens[0]


def make_client(app, **kw):
    defaults = dict(name="E-Tax", name_fa="مالیات", redirect_uris=["https://tax.example/cb"],
                    scope="openid profile national_id phone", agency="tax")
    defaults.update(kw)
    with app.app_context():
        client, secret = register(ClientRequest(**defaults))
        return client.client_id, secret


@pytest.fixture
def rp(app):
    client_id, secret = make_client(app)
    return RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")


@pytest.fixture
def browser(app, settings):
    return Browser(app.test_client(), __import__("pathlib").Path(settings.sms_outbox))
