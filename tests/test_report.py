"""`fundbot report`: JSON, CSV, ICS and escaped static pages, on an offline
cycle; the pages also opened in Debian's Chromium."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

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

    pages = sorted(p.name for p in out.glob("*.html"))
    assert {"index.html", "city-norrby.html", "city-sunnana.html", "joint.html", "gaps.html",
            "funder-vinnova.html", "funder-european-commission.html"} <= set(pages)
    for page in pages:
        text = (out / page).read_text(encoding="utf-8")
        assert "<script>" not in text and "http://" not in text.split("<body>")[0]  # no scripts, no CDN
        assert "<link" not in text and "@import" not in text  # nothing loaded from anywhere
    city = (out / "city-norrby.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in city
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in (out / "funder-vinnova.html").read_text()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in index and 'id="timeline' in index
    assert broken_links(out) == []
    # every prioritised need with its best open call; the gaps are those below the threshold
    assert {(c["city"], c["need_id"]) for c in doc["coverage"]} == {("norrby", "norrby-N1"), ("sunnana", "sunnana-N1")}
    assert [g for g in doc["coverage"] if g["gap"]] == [dict(g, gap=True) for g in doc["gaps"]]
    english = deployment.root / "site-en"
    deployment.cli("report", "--out", str(english), "--lang", "en", check=True)
    assert "Joint opportunities" in (english / "index.html").read_text() and 'lang="en"' in (english / "gaps.html").read_text()


def broken_links(out: Path) -> list[str]:
    """Every local link on every page that leads nowhere (a missing file, or
    a #fragment the target page does not have)."""
    broken = []
    for page in out.glob("*.html"):
        for href in re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", href):
                continue  # the funders' own pages
            name, _, fragment = href.partition("#")
            target = out / name if name else page
            if not target.exists() or (fragment and f'id="{fragment}"' not in target.read_text(encoding="utf-8")):
                broken.append(f"{page.name} → {href}")
    return broken


def test_gaps_are_grouped_into_themes_by_alike_needs_across_cities():
    from matcher.combined import Gap, gaps_by_theme

    e = np.eye(3, dtype=np.float32)
    near = (e[0] * 0.9 + e[1] * 0.1) / np.linalg.norm(e[0] * 0.9 + e[1] * 0.1)
    gaps = [Gap("a", "a-1", "Cykelvägar", 3, None, 0.1, ["cycling"]),
            Gap("b", "b-1", "Cykelinfrastruktur", 2, None, 0.2, ["cycling", "mobility"]),
            Gap("c", "c-1", "Cykelbanor", 2, None, 0.0, ["bike lanes"]),
            Gap("c", "c-2", "Hamnel", 3, None, 0.0, ["port"])]
    vectors = {("a", "a-1"): e[0], ("b", "b-1"): near, ("c", "c-1"): e[0], ("c", "c-2"): e[2]}
    themes = gaps_by_theme(gaps, vectors, alike=0.8)
    assert themes == {"cycling": ["a", "b", "c"], "port": ["c"]}
    assert gaps_by_theme(gaps) == {"bike lanes": ["c"], "cycling": ["a", "b"], "port": ["c"]}  # keywords only


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
        assert page.locator("svg#timeline circle").count() > 0  # the deadlines of the next 60 days
        assert page.locator("svg#heatmap text", has_text="Norrby kommun").count() == 1  # cities by name
        page.click("a[href='city-norrby.html']")
        assert page.url.endswith("city-norrby.html") and page.locator("h1").inner_text() == "Norrby kommun"
        assert HOSTILE in page.locator("body").inner_text()  # shown as text, not run
        page.click("a[href='funder-vinnova.html'] >> nth=0")
        assert page.locator("h1").inner_text() == "Vinnova" and HOSTILE in page.locator("table").inner_text()
        page.click("nav a[href='gaps.html']")
        assert page.locator("h1").inner_text() == "Finansieringsgap"
        page.click("nav a[href='joint.html']")
        assert page.locator("ol.ranked li").count() > 0
        page.click("nav a[href='index.html']")
        assert page.locator("ul.numbers li").count() == 4
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # the page itself fits the phone; wide figures scroll inside their box
        browser.close()
    assert errors == []


def test_a_second_report_marks_what_changed_since_the_first(deployment):
    deployment.cli("run", "--once", "--offline", check=True)
    out = deployment.root / "site"
    deployment.cli("report", "--out", str(out), check=True)
    first = json.loads((out / "report.json").read_text())
    assert first["changes"] == {"since": None, "cities": {}}  # nothing to compare with yet
    assert "class=new" not in (out / "city-norrby.html").read_text()
    with (out / "gaps.csv").open(encoding="utf-8") as fh:
        gaps = list(csv.DictReader(fh))
    assert [(g["city"], g["need_id"], g["gap"] == "yes") for g in gaps] == \
        [(c["city"], c["need_id"], c["gap"]) for c in first["coverage"]]

    # as if the first report had been written a while ago: one call norrby is offered now was not
    # offered then, and it was offered a call that has since gone
    offered = [m for m in first["matches"] if m["city"] == "norrby" and m["score"] >= first["threshold"]
               and m["eligibility"] != "ineligible"]
    assert len(offered) >= 2
    fresh = offered[0]["call_id"]
    earlier = dict(first, today="2026-11-01",
                   matches=[m for m in first["matches"] if not (m["city"] == "norrby" and m["call_id"] == fresh)]
                   + [dict(offered[1], call_id=999999)],
                   calls=first["calls"] + [{"id": 999999, "source": "old", "identifier": "OLD-1",
                                            "title": "Gammal <utlysning>", "url": "https://example.org/old"}])
    (out / "report.json").write_text(json.dumps(earlier), encoding="utf-8")
    deployment.cli("report", "--out", str(out), check=True)
    second = json.loads((out / "report.json").read_text())
    assert second["changes"]["since"] == "2026-11-01"
    assert second["changes"]["cities"]["norrby"] == {
        "new": [fresh], "dropped": [{"identifier": "OLD-1", "title": "Gammal <utlysning>", "url": "https://example.org/old"}]}
    assert second["changes"]["cities"]["sunnana"] == {"new": [], "dropped": []}
    city = (out / "city-norrby.html").read_text(encoding="utf-8")
    assert re.search(rf'<li id="call-{fresh}"><strong>.*?</strong> <span class=new>ny</span>', city)
    assert city.count("class=new") == 1
    assert "Sedan rapporten 2026-11-01: 1 nya förslag, 1 borta" in city
    assert "Gammal &lt;utlysning&gt;" in city and "Inte längre bland förslagen" in city
    assert "<span class=new>1 nya</span>" in (out / "index.html").read_text(encoding="utf-8")
    assert "class=new" not in (out / "city-sunnana.html").read_text(encoding="utf-8")
    assert broken_links(out) == []

    # a report.json that cannot be read is not compared with, and the report is still written
    (out / "report.json").write_text("{not json", encoding="utf-8")
    proc = deployment.cli("report", "--out", str(out))
    assert proc.returncode == 0 and "not a report this run can compare with" in proc.stderr
    assert json.loads((out / "report.json").read_text())["changes"] == {"since": None, "cities": {}}
