"""The delivery code on its own, against a fake channel that records what it
is given (as reader tests its parsers): queueing, confirmation, read-back,
permanent and transient errors, limits and cadence, for every way a channel
can declare itself.  The end-to-end tests (test_cycle, test_slack,
test_channels, test_golden) stay beside these."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import pytest
from sqlalchemy import text

from matcher.channels import ChannelBlocked, Channels, NotConfigured, SendResult
from matcher.config import ChannelSpec
from matcher.cycle import Clock, CycleReport
from matcher.delivery import Delivery
from matcher.models import CallRecord, Match
from matcher.store import Store

UTC = dt.timezone.utc
DAY = dt.datetime(2026, 11, 20, 12, tzinfo=UTC)  # the day deadlines are judged against
NOW = dt.datetime.now(UTC)  # the wall clock (a channel's confirmation is stamped with it)


class FakeChannel:
    """Records every digest and notice; behaves as the test says."""

    kind = "fake"
    reads_back = False
    max_items = 100
    max_title = 300
    max_text = 600
    log: list = []  # (target, what) of every channel of this class
    fail: dict = {}  # target → an exception to raise on send
    already: dict = {}  # target → outbox rows the channel says it holds (read back)

    def __init__(self, spec, channels):
        if spec.target == "unset":
            raise NotConfigured("fake: set FAKE_TARGET")
        self.target = spec.target

    def send(self, digest, confirm):
        if self.target in self.fail:
            raise self.fail[self.target]
        self.log.append((self.target, digest))
        ids = [i.delivery_id for i in digest.items]
        confirm(ids, f"{self.target}-ref")
        return SendResult(sent=tuple(ids))

    def notify(self, notice):
        self.log.append((self.target, notice))
        return f"{self.target}-notice"

    def delivered(self, city, since):
        return set(self.already.get(self.target, ()))


class ReadingBack(FakeChannel):
    kind = "fake-readback"
    reads_back = True


class Short(FakeChannel):
    kind = "fake-short"
    max_title = 20
    max_text = 30


@pytest.fixture
def world(deployment):
    """A store with three open calls, matches for norrby, and a Delivery maker."""
    FakeChannel.log, FakeChannel.fail, FakeChannel.already = [], {}, {}
    dep = deployment.load()
    store = Store(dep.store_url)
    store.migrate()
    deadline = (dt.datetime(2027, 3, 1, 13, tzinfo=UTC),)
    records = [CallRecord(source="t", native_id=f"c{n}", funder="Formas", title=f"Call {n} " + "long title " * 5,
                          text="Klimatneutrala städer. " * 20, url=f"https://example.org/c{n}", deadlines=deadline)
               for n in range(3)]
    store.sync_source("t", records, DAY, seen_on=DAY.date())
    calls = {c.id: c for c in store.calls()}
    matches = {"norrby": [Match("norrby", cid, 0.9 - i / 10, "norrby-N1", "Innovationsupphandling",
                                "Klimatneutrala städer. " * 20, 0.5, 0.5) for i, cid in enumerate(sorted(calls))]}
    kinds = {c.kind: c for c in (FakeChannel, ReadingBack, Short)}

    def run(specs, *, now=NOW, cadences=None):
        norrby = next(p for p in dep.profiles if p.city.id == "norrby")
        one = dataclasses.replace(dep, profiles=(norrby.model_copy(update={"channels": list(specs)}),))
        report = CycleReport()
        channels = Channels(io.StringIO(), dep.settings, {}, kinds=kinds)
        Delivery(one, store, channels, Clock(now=now, at=DAY), report, cadences).suggestions(matches, calls)
        return report

    return store, run, calls


def spec(kind="fake", target="a", cadence="instant") -> ChannelSpec:
    """A channel entry of a kind only this test knows (past the profile's check of kinds)."""
    return ChannelSpec.model_construct(kind=kind, target=target, cadence=cadence, min_score=None)


@pytest.mark.parametrize("kind", ["fake", "fake-readback", "fake-short"])
def test_each_suggestion_is_queued_sent_and_confirmed_once(world, kind):
    store, run, calls = world
    first = run([spec(kind)])
    assert first.deliveries["sent"] == 3
    sent = [d for d in store.deliveries(city="norrby") if d.status == "sent"]
    assert len(sent) == 3 and {d.message_ref for d in sent} == {"a-ref"}
    again = run([spec(kind)], now=NOW + dt.timedelta(hours=1))
    assert again.deliveries["sent"] == 0 and len(FakeChannel.log) == 1


def test_a_channel_gets_its_items_within_its_own_limits(world):
    _, run, _ = world
    run([spec("fake-short"), spec("fake", "b")])
    by_target = {t: d for t, d in FakeChannel.log}
    assert all(len(i.title) <= 20 and len(i.passage) <= 30 for i in by_target["a"].items)
    assert any(len(i.title) > 20 for i in by_target["b"].items)  # the other channel's own limits


def test_rows_a_channel_reads_back_are_marked_sent_not_posted_again(world):
    store, run, calls = world
    FakeChannel.fail["a"] = RuntimeError("boom")
    run([spec("fake-readback")])  # queued; the send fails, the rows stay to retry
    ids = sorted(d.id for d in store.deliveries(city="norrby"))
    FakeChannel.fail.clear()
    FakeChannel.already["a"] = ids[:2]  # the channel shows two of them arrived after all
    report = run([spec("fake-readback")], now=NOW + dt.timedelta(hours=2))
    reconciled = [d for d in store.deliveries(city="norrby") if d.message_ref == "reconciled"]
    assert {d.id for d in reconciled} == set(ids[:2])
    assert [i.delivery_id for _, d in FakeChannel.log for i in d.items] == [ids[2]]
    assert report.deliveries["sent"] == 1


def test_a_permanent_refusal_stops_that_channel_and_not_the_others(world):
    store, run, _ = world
    FakeChannel.fail["a"] = ChannelBlocked("the webhook is gone")
    report = run([spec(target="a"), spec(target="b")])
    assert set(store.blocked_channels()) == {("fake:a", "norrby")}
    assert any("is stopped: the webhook is gone" in n for n in report.notices)
    assert [t for t, _ in FakeChannel.log] == ["b"]
    pending = [d for d in store.deliveries(city="norrby", status="pending")]
    assert len(pending) == 3  # channel a's rows wait for someone to fix it


def test_a_transient_error_keeps_the_rows_for_a_retry(world):
    store, run, _ = world
    FakeChannel.fail["a"] = OSError("connection reset")
    report = run([spec()])
    assert report.deliveries["failed"] == 3 and not store.blocked_channels()
    rows = store.deliveries(city="norrby")
    assert all(d.status == "pending" and d.attempts == 1 for d in rows)
    assert not any(d.due(NOW) for d in rows)  # backoff: not tried again at once


def test_a_channel_that_cannot_run_here_says_so_once_and_keeps_its_rows(world):
    store, run, _ = world
    report = run([spec(target="unset"), spec(target="b")])
    assert report.notices.count("fake: set FAKE_TARGET") == 1
    assert len([d for d in store.deliveries(city="norrby", status="pending")]) == 3
    assert [t for t, _ in FakeChannel.log] == ["b"]


def test_a_daily_channel_waits_for_its_gap(world):
    store, run, calls = world
    run([spec(cadence="daily")])
    assert len(FakeChannel.log) == 1
    # a new call for the city, an hour later: queued, not sent until the gap has passed
    gone = sorted(calls)[0]
    with store.engine.begin() as conn:  # a fresh suggestion row for the same call (as a later cycle would queue)
        conn.execute(text("DELETE FROM outbox WHERE call_id = :c"), {"c": gone})
    run([spec(cadence="daily")], now=NOW + dt.timedelta(hours=1), cadences={"daily"})
    assert len(FakeChannel.log) == 1  # within the gap: stays in the outbox
    assert [d.status for d in store.deliveries(city="norrby") if d.call_id == gone] == ["pending"]
    run([spec(cadence="daily")], now=NOW + dt.timedelta(hours=21), cadences={"daily"})
    assert len(FakeChannel.log) == 2 and len(FakeChannel.log[1][1].items) == 1
