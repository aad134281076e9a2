"""Streaming import of civil-registry CSV files (bounded memory, upsert by national ID)."""

from __future__ import annotations

import csv
import hashlib
import itertools
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy.dialects import postgresql, sqlite

from .config import INSTANCE_DIR
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
    resumed_from: int | None = None  # the CSV line an interrupted import went on after


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
                first_line: int = 2, checkpoint: Callable[[int], None] | None = None) -> ImportResult:
    """Upsert the rows in batches; ``checkpoint(line)`` is told the last line of every committed batch."""
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
            if checkpoint:
                checkpoint(line)
            if progress and result.imported % (batch * 50) == 0:
                progress(result.imported)
    if pending:
        _upsert(list(pending.values()))
        result.imported += len(pending)
    return result


def _checkpoint_path(path: str) -> Path:
    """Where an interrupted import of this very file (same path, size and mtime) notes its progress."""
    stat = os.stat(path)
    digest = hashlib.sha256(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return INSTANCE_DIR / f"registry-import-{digest}.line"


def import_csv(path: str, batch: int = 2000, progress=None, resume: bool = True) -> ImportResult:
    """Stream a CSV into the registry in bounded memory. An interrupted import of the same
    file resumes after the last committed batch (re-importing is harmless: rows upsert)."""
    marker = _checkpoint_path(path)
    start = int(marker.read_text()) if resume and marker.exists() else 1
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"the CSV lacks the column(s): {', '.join(missing)}")
        rows = itertools.islice(reader, start - 1, None)  # lines up to ``start`` were committed before
        if start > 1 and progress:
            progress(-start)

        def note(line: int) -> None:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(line))

        result = import_rows(rows, batch=batch, progress=progress, first_line=start + 1, checkpoint=note)
    marker.unlink(missing_ok=True)
    result.resumed_from = start if start > 1 else None
    return result
