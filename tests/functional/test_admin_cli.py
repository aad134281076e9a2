"""CLI parity for the agency registry: the same rules as the admin API, acted by the operator
``cli`` or by a named administrator (``--as NATIONAL_ID``)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from idp.cli import main


@pytest.fixture
def idp(app, settings, monkeypatch):
    """Run ``idp ...`` against the test provider's database and keys."""
    for name in ("database_url", "keys_dir", "secret_key", "sms_outbox", "issuer"):
        monkeypatch.setenv(f"IDP_{name.upper()}", str(getattr(settings, name)))
    runner = CliRunner()

    def run(*args, ok=True):
        result = runner.invoke(main, list(args))
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    return run


def test_clients_add_still_registers_an_active_service_and_it_is_on_record(idp):
    data = json.loads(idp("clients", "add", "--name", "E-Tax", "--agency", "tax", "--redirect-uri",
                          "https://tax.example/cb", "--scope", "openid profile", "--json"))
    assert data["client_id"] and data["client_secret"]
    shown = json.loads(idp("clients", "show", data["client_id"]))
    assert shown["status"] == "active" and shown["registered_via"] == "operator"
    assert data["client_id"] in idp("clients", "list", "--status", "active")
    assert "must use https" in idp("clients", "add", "--name", "X", "--redirect-uri", "http://x.example/cb", ok=False)


def test_the_two_person_rule_holds_at_the_command_line(idp, citizens):
    first, second = citizens[0]["national_id"], citizens[1]["national_id"]
    idp("admins", "grant", first)
    idp("admins", "grant", second)
    client_id = json.loads(idp("clients", "add", "--name", "E-Tax", "--redirect-uri", "https://tax.example/cb",
                               "--json"))["client_id"]
    assert "revoked 0" in idp("clients", "suspend", client_id)
    assert "--as" in idp("clients", "reactivate", client_id, ok=False)
    assert "Proposal 1" in idp("clients", "reactivate", client_id, "--as", first)
    assert "two-person" in idp("proposals", "approve", "1", "--as", first, ok=False)
    assert "not an administrator" in idp("proposals", "approve", "1", "--as", citizens[2]["national_id"], ok=False)
    assert "approved and applied" in idp("proposals", "approve", "1", "--as", second)
    assert json.loads(idp("clients", "show", client_id))["status"] == "active"
    secret = json.loads(idp("clients", "rotate-secret", client_id, "--json"))["client_secret"]
    assert secret and "Retired" in idp("clients", "retire", client_id)
    assert '"status": "approved"' in idp("proposals", "list", "--status", "all", "--json")
    idp("admins", "revoke", second)
    assert second not in idp("admins", "list")


def test_agencies_and_initial_access_tokens(idp):
    idp("agencies", "add", "--slug", "customs", "--name-en", "Customs", "--name-fa", "گمرک",
        "--email", "it@customs.example")
    assert "customs" in idp("agencies", "list")
    issued = json.loads(idp("agencies", "issue-token", "customs", "--expires-in", "600", "--single-use", "--json"))
    assert issued["initial_access_token"] and issued["single_use"] is True
    shown = json.loads(idp("agencies", "show", "customs"))
    assert shown["initial_access_tokens"][0]["id"] == issued["id"]
    assert issued["initial_access_token"] not in json.dumps(shown)
    assert "no agency" in idp("agencies", "issue-token", "nowhere", ok=False)
