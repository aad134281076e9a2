"""Speed for the functional suites. Each test still gets its own keys directory and database,
copied from templates made once per run (instead of generating RSA keys and running every
migration again); templates compile once per run; and each private key file is parsed once.
What the ``app`` fixture of tests/conftest.py does is unchanged: its ``ensure()`` finds the
keys present and its ``upgrade()`` finds the schema at head."""

from __future__ import annotations

import pytest
from flask import Flask

from idp.signing import KeyStore
from tests.support import SharedTemplateBytecode, build_template_sqlite, lay_templates, memoize_key_loading


@pytest.fixture(scope="package", autouse=True)
def _fast_templates_and_keys():
    """For this package only: restored when its last test has run."""
    original_options = Flask.jinja_options
    Flask.jinja_options = {**original_options, "bytecode_cache": SharedTemplateBytecode()}
    restore_key_loading = memoize_key_loading()
    yield
    Flask.jinja_options = original_options
    restore_key_loading()


@pytest.fixture(scope="session")
def _template_keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("template-keys")
    KeyStore(directory).ensure()
    return directory


@pytest.fixture(scope="session")
def _template_sqlite(tmp_path_factory):
    return build_template_sqlite(tmp_path_factory.mktemp("template-db"))


@pytest.fixture(autouse=True)
def _seed_from_templates(settings, _template_keys, _template_sqlite):
    """Runs before ``app`` (autouse fixtures come first): lays the templates where ``settings`` points."""
    lay_templates(settings, _template_keys, _template_sqlite)


@pytest.fixture(scope="module")
def module_provider(request, tmp_path_factory, _template_keys, _template_sqlite):
    """One provider for a whole module, for modules whose tests each register their own clients
    and use their own browsers (nothing one test does is seen by another). A module opts in by
    overriding ``settings`` and ``app`` with the two halves of this fixture. It runs on SQLite
    (and on Redis with PANJEREH_TEST_REDIS); PANJEREH_TEST_POSTGRES does not apply to it."""
    from tests.support import dispose_provider, shared_provider

    directory = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    settings, app = shared_provider(directory, _template_keys, _template_sqlite)
    yield settings, app
    dispose_provider(app)
