"""The jobs of `fundbot serve`, called directly with a fake clock: no
scheduler, no sleeping.  What each job sends, and that a job run twice
sends nothing twice."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from matcher.channels import build_channels
from matcher.cycle import Clock
from matcher.embed import make_embedder
from matcher.serve import Jobs, job_specs
from matcher.store import Store

UTC = dt.timezone.utc


@pytest.fixture
def setup(deployment):
    path = deployment.root / "profiles/sunnana.toml"
    path.write_text(path.read_text().replace('kind = "console"', 'kind = "console"\ncadence = "daily"'))
    dep = deployment.load()
    store = Store(dep.store_url)
    store.migrate()
    out = io.StringIO()
    channels = build_channels(out)
    moment = {"clock": Clock(now=dt.datetime(2026, 11, 23, 6, tzinfo=UTC),
                             at=dt.datetime(2026, 11, 20, 12, tzinfo=UTC))}
    jobs = Jobs(dep, store, make_embedder("hashing", deployment.root), channels, offline=True,
                clock=lambda: moment["clock"])
    return dep, store, jobs, out, moment


def test_jobs_follow_the_config(setup):
    dep, *_ = setup
    specs = {s.id: s for s in job_specs(dep)}
    assert set(specs) == {"source:eu", "source:vinnova", "digests:instant", "digests:daily", "digests:weekly",
                          "reminders"}
    saturday = dt.datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert specs["digests:daily"].trigger.get_next_fire_time(None, saturday).isoformat() == "2026-11-30T08:00:00+01:00"
    assert specs["digests:weekly"].trigger.get_next_fire_time(None, saturday).isoformat() == "2026-11-30T08:00:00+01:00"
    assert specs["source:eu"].action == "fetch" and specs["source:eu"].args == ("eu",)


def test_each_cadence_sends_its_own_digests_once(setup):
    dep, store, jobs, out, moment = setup
    assert jobs.fetch("eu")["ok"] and jobs.fetch("vinnova")["ok"]
    daily = jobs.digests("daily")
    assert daily.deliveries["sent"] > 0
    assert "Sunnanå kommun" in out.getvalue() and "Norrby kommun" not in out.getvalue()  # norrby is weekly
    assert jobs.digests("daily").deliveries["sent"] == 0  # the same moment again: nothing twice
    moment["clock"] = Clock(now=moment["clock"].now + dt.timedelta(days=1), at=moment["clock"].at)
    assert jobs.digests("daily").deliveries["sent"] == 0  # a day later: nothing new to say
    assert jobs.digests("instant").deliveries["sent"] == 0  # no channel is instant
    weekly = jobs.digests("weekly")
    assert weekly.deliveries["sent"] > 0 and "Norrby kommun" in out.getvalue()
    health = {k: v["state"] for k, v in __import__("matcher.suggest", fromlist=["x"]).channel_health(dep, store).items()}
    assert health == {"norrby:console:-": "ok", "sunnana:console:-": "ok"}


def test_reminders_job_reminds_before_the_deadline_of_a_call_a_city_applies_for(setup):
    dep, store, jobs, out, moment = setup
    jobs.fetch("eu")
    jobs.fetch("vinnova")
    jobs.digests("weekly")
    sent = [d for d in store.deliveries(city="norrby", status="sent") if d.kind == "suggestion"]
    call = next(store.call(d.call_id) for d in sent if store.call(d.call_id).next_deadline(moment["clock"].at))
    deadline = call.next_deadline(moment["clock"].at)
    store.add_mark("norrby", call.id, "applying", "anna", moment["clock"].now)
    far = Clock(now=moment["clock"].now + dt.timedelta(days=1), at=deadline - dt.timedelta(days=30))
    moment["clock"] = far
    assert jobs.reminders().deliveries["sent"] == 0  # a month ahead: too early
    near = Clock(now=far.now + dt.timedelta(days=1), at=deadline - dt.timedelta(days=3))
    moment["clock"] = near
    before = out.getvalue()
    assert jobs.reminders().deliveries["sent"] == 1
    reminder = out.getvalue()[len(before):]
    assert call.record.title[:30] in reminder
    moment["clock"] = Clock(now=near.now + dt.timedelta(hours=1), at=near.at)
    assert jobs.reminders().deliveries["sent"] == 0  # reminded once


def test_the_instant_job_keeps_rankings_fresh_even_without_instant_channels(setup):
    dep, store, jobs, out, moment = setup
    jobs.fetch("eu")
    jobs.fetch("vinnova")
    report = jobs.digests("instant")
    assert report.deliveries["sent"] == 0 and out.getvalue() == ""  # nobody is on an instant cadence
    from matcher.suggest import suggestions

    fresh = suggestions(store, dep.profile("norrby"), top=5)
    assert fresh and all(s["score"] >= 0 for s in fresh)  # what `fundbot suggest` shows is already there
