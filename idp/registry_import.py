"""Streaming import of civil-registry CSV files (bounded memory, upsert by national ID)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterable

from sqlalchemy.dialects import postgresql, sqlite

from .db import db, utcnow
from .models import Citizen
from .text import InvalidMobile, InvalidNationalId, normalize_mobile, normalize_national_id

REQUIRED = ("national_id", "first_name", "last_name", "birth_date", "mobile")
OPTIONAL = ("father_name", "gender", "email")
GENDERS = {"male", "female", ""}


@dataclass
class ImportResult:
    imported: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def parse_row(row: dict) -> dict:
    """One CSV row as a registry record; raises ValueError with a reason."""
    try:
        national_id = normalize_national_id(row.get("national_id") or "")
    except InvalidNationalId as exc:
        raise ValueError(f"national_id: {exc.reason}") from None
    try:
        mobile = normalize_mobile(row.get("mobile") or "")
    except InvalidMobile:
        raise ValueError("mobile: format") from None
    try:
        birth_date = date.fromisoformat((row.get("birth_date") or "").strip())
    except ValueError:
        raise ValueError("birth_date: not YYYY-MM-DD") from None
    first, last = (row.get("first_name") or "").strip(), (row.get("last_name") or "").strip()
    if not first or not last:
        raise ValueError("first_name/last_name: empty")
    gender = (row.get("gender") or "").strip().lower()
    if gender not in GENDERS:
        raise ValueError("gender: male or female")
    return {
        "national_id": national_id, "first_name": first[:100], "last_name": last[:100],
        "birth_date": birth_date, "mobile": mobile,
        "father_name": (row.get("father_name") or "").strip()[:100] or None,
        "gender": gender or None,
        "email": (row.get("email") or "").strip()[:254] or None,
        "updated_at": utcnow(),
    }


def _upsert(records: list[dict]) -> None:
    dialect = db.engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Citizen).values(records)
    columns = {c: statement.excluded[c] for c in records[0] if c != "national_id"}
    db.session.execute(statement.on_conflict_do_update(index_elements=["national_id"], set_=columns))
    db.session.commit()


def import_rows(rows: Iterable[dict], batch: int = 2000, progress: Callable[[int], None] | None = None,
                first_line: int = 2) -> ImportResult:
    result = ImportResult()
    pending: dict[str, dict] = {}
    for line, row in enumerate(rows, start=first_line):
        try:
            record = parse_row(row)
        except ValueError as exc:
            result.rejected.append((line, str(exc)))
            continue
        pending[record["national_id"]] = record  # the last row of a duplicated ID wins
        if len(pending) >= batch:
            _upsert(list(pending.values()))
            result.imported += len(pending)
            pending.clear()
            if progress and result.imported % (batch * 50) == 0:
                progress(result.imported)
    if pending:
        _upsert(list(pending.values()))
        result.imported += len(pending)
    return result


def import_csv(path: str, batch: int = 2000, progress=None) -> ImportResult:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"the CSV lacks the column(s): {', '.join(missing)}")
        return import_rows(reader, batch=batch, progress=progress)
