"""The store on a real SQLite file: migrations, change detection, vectors, outbox."""

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


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
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
    assert {"calls", "call_events", "vectors", "deliveries", "source_state", "matches", "runs"} <= tables
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
