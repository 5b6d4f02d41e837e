"""The store: calls with their history, source health, cached vectors, the
delivery outbox.  SQLAlchemy Core over SQLite (default) or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import weakref
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from ..models import CallRecord, StoredCall
from ..safety import redact
from .outbox import COORDINATION, KINDS, OutboxRow, OutboxStore
from .pipeline import STATUSES, Entry, PipelineStore
from .schema import DIALECT_WORDS, MIGRATIONS, SCHEMA_VERSION
from .stamps import _dt, _iso


@dataclass
class SyncResult:
    """What one source's fetch changed in the store."""

    new: list[int] = field(default_factory=list)
    changed: dict[int, list[str]] = field(default_factory=dict)  # call id → changed fields
    unchanged: int = 0
    gone: list[int] = field(default_factory=list)
    reappeared: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SavedMatch:
    """A match as the store keeps it (the ranking's latest view of a city)."""

    city: str
    call_id: int
    score: float
    need_id: str | None
    passage: str | None
    detail: dict  # the whole Match as it was ranked

    @property
    def rank_key(self) -> float:
        return self.detail.get("rank_key", self.score)

    @property
    def eligibility(self) -> str:
        return self.detail.get("eligibility", "unknown")


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a store URL: ``postgresql://`` means psycopg 3
    (the driver fundbot installs), whatever SQLAlchemy's default."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


# the key of PostgreSQL's advisory locks taken by fundbot (an arbitrary 64-bit number)
LOCK_MIGRATE = 0x66756E64626F7401
LOCK_SERVE = 0x66756E64626F7402
LOCK_CYCLE = 0x66756E64626F7403


class CycleLock:
    """A store-wide write lock a cycle (fetch-and-store, match, deliver) holds
    for its length, so that two cycles on one store — two `run --once`, or
    one beside a `serve` job — never interleave: a file lock beside a SQLite
    file, a session advisory lock in PostgreSQL; neither outlives its process.
    Another cycle waits for it, saying so once, up to ``wait`` seconds, then
    gives up with the reason (StoreError)."""

    def __init__(self, store: "Store", wait: float, notify=None):
        self.store, self.wait, self.notify = store, wait, notify
        self._fh = self._conn = None

    def _try(self) -> bool:
        if self.store.dialect == "postgresql":
            if self._conn is None:
                self._conn = self.store.engine.connect()
            got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_CYCLE}).scalar_one())
            self._conn.commit()
            return got
        import fcntl

        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def __enter__(self) -> "CycleLock":
        import os
        import time

        path = self.store.lock_file("cycle")
        if self.store.dialect == "sqlite" and path is None:
            return self  # an in-memory store belongs to one process
        if path is not None:
            self._fh = open(path, "a+")
        deadline = time.monotonic() + self.wait
        told = False
        while not self._try():
            if not told and self.notify is not None:
                self.notify(f"another fundbot cycle is using this store{self._holder()}; waiting for it "
                            f"(at most {self.wait:.0f} s)")
                told = True
            if time.monotonic() >= deadline:
                holder = self._holder()
                self.__exit__()
                raise StoreError(f"another fundbot cycle is still using this store{holder} after {self.wait:.0f} s; "
                                 "nothing was done (raise [store] lock_wait_seconds, or run again later)")
            time.sleep(0.2)
        if self._fh is not None:  # who holds it, for whoever waits
            self._fh.seek(0)
            self._fh.truncate()
            self._fh.write(f"{os.getpid()}\n")
            self._fh.flush()
        return self

    def _holder(self) -> str:
        if self._fh is None:
            return ""
        try:
            self._fh.seek(0)
            pid = self._fh.read().strip()
        except OSError:
            return ""
        return f" (pid {pid})" if pid.isdigit() else ""

    def __exit__(self, *exc) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_CYCLE})
                self._conn.commit()
            except SQLAlchemyError:
                pass  # the session ends below, and its lock with it
            self._conn.close()
            self._conn = None
        if self._fh is not None:
            self._fh.close()  # closing the file releases the flock
            self._fh = None


class Store(OutboxStore, PipelineStore):
    def __init__(self, url: str):
        self.url = url
        try:
            self.engine: Engine = create_engine(engine_url(url), pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot open store {url!r}: {exc}") from exc
        # the engine's pooled connections close when the store goes away, not whenever they are collected
        weakref.finalize(self, self.engine.dispose)
        self.dialect = self.engine.dialect.name
        if self.dialect not in DIALECT_WORDS:
            raise StoreError(f"unsupported database {self.dialect!r} (use sqlite or postgresql)")
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def lock_file(self, name: str) -> "Path | None":
        """A lock file beside a SQLite store's file (None for PostgreSQL and in-memory stores)."""
        from pathlib import Path

        if self.dialect != "sqlite":
            return None
        database = self.engine.url.database
        if not database or database == ":memory:":
            return None
        return Path(f"{database}.{name}.lock")

    def cycle_lock(self, wait: float = 600.0, notify=None) -> CycleLock:
        """The store-wide lock a cycle holds (:class:`CycleLock`)."""
        return CycleLock(self, wait, notify)

    # --- schema ------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the schema to the current version; return the version.  Two
        processes starting at once migrate one after the other (an advisory
        lock in PostgreSQL, a file lock beside a SQLite file)."""
        path = self.lock_file("migrate")
        if path is None:
            return self._migrate()
        import fcntl

        with open(path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
            return self._migrate()

    def _migrate(self) -> int:
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":  # two processes starting at once migrate one after the other
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_MIGRATE})
                conn.execute(text("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"))
                row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"the store is at schema version {version}, newer than this fundbot ({SCHEMA_VERSION}); upgrade fundbot"
                    )
                words = DIALECT_WORDS[self.dialect]
                for number in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[number]:
                        conn.execute(text(statement.format(**words)))
                if version != SCHEMA_VERSION:
                    if row:
                        conn.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(SCHEMA_VERSION)})
                    else:
                        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"), {"v": str(SCHEMA_VERSION)})
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate store {self.safe_url}: {exc.__class__.__name__}: {exc}") from exc
        return SCHEMA_VERSION

    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": key}).first()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("INSERT INTO meta (key, value) VALUES (:k, :v) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value"), {"k": key, "v": value})

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # --- calls ---------------------------------------------------------------

    def sync_source(self, source: str, records: Iterable[CallRecord], now: dt.datetime,
                    at: dt.datetime | None = None, *, seen_on=None, partial: bool = False,
                    terms=None) -> SyncResult:
        """Upsert one source's calls: recognise unchanged ones, record what
        changed (``status`` too, judged at ``at``, when a new deadline reopens
        a call), mark those no longer listed as gone — unless the answer is
        ``partial`` (an incremental fetch lists only what changed): then every
        known call it did not list is confirmed as still there.

        ``seen_on`` is each listed call's evidence day: a date, or a function
        of the record (a snapshot may date its pages one by one); default the
        day of ``now``.  ``terms``: a function giving a new or changed call's
        eligibility terms as stored text (the store works none out itself;
        without it they are left to :meth:`refresh_terms`)."""
        result = SyncResult()
        stamp = _iso(now)
        day = seen_on if callable(seen_on) else (lambda _r, d=(seen_on or now.date()): d)
        with self.engine.begin() as conn:
            existing = {
                row.native_id: row
                for row in conn.execute(text("SELECT * FROM calls WHERE source = :s"), {"s": source})
            }
            seen: set[str] = set()
            for record in records:
                if record.native_id in seen:
                    continue
                seen.add(record.native_id)
                row = existing.get(record.native_id)
                values = _record_values(record)
                values["seen_on"] = day(record).isoformat()
                if row is None:
                    call_id = conn.execute(
                        text(
                            "INSERT INTO calls (source, native_id, funder, title, text, url, language, identifier,"
                            " programme, opens_at, deadlines, stages, budget, eligibility, content_hash, first_seen,"
                            " last_seen, seen_on, updated_at, terms) VALUES (:source, :native_id, :funder, :title,"
                            " :text, :url, :language, :identifier, :programme, :opens_at, :deadlines, :stages,"
                            " :budget, :eligibility, :content_hash, :now, :now, :seen_on, :now, :terms) RETURNING id"
                        ),
                        {**values, "now": stamp, "terms": terms(record) if terms else None},
                    ).scalar_one()
                    _event(conn, call_id, stamp, "new", [])
                    result.new.append(call_id)
                    continue
                if row.gone_at:
                    _event(conn, row.id, stamp, "reappeared", [])
                    result.reappeared.append(row.id)
                if row.content_hash == values["content_hash"]:
                    conn.execute(
                        text("UPDATE calls SET last_seen = :now, seen_on = :seen_on, gone_at = NULL WHERE id = :id"),
                        {"now": stamp, "seen_on": values["seen_on"], "id": row.id},
                    )
                    result.unchanged += 1
                    continue
                old_record = _row_record(row)
                old = old_record.fingerprint()
                fields = [name for name, value in record.fingerprint().items() if old.get(name) != value]
                when = at or now
                if _status(old_record, when) != _status(record, when):
                    fields.append("status")
                conn.execute(
                    text(
                        "UPDATE calls SET funder = :funder, title = :title, text = :text, url = :url,"
                        " language = :language, identifier = :identifier, programme = :programme,"
                        " opens_at = :opens_at, deadlines = :deadlines, stages = :stages, budget = :budget,"
                        " eligibility = :eligibility, content_hash = :content_hash, last_seen = :now,"
                        " seen_on = :seen_on, updated_at = :now, gone_at = NULL, terms = :terms WHERE id = :id"
                    ),
                    {**values, "now": stamp, "id": row.id, "terms": terms(record) if terms else None},
                )
                _event(conn, row.id, stamp, "changed", fields)
                result.changed[row.id] = fields
            for native_id, row in existing.items():
                if native_id in seen or row.gone_at:
                    continue
                if partial:  # not in a list of changes: unchanged, and still listed
                    conn.execute(text("UPDATE calls SET last_seen = :now, seen_on = :seen_on WHERE id = :id"),
                                 {"now": stamp, "seen_on": day(None).isoformat(), "id": row.id})
                    result.unchanged += 1
                    continue
                conn.execute(text("UPDATE calls SET gone_at = :now WHERE id = :id"), {"now": stamp, "id": row.id})
                _event(conn, row.id, stamp, "gone", [])
                result.gone.append(row.id)
        return result

    def confirm_source(self, source: str, now: dt.datetime, seen_on: dt.date | None = None) -> int:
        """The source answered "not modified": every call it still lists
        (all it listed last time) is seen again today.  Returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(
                text("UPDATE calls SET last_seen = :now, seen_on = :seen_on WHERE source = :s AND gone_at IS NULL"),
                {"now": _iso(now), "seen_on": (seen_on or now.date()).isoformat(), "s": source},
            ).rowcount

    def link_duplicates(self) -> int:
        """Link a call reached through several sources (same official
        identifier, same URL, or same title and deadline) to one canonical
        call — the first seen — so it is matched and suggested once.
        Returns how many calls are linked to another."""
        def keys(c: StoredCall) -> list[str]:
            r = c.record
            out = []
            if r.identifier:
                out.append("id:" + r.identifier.strip().lower())
            if r.url:
                out.append("url:" + r.url.split("#")[0].rstrip("/").lower().replace("http://", "https://"))
            if r.deadlines:
                out.append("td:" + " ".join(r.title.lower().split()) + "|" + r.deadlines[-1].date().isoformat())
            return out

        calls = self.calls()
        first: dict[str, StoredCall] = {}
        links: dict[int, int | None] = {}
        for call in calls:  # ordered by id: the first seen is canonical
            canonical = None
            for key in keys(call):
                other = first.get(key)
                if other is not None and other.record.source != call.record.source:
                    canonical = links.get(other.id) or other.id
                    break
            links[call.id] = canonical
            for key in keys(call):
                first.setdefault(key, call)
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE calls SET canonical_id = :c WHERE id = :id"),
                [{"c": c, "id": i} for i, c in links.items()] or [{"c": None, "id": -1}],
            )
        return sum(1 for c in links.values() if c is not None)

    def calls(self, *, include_gone: bool = False, ids: Iterable[int] | None = None,
              canonical_only: bool = False) -> list[StoredCall]:
        sql = "SELECT * FROM calls"
        where = [] if include_gone else ["gone_at IS NULL"]
        if canonical_only:
            where.append("canonical_id IS NULL")
        params: dict = {}
        if ids is not None:
            id_list = list(ids)
            if not id_list:
                return []
            where.append("id IN (" + ", ".join(f":i{n}" for n in range(len(id_list))) + ")")
            params = {f"i{n}": v for n, v in enumerate(id_list)}
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql + " ORDER BY id"), params).fetchall()
        return [_stored(row) for row in rows]

    def call(self, call_id: int) -> StoredCall | None:
        found = self.calls(include_gone=True, ids=[call_id])
        return found[0] if found else None

    def find_call(self, ref: str) -> StoredCall | None:
        """A call by id, ``source:native_id``, or official identifier."""
        with self.engine.connect() as conn:
            row = None
            if ref.isdigit():
                row = conn.execute(text("SELECT * FROM calls WHERE id = :id"), {"id": int(ref)}).first()
            if row is None and ":" in ref:
                source, native = ref.split(":", 1)
                row = conn.execute(
                    text("SELECT * FROM calls WHERE source = :s AND native_id = :n"), {"s": source, "n": native}
                ).first()
            if row is None:
                row = conn.execute(text("SELECT * FROM calls WHERE identifier = :i ORDER BY id"), {"i": ref}).first()
        return _stored(row) if row else None

    def events(self, call_id: int) -> list[tuple[dt.datetime, str, list[str]]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT at, kind, fields FROM call_events WHERE call_id = :id ORDER BY id"), {"id": call_id}
            ).fetchall()
        return [(_dt(r.at), r.kind, json.loads(r.fields)) for r in rows]

    def changes_since(self, since: dt.datetime | None) -> dict[int, list[str]]:
        """Calls changed since ``since`` (all recorded changes if None), with
        every field that changed."""
        sql = "SELECT call_id, fields FROM call_events WHERE kind = 'changed'"
        params = {}
        if since is not None:
            sql += " AND at >= :since"
            params["since"] = _iso(since)
        out: dict[int, list[str]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(text(sql + " ORDER BY id"), params):
                fields = out.setdefault(row.call_id, [])
                fields.extend(f for f in json.loads(row.fields) if f not in fields)
        return out

    def refresh_terms(self, calls: list[StoredCall], read, decode) -> list[StoredCall]:
        """``calls`` with their eligibility terms: those stored by an earlier
        version of the reading (or none) are read again by ``read`` (record →
        stored text) and kept, so that each call is read once per version,
        not once per cycle; ``decode`` turns the text into terms."""
        import dataclasses

        stale = [c for c in calls if c.terms is None]
        if not stale:
            return calls
        fresh = {}
        with self.engine.begin() as conn:
            for c in stale:
                blob = read(c.record)
                conn.execute(text("UPDATE calls SET terms = :t WHERE id = :id"), {"t": blob, "id": c.id})
                fresh[c.id] = dataclasses.replace(c, terms=decode(blob))
        return [fresh.get(c.id, c) for c in calls]

    def count_calls(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT COUNT(*) FROM calls WHERE gone_at IS NULL")).scalar_one()

    # --- source health -------------------------------------------------------

    def source_state(self, source: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM source_state WHERE source = :s"), {"s": source}).first()
        return dict(row._mapping) if row else None

    def source_states(self) -> dict[str, dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM source_state ORDER BY source")).fetchall()
        return {row.source: dict(row._mapping) for row in rows}

    def record_fetch(
        self, source: str, now: dt.datetime, *, ok: bool, items: int | None = None,
        error: str | None = None, warning: str | None = None, validators: dict[str, str] | None = None,
    ) -> None:
        """Source health after an attempt: success resets the failure count,
        an error increments it; conditional-GET validators are kept."""
        stamp = _iso(now)
        error, warning = redact(error), redact(warning)  # a fetch error may quote a URL with its API key
        with self.engine.begin() as conn:
            exists = conn.execute(text("SELECT 1 FROM source_state WHERE source = :s"), {"s": source}).first()
            if not exists:
                conn.execute(text("INSERT INTO source_state (source) VALUES (:s)"), {"s": source})
            conn.execute(
                text(
                    "UPDATE source_state SET last_attempt = :now, ok = :ok, error = :error, warning = :warning,"
                    " items = COALESCE(:items, items),"
                    " failures = CASE WHEN :ok = 1 THEN 0 ELSE failures + 1 END,"
                    " last_success = CASE WHEN :ok = 1 THEN :now ELSE last_success END WHERE source = :s"
                ),
                {"now": stamp, "ok": 1 if ok else 0, "error": error, "warning": warning, "items": items, "s": source},
            )
            if validators is not None:
                conn.execute(
                    text("UPDATE source_state SET etag = :etag, last_modified = :lm WHERE source = :s"),
                    {"etag": validators.get("etag"), "lm": validators.get("last_modified"), "s": source},
                )

    # --- vectors ---------------------------------------------------------------

    def get_vectors(self, model: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(hashes))
        out: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                params = {f"h{n}": h for n, h in enumerate(chunk)}
                params["m"] = model
                rows = conn.execute(
                    text(
                        "SELECT text_hash, dim, vector FROM vectors WHERE model = :m AND text_hash IN ("
                        + ", ".join(f":h{n}" for n in range(len(chunk))) + ")"
                    ),
                    params,
                )
                for row in rows:
                    out[row.text_hash] = np.frombuffer(bytes(row.vector), dtype=np.float32, count=row.dim)
        return out

    def put_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        if not vectors:
            return
        rows = [
            {"m": model, "h": h, "d": int(v.shape[0]), "v": np.asarray(v, dtype=np.float32).tobytes()}
            for h, v in vectors.items()
        ]
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO vectors (model, text_hash, dim, vector) VALUES (:m, :h, :d, :v)"
                    " ON CONFLICT (model, text_hash) DO NOTHING"
                ),
                rows,
            )

    def count_vectors(self, model: str | None = None) -> int:
        with self.engine.connect() as conn:
            if model is None:
                return conn.execute(text("SELECT COUNT(*) FROM vectors")).scalar_one()
            return conn.execute(text("SELECT COUNT(*) FROM vectors WHERE model = :m"), {"m": model}).scalar_one()

    # --- matches -----------------------------------------------------------------

    def save_matches(self, city: str, matches: list, now: dt.datetime) -> None:
        """Replace a city's current matches (the ranking's latest view)."""
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM matches WHERE city = :c"), {"c": city})
            if matches:
                conn.execute(
                    text(
                        "INSERT INTO matches (city, call_id, score, need_id, passage, detail, computed_at)"
                        " VALUES (:city, :call_id, :score, :need_id, :passage, :detail, :now)"
                    ),
                    [
                        {
                            "city": city, "call_id": m.call_id, "score": float(m.score), "need_id": m.need_id,
                            "passage": m.passage, "detail": json.dumps(m.as_dict(), ensure_ascii=False),
                            "now": _iso(now),
                        }
                        for m in matches
                    ],
                )

    def saved_matches(self, city: str | None = None) -> dict[str, list["SavedMatch"]]:
        """Each city's matches as the last cycle ranked them (one city's with
        ``city``), in the ranking's own order: expected grade, then score."""
        sql = "SELECT city, call_id, score, need_id, passage, detail FROM matches"
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql + (" WHERE city = :c" if city else "")), {"c": city} if city else {})
            out: dict[str, list[SavedMatch]] = {}
            for r in rows:
                out.setdefault(r.city, []).append(SavedMatch(r.city, r.call_id, r.score, r.need_id, r.passage,
                                                             json.loads(r.detail) if r.detail else {}))
        for matches in out.values():
            matches.sort(key=lambda m: (-m.rank_key, -m.score, m.call_id))
        return out

    def reference_at(self, zone: str) -> dt.datetime | None:
        """The moment the last cycle judged deadlines at — noon of its day (the
        replayed day, offline) in ``zone`` — or None before the first cycle."""
        from zoneinfo import ZoneInfo

        last = self.last_run()
        if last is None:
            return None
        return dt.datetime.combine(dt.date.fromisoformat(last["today"]), dt.time(12), ZoneInfo(zone))

    # --- runs ---------------------------------------------------------------------

    def start_run(self, now: dt.datetime, today: dt.date, offline: bool) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                text("INSERT INTO runs (started_at, offline, today) VALUES (:now, :off, :today) RETURNING id"),
                {"now": _iso(now), "off": 1 if offline else 0, "today": today.isoformat()},
            ).scalar_one()

    def finish_run(self, run_id: int, now: dt.datetime, summary: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE runs SET finished_at = :now, summary = :s WHERE id = :id"),
                {"now": _iso(now), "s": json.dumps(summary), "id": run_id},
            )

    def last_run(self) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM runs ORDER BY id DESC LIMIT 1")).first()
        return dict(row._mapping) if row else None


def _status(record: CallRecord, at: dt.datetime) -> str:
    return StoredCall(0, record, "", at, at).status(at)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _event(conn: Connection, call_id: int, stamp: str, kind: str, fields: list[str]) -> None:
    conn.execute(
        text("INSERT INTO call_events (call_id, at, kind, fields) VALUES (:id, :at, :kind, :fields)"),
        {"id": call_id, "at": stamp, "kind": kind, "fields": json.dumps(fields)},
    )


def _record_values(record: CallRecord) -> dict:
    return {
        "source": record.source, "native_id": record.native_id, "funder": record.funder,
        "title": record.title, "text": record.text, "url": record.url, "language": record.language,
        "identifier": record.identifier, "programme": record.programme, "opens_at": _iso(record.opens_at),
        "deadlines": json.dumps([d.isoformat() for d in record.deadlines]),
        "stages": json.dumps(list(record.stages)) if record.stages else None, "budget": record.budget,
        "eligibility": record.eligibility, "content_hash": record.content_hash,
    }


def _row_record(row) -> CallRecord:
    return CallRecord(
        source=row.source, native_id=row.native_id, funder=row.funder, title=row.title, text=row.text,
        url=row.url, language=row.language, identifier=row.identifier, programme=row.programme,
        opens_at=_dt(row.opens_at), deadlines=tuple(_dt(d) for d in json.loads(row.deadlines)),
        budget=row.budget, eligibility=row.eligibility,
        stages=tuple(json.loads(row.stages)) if getattr(row, "stages", None) else (),
    )


def _stored(row) -> StoredCall:
    from ..eligibility import terms_from_json

    terms = getattr(row, "terms", None)
    return StoredCall(
        id=row.id, record=_row_record(row), content_hash=row.content_hash,
        first_seen=_dt(row.first_seen), last_seen=_dt(row.last_seen), gone_at=_dt(row.gone_at),
        terms=terms_from_json(terms) if terms else None,
        seen_on=dt.date.fromisoformat(row.seen_on[:10]) if getattr(row, "seen_on", None) else None,
    )
