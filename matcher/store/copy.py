"""`fundbot store copy --to URL`: move a deployment from one database to
another (SQLite → PostgreSQL, or back), keeping every row and its id.

Idempotent: rows are upserted by their keys, so a second copy changes
nothing and a copy after more cycles brings the target up to date.  After
copying, each table is compared on both sides (row count and a fingerprint
of every value in key order); the copy is consistent only if all agree.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from sqlalchemy import inspect, text

from ..errors import StoreError
from . import Store

# every table with its key, parents before children; the meta table is the target's own
TABLES: list[tuple[str, tuple[str, ...]]] = [
    ("calls", ("id",)),
    ("call_events", ("id",)),
    ("source_state", ("source",)),
    ("vectors", ("model", "text_hash")),
    ("matches", ("city", "call_id")),
    ("outbox", ("id",)),
    ("channel_state", ("channel", "city")),
    ("pipeline", ("id",)),
    ("runs", ("id",)),
]
SERIAL = {"calls", "call_events", "outbox", "pipeline", "runs"}
BATCH = 1000


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # rows in the source, per table
    mismatches: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict:
        return {"tables": self.rows, "consistent": self.consistent, "mismatches": self.mismatches}


def copy_store(source: Store, target: Store, progress=lambda msg: None) -> CopyReport:
    if source.migrate() != target.migrate():  # both at this fundbot's schema version
        raise StoreError("the two stores are at different schema versions")
    report = CopyReport()
    for table, key in TABLES:
        columns = [c["name"] for c in inspect(source.engine).get_columns(table)]
        deferred = ["canonical_id"] if table == "calls" else []  # points into the same table: set afterwards
        names = [c for c in columns if c not in deferred]
        insert = text(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + c for c in names)}) "
            f"ON CONFLICT ({', '.join(key)}) DO "
            + ("NOTHING" if set(names) == set(key) else
               "UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in names if c not in key)))
        n = 0
        with source.engine.connect() as src, target.engine.begin() as dst:
            result = src.execution_options(stream_results=True).execute(
                text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(key)}"))
            batch: list[dict] = []
            later: list[dict] = []
            for row in result:
                values = dict(zip(columns, row))
                batch.append({c: _value(values[c]) for c in names})
                if deferred:
                    later.append({"id": values["id"], "canonical_id": values["canonical_id"]})
                if len(batch) >= BATCH:
                    dst.execute(insert, batch)
                    n += len(batch)
                    batch = []
            if batch:
                dst.execute(insert, batch)
                n += len(batch)
            if later:
                dst.execute(text("UPDATE calls SET canonical_id = :canonical_id WHERE id = :id"), later)
            if table in SERIAL and target.dialect == "postgresql":  # new rows continue after the copied ids
                dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"COALESCE((SELECT MAX(id) FROM {table}), 1), "
                                 f"(SELECT MAX(id) FROM {table}) IS NOT NULL)"))
        report.rows[table] = n
        progress(f"{table}: {n} rows")
    for table, key in TABLES:
        a, b = fingerprint(source, table, key), fingerprint(target, table, key)
        if a != b:
            report.mismatches.append(f"{table}: {a[0]} rows in the source, {b[0]} in the target"
                                     + ("" if a[0] != b[0] else " (values differ)"))
    return report


def fingerprint(store: Store, table: str, key: tuple[str, ...]) -> tuple[int, str]:
    """(rows, a hash of every value in key order), alike on every backend."""
    columns = sorted(c["name"] for c in inspect(store.engine).get_columns(table))
    digest = hashlib.sha256()
    n = 0
    with store.engine.connect() as conn:
        rows = conn.execution_options(stream_results=True).execute(
            text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(key)}"))
        for row in rows:
            n += 1
            for value in row:
                digest.update(_canonical(value))
                digest.update(b"\x1f")
            digest.update(b"\x1e")
    return n, digest.hexdigest()


def _value(value):
    return bytes(value) if isinstance(value, memoryview) else value


def _canonical(value) -> bytes:
    if value is None:
        return b"\x00"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"b" + bytes(value)
    if isinstance(value, bool):
        return b"i%d" % int(value)
    if isinstance(value, float):
        return b"f" + (repr(value).encode() if math.isfinite(value) else str(value).encode())
    if isinstance(value, int):
        return b"i%d" % value
    return b"s" + str(value).encode("utf-8")
