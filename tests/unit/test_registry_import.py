"""Streaming registry import: validation, upsert, and resuming an interrupted import."""

import pytest
from sqlalchemy import func, select

import idp.registry_import as registry_import
from idp.db import db
from idp.models import Citizen
from idp.registry_data import write_csv


@pytest.fixture
def csv_file(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_import, "INSTANCE_DIR", tmp_path / "instance")
    path = tmp_path / "registry.csv"
    write_csv(path, 2500)
    return path


def count():
    return db.session.scalar(select(func.count()).select_from(Citizen))


def test_an_interrupted_import_resumes_after_the_last_committed_batch(app, csv_file, monkeypatch):
    real_upsert = registry_import._upsert
    calls = []

    def failing_upsert(records):
        calls.append(len(records))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the operator pressed ^C, or the host went down
        real_upsert(records)

    with app.app_context():
        before = count()
        monkeypatch.setattr(registry_import, "_upsert", failing_upsert)
        with pytest.raises(KeyboardInterrupt):
            registry_import.import_csv(str(csv_file), batch=1000)
        marker = registry_import._checkpoint_path(str(csv_file))
        assert marker.read_text() == "1001"  # the header plus the first committed batch
        monkeypatch.setattr(registry_import, "_upsert", real_upsert)
        result = registry_import.import_csv(str(csv_file), batch=1000)
        assert result.resumed_from == 1001
        assert result.imported == 1500  # only what was not committed before
        assert not marker.exists()
        assert count() == max(before, 2500)


def test_reimport_updates_in_place(app, csv_file):
    with app.app_context():
        registry_import.import_csv(str(csv_file))
        first = count()
        again = registry_import.import_csv(str(csv_file))
        assert again.imported == 2500 and again.resumed_from is None
        assert count() == first


def test_bad_rows_are_reported_by_line_and_the_rest_loaded(app, tmp_path, monkeypatch):
    monkeypatch.setattr(registry_import, "INSTANCE_DIR", tmp_path / "instance")
    path = tmp_path / "bad.csv"
    path.write_text("national_id,first_name,last_name,birth_date,mobile\n"
                    "0499370899,Ali,Rezaei,1980-01-02,09121234567\n"
                    "0499370898,Bad,Checksum,1980-01-02,09121234568\n"
                    "0499370899,Ali,Rezaei,1980-13-02,09121234567\n", encoding="utf-8")
    with app.app_context():
        result = registry_import.import_csv(str(path))
    assert result.imported == 1
    assert [line for line, _reason in result.rejected] == [3, 4]
    assert "checksum" in result.rejected[0][1] and "birth_date" in result.rejected[1][1]
