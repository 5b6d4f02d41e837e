"""The store on a real SQLite file and on a real PostgreSQL database:
migrations, change detection, vectors, outbox."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from sqlalchemy import text

from matcher.errors import StoreError
from matcher.models import CallRecord
from matcher.store import Store
from matcher.store.schema import SCHEMA_VERSION

T0 = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)
T1 = T0 + dt.timedelta(days=1)
STHLM = dt.timezone(dt.timedelta(hours=1))


def rec(native_id: str, **kw) -> CallRecord:
    base = dict(source="s", native_id=native_id, funder="F", title=f"Call {native_id}", text="Some text.",
                deadlines=(dt.datetime(2027, 2, 1, 14, tzinfo=STHLM),))
    base.update(kw)
    return CallRecord(**base)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = Store(url)
    s.migrate()
    yield s
    s.close()


def test_migrate_creates_schema_and_is_idempotent(tmp_path):
    path = tmp_path / "a.db"
    s = Store(f"sqlite:///{path}")
    assert s.migrate() == SCHEMA_VERSION
    assert s.migrate() == SCHEMA_VERSION
    with s.engine.connect() as conn:
        version = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar_one()
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    assert int(version) == SCHEMA_VERSION
    assert {"calls", "call_events", "vectors", "outbox", "source_state", "matches", "runs"} <= tables and "deliveries" not in tables
    assert path.exists()


def test_store_newer_than_code_is_refused(store):
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '999' WHERE key = 'schema_version'"))
    with pytest.raises(StoreError, match="newer than this fundbot"):
        store.migrate()


def test_new_unchanged_changed_gone_reappeared(store):
    a, b = rec("a"), rec("b")
    r1 = store.sync_source("s", [a, b], T0)
    assert len(r1.new) == 2 and not r1.changed and not r1.gone

    r2 = store.sync_source("s", [a, b], T1)
    assert r2.new == [] and r2.changed == {} and r2.unchanged == 2

    moved = dataclasses.replace(b, deadlines=(dt.datetime(2027, 3, 1, 14, tzinfo=STHLM),), text="Edited text.")
    r3 = store.sync_source("s", [a, moved], T1)
    (changed_id, fields), = r3.changed.items()
    assert fields == ["text", "deadlines"]
    assert store.call(changed_id).record.deadlines[0].month == 3

    r4 = store.sync_source("s", [moved], T1)
    assert len(r4.gone) == 1
    gone_id = r4.gone[0]
    assert store.call(gone_id).gone_at is not None
    assert gone_id not in {c.id for c in store.calls()}

    r5 = store.sync_source("s", [a, moved], T1)
    assert r5.reappeared == [gone_id] and store.call(gone_id).gone_at is None
    kinds = [k for _, k, _ in store.events(gone_id)]
    assert kinds == ["new", "gone", "reappeared"]
    assert [k for _, k, _ in store.events(changed_id)] == ["new", "changed"]


def test_calls_keyed_by_source_and_native_id(store):
    store.sync_source("s", [rec("a")], T0)
    store.sync_source("t", [dataclasses.replace(rec("a"), source="t")], T0)
    assert len(store.calls()) == 2
    found = store.find_call("t:a")
    assert found is not None and found.record.source == "t"


def test_deadlines_round_trip_with_time_zones(store):
    deadlines = (dt.datetime(2027, 2, 1, 14, tzinfo=STHLM), dt.datetime(2027, 9, 1, 17, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    store.sync_source("s", [rec("a", deadlines=deadlines)], T0)
    (call,) = store.calls()
    assert call.record.deadlines == deadlines
    assert call.record.content_hash == call.content_hash


def test_vector_cache(store):
    v = np.arange(4, dtype=np.float32) / 10
    store.put_vectors("m1", {"h1": v})
    store.put_vectors("m1", {"h1": v * 2})  # first write wins; no error
    got = store.get_vectors("m1", ["h1", "h2"])
    assert list(got) == ["h1"] and np.allclose(got["h1"], v)
    assert store.get_vectors("m2", ["h1"]) == {}
    assert store.count_vectors("m1") == 1


def test_outbox_queues_once(store):
    store.sync_source("s", [rec("a")], T0)
    (call,) = store.calls()
    assert store.queue_delivery("c", "console:-", call.id, "suggestion", score=0.9, need_id="n", now=T0)
    assert not store.queue_delivery("c", "console:-", call.id, "suggestion", score=0.9, need_id="n", now=T1)
    (d,) = store.deliveries(status="pending")
    store.mark_failed([d.id], T0, "boom")
    assert store.delivery_counts() == {"sent": 0, "pending": 0, "failed": 1}
    store.mark_sent([d.id], T1)
    assert store.delivery_counts() == {"sent": 1, "pending": 0, "failed": 0}
    assert store.last_sent_at("c", "console:-") == T1
    assert not store.queue_delivery("c", "console:-", call.id, "suggestion", score=0.9, need_id="n", now=T1)


def test_the_same_call_through_two_sources_is_linked_once(store):
    deadline = (dt.datetime(2027, 2, 1, 14, tzinfo=STHLM),)
    store.sync_source("formas", [rec("f1", source="formas", identifier="2026-00042"),
                                 rec("f2", source="formas", title="Urban call", url="https://x.example/a")], T0)
    store.sync_source("vinnova", [rec("v1", source="vinnova", identifier="2026-00042", title="Other wording"),
                                  rec("v2", source="vinnova", title="Another", url="https://x.example/a/"),
                                  rec("v3", source="vinnova", title="  urban  CALL ", deadlines=deadline),
                                  rec("v4", source="vinnova", title="Unrelated")], T0)
    assert store.link_duplicates() == 3
    canonical = {c.record.native_id for c in store.calls(canonical_only=True)}
    assert canonical == {"f1", "f2", "v4"}
    assert store.link_duplicates() == 3  # idempotent


# --- PostgreSQL: moving a deployment, one serve per store -------------------------------------------


def _fill(store: Store) -> None:
    store.sync_source("s", [rec("a"), rec("b", identifier="HORIZON-X-1"), rec("c")], T0)
    store.sync_source("t", [rec("b2", source="t", identifier="HORIZON-X-1")], T0)
    store.link_duplicates()
    ids = [c.id for c in store.calls()]
    store.put_vectors("m", {"h1": np.array([0.25, -1.5, 3.0], np.float32), "h2": np.ones(3, np.float32)})
    store.queue_delivery("norrby", "console:-", ids[0], "suggestion", score=0.9783, need_id="n1", now=T0)
    store.queue_delivery("norrby", "console:-", ids[1], "suggestion", score=0.1, need_id="n2", now=T0)
    store.mark_sent([d.id for d in store.deliveries()][:1], T1, "console")
    store.add_mark("norrby", ids[0], "relevant", "anna", T1)
    store.block_channel("slack:C1", "norrby", "channel_not_found", T1)
    run = store.start_run(T1, T1.date(), True)
    store.finish_run(run, T1, {"calls": {"total": 4}})


def test_copy_to_postgresql_keeps_everything_and_is_idempotent(tmp_path, pg_url):
    from matcher.store.copy import copy_store, fingerprint

    source = Store(f"sqlite:///{tmp_path / 'from.db'}")
    source.migrate()
    _fill(source)
    target = Store(pg_url)
    first = copy_store(source, target)
    assert first.consistent, first.mismatches
    assert first.rows["calls"] == 4 and first.rows["vectors"] == 2 and first.rows["outbox"] == 2
    canonical = [c.id for c in source.calls(canonical_only=True)]
    assert len(canonical) == 3 and [c.id for c in target.calls(canonical_only=True)] == canonical  # the link kept
    assert [d.score for d in target.deliveries()] == [0.9783, 0.1]  # 8-byte floats on both sides
    assert np.array_equal(target.get_vectors("m", ["h1"])["h1"], np.array([0.25, -1.5, 3.0], np.float32))
    assert target.marks("norrby") == source.marks("norrby") and target.last_run()["summary"] == source.last_run()["summary"]
    assert copy_store(source, target).consistent  # again: nothing changes
    before = fingerprint(target, "calls", ("id",))
    assert copy_store(source, target).rows == first.rows and fingerprint(target, "calls", ("id",)) == before
    source.sync_source("s", [rec("a"), rec("b", identifier="HORIZON-X-1"), rec("c"), rec("d")], T1)
    assert copy_store(source, target).consistent and len(target.calls()) == 5  # a later copy catches up
    # new rows in the target continue after the copied ids
    assert target.queue_delivery("norrby", "console:-", target.calls()[-1].id, "suggestion", score=0.5,
                                 need_id=None, now=T1)
    assert max(d.id for d in target.deliveries()) > max(d.id for d in source.deliveries())
    target.sync_source("s", [rec("e")], T1)  # a serial id on calls too
    assert len({c.id for c in target.calls(include_gone=True)}) == 6
    source.close()
    target.close()


def test_copy_refuses_a_mismatch_it_cannot_fix(tmp_path, pg_url):
    """A row that only the target has is reported: the stores are not alike."""
    from matcher.store.copy import copy_store

    source = Store(f"sqlite:///{tmp_path / 'from.db'}")
    source.migrate()
    _fill(source)
    target = Store(pg_url)
    target.migrate()
    target.put_vectors("other-model", {"x": np.zeros(3, np.float32)})
    report = copy_store(source, target)
    assert not report.consistent and any(m.startswith("vectors: 2 rows in the source, 3") for m in report.mismatches)
    source.close()
    target.close()


def test_one_serve_per_postgresql_store_and_the_lock_dies_with_its_connection(pg_url):
    from matcher.errors import FundbotError
    from matcher.serve import AdvisoryLock

    first, second = Store(pg_url), Store(pg_url)
    first.migrate()
    held = AdvisoryLock(first)
    held.acquire()
    with pytest.raises(FundbotError, match=r"already running on this store \(pid \d+ on "):
        AdvisoryLock(second).acquire(wait=0)
    held.conn.invalidate()  # the connection ends, as when the holding process dies
    again = AdvisoryLock(second)
    again.acquire(wait=10)
    again.conn.close()
    second.close()


def test_migrations_on_postgresql_create_the_same_tables(pg_url):
    s = Store(pg_url)
    assert s.migrate() == SCHEMA_VERSION == s.migrate()
    with s.engine.connect() as conn:
        tables = {r[0] for r in conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"))}
        score = conn.execute(text("SELECT data_type FROM information_schema.columns "
                                  "WHERE table_name = 'matches' AND column_name = 'score'")).scalar_one()
    assert {"calls", "call_events", "vectors", "outbox", "source_state", "matches", "runs", "pipeline",
            "channel_state", "meta"} <= tables
    assert score == "double precision"
    s.close()


def test_terms_of_an_earlier_reading_are_read_again_once_and_kept(store):
    """A store written by an earlier version holds terms without the kinds read
    now: the first cycle reads those calls again and keeps what it read."""
    import json

    from matcher.eligibility import TERMS_VERSION, terms_from_json, terms_json

    store.sync_source("s", [rec("1", funder="URBACT", title="Call for URBACT IV Experts",
                                text="Join the pool of experts.", eligibility="Who can apply: individual experts.")], T0)
    with store.engine.begin() as conn:  # as an earlier version stored it: no version, no kinds
        conn.execute(text("UPDATE calls SET terms = :t"), {"t": json.dumps({"applicant": "excluded"})})
    stale = store.calls()
    assert stale[0].terms is None  # not trusted
    fresh = store.refresh_terms(stale, terms_json, terms_from_json)
    assert fresh[0].terms.unusable == ("experts",) and fresh[0].terms.version == TERMS_VERSION
    again = store.calls()
    assert again[0].terms == fresh[0].terms  # kept
    assert store.refresh_terms(again, terms_json, terms_from_json) is again  # the next cycle reads nothing again


# --- the outbox: typed kinds, dedupe keys, payloads (migration 8) --------------------------------------


@pytest.mark.parametrize("url", ["sqlite", "postgresql"])
def test_migration_8_carries_the_old_outbox_rows_over_typed(tmp_path, url, request):
    """A store written by the previous version (kind 'change:<hash>', fields and cities in need_id) is read
    back typed: kind, dedupe key, payload; ids kept, and new rows continue after them."""
    from sqlalchemy import create_engine, text

    from matcher.store import engine_url
    from matcher.store.schema import DIALECT_WORDS, MIGRATIONS

    store_url = f"sqlite:///{tmp_path / 'old.db'}" if url == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(engine_url(store_url))
    dialect = "sqlite" if url == "sqlite" else "postgresql"
    with engine.begin() as conn:  # the schema as version 7 left it, and rows as it wrote them
        conn.execute(text("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"))
        for migration in MIGRATIONS[:7]:
            for statement in migration:
                conn.execute(text(statement.format(**DIALECT_WORDS[dialect])))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '7')"))
        conn.execute(text("INSERT INTO calls (source, native_id, funder, title, text, language, deadlines,"
                          " content_hash, first_seen, last_seen, updated_at) VALUES ('s', 'a', 'F', 'T', 'x', 'sv',"
                          " '[]', 'h', :t, :t, :t)"), {"t": T0.isoformat()})
        old = [(5, "norrby", "suggestion", "norrby-N1", "sent"), (6, "norrby", "change:0123456789abcdef",
               "budget,deadlines", "pending"), (7, "norrby", "reminder:2027-03-01", None, "pending"),
               (9, "coordination", "joint:a1b2c3d4e5f6", "lund,malmo", "sent")]
        for id_, city, kind, need, status in old:
            conn.execute(text("INSERT INTO deliveries (id, city, channel, call_id, kind, score, need_id, status,"
                              " created_at) VALUES (:id, :city, 'console:-', 1, :kind, 0.5, :need, :status, :t)"),
                         {"id": id_, "city": city, "kind": kind, "need": need, "status": status, "t": T0.isoformat()})
    engine.dispose()
    store = Store(store_url)
    store.migrate()
    rows = {d.id: d for d in store.deliveries()}
    assert {i: (d.kind, d.dedupe) for i, d in rows.items()} == {
        5: ("suggestion", ""), 6: ("change", "0123456789abcdef"), 7: ("reminder", "2027-03-01"),
        9: ("joint", "a1b2c3d4e5f6")}
    assert rows[5].need_id == "norrby-N1" and rows[6].need_id is None
    assert rows[6].fields == ("budget", "deadlines") and rows[9].cities == ("lund", "malmo")
    assert [d.status for d in store.deliveries(kind="change")] == ["pending"]
    assert store.queue_delivery("norrby", "console:-", 1, "change", dedupe="fedcba9876543210", score=None,
                                payload={"fields": ["status"]}, now=T1)
    assert max(d.id for d in store.deliveries()) == 10  # after the copied ids
    store.close()


def test_a_second_change_to_a_call_is_a_second_notice_and_the_same_one_is_never_queued_twice(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'o.db'}")
    store.migrate()
    store.sync_source("s", [rec("a")], T0)
    call = store.calls()[0].id
    queue = lambda key: store.queue_delivery("c", "console:-", call, "change", dedupe=key, score=None,  # noqa: E731
                                             payload={"fields": ["budget"]}, now=T0)
    assert queue("hash-one") and not queue("hash-one") and queue("hash-two")
    assert [d.dedupe for d in store.deliveries(kind="change")] == ["hash-one", "hash-two"]
    with pytest.raises(ValueError):
        store.queue_delivery("c", "console:-", call, "change:abc", score=None, now=T0)  # the old string kinds
    with pytest.raises(ValueError):
        store.queue_delivery("c", "console:-", call, "reminder", score=None, now=T0)  # a reminder needs its date
    store.close()
