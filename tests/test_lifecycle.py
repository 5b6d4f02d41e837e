"""A call's lifecycle: stages read from the sources, the age of the evidence
behind each call (offline: the snapshot's date; live: the last fetch that
listed it), what that means for suggestions, and `fundbot source show`."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
from zoneinfo import ZoneInfo

import pytest

from conftest import ROOT
from localserver import LocalServer, Reply, json_reply
from matcher.models import CallRecord, StoredCall, with_stages
from matcher.sources.prose import read_facts
from matcher.sources.sedia import SediaAdapter, deadline_stages

STHLM = ZoneInfo("Europe/Stockholm")
UTC = dt.timezone.utc
HALF_YEAR = dt.timedelta(days=183)


def at(y, m, d, h=12):
    return dt.datetime(y, m, d, h, tzinfo=STHLM)


# --- stages ---------------------------------------------------------------------------------------


def test_the_portals_deadline_model_names_each_deadline():
    assert deadline_stages("two-stage", 2) == ("stage1", "stage2")
    assert deadline_stages("multiple cut-off", 3) == ("cutoff", "cutoff", "cutoff")
    assert deadline_stages("single-stage", 1) == ("single",)
    assert deadline_stages(None, 1) == () and deadline_stages("two-stage", 0) == ()
    row = {"reference": "r1", "metadata": {
        "identifier": ["LIFE-2026-STRAT-NAT-SNAP-two-stage"], "title": ["Strategic Nature Projects"],
        "deadlineModel": ["two-stage"],
        # the portal's list is not in order: the stages follow the dates, not the list
        "deadlineDate": ["2027-03-04T17:00:00.000+0100", "2026-09-03T17:00:00.000+0200"]}}
    source = type("S", (), {"id": "eu", "funder": "European Commission", "options": {}})()
    record = SediaAdapter().parse(source, row)
    assert [d.date().isoformat() for d in record.deadlines] == ["2026-09-03", "2027-03-04"]
    assert record.stages == ("stage1", "stage2")


@pytest.mark.parametrize("text, labels, expected", [
    # DUT's timeline writes the date before the label
    ("17 Nov 2026 Stage 1 closes\nFeb 2027 Stage 2 opens\n15 Apr 2027 Stage 2 closes",
     ["Stage 1 closes", "Stage 2 closes"], ("stage1", "stage2")),
    ("Deadline for pre-proposals: 2 March 2027\nDeadline for full proposals (invited applicants only): 8 Sep 2027",
     ["Deadline for pre-proposals", "Deadline for full proposals"], ("stage1", "stage2")),
    ("Sista dag för ansökan, steg 1: 2027-02-11 14:00\nSista dag för fullständig ansökan: 2027-05-20 14:00",
     ["Sista dag för ansökan", "Sista dag för fullständig ansökan"], ("stage1", "stage2")),
    ("Första steget: skissansökan senast 3 mars 2027. Andra steget, endast inbjudna: senast 9 september 2027.",
     ["senast"], ("stage1", "stage2")),
    ("Cut-off dates: 12 March 2027", ["Cut-off dates"], ("cutoff",)),
    # no stage named: nothing invented; "invited to apply" is not a second stage
    ("All municipalities are invited to apply. Deadline: 9 March 2027", ["Deadline"], ()),
    ("Sista dag för ansökan 2027-02-11", ["Sista dag för ansökan"], ()),
])
def test_page_labels_name_the_stage_of_each_deadline(text, labels, expected):
    facts = read_facts(text, {"deadline_labels": labels}, zone=STHLM, reference=dt.date(2026, 11, 20))
    assert facts.stages == expected
    assert len(facts.deadlines) == max(len(expected), 1)


def test_a_date_given_with_a_time_wins_over_the_same_date_without_one():
    """A listing card says "1 December 2026", the call page "1 December 2026, 17:00 CET": one deadline, 17:00."""
    facts = read_facts("Deadline date: 01/12/2026\n...\nDeadline date: 1 December 2026 17:00",
                       {"deadline_labels": ["Deadline date"]}, zone=ZoneInfo("Europe/Brussels"),
                       reference=dt.date(2026, 11, 20))
    assert [d.strftime("%Y-%m-%d %H:%M") for d in facts.deadlines] == ["2026-12-01 17:00"]


def _call(deadlines=(), stages=(), opens=None, seen=None):
    moments, _ = with_stages(zip(deadlines, stages or [""] * len(deadlines)))
    record = CallRecord(source="s", native_id="c", funder="F", title="T", text="x", opens_at=opens,
                        deadlines=moments, stages=tuple(stages))
    return StoredCall(1, record, record.content_hash, at(2026, 1, 1), at(2026, 1, 1), seen_on=seen)


def test_past_the_first_stage_a_call_is_for_invited_applicants_only():
    call = _call((at(2026, 9, 3, 17), at(2027, 3, 4, 17)), ("stage1", "stage2"), seen=dt.date(2026, 11, 20))
    assert call.status(at(2026, 8, 1)) == "open" and call.suggestible(at(2026, 8, 1), HALF_YEAR)
    assert call.stage(call.next_deadline(at(2026, 8, 1))) == "stage1"
    assert call.status(at(2026, 11, 20)) == "invitation"
    assert not call.suggestible(at(2026, 11, 20), HALF_YEAR)
    assert call.stage(call.next_deadline(at(2026, 11, 20))) == "stage2"  # what an applicant is reminded of
    assert call.status(at(2027, 4, 1)) == "closed"
    # cut-offs of a call that stays open: each passing one leaves the call open
    rolling = _call((at(2026, 10, 1), at(2027, 2, 1)), ("cutoff", "cutoff"), seen=dt.date(2026, 11, 20))
    assert rolling.status(at(2026, 11, 20)) == "open"


def test_a_call_without_a_future_deadline_known_only_from_old_evidence_is_unverified():
    rolling = _call(seen=dt.date(2024, 6, 14))
    assert rolling.lifecycle(at(2026, 11, 20), HALF_YEAR) == "unverified"
    assert rolling.lifecycle(at(2024, 9, 1), HALF_YEAR) == "open"  # young evidence
    assert _call(seen=dt.date(2026, 11, 20)).lifecycle(at(2026, 11, 20), HALF_YEAR) == "open"
    # a stated future deadline vouches for the call, however old the page
    dated = _call((at(2027, 3, 1),), seen=dt.date(2024, 6, 14))
    assert dated.lifecycle(at(2026, 11, 20), HALF_YEAR) == "open"
    # opened long ago, no deadline ("Öppnar 12 augusti 2024"): unverified
    opened = _call(opens=at(2024, 8, 12), seen=dt.date(2024, 6, 14))
    assert opened.lifecycle(at(2026, 11, 20), HALF_YEAR) == "unverified"


# --- the demo day ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_day(tmp_path_factory):
    """The shipped feeds and profiles replayed on their recorded day (hashing embedder, every match kept)."""
    from conftest import Deployment

    root = tmp_path_factory.mktemp("demo")
    shutil.copytree(ROOT / "feeds", root / "feeds")
    shutil.copytree(ROOT / "profiles", root / "profiles")
    d = Deployment(root)
    d.write("config.toml", 'feeds = "feeds"\nprofiles = "profiles"\n[store]\nurl = "sqlite:///fundbot.db"\n'
                           '[matcher]\nmodel = "hashing"\nmin_score = 0.0\ntop = 100\n')
    d.cli("run", "--once", "--offline", check=True)
    d.cli("report", "--out", "out", check=True)
    return d


def test_on_the_demo_day_no_call_past_its_first_stage_or_known_only_from_stale_evidence_is_suggested(demo_day):
    status = json.loads(demo_day.cli("status", "--json", check=True).stdout)
    report = json.loads((demo_day.root / "out/report.json").read_text())
    assert report["today"] == "2026-11-20"
    invited = {c["title"] for c in status["invitation_only"]}
    assert {"DUT Call 2026", "Strategic Nature Projects"} <= invited
    unverified = {c["title"]: c for c in status["unverified"]}
    assert "Klimatklivet" in unverified
    assert unverified["Klimatklivet"]["note"] == "senast sedd 2024-11-15 — kontrollera hos finansiären"
    assert any("Tillväxtverket" == c["funder"] for c in unverified.values())
    assert any(c["source"] == "trafikverket" for c in unverified.values())
    not_suggestible = {c["call_id"] for c in status["unverified"] + status["invitation_only"]}
    assert not_suggestible
    calls = {c["id"]: c for c in report["calls"]}
    matched = {m["call_id"] for m in report["matches"]}
    assert matched and not matched & not_suggestible
    assert all(calls[i]["status"] in ("open", "forthcoming") for i in matched)
    # the report lists them apart, with the evidence date, in the profile's language
    assert {c["call_id"] for c in report["to_check"]} == not_suggestible
    page = (demo_day.root / "out/index.html").read_text()
    assert "senast sedd 2024-11-15 — kontrollera hos finansiären" in page and "steg 2 endast för inbjudna" in page
    for city in {m["city"] for m in report["matches"]}:
        rows = json.loads(demo_day.cli("suggest", "--city", city, "--top", "50", "--json",
                                       check=True).stdout)["suggestions"]
        assert rows and all(r["call_id"] not in not_suggestible and r["seen_on"] for r in rows)
    # a source whose every current call is stale is a warning
    assert "stale" in status["sources"]["trafikverket"]
    assert "stale" not in status["sources"]["eu-funding-tenders"]
    text = demo_day.cli("status", check=True).stdout
    assert "senast sedd 2021-10-20 — kontrollera hos finansiären" in text


def test_offline_the_evidence_is_the_snapshots_date_and_a_manifest_may_date_each_page(demo_day):
    from matcher.store import Store

    store = Store(demo_day.load().store_url)
    seen = {(c.record.source, c.record.title): c.seen_on for c in store.calls(include_gone=True)}
    today = dt.date.today()
    assert all(day is not None and day != today for day in seen.values())  # never the wall clock
    assert seen[("formas", next(t for s, t in seen if s == "formas"))] == dt.date(2025, 4, 22)
    assert {d for (s, _), d in seen.items() if s == "vinnova"} == {dt.date(2026, 11, 20)}


def test_a_page_recorded_on_a_day_of_its_own_carries_that_day(deployment):
    """A manifest entry {"file": …, "recorded_at": …} dates one page; the others keep the snapshot's date."""
    listing = ('<main><ul><li><a href="https://example.org/bidrag/a">Bidrag A</a></li>'
               '<li><a href="https://example.org/bidrag/b">Bidrag B</a></li></ul></main>')
    deployment.write("feeds/snapshots/nv/listing.html", listing)
    deployment.write("feeds/snapshots/nv/a.html", "<main><h1>Bidrag A</h1><p>Söks löpande.</p></main>")
    deployment.write("feeds/snapshots/nv/b.html", "<main><h1>Bidrag B</h1><p>Söks löpande.</p></main>")
    deployment.write("feeds/snapshots/nv/manifest.json", json.dumps({"responses": {
        "https://example.org/bidrag/": "listing.html",
        "https://example.org/bidrag/a": {"file": "a.html", "recorded_at": "2026-10-02"},
        "https://example.org/bidrag/b": "b.html"}}))
    deployment.write("feeds/nv.toml", """\
        id = "nv"
        funder = "Naturvårdsverket"
        kind = "html"
        url = "https://example.org/bidrag/"
        snapshot = "snapshots/nv"
        recorded_at = 2024-11-15
        [options]
        item = "main li"
        link = "a"
        detail_title = "main h1"
        """)
    assert deployment.cli("check").returncode == 0
    deployment.cli("run", "--once", "--offline", check=True)
    from matcher.store import Store

    store = Store(deployment.load().store_url)
    seen = {c.record.title: c.seen_on for c in store.calls() if c.record.source == "nv"}
    assert seen == {"Bidrag A": dt.date(2026, 10, 2), "Bidrag B": dt.date(2024, 11, 15)}
    status = json.loads(deployment.cli("status", "--json", check=True).stdout)
    assert [c["title"] for c in status["unverified"] if c["source"] == "nv"] == ["Bidrag B"]
    # a bad day in a manifest is named by `check`
    deployment.write("feeds/snapshots/nv/manifest.json", json.dumps({"responses": {
        "https://example.org/bidrag/": {"file": "listing.html", "recorded_at": "last spring"}}}))
    bad = deployment.cli("check")
    assert bad.returncode == 2 and "recorded_at" in bad.stderr and "last spring" in bad.stderr


# --- live evidence ----------------------------------------------------------------------------------


def _rounds(*rows):
    return json.dumps([{"Diarienummer": dnr, "Titel": title, "Beskrivning": "<p>Löpande ansökan.</p>",
                        "Publik": 1, "Webbsida": 1} for dnr, title in rows]).encode()


def test_live_the_last_fetch_that_lists_a_call_dates_it_and_304_or_an_incremental_answer_confirms_it(deployment):
    from matcher.cycle import Clock, fetch_source
    from matcher.store import Store

    with LocalServer() as server:
        deployment.write("feeds/vinnova.toml", f"""\
            id = "vinnova"
            funder = "Vinnova"
            kind = "vinnova"
            url = "{server.url}/api/ansokningsomgangar/{{since}}"
            """)
        deployment.write("feeds/rss.toml", f"""\
            id = "rss"
            funder = "Interreg"
            kind = "rss"
            url = "{server.url}/feed/"
            language = "en"
            """)
        (deployment.root / "feeds/eu.toml").unlink()
        dep = deployment.load()
        store = Store(dep.store_url)
        store.migrate()
        vinnova = next(s for s in dep.sources if s.id == "vinnova")

        def fetch(day, source=vinnova):
            moment = dt.datetime.combine(day, dt.time(6), UTC)
            return fetch_source(dep, store, source, Clock(now=moment, at=moment.astimezone(STHLM)), offline=False)

        def seen():
            return {c.record.native_id: c.seen_on for c in store.calls()}

        server.routes["/api/ansokningsomgangar/"] = json_reply(_rounds(("A", "Runda A"), ("B", "Runda B")),
                                                               ETag='"v1"')
        assert fetch(dt.date(2026, 1, 10))["new"] == 2
        assert seen() == {"A": dt.date(2026, 1, 10), "B": dt.date(2026, 1, 10)}
        assert server.hits("/api/ansokningsomgangar/")[-1][2].endswith("/2025-01-10")  # a full look-back first
        server.routes["/api/ansokningsomgangar/"] = Reply(304, b"", {"ETag": '"v1"'})
        assert fetch(dt.date(2026, 5, 2))["ok"]
        assert seen() == {"A": dt.date(2026, 5, 2), "B": dt.date(2026, 5, 2)}  # not modified: both still listed
        # {since} asks only for changes: B changed, A is not in the answer and is still there
        server.routes["/api/ansokningsomgangar/"] = json_reply(_rounds(("B", "Runda B, ändrad")))
        outcome = fetch(dt.date(2026, 9, 1))
        assert server.hits("/api/ansokningsomgangar/")[-1][2].endswith("/2026-05-02")
        assert outcome["changed"] == 1 and outcome["gone"] == 0 and outcome["items"] == 2
        assert seen() == {"A": dt.date(2026, 9, 1), "B": dt.date(2026, 9, 1)}
        # an empty list of changes is normal for an incremental source, not a suspicious drop
        server.routes["/api/ansokningsomgangar/"] = json_reply(b"[]")
        outcome = fetch(dt.date(2026, 9, 2))
        assert outcome["warning"] is None and outcome["gone"] == 0 and len(seen()) == 2

        # a source that lists everything and stops listing a call: the call is gone, never suggested
        feed = ('<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{}</channel></rss>')
        item = "<item><title>{0}</title><link>https://example.org/{0}</link><description>Open.</description></item>"
        rss = next(s for s in dep.sources if s.id == "rss")
        server.routes["/feed/"] = Reply(200, feed.format(item.format("x") + item.format("y")).encode(),
                                        {"Content-Type": "application/rss+xml"})
        fetch(dt.date(2026, 9, 1), rss)
        server.routes["/feed/"] = Reply(200, feed.format(item.format("y")).encode(),
                                        {"Content-Type": "application/rss+xml"})
        assert fetch(dt.date(2026, 9, 8), rss)["gone"] == 1
        from matcher.cycle import open_calls

        pool = {c.record.title for c in open_calls(store, Clock(now=at(2026, 9, 8), at=at(2026, 9, 8)), HALF_YEAR)}
        assert "x" not in pool and {"y", "Runda A"} <= pool

        # a source that breaks and is never read again: its calls age into "unverified" and leave the pool
        server.routes["/api/ansokningsomgangar/"] = Reply(500, b"down", {"Content-Type": "text/plain"})
        assert not fetch(dt.date(2027, 1, 5))["ok"]
        later = at(2027, 3, 10)
        assert {c.record.native_id: c.lifecycle(later, HALF_YEAR) for c in store.calls()
                if c.record.source == "vinnova"} == {"A": "unverified", "B": "unverified"}
        assert not {"Runda A", "Runda B, ändrad"} & {c.record.title for c in open_calls(
            store, Clock(now=later, at=later), HALF_YEAR)}


def test_an_applicant_past_the_first_stage_is_reminded_of_the_second(deployment):
    from matcher.channels import build_channels
    from matcher.cycle import Clock
    from matcher.embed import make_embedder
    from matcher.serve import Jobs
    from matcher.store import Store

    dep = deployment.load()
    store = Store(dep.store_url)
    store.migrate()
    deadlines, stages = with_stages([(at(2026, 11, 17, 17), "stage1"), (at(2027, 4, 15, 17), "stage2")])
    record = CallRecord(source="dut", native_id="dut-2026", funder="DUT", title="DUT Call 2026",
                        text="Two-stage call.", deadlines=deadlines, stages=stages)
    store.sync_source("dut", [record], dt.datetime(2026, 11, 1, tzinfo=UTC), seen_on=dt.date(2026, 11, 1))
    call = store.calls()[0]
    for city in ("norrby", "sunnana"):
        store.queue_delivery(city, "console:-", call.id, "suggestion", score=0.9, need_id=f"{city}-N1",
                             now=dt.datetime(2026, 11, 1, tzinfo=UTC))
    store.mark_sent([d.id for d in store.deliveries(status="pending")], dt.datetime(2026, 11, 1, tzinfo=UTC))
    store.add_mark("norrby", call.id, "applying", "anna", dt.datetime(2026, 11, 2, tzinfo=UTC))
    out = io.StringIO()
    channels = build_channels(out)
    near = Clock(now=dt.datetime(2027, 4, 12, 6, tzinfo=UTC), at=at(2027, 4, 12))
    jobs = Jobs(dep, store, make_embedder("hashing", deployment.root), channels, offline=True,
                clock=lambda: near)
    assert jobs.reminders().deliveries["sent"] == 1  # norrby applies; sunnana, not invited, is not reminded
    assert "DUT Call 2026" in out.getvalue() and "(steg 2)" in out.getvalue()
    assert "15 april 2027" in out.getvalue()


# --- fundbot source show --------------------------------------------------------------------------------


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def test_source_show_prints_what_the_adapter_made_of_a_snapshot_and_never_writes_the_store(demo_day):
    db = demo_day.root / "fundbot.db"
    before = _digest(db), _digest(db.with_name("fundbot.db-wal"))
    shown = demo_day.cli("source", "show", "eu-funding-tenders", "--offline", "--json", check=True)
    assert (_digest(db), _digest(db.with_name("fundbot.db-wal"))) == before
    data = json.loads(shown.stdout)
    assert data["source"] == "eu-funding-tenders" and data["ok"] and data["evidence_day"] == "2026-11-20"
    snap = next(c for c in data["calls"] if c["title"] == "Strategic Nature Projects")
    assert [d["stage"] for d in snap["deadlines"]] == ["stage1", "stage2"]
    assert snap["status"] == "invitation" and snap["language"] == "en" and snap["budget"]
    assert "terms" in snap and "missing" in snap
    text = demo_day.cli("source", "show", "naturvardsverket", "--offline", check=True).stdout
    assert "Klimatklivet" in text and "no deadline" in text and "2024-11-15" in text


def test_source_show_on_a_new_html_source_says_per_item_what_it_could_not_find(deployment):
    with LocalServer() as server:
        listing = (f'<main><div class="c"><a href="{server.url}/c/1">Bidrag till laddinfrastruktur</a>'
                   f'<p>Sista dag 2027-03-01</p></div>'
                   f'<div class="c"><a href="{server.url}/c/2">Bidrag utan sida</a></div></main>')
        server.routes["/bidrag"] = Reply(200, listing.encode(), {"Content-Type": "text/html; charset=utf-8"})
        server.routes["/c/1"] = Reply(200, "<main><h1>Laddinfrastruktur</h1><p>Kommuner kan söka.</p></main>"
                                      .encode(), {"Content-Type": "text/html; charset=utf-8"})
        server.routes["/c/2"] = Reply(404, b"gone", {"Content-Type": "text/plain"})
        deployment.write("feeds/region.toml", f"""\
            id = "region"
            funder = "Region Norrby"
            kind = "html"
            url = "{server.url}/bidrag"
            [options]
            item = "main div.c"
            link = "a"
            detail_title = "main h1"
            detail_eligibility = "main .vem-kan-soka"
            deadline_labels = ["Sista dag"]
            budget_labels = ["Budget"]
            """)
        shown = deployment.cli("source", "show", "region", "--json", check=True)
        data = json.loads(shown.stdout)
        assert not (deployment.root / "fundbot.db").exists()  # nothing written, not even a new store
        calls = {c["title"]: c for c in data["calls"]}
        assert set(calls) == {"Laddinfrastruktur", "Bidrag utan sida"}
        first = calls["Laddinfrastruktur"]
        assert [d["date"][:10] for d in first["deadlines"]] == ["2027-03-01"]
        assert any("detail_eligibility" in m for m in first["missing"]) and "no budget" in first["missing"]
        second = calls["Bidrag utan sida"]
        assert "no deadline" in second["missing"] and any("detail page" in m and "404" in m
                                                          for m in second["missing"])
        text = deployment.cli("source", "show", "region", check=True).stdout
        assert "Laddinfrastruktur" in text and "could not find" in text
        # a selector that matches nothing on the listing: the source's error, plainly, exit 1
        deployment.write("feeds/region.toml", (deployment.root / "feeds/region.toml").read_text()
                         .replace('item = "main div.c"', 'item = "main article"'))
        broken = deployment.cli("source", "show", "region")
        assert broken.returncode == 1 and "options.item" in broken.stderr and "Traceback" not in broken.stderr
        unknown = deployment.cli("source", "show", "nosuch")
        assert unknown.returncode == 2 and "nosuch" in unknown.stderr
