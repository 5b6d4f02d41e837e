"""Attacks on fundbot, one test each, through the real `fundbot` command
(issue 15, "Hardening").  Every server is on 127.0.0.1.  Read this file as
the list of what a municipality's IT security can try and what holds.

So far: nothing from a feed becomes active content — links that are not web
addresses, terminal and bidi control characters, spreadsheet formulas."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from localserver import LocalServer, Reply
from test_channels import smtp  # noqa: F401 - the local SMTP server fixture

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
    (out / "index.html").write_text("<!doctype html>")  # a report folder as an earlier version left it
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
                conn.execute(text("DELETE FROM outbox"))
            deployment.cli("run", "--once", "--offline", check=True)
            bodies = [body.decode() for path, body in server.bodies if path.startswith("/hook")]
            assert bodies, kind
            for body in bodies:
                assert_clean(body, kind)
                assert "Action.OpenUrl" not in body and "<https" not in body


# --- careless operators ----------------------------------------------------------------------------


def test_report_refuses_a_file_and_a_folder_of_other_files_and_survives_a_bad_old_report(deployment, tmp_path):
    deployment.cli("run", "--once", "--offline", check=True)
    target = tmp_path / "a-file.txt"
    target.write_text("keep me")
    proc = deployment.cli("report", "--out", str(target))
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert target.read_text() == "keep me"
    other = tmp_path / "website"
    other.mkdir()
    (other / "index.html").write_text("the municipality's own page")
    proc = deployment.cli("report", "--out", str(other))
    assert proc.returncode == 2 and "did not write" in proc.stderr and "--force" in proc.stderr
    assert (other / "index.html").read_text() == "the municipality's own page"  # nothing replaced
    deployment.cli("report", "--out", str(other), "--force", check=True)  # the operator insists
    # a folder fundbot wrote is written again; a malformed old report.json there is only a warning
    (other / "report.json").write_text(json.dumps({"calls": 5, "matches": "x", "threshold": "y"}))
    proc = deployment.cli("report", "--out", str(other), check=True)
    assert "not a report this run can compare with" in proc.stderr and "Traceback" not in proc.stderr
    (other / "report.json").write_text("{not json")
    proc = deployment.cli("report", "--out", str(other), check=True)
    assert "not a report this run can compare with" in proc.stderr


def test_suggest_refuses_a_count_that_is_not_positive(deployment):
    deployment.cli("run", "--once", "--offline", check=True)
    for bad in ("-5", "0", "ten"):
        proc = deployment.cli("suggest", "--city", "norrby", "--top", bad)
        assert proc.returncode == 2 and "--top" in proc.stderr and "Traceback" not in proc.stderr, bad
    ok = json.loads(deployment.cli("suggest", "--city", "norrby", "--top", "2", "--json", check=True).stdout)
    assert len(ok["suggestions"]) == 2


# --- nothing outside the deployment is read ------------------------------------------------------


def test_a_manifest_entry_outside_its_snapshot_folder_is_refused_and_never_read(deployment, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET-LINE")
    folder = deployment.root / "feeds/snapshots/eu"
    manifest = folder / "manifest.json"
    entries = {"https://api.example/page1": "../../../" + str(secret.relative_to(tmp_path.anchor)),
               "https://api.example/page2": str(secret)}
    manifest.write_text(json.dumps({"responses": entries}))
    check = deployment.cli("check")
    assert check.returncode == 2, check.stderr
    assert "feeds/eu.toml: snapshot: manifest.json: responses['https://api.example/page1']" in check.stderr
    assert "is outside the snapshot folder" in check.stderr and "page2" in check.stderr
    # and a run reads nothing from outside (the source fails, the others go on)
    manifest.unlink()
    link = folder / "page-evil.json"
    link.symlink_to(secret)  # a link out of the folder, without a manifest
    manifest.write_text(json.dumps({"responses": {"https://api.example/x": "page-evil.json"}}))
    run = deployment.cli("run", "--once", "--offline", "--json")
    assert "SECRET-LINE" not in run.stdout + run.stderr
    assert deployment.cli("check").returncode == 2


def test_a_snapshot_path_outside_the_feeds_folder_is_refused(deployment, tmp_path):
    path = deployment.root / "feeds/eu.toml"
    path.write_text(path.read_text().replace('snapshot = "snapshots/eu"', f'snapshot = "{tmp_path}"'))
    check = deployment.cli("check")
    assert check.returncode == 2 and "feeds/eu.toml: snapshot:" in check.stderr
    assert "outside the feeds folder" in check.stderr


# --- every channel keeps its platform's limits ---------------------------------------------------


def test_a_100_kb_title_still_makes_teams_cards_teams_accepts(deployment, monkeypatch):
    title = "Klimat " * 15_000  # about 100 KB
    deployment.retitle_vinnova_round(title)
    for city in ("norrby", "sunnana"):
        path = deployment.root / f"profiles/{city}.toml"
        path.write_text(path.read_text().replace('kind = "console"', 'kind = "teams"\ntarget = "NORRBY_HOOK"'))
    with LocalServer() as server:
        def teams(handler):  # Teams refuses payloads over about 28 KB
            length = int(handler.headers.get("Content-Length", 0) or 0)
            return Reply(413 if length > 28_000 else 202, b"", {"Content-Type": "text/plain"})

        server.routes["/hook"] = teams
        monkeypatch.setenv("NORRBY_HOOK", f"{server.url}/hook")
        summary = json.loads(deployment.cli("run", "--once", "--offline", "--json", check=True).stdout)
        bodies = [b for p, b in server.bodies if p.startswith("/hook")]
    assert summary["deliveries"]["sent"] > 0 and summary["deliveries"]["failed"] == 0
    assert summary["deliveries"]["pending"] == 0
    assert bodies and max(len(b) for b in bodies) <= 24_000
    cards = [json.dumps(json.loads(b), ensure_ascii=False) for b in bodies]
    assert any("Klimat Klimat" in c and "…" in c for c in cards)  # the title is there, cut



def test_a_100_kb_title_keeps_e_mail_and_slack_webhook_messages_within_their_limits(deployment, monkeypatch, smtp):
    import email
    from email import policy

    deployment.retitle_vinnova_round("Klimat " * 15_000)
    inbox, port = smtp
    (deployment.root / "config.toml").write_text((deployment.root / "config.toml").read_text() + f"""
[email]
host = "127.0.0.1"
port = {port}
starttls = false
from_addr = "fundbot@example.org"
""")
    for city, channel in (("norrby", 'kind = "email"\ntarget = "klimat@norrby.example"'),
                          ("sunnana", 'kind = "slack-webhook"\ntarget = "SUNNANA_HOOK"')):
        path = deployment.root / f"profiles/{city}.toml"
        path.write_text(path.read_text().replace('kind = "console"', channel))
    with LocalServer() as server:
        server.routes["/hook"] = lambda handler: Reply(200, b"ok", {"Content-Type": "text/plain"})
        monkeypatch.setenv("SUNNANA_HOOK", f"{server.url}/hook")
        summary = json.loads(deployment.cli("run", "--once", "--offline", "--json", check=True).stdout)
        posts = [json.loads(b) for p, b in server.bodies if p.startswith("/hook")]
    assert summary["deliveries"]["failed"] == 0 and summary["deliveries"]["pending"] == 0
    # Slack: a message's text at most 40,000 characters, a section at most 3,000, at most 50 blocks
    assert posts and all(len(p["text"]) <= 40_000 and len(p["blocks"]) <= 50 for p in posts)
    assert all(len(b["text"]["text"]) <= 3000 for p in posts for b in p["blocks"] if b["type"] == "section")
    # e-mail: the title cut (with "…") in both parts, the message a size any mail server takes
    (_, raw), = inbox.messages
    msg = email.message_from_bytes(raw, policy=policy.default)
    text, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    assert "Klimat Klimat" in text and "…" in text and "Klimat Klimat" in html
    assert len(raw) < 50_000 and max(len(line) for line in raw.splitlines()) <= 998  # RFC 5322 line limit


# --- exactly once, also when two processes share a store -----------------------------------------


def test_two_cycles_at_once_post_every_suggestion_once(deployment, monkeypatch):
    import subprocess
    import sys

    from conftest import use_fake_slack
    from fakeslack import FakeSlack
    from matcher.store import Store

    with FakeSlack() as server:
        use_fake_slack(deployment, server, monkeypatch)
        cmd = [sys.executable, "-m", "matcher.cli", "run", "--once", "--offline", "--json",
               "--config", str(deployment.config)]
        procs = [subprocess.Popen(cmd, cwd=deployment.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err
            assert "Traceback" not in err and "UNIQUE constraint" not in err and "already exists" not in err
        sent = sum(json.loads(out)["deliveries"]["sent"] for out, _ in outs)
        assert sent > 0
        assert any("another fundbot cycle is using this store" in err for _, err in outs)  # one waited, said so
        store = Store(deployment.load().store_url)
        rows = {d.id: d for d in store.deliveries()}
        for channel in ("C0NORRBY", "C0SUNNANA"):
            ids = server.delivered(channel)
            assert ids and len(ids) == len(set(ids)), channel  # no outbox row posted twice
            calls = [rows[i].call_id for i in ids if rows[i].kind == "suggestion"]
            assert len(calls) == len(set(calls)), channel  # and no call suggested twice


def test_a_cycle_that_cannot_get_the_store_gives_up_with_the_reason(deployment):
    from matcher.store import Store

    path = deployment.config
    assert "[store]\n" in path.read_text()
    path.write_text(path.read_text().replace("[store]\n", "[store]\nlock_wait_seconds = 1\n"))  # SQLite or PostgreSQL
    deployment.cli("run", "--once", "--offline", check=True)  # the store exists
    store = Store(deployment.load().store_url)
    with store.cycle_lock(wait=1):  # another cycle holds the store
        proc = deployment.cli("run", "--once", "--offline")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "another fundbot cycle is still using this store" in proc.stderr and "after 1 s" in proc.stderr
    # `mark` is a single write: it needs no cycle lock and works beside one
    with store.cycle_lock(wait=1):
        call = store.calls()[0]
        mark = deployment.cli("mark", "--city", "norrby", str(call.id), "relevant")
        assert mark.returncode == 0, mark.stderr


# --- one bad thing stays one bad thing -----------------------------------------------------------


def test_an_item_with_an_impossible_date_is_skipped_and_counted_not_its_source(deployment):
    path = deployment.root / "feeds/snapshots/vinnova.json"
    rounds = json.loads(path.read_text())
    rounds[0]["Oppningsdatum"] = "0001-01-01T00:00:00"  # "Opens 1 January 0001": out of range in Swedish time
    path.write_text(json.dumps(rounds, ensure_ascii=False))
    proc = deployment.cli("run", "--once", "--offline", "--json", check=True)
    vinnova = json.loads(proc.stdout)["sources"]["vinnova"]
    assert vinnova["ok"] and vinnova["items"] == 2  # the other rounds are read
    assert vinnova["warning"].startswith("1 item(s) skipped as unreadable (first: round ")
    assert "OverflowError" in vinnova["warning"] and "Traceback" not in proc.stderr
    status = json.loads(deployment.cli("status", "--json", check=True).stdout)
    assert "1 item(s) skipped" in status["sources"]["vinnova"]["warning"]


# --- careless configuration: exit 2, the file and key named ----------------------------------------


def test_configuration_a_scheduler_or_channel_would_choke_on_is_refused_by_check(deployment):
    source = deployment.root / "feeds/eu.toml"
    source.write_text(source.read_text() + 'schedule = "99 99 * * *"\n')
    profile = deployment.root / "profiles/norrby.toml"
    profile.write_text(profile.read_text().replace('kind = "console"', 'kind = "slack"'))  # no target
    proc = deployment.cli("check")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "feeds/eu.toml: schedule:" in proc.stderr and "not a valid cron expression" in proc.stderr
    assert "profiles/norrby.toml: channels" in proc.stderr and "needs a target" in proc.stderr  # both, at once


def test_an_empty_profiles_folder_is_a_clear_error(deployment):
    for file in (deployment.root / "profiles").glob("*.toml"):
        file.unlink()
    proc = deployment.cli("run", "--once", "--offline")
    assert proc.returncode == 2 and "holds no city profile" in proc.stderr and "StopIteration" not in proc.stderr


def test_config_and_profile_errors_come_together_each_naming_its_file(deployment):
    """A bad config.toml no longer hides the profiles' and feeds' errors."""
    config = deployment.root / "config.toml"
    config.write_text(config.read_text().replace("top = 5", "top = -1"))
    (deployment.root / "profiles/norrby.toml").write_bytes(
        (deployment.root / "profiles/norrby.toml").read_text().replace("Markhälsa", "Markhälsa é").encode("latin-1"))
    (deployment.root / "profiles/sunnana.toml").write_text(
        (deployment.root / "profiles/sunnana.toml").read_text(), encoding="utf-16")
    proc = deployment.cli("check")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "UnicodeDecodeError" not in proc.stderr
    assert "config.toml" in proc.stderr and "top" in proc.stderr
    assert "profiles/norrby.toml: not UTF-8 (byte 0xe4 on line" in proc.stderr and "save it as UTF-8" in proc.stderr
    assert "profiles/sunnana.toml: the file is UTF-16; save it as UTF-8" in proc.stderr


def test_a_bad_include_pattern_or_an_unknown_option_key_is_refused_by_check(deployment):
    deployment.write("feeds/urbact.toml", """\
        id = "urbact"
        funder = "URBACT"
        kind = "html"
        url = "https://urbact.eu/calls"
        snapshot = "snapshots/urbact.html"
        recorded_at = 2026-11-20
        [options]
        item = "article"
        include = "(klimat"
        includee = "typo"
        """)
    (deployment.root / "feeds/snapshots/urbact.html").write_text("<html></html>")
    eu = deployment.root / "feeds/eu.toml"
    eu.write_text(eu.read_text() + '[options]\nquery = "{not json"\n')
    proc = deployment.cli("check")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "feeds/urbact.toml: options.include: not a valid regular expression" in proc.stderr
    assert "feeds/urbact.toml: options.includee: unknown key" in proc.stderr
    assert "feeds/eu.toml: options.query:" in proc.stderr  # every file's problems, at once


# --- profile import: bounded, and a draft nothing can inject into -------------------------------------

CONTRACT = Path(__file__).resolve().parent / "data/contracts/skelleftea.txt"


def import_draft(deployment, source: Path, *extra: str):
    out = deployment.root / "draft.toml"
    proc = deployment.cli("profile", "import", str(source), "--city", "skelleftea", "--out", str(out), *extra)
    return proc, out


def test_a_file_name_and_contract_text_cannot_inject_into_the_draft(deployment, tmp_path):
    import tomllib

    name = tmp_path / 'kontrakt"\n[[channels]]\nkind = "slack"\ntarget = "C0EVIL".txt'
    text = CONTRACT.read_text(encoding="utf-8")
    # control characters and a quote-and-newline inside a commitment
    text = text.replace("Vi åtar oss att", "Vi åtar oss att\x1b[31m\x00\x08 \"\n[[channels]]\x0b", 1)
    name.write_text(text, encoding="utf-8")
    proc, out = import_draft(deployment, name)
    assert proc.returncode == 0, proc.stderr
    draft = tomllib.loads(out.read_text(encoding="utf-8"))  # valid TOML …
    assert draft["channels"] == [{"kind": "console"}]  # … with only the console channel it writes itself
    assert all(ch not in out.read_text(encoding="utf-8") for ch in "\x1b\x00\x08\x0b")
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("# Draft profile imported from kontrakt")


def test_an_oversized_contract_is_refused_before_it_is_read(deployment, tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as fh:
        fh.truncate(26_000_000)  # 26 MB, sparse: refusing it must not need reading it
    proc, out = import_draft(deployment, big)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and not out.exists()
    assert "big.txt: the file is 26 MB; a contract is at most 25 MB" in proc.stderr
    long = tmp_path / "long.txt"
    long.write_text("klimat " * 300_000, encoding="utf-8")  # 2.1 M characters in 2.1 MB
    proc, _ = import_draft(deployment, long)
    assert proc.returncode != 0 and "more than 2,000,000 characters of text" in proc.stderr


def adversarial_contract(chars: int) -> str:
    """A contract built to make a backtracking key-area pattern quadratic: one
    paragraph of ``chars`` characters full of "fokusera på" with no colon."""
    head = "5. Kommunens åtaganden\n" + "Vi fokuserar på klimat och energi i hela kommunen. " * 20 + "\n"
    body = ("fokusera på nyckelområden fokus " * (chars // 30 + 1))[: chars - len(head) - 100]
    return head + body + "\n• Energieffektivisering av byggnader och fjärrvärme i hela kommunen.\n"


def leader_contract(chars: int) -> str:
    """A contract built against the table-of-contents and page-furniture reading: lines that are one long run
    of dot leaders, ellipses or spaced digits with no page number at the end (a pattern that reads leaders
    from the start of a line is quadratic on them)."""
    head = "5. Kommunens åtaganden\n" + "Vi fokuserar på klimat och energi i hela kommunen. " * 20 + "\n"
    third = max(0, (chars - len(head) - 200) // 3)
    return (head + "." * third + "x\n" + "…" * third + "x\n" + "1 " * (third // 2) + "x\n"
            + "• Energieffektivisering av byggnader och fjärrvärme i hela kommunen.\n")


@pytest.mark.parametrize("build", [adversarial_contract, leader_contract], ids=["key-areas", "leaders"])
def test_an_adversarial_contract_of_the_largest_allowed_size_is_imported(deployment, tmp_path, build):
    """The earlier key-area pattern needed 2 s for a tenth of such a text and minutes for all of it (its
    work grew with the square of the length), and so did reading dot leaders of a 200 000-character line
    (320 s); now each is one bounded pass (`python bench/profile_import.py` prints the times).
    Not a timing test: a generous limit only turns a hang into a failure."""
    import subprocess
    import sys

    from matcher.profile_import import MAX_CHARS

    source = tmp_path / "adversarial.txt"
    source.write_text(build(MAX_CHARS), encoding="utf-8")
    out = tmp_path / "draft.toml"
    proc = subprocess.run([sys.executable, "-m", "matcher.cli", "profile", "import", str(source), "--city",
                           "skelleftea", "--out", str(out), "--config", str(deployment.config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Energieffektivisering av byggnader" in out.read_text(encoding="utf-8")


# --- no secret is shown ------------------------------------------------------------------------------


def test_a_teams_webhook_url_never_appears_in_status_the_store_or_the_log(deployment, monkeypatch):
    from sqlalchemy import text

    from matcher.store import Store

    secret = "sig=S3CRET-SIGNATURE-42"
    hook = f"http://127.0.0.1:9/workflows/abc/triggers/manual/paths/invoke?api-version=1&{secret}"  # port 9: refused
    monkeypatch.setenv("NORRBY_HOOK", hook)
    for city in ("norrby", "sunnana"):
        path = deployment.root / f"profiles/{city}.toml"
        path.write_text(path.read_text().replace('kind = "console"', 'kind = "teams"\ntarget = "NORRBY_HOOK"'))
    run = deployment.cli("run", "-vv", "--once", "--offline", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["deliveries"]["pending"] > 0  # it failed to send, as it should …
    status_text = deployment.cli("status", check=True).stdout
    status_json = deployment.cli("status", "--json", check=True).stdout
    store = Store(deployment.load().store_url)
    with store.engine.connect() as conn:
        errors = [r[0] or "" for r in conn.execute(text("SELECT error FROM outbox"))]
    assert any(errors)  # … and kept why
    for where, out in (("log", run.stderr), ("status", status_text), ("status --json", status_json),
                       ("the store", "\n".join(errors))):
        assert "S3CRET" not in out, where  # the signature is what makes a Workflows URL a secret


def test_a_slack_webhook_url_never_appears_in_slack_sdks_own_debug_log(deployment, monkeypatch):
    with LocalServer() as server:
        server.routes["/services/T000/B000/XXSECRETXX"] = Reply(200, b"ok", {"Content-Type": "text/plain"})
        monkeypatch.setenv("NORRBY_HOOK", f"{server.url}/services/T000/B000/XXSECRETXX")
        for city in ("norrby", "sunnana"):
            path = deployment.root / f"profiles/{city}.toml"
            path.write_text(path.read_text().replace('kind = "console"', 'kind = "slack-webhook"\ntarget = "NORRBY_HOOK"'))
        run = deployment.cli("run", "-vv", "--once", "--offline", "--json")
        assert run.returncode == 0 and json.loads(run.stdout)["deliveries"]["sent"] > 0, run.stderr
        assert server.bodies  # it was posted …
    assert "Sending a request - url:" in run.stderr  # slack-sdk's own debug line was written …
    assert "XXSECRETXX" not in run.stderr  # … and the URL is in no log line, slack-sdk's included


def test_check_refuses_a_password_in_any_form_of_store_url(deployment):
    for url in ("postgresql://fundbot:hunter2x@127.0.0.1:9/db", "postgresql://fundbot:hun/ter2x@127.0.0.1:9/db",
                "postgresql://fundbot@127.0.0.1:9/db?password=hunter2x"):
        text = deployment.config.read_text()
        start = text.index("url = ")
        end = text.index("\n", start)
        deployment.config.write_text(text[:start] + f'url = "{url}"' + text[end:])
        proc = deployment.cli("check")
        assert proc.returncode == 2 and "holds a password" in proc.stderr, (url, proc.stderr)
        assert "hunter2x" not in proc.stderr and "ter2x" not in proc.stderr, url


# --- bounded in time: a hung funder delays no other ------------------------------------------------

FAST = """\
feeds = "feeds"
profiles = "profiles"

[store]
url = "{store}"

[matcher]
model = "hashing"
min_score = 0.0

[http]
connect_timeout = 1.0
read_timeout = 2.0
retries = 3
min_interval = 0.0
max_bytes = 2000000
source_budget = 6.0
"""


def test_six_faulty_sources_and_one_good_one_in_one_bounded_cycle(deployment):
    import time

    from faultyday import REASONS, faulty_day
    from matcher.cycle import BUDGET_GRACE

    store = deployment.load().store_url
    for old in (deployment.root / "feeds").glob("*.toml"):
        old.unlink()
    deployment.write("config.toml", FAST.format(store=store))
    with faulty_day(deployment.root, read_timeout=2.0) as servers:
        start = time.monotonic()
        proc = deployment.cli("run", "--once", "--json")
        took = time.monotonic() - start
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    sources = json.loads(proc.stdout)["sources"]
    assert sources["good"]["ok"] and sources["good"]["items"] == 1  # ingested
    for source_id, reason in REASONS.items():
        assert sources[source_id]["ok"] is False and reason in sources[source_id]["error"], (source_id, sources)
        assert "urllib3" not in sources[source_id]["error"] and "object at 0x" not in sources[source_id]["error"]
    # side by side: the good funder was asked while the hung one was still silent, not after it
    (good_at, *_), = servers["good"].hits("/feed")
    hang_hits = servers["hang"].hits("/feed")
    assert good_at < hang_hits[0][0] + 2.0
    # a read time-out is asked again once, not `retries` (3) times
    assert len(hang_hits) == 2 and "tried twice" in sources["hang"]["error"]
    # the trickle was cut at the budget; six sources did not add up (serially: 6 + 5 + 6 … s)
    assert took < 6.0 + BUDGET_GRACE + 8.0, took


def test_a_retry_after_longer_than_the_budget_fails_at_once_with_the_reason(deployment):
    import time

    from localserver import LocalServer, Reply

    store = deployment.load().store_url
    for old in (deployment.root / "feeds").glob("*.toml"):
        old.unlink()
    deployment.write("config.toml", FAST.format(store=store))
    with LocalServer() as server:
        server.routes["/feed"] = Reply(429, b"slow down", {"Retry-After": "3600", "Content-Type": "text/plain"})
        deployment.write("feeds/slow.toml", f"""\
            id = "slow"
            funder = "Slow"
            kind = "rss"
            url = "{server.url}/feed"
            """)
        start = time.monotonic()
        proc = deployment.cli("run", "--once", "--json")
        took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    error = json.loads(proc.stdout)["sources"]["slow"]["error"]
    assert "HTTP 429 (too many requests), tried once; waiting 3600 s to ask again would pass" in error, error
    assert len(server.hits("/feed")) == 1 and took < 30


# --- for the municipality's IT department: the proxy it names is the way out ---------------------


@pytest.mark.parametrize("no_proxy", ["", "127.0.0.1"])
def test_feeds_and_slack_take_the_proxy_the_environment_names_except_where_no_proxy_says(
        deployment, monkeypatch, no_proxy):
    from conftest import use_fake_slack
    from fakeslack import FakeSlack
    from faultyday import GOOD_FEED, RSS
    from localproxy import LocalProxy

    store = deployment.load().store_url
    for old in (deployment.root / "feeds").glob("*.toml"):
        old.unlink()
    deployment.write("config.toml", FAST.format(store=store))
    with LocalProxy() as proxy, LocalServer() as funder, FakeSlack() as slack:
        funder.routes["/feed"] = Reply(200, GOOD_FEED, RSS)
        deployment.write("feeds/local.toml", f"""\
            id = "local"
            funder = "Local funder"
            kind = "rss"
            url = "{funder.url}/feed"
            language = "en"
            [options]
            deadline_labels = ["Deadline"]
            """)
        deployment.write("feeds/abroad.toml", """\
            id = "abroad"
            funder = "A funder out on the internet"
            kind = "rss"
            url = "https://calls.funder.invalid/feed"
            """)
        use_fake_slack(deployment, slack, monkeypatch)
        for name in ("HTTPS_PROXY", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy.url)
            monkeypatch.setenv(name.lower(), proxy.url)
        monkeypatch.setenv("NO_PROXY", no_proxy)
        monkeypatch.setenv("no_proxy", no_proxy)
        proc = deployment.cli("run", "--once", "--json")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        sources = json.loads(proc.stdout)["sources"]
        assert sources["local"]["ok"] and sources["local"]["items"] == 1
        assert slack.delivered("C0NORRBY")  # the suggestion reached Slack
        # an HTTPS funder is asked for through the proxy (CONNECT), never looked up or dialled directly
        assert ("CONNECT", "calls.funder.invalid:443") in proxy.log
        assert sources["abroad"]["ok"] is False and "proxy" in sources["abroad"]["error"]
        feed_via_proxy = proxy.carried(f"{funder.url}/feed")
        slack_via_proxy = proxy.carried(f"{slack.base_url.rstrip('/')}/chat.postMessage")
    if no_proxy:  # NO_PROXY=127.0.0.1: the local funder and Slack are reached directly, by the feeds and slack-sdk
        assert not feed_via_proxy and not slack_via_proxy, proxy.log
        assert funder.hits("/feed")
    else:
        assert feed_via_proxy and slack_via_proxy, proxy.log


# --- a funder's page cannot make fundbot read an intranet ------------------------------------------

LISTING = """<html><body><main>
<article><a class="call" href="/calls/open">Klimatneutrala städer: innovationsupphandling</a></article>
<article><a class="call" href="http://localhost:{port}/secret">Klimatneutrala städer: intranätet</a></article>
<article><a class="call" href="/calls/moved">Klimatneutrala städer: flyttad utlysning</a></article>
</main></body></html>"""


def test_a_link_or_redirect_from_a_funder_never_reaches_a_local_or_private_address(deployment):
    from matcher.errors import FetchError
    from matcher.sources.fetch import HttpFetcher

    store = deployment.load().store_url
    for old in (deployment.root / "feeds").glob("*.toml"):
        old.unlink()
    deployment.write("config.toml", FAST.format(store=store))
    html = {"Content-Type": "text/html; charset=utf-8"}
    with LocalServer() as funder, LocalServer() as intranet:
        intranet.routes["/"] = Reply(200, b"<main>Intern: l\xc3\xb6nelista och l\xc3\xb6senord</main>", html)
        port = intranet.httpd.server_address[1]
        funder.routes["/calls/list"] = Reply(200, LISTING.format(port=port).encode(), html)
        funder.routes["/calls/open"] = Reply(200, "<main>Innovationsupphandling, öppen.</main>".encode(), html)
        funder.routes["/calls/moved"] = Reply(302, b"", {"Location": f"http://localhost:{port}/moved"})
        deployment.write("feeds/funder.toml", f"""\
            id = "funder"
            funder = "A funder"
            kind = "html"
            url = "{funder.url}/calls/list"
            [options]
            item = "article"
            link = "a.call"
            """)
        proc = deployment.cli("run", "--once", "--json")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert intranet.log == []  # not one request: the link and the redirect were refused before sending
        assert funder.hits("/calls/open") and funder.hits("/calls/moved")  # its own host: asked
        funder_report = json.loads(proc.stdout)["sources"]["funder"]
        assert funder_report["ok"] and funder_report["items"] == 3  # the listing still names all three calls
        assert f"not asked: localhost:{port} leads to the local or private address 127.0.0.1" in proc.stderr
        # the class, at the fetcher: loopback, private, link-local (cloud metadata) and non-http addresses
        fetcher = HttpFetcher(user_agent="t", home=funder.url, min_interval=0.0)
        for url in ("http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/", "http://[::1]:8080/",
                    "http://0.0.0.0/", "file:///etc/passwd", "gopher://127.0.0.1/"):
            with pytest.raises(FetchError):
                fetcher.request("GET", url)
        assert fetcher.request("GET", f"{funder.url}/calls/open").status == 200  # the operator's host is fine
