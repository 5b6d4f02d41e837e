"""`fundbot report`: JSON, CSV, ICS and escaped static pages, on an offline cycle.
(The headless-Chromium checks of the pages are still to come: issue 7.)"""

from __future__ import annotations

import csv
import json

import numpy as np

HOSTILE = "<script>alert(1)</script> & friends"


def test_report_files(deployment):
    deployment.retitle_vinnova_round(HOSTILE)
    deployment.cli("run", "--once", "--offline", check=True)
    out = deployment.root / "site"
    proc = deployment.cli("report", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "report.json").read_text())
    assert {"calls", "cities", "matches", "joint_opportunities", "gaps"} <= set(doc)
    assert {c["id"] for c in doc["cities"]} == {"norrby", "sunnana"}
    # both test cities share their needs and have min_score 0: every open call fits both
    assert doc["joint_opportunities"] and all(len(o["cities"]) >= 2 for o in doc["joint_opportunities"])
    assert all(set(o["cities"]) <= {"norrby", "sunnana"} for o in doc["joint_opportunities"])
    with (out / "matches.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(doc["matches"]) and {r["city"] for r in rows} == {"norrby", "sunnana"}
    assert any(r["title"] == HOSTILE for r in rows)  # CSV keeps the text as it is

    from icalendar import Calendar

    cal = Calendar.from_ical((out / "calendars/norrby.ics").read_bytes())
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    assert events and all(e.get("DTSTART") and [a for a in e.walk() if a.name == "VALARM"] for e in events)
    assert any(HOSTILE in str(e.get("SUMMARY")) for e in events)

    for page in ["index.html", "city-norrby.html", "joint.html"]:
        text = (out / page).read_text(encoding="utf-8")
        assert "<script>" not in text and "http://" not in text.split("<body>")[0]  # no scripts, no CDN
    city = (out / "city-norrby.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in city
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in (out / "index.html").read_text(encoding="utf-8")


def test_gaps_and_joint_grouping_by_alike_needs():
    import datetime as dt

    from matcher.combined import financing_gaps, joint_opportunities
    from matcher.config import Profile
    from matcher.models import CallRecord, StoredCall

    def prof(cid, texts):
        return Profile.model_validate({"city": {"id": cid, "name": cid}, "needs": [
            {"id": f"{cid}-{k}", "text": t, "weight": 3, "keywords": [t.split()[0].lower()]} for k, t in enumerate(texts)]})

    a, b, c = prof("a", ["Cykel", "Skola"]), prof("b", ["Cykel", "Vård"]), prof("c", ["Hamn", "Skog"])
    at = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)
    call = StoredCall(1, CallRecord(source="s", native_id="1", funder="Vinnova", title="T", text="x",
                                    deadlines=(at + dt.timedelta(days=30),)), "h", at, at)
    m = lambda city, need, score: {"call_id": 1, "need_id": need, "score": score, "eligibility": "eligible"}  # noqa: E731
    matches = {"a": [m("a", "a-0", 0.9)], "b": [m("b", "b-0", 0.8)], "c": [m("c", "c-0", 0.7)]}
    e = np.eye(4, dtype=np.float32)
    vectors = {("a", "a-0"): e[0], ("b", "b-0"): e[0], ("c", "c-0"): e[1], ("a", "a-1"): e[2],
               ("b", "b-1"): e[3], ("c", "c-1"): e[3]}
    texts = {k: k[1] for k in vectors}
    (opp,) = joint_opportunities(matches, {1: call}, vectors, texts, 0.5, at)
    assert opp.cities == ["a", "b"]  # c's matched need is not alike
    gaps = financing_gaps([a, b, c], matches, 0.5)
    assert {(g.city, g.need_id) for g in gaps} == {("a", "a-1"), ("b", "b-1"), ("c", "c-1")}


def test_pages_in_headless_chromium(deployment, tmp_path):
    """Debian's chromium driven by Playwright (never a downloaded browser): the
    overview renders the heat map, links lead to the city pages, no console
    errors, and a hostile title shows as text."""
    import shutil

    import pytest

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.os.path.exists(chromium):
        pytest.skip("Debian chromium is not installed here (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    deployment.retitle_vinnova_round(HOSTILE)
    deployment.cli("run", "--once", "--offline", check=True)
    out = deployment.root / "site"
    deployment.cli("report", "--out", str(out), check=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
        page.goto((out / "index.html").as_uri())
        assert page.locator("svg#heatmap rect").count() > 0
        box = page.locator("svg#heatmap").bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0
        page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
        page.click("a[href='city-norrby.html']")
        assert page.url.endswith("city-norrby.html") and page.locator("h1").inner_text() == "Norrby kommun"
        assert HOSTILE in page.locator("body").inner_text()  # shown as text, not run
        browser.close()
    assert errors == []
