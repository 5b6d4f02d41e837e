"""Attacks on fundbot, one test each, through the real `fundbot` command
(issue 15, "Hardening").  Every server is on 127.0.0.1.  Read this file as
the list of what a municipality's IT security can try and what holds.

So far: nothing from a feed becomes active content — links that are not web
addresses, terminal and bidi control characters, spreadsheet formulas."""

from __future__ import annotations

import csv
import json

from localserver import LocalServer, Reply

# a funder's round as a hostile page would write it
TITLE = ("=HYPERLINK(\"https://evil.example\",\"Klimat\") \x1b[31mRÖD\x1b[0m\x07 bidi\u202eevil\u202c "
         "noll\u200bbredd\x7f\x9b slut")
CLEAN_WORDS = ["RÖD", "bidievil", "nollbredd", "slut"]
FORBIDDEN = ["\x1b", "\x07", "\x7f", "\x9b", "\u202e", "\u202c", "\u200b"]
BAD_LINKS = ["javascript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>",
             "vbscript:msgbox(1)", "https://ok.example/\nInjected: header", "JaVaScRiPt:alert(1)"]


def hostile_round(deployment, link: str = BAD_LINKS[0]) -> None:
    """The first recorded Vinnova round, open on the replayed day, with a hostile title, text and link."""
    deployment.retitle_vinnova_round(TITLE)
    path = deployment.root / "feeds/snapshots/vinnova.json"
    rounds = json.loads(path.read_text())
    rounds[0]["LankLista"] = [{"URL": link}]
    rounds[0]["Beskrivning"] = "<p>Innovationsupphandling och klimatkrav\x1b]0;pwned\x07 för klimatneutrala städer.</p>"
    path.write_text(json.dumps(rounds, ensure_ascii=False))


def assert_clean(text: str, where: str) -> None:
    for ch in FORBIDDEN:
        assert ch not in text, f"{where} carries {ch!r}"
    for link in ("javascript:", "data:text/html", "vbscript:"):
        assert link not in text.lower(), f"{where} carries {link}"


def test_a_hostile_feed_item_reaches_every_output_as_plain_text(deployment, tmp_path):
    hostile_round(deployment)
    run = deployment.cli("run", "--once", "--offline", "--json", check=True)
    summary = json.loads(run.stdout)
    vinnova = summary["sources"]["vinnova"]
    assert vinnova["ok"] and vinnova["warning"].startswith("1 item(s) had a link that is not an http(s) address")
    assert "RÖD" in run.stderr  # the call was kept and suggested …
    assert_clean(run.stderr, "the console digest")  # … with no escape, bell, bidi or zero-width character
    # the store holds the cleaned text, and no link
    items = json.loads(deployment.cli("suggest", "--city", "norrby", "--top", "50", "--json", check=True).stdout)
    item = next(s for s in items["suggestions"] if "RÖD" in s["title"])
    assert item["url"] is None and all(w in item["title"] for w in CLEAN_WORDS)
    assert_clean(json.dumps(item, ensure_ascii=False), "suggest --json")
    # `status` says what was dropped
    status = json.loads(deployment.cli("status", "--json", check=True).stdout)
    assert "not an http(s) address" in status["sources"]["vinnova"]["warning"]
    # the report: no script link, and the title is text in every CSV
    out = tmp_path / "report"
    deployment.cli("report", "--out", str(out), check=True)
    for page in out.glob("*.html"):
        assert_clean(page.read_text(encoding="utf-8"), page.name)
    assert_clean((out / "report.json").read_text(encoding="utf-8"), "report.json")
    with (out / "matches.csv").open(encoding="utf-8") as fh:
        titles = [row["title"] for row in csv.DictReader(fh) if "RÖD" in row["title"]]
    assert titles and all(t.startswith("'=HYPERLINK") for t in titles)  # OWASP: a formula becomes text
    for ics in (out / "calendars").glob("*.ics"):
        assert_clean(ics.read_text(encoding="utf-8"), ics.name)


def test_every_kind_of_unsafe_link_is_dropped_where_feed_text_is_read():
    from matcher.models import CallRecord
    from matcher.safety import clean_record, safe_url

    for link in BAD_LINKS + ["//evil.example/x", "https:///nohost", "ftp://files.example/x", " ", ""]:
        record, dropped = clean_record(CallRecord(source="s", native_id="1", funder="F", title="T", text="x",
                                                  url=link))
        assert record.url is None and dropped == bool(link), link
    for good in ("https://www.vinnova.se/e/x/", "http://127.0.0.1:8080/a?b=c&d=%20"):
        assert safe_url(good) == good


def test_links_stored_or_reported_by_an_earlier_version_never_become_links(deployment, tmp_path, monkeypatch):
    """A store (or an older report.json) written before this check may hold a
    script link: every output checks again."""
    from sqlalchemy import text

    from matcher.store import Store

    deployment.cli("run", "--once", "--offline", check=True)
    store = Store(deployment.load().store_url)
    with store.engine.begin() as conn:  # as an earlier version stored it
        conn.execute(text("UPDATE calls SET url = :u"), {"u": BAD_LINKS[0]})
    # an older report in the folder lists a call "no longer suggested", with a script link
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.json").write_text(json.dumps({
        "today": "2026-11-01", "threshold": 0.0,
        "calls": [{"id": 999, "identifier": "OLD-1", "title": "Gammal", "url": BAD_LINKS[1]}],
        "matches": [{"city": "norrby", "call_id": 999, "score": 0.9, "eligibility": "eligible"}]}))
    deployment.cli("report", "--out", str(out), check=True)
    pages = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.html")}
    assert "Gammal" in pages["city-norrby.html"]  # the old call is listed …
    for name, page in pages.items():
        assert_clean(page, name)  # … and nothing anywhere is a script link
    # the channels: a Teams card and a Slack webhook message carry no link at all for those calls
    for kind in ("teams", "slack-webhook"):
        with LocalServer() as server:
            server.routes["/hook"] = Reply(200, b"1", {"Content-Type": "text/plain"})
            monkeypatch.setenv("NORRBY_HOOK", f"{server.url}/hook")
            for city in ("norrby", "sunnana"):
                path = deployment.root / f"profiles/{city}.toml"
                text_ = path.read_text()
                for old in ('kind = "console"', 'kind = "teams"\ntarget = "NORRBY_HOOK"'):
                    text_ = text_.replace(old, f'kind = "{kind}"\ntarget = "NORRBY_HOOK"')
                path.write_text(text_)
            with store.engine.begin() as conn:  # let the calls be sent again to the new channel
                conn.execute(text("DELETE FROM deliveries"))
            deployment.cli("run", "--once", "--offline", check=True)
            bodies = [body.decode() for path, body in server.bodies if path.startswith("/hook")]
            assert bodies, kind
            for body in bodies:
                assert_clean(body, kind)
                assert "Action.OpenUrl" not in body and "<https" not in body
