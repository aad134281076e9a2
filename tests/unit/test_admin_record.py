"""The admin record is append-only: the ORM refuses UPDATE and DELETE of a row (one at a
time and in bulk), and so does the database itself (the triggers of migration 0005)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, update

from idp.admin.actors import CLI_OPERATOR, Actor
from idp.admin.record import ACTIONS, Action, list_actions, record
from idp.db import db
from idp.models import AdminAction, AppendOnlyError


@pytest.fixture
def recorded(app):
    with app.app_context():
        row = record(CLI_OPERATOR, Action.AGENCY_CREATED, "agency", "tax", after={"name_en": "Tax"})
        db.session.commit()
        yield row.id
        db.session.rollback()


def test_a_recorded_action_has_who_what_target_before_after_when_and_where(app):
    with app.app_context():
        actor = Actor("account", "7", via="api").seen_from("192.0.2.1", "console/1.0")
        row = record(actor, Action.SERVICE_SECRET_ROTATED, "service", "abc",
                     before={"client_secret": "set"}, after={"client_secret": "rotated"})
        db.session.commit()
        stored = db.session.get(AdminAction, row.id)
        assert (stored.actor_type, stored.actor_id, stored.via) == ("account", "7", "api")
        assert (stored.action, stored.target_type, stored.target_id) == ("service.secret_rotated", "service", "abc")
        assert stored.after == {"client_secret": "rotated"} and stored.at is not None
        assert (stored.ip, stored.user_agent) == ("192.0.2.1", "console/1.0")
        assert list_actions(actor="account:7")[1] == 1


def test_the_action_names_are_a_closed_set():
    assert "service.suspended" in ACTIONS and len(ACTIONS) == len(set(ACTIONS))
    with pytest.raises(ValueError):
        Action("service.deleted")


def test_the_orm_refuses_to_update_a_row(app, recorded):
    with app.app_context():
        row = db.session.get(AdminAction, recorded)
        row.after = {"name_en": "forged"}
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        assert db.session.get(AdminAction, recorded).after == {"name_en": "Tax"}


def test_the_orm_refuses_to_delete_a_row(app, recorded):
    with app.app_context():
        db.session.delete(db.session.get(AdminAction, recorded))
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        assert db.session.get(AdminAction, recorded) is not None


@pytest.mark.parametrize("statement", [
    update(AdminAction).values(action="agency.updated"),
    delete(AdminAction),
], ids=["bulk-update", "bulk-delete"])
def test_the_orm_refuses_bulk_statements(app, recorded, statement):
    with app.app_context():
        with pytest.raises(AppendOnlyError):
            db.session.execute(statement)
        db.session.rollback()
        assert db.session.get(AdminAction, recorded).action == "agency.created"


@pytest.mark.parametrize("sql", ["UPDATE admin_actions SET action = 'agency.updated'", "DELETE FROM admin_actions"],
                         ids=["update", "delete"])
def test_the_database_refuses_too(app, recorded, sql):
    with app.app_context():
        with db.engine.connect() as connection:
            with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                connection.execute(sa.text(sql))
            connection.rollback()
        assert db.session.get(AdminAction, recorded).action == "agency.created"


def test_adding_rows_still_works(app, recorded):
    with app.app_context():
        record(CLI_OPERATOR, Action.AGENCY_UPDATED, "agency", "tax", before={"a": 1}, after={"a": 2})
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AdminAction)) == 2
