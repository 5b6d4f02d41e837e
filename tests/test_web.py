"""The web view through its HTTP interface (Starlette's test client over the
real app and a real store): signed links, the city's page, feedback with
CSRF, calendars, the coordinators' view, and the pipeline it writes."""

from __future__ import annotations

import datetime as dt
import re

import pytest

SECRET = "s" * 40
COORD = "coordinator-key-0123456789"


@pytest.fixture
def web(deployment, monkeypatch):
    from starlette.testclient import TestClient

    from matcher.embed import make_embedder
    from matcher.store import Store
    from matcher.web.app import WebApp, create_app

    deployment.cli("run", "--once", "--offline", check=True)
    dep = deployment.load()
    store = Store(dep.store_url)
    store.migrate()
    app = WebApp(dep, store, SECRET.encode(), coordinator_token=COORD,
                 embedder_factory=lambda: make_embedder("hashing", deployment.root / ".cache"))
    client = TestClient(create_app(app), base_url="http://127.0.0.1")
    client.app_state = app
    yield client
    store.close()


def page_link(client, city="norrby", kind="page", **kw) -> str:
    app = client.app_state
    return app.signer.make(kind, city, now=app.clock(), days=30, **kw)


def test_a_city_page_shows_its_suggestions_with_explanation_and_safe_headers(web):
    token = page_link(web)
    r = web.get(f"/c/{token}")
    assert r.status_code == 200
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "script-src" not in r.headers["content-security-policy"] and "default-src 'none'" in \
        r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert '<html lang="sv">' in r.text and "Finansieringsförslag för Norrby kommun" in r.text
    assert "Behov:" in r.text and "Relevans" in r.text and "<script" not in r.text
    items = re.findall(r'<li id="call-(\d+)">', r.text)
    store = web.app_state.store
    offered = [m.call_id for m in store.saved_matches("norrby")["norrby"]
               if m.score >= web.app_state.dep.settings.matcher.min_score]
    assert items and [int(i) for i in items] == offered[:len(items)]


@pytest.mark.parametrize("case", ["tampered", "expired", "other-kind", "withdrawn", "garbage"])
def test_a_bad_token_shows_nothing_of_any_city(web, case):
    from matcher.web.links import rotate

    app = web.app_state
    token = page_link(web)
    if case == "tampered":
        token = token.replace(".norrby.", ".sunnana.")
    elif case == "expired":
        token = app.signer.make("page", "norrby", now=app.clock() - dt.timedelta(days=31), days=30)
    elif case == "other-kind":
        token = page_link(web, kind="ics")
    elif case == "withdrawn":
        rotate(app.store, "norrby")
    else:
        token = "v1.page.norrby.0.9999999999.-.-.AAAA"
    r = web.get(f"/c/{token}")
    assert r.status_code == 403
    assert "Norrby" not in r.text and "Sunnanå" not in r.text and "Behov" not in r.text


def test_a_get_on_an_action_link_changes_nothing_and_a_post_needs_the_csrf_token(web):
    store = web.app_state.store
    call_id = store.saved_matches("norrby")["norrby"][0].call_id
    token = page_link(web, kind="act", call_id=call_id, action="applying")
    for _ in range(3):  # a link scanner, a preview, the person
        r = web.get(f"/a/{token}")
        assert r.status_code == 200 and "Bekräfta" in r.text
    assert store.pipeline("norrby") == {}
    assert web.post(f"/a/{token}", data={"who": "Anna"}).status_code == 403  # no CSRF token
    csrf = re.search(r'name=csrf value="([0-9a-f]+)"', r.text).group(1)
    assert web.post(f"/a/{token}", data={"who": "Anna", "csrf": "0" * 64}).status_code == 403
    assert store.pipeline("norrby") == {}
    nameless = web.post(f"/a/{token}", data={"who": " ", "csrf": csrf})
    assert nameless.status_code == 400 and "Skriv ditt namn" in nameless.text and store.pipeline("norrby") == {}
    done = web.post(f"/a/{token}", data={"who": "Anna Berg", "csrf": csrf})
    assert done.status_code == 200 and "förbereder ansökan" in done.text
    entry = store.pipeline("norrby")["norrby"][call_id]
    assert (entry.status, entry.who, entry.via) == ("preparing", "Anna Berg", "web")
    assert store.marks("norrby")[call_id] == "applying"  # reminders and the ranking read the same record


def test_the_csrf_token_is_bound_to_the_browser(web):
    """A form token copied from another browser (another cookie) is refused."""
    from starlette.testclient import TestClient

    store = web.app_state.store
    call_id = store.saved_matches("norrby")["norrby"][0].call_id
    token = page_link(web, kind="act", call_id=call_id, action="relevant")
    r = web.get(f"/a/{token}")
    csrf = re.search(r'name=csrf value="([0-9a-f]+)"', r.text).group(1)
    other = TestClient(web.app, base_url="http://127.0.0.1")
    other.get(f"/a/{token}")  # its own cookie
    assert other.post(f"/a/{token}", data={"who": "Mallory", "csrf": csrf}).status_code == 403
    assert store.pipeline("norrby") == {}


def test_the_city_page_records_status_owner_and_note_and_filters_by_them(web):
    store = web.app_state.store
    token = page_link(web)
    page = web.get(f"/c/{token}")
    csrf = re.search(r'name=csrf value="([0-9a-f]+)"', page.text).group(1)
    first, second = [m.call_id for m in store.saved_matches("norrby")["norrby"][:2]]
    r = web.post(f"/c/{token}/status", data={"csrf": csrf, "call": first, "status": "submitted",
                                             "owner": "Karin <b>Ek</b>", "note": "inskickad 3/12", "who": "Karin"},
                 follow_redirects=False)
    assert r.status_code == 303
    entry = store.pipeline("norrby")["norrby"][first]
    assert (entry.status, entry.owner, entry.note, entry.who) == ("submitted", "Karin <b>Ek</b>", "inskickad 3/12",
                                                                 "Karin")
    shown = web.get(f"/c/{token}", params={"status": "submitted"}).text
    assert f'id="call-{first}"' in shown and f'id="call-{second}"' not in shown
    assert "Karin &lt;b&gt;Ek&lt;/b&gt;" in shown and "<b>Ek</b>" not in shown
    # a call the city was never offered, an unknown status, no name: refused, nothing recorded
    for bad in ({"call": 999999, "status": "submitted", "who": "K"}, {"call": second, "status": "won", "who": "Karin"},
                {"call": second, "status": "interesting", "who": ""}):
        assert web.post(f"/c/{token}/status", data=dict(bad, csrf=csrf)).status_code == 400
    assert second not in store.pipeline("norrby")["norrby"]
    # not relevant hides it from the default list, and the ranking learns it
    web.post(f"/c/{token}/status", data={"csrf": csrf, "call": second, "status": "not-relevant", "who": "Karin"})
    assert f'id="call-{second}"' not in web.get(f"/c/{token}").text
    assert store.marks("norrby")[second] == "not-relevant" and store.marks("norrby")[first] == "relevant"


def test_filters_by_funder_and_need(web):
    store = web.app_state.store
    token = page_link(web)
    saved = store.saved_matches("norrby")["norrby"]
    calls = {c.id: c for c in store.calls(include_gone=True, ids=[m.call_id for m in saved])}
    funder = calls[saved[0].call_id].record.funder
    shown = re.findall(r'<li id="call-(\d+)">', web.get(f"/c/{token}", params={"funder": funder}).text)
    assert shown and all(calls[int(i)].record.funder == funder for i in shown)
    need = "norrby-N2"
    shown = re.findall(r'<li id="call-(\d+)">', web.get(f"/c/{token}", params={"need": need}).text)
    assert {int(i) for i in shown} == {m.call_id for m in saved if m.need_id == need and m.score >= 0}


def test_search_by_need_ranks_the_open_calls_for_the_city(web):
    token = page_link(web)
    r = web.get(f"/c/{token}", params={"q": "markhälsa jordbruk soil"})
    assert r.status_code == 200 and "Öppna utlysningar för ”markhälsa jordbruk soil”" in r.text
    part = r.text.split("Öppna utlysningar för")[1].split("<h2>")[0]
    assert re.findall(r'<li id="call-(\d+)">', part)


def test_the_calendar_is_a_signed_subscription(web):
    token = page_link(web, kind="ics")
    r = web.get(f"/ics/{token}/fundbot.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VCALENDAR" in r.content
    assert web.get(f"/ics/{page_link(web)}/fundbot.ics").status_code == 403  # a page token opens no calendar


def test_the_coordinators_view_needs_its_credential_and_shows_the_pipeline(web):
    store = web.app_state.store
    call_id = store.saved_matches("norrby")["norrby"][0].call_id
    now = dt.datetime.now(dt.timezone.utc)
    store.set_status("norrby", call_id, status="preparing", owner="Anna Berg", who="Anna", now=now, via="web")
    store.set_status("sunnana", call_id, status="preparing", owner="Per Holm", who="Per", now=now, via="web")
    assert web.get("/coord", follow_redirects=False).status_code == 303
    form = web.get("/coord/login").text
    csrf = re.search(r'name=csrf value="([0-9a-f]+)"', form).group(1)
    assert web.post("/coord/login", data={"csrf": csrf, "credential": "wrong-key-000000"}).status_code == 403
    assert web.get("/coord", follow_redirects=False).status_code == 303
    r = web.post("/coord/login", data={"csrf": csrf, "credential": COORD})
    assert r.status_code == 200 and "2 städer förbereder ansökan" in r.text
    assert "Anna Berg" in r.text and "Per Holm" in r.text
    assert re.search(r"<b>\d+</b>öppna utlysningar från \d+ finansiärer", r.text)
    assert "<td>Norrby kommun</td><td>" in r.text and "Finansieringsgap" in r.text


def test_forget_and_retention_clear_names_but_keep_statuses(web):
    store = web.app_state.store
    call_id = store.saved_matches("norrby")["norrby"][0].call_id
    now = dt.datetime.now(dt.timezone.utc)
    store.set_status("norrby", call_id, status="preparing", owner="Anna Berg", note="ring Per", who="Anna Berg",
                     now=now, via="web")
    store.set_status("norrby", call_id, status="submitted", who="Per", now=now, via="web")
    assert store.pipeline("norrby")["norrby"][call_id].owner == "Anna Berg"  # carried forward
    assert store.forget("anna berg") == 2
    entry = store.pipeline("norrby")["norrby"][call_id]
    assert (entry.status, entry.owner, entry.note) == ("submitted", None, None) and entry.who == "Per"
    assert store.expire_personal([call_id]) == 1
    assert store.pipeline("norrby")["norrby"][call_id].who is None


def with_web(deployment, base="http://127.0.0.1:8080/", extra=""):
    config = deployment.config.read_text()
    deployment.config.write_text(config + f'\n[web]\nbase_url = "{base}"\nsecret_env = "FUNDBOT_TEST_WEB_SECRET"\n'
                                 f'{extra}')


def test_digests_carry_signed_links_that_open_the_citys_page_and_actions(deployment, monkeypatch):
    from starlette.testclient import TestClient

    from matcher.store import Store
    from matcher.web.app import WebApp, create_app

    with_web(deployment)
    monkeypatch.setenv("FUNDBOT_TEST_WEB_SECRET", SECRET)
    out = deployment.cli("run", "--once", "--offline", "-v", check=True).stdout
    pages = re.findall(r"Er sida i fundbot[^:]*: http://127\.0\.0\.1:8080/c/(\S+)", out)
    actions = re.findall(r"   Vi söker: http://127\.0\.0\.1:8080/a/(\S+)", out)
    assert len(pages) == 2 and actions  # one page per city's digest, an action per call
    dep = deployment.load()
    store = Store(dep.store_url)
    client = TestClient(create_app(WebApp(dep, store, SECRET.encode())), base_url="http://127.0.0.1")
    assert client.get(f"/c/{pages[0]}").status_code == 200
    confirm = client.get(f"/a/{actions[0]}")
    assert confirm.status_code == 200 and "förbereder ansökan" in confirm.text
    assert store.pipeline() == {}  # the GET recorded nothing
    store.close()


def test_without_the_secret_digests_go_out_without_links_and_say_why(deployment, monkeypatch):
    with_web(deployment)
    monkeypatch.delenv("FUNDBOT_TEST_WEB_SECRET", raising=False)
    proc = deployment.cli("run", "--once", "--offline", "-v", check=True)
    assert "/c/" not in proc.stdout and "/a/" not in proc.stdout
    assert "digests go out without web links" in proc.stderr and "FUNDBOT_TEST_WEB_SECRET" in proc.stderr
    assert "FUNDBOT_TEST_WEB_SECRET" in deployment.cli("check").stderr


def test_fundbot_link_prints_a_citys_links_and_rotate_withdraws_the_old_ones(deployment, monkeypatch):
    from starlette.testclient import TestClient

    from matcher.store import Store
    from matcher.web.app import WebApp, create_app

    with_web(deployment, base="https://fundbot.example.se/")
    monkeypatch.setenv("FUNDBOT_TEST_WEB_SECRET", SECRET)
    deployment.cli("run", "--once", "--offline", check=True)
    first = deployment.cli("link", "--city", "norrby", check=True).stdout.split()
    assert first[0].startswith("https://fundbot.example.se/c/v1.page.norrby.") and first[1].endswith("/fundbot.ics")
    dep = deployment.load()
    store = Store(dep.store_url)
    client = TestClient(create_app(WebApp(dep, store, SECRET.encode())), base_url="http://127.0.0.1")
    old = first[0].rsplit("/", 1)[1]
    assert client.get(f"/c/{old}").status_code == 200
    second = deployment.cli("link", "--city", "norrby", "--rotate", check=True)
    assert "withdrawn" in second.stderr
    assert client.get(f"/c/{old}").status_code == 403
    assert client.get(f"/c/{second.stdout.split()[0].rsplit('/', 1)[1]}").status_code == 200
    assert SECRET not in second.stdout + second.stderr
    store.close()


def test_fundbot_forget_erases_a_person(deployment):
    import datetime as dt

    from matcher.store import Store

    deployment.cli("run", "--once", "--offline", check=True)
    deployment.cli("mark", "--city", "norrby", "1", "applying", "--who", "Anna Berg", check=True)
    out = deployment.cli("forget", "--who", "anna berg", check=True).stdout
    assert out.startswith("1 pipeline entries")
    store = Store(deployment.load().store_url)
    entry = store.pipeline("norrby")["norrby"][1]
    assert entry.who is None and entry.status == "preparing"
    store.close()


def test_older_marks_are_carried_into_the_pipeline_by_the_migration(tmp_path):
    from sqlalchemy import text

    from matcher.store import Store
    from matcher.store.schema import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    s = Store(url)
    with s.engine.begin() as conn:  # a store at schema 8, with marks
        conn.execute(text("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"))
        for statements in MIGRATIONS[:8]:
            for st in statements:
                conn.execute(text(st.format(pk="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB", real="REAL",
                                            reset_outbox_ids="SELECT 1")))
        conn.execute(text("INSERT INTO meta VALUES ('schema_version', '8')"))
        conn.execute(text("INSERT INTO calls (id, source, native_id, funder, title, text, language, deadlines, "
                          "content_hash, first_seen, last_seen, updated_at) VALUES (1, 's', 'n', 'f', 't', 'x', 'sv', "
                          "'[]', 'h', '2026-01-01', '2026-01-01', '2026-01-01')"))
        for mark in ("relevant", "applying", "not-relevant"):
            conn.execute(text("INSERT INTO marks (city, call_id, mark, who, at) VALUES ('norrby', 1, :m, 'anna', "
                              "'2026-01-01T00:00:00+00:00')"), {"m": mark})
    s.migrate()
    history = s.history("norrby", 1)
    assert [e.status for e in history] == ["interesting", "preparing", "not-relevant"]
    assert s.marks("norrby") == {1: "not-relevant"} and history[0].who == "anna"
    s.close()


def test_the_kept_call_side_ranks_a_search_exactly_as_a_fresh_match(web):
    """The web view's Searcher keeps the ranker between searches; what it
    returns is what ranking the open calls afresh for the text returns."""
    from matcher.config import Need
    from matcher.cycle import Clock, match_all, open_calls, stale_after
    from matcher.suggest import reference_at

    app = web.app_state
    profile = app.profiles["norrby"]
    text = "markhälsa och jordbruk"
    first = app.searcher.search(profile, text, top=10, now=app.clock())
    again = app.searcher.search(profile, text, top=10, now=app.clock())
    at = reference_at(app.dep, app.store)
    calls = open_calls(app.store, Clock(now=app.clock(), at=at), stale_after(app.dep))
    probe = profile.model_copy(update={"needs": (Need(id="norrby-search", text=text, weight=3),)})
    fresh = match_all(app.dep, app.store, app.embedder(), calls, profiles=(probe,))[0]["norrby"][:10]
    assert first and [(h.call.id, round(h.match.score, 9)) for h in first] == \
        [(m.call_id, round(m.score, 9)) for m in fresh] == [(h.call.id, round(h.match.score, 9)) for h in again]


def test_hostile_form_fields_and_queries_are_cleaned_bounded_and_escaped(web):
    """What people type is as hostile as a feed: control, bidi and zero-width
    characters are stripped, lengths bounded, an oversized body refused whole,
    and a search text shown as text."""
    store = web.app_state.store
    token = page_link(web)
    csrf = re.search(r'name=csrf value="([0-9a-f]+)"', web.get(f"/c/{token}").text).group(1)
    call_id = store.saved_matches("norrby")["norrby"][0].call_id
    r = web.post(f"/c/{token}/status", data={
        "csrf": csrf, "call": call_id, "status": "interesting", "who": "Eve\x1b[31m\u202e",
        "owner": "Ann\u200ba\x07 " + "x" * 500, "note": "<script>alert(1)</script>\x00" + "n" * 5000},
        follow_redirects=False)
    assert r.status_code == 303
    entry = store.pipeline("norrby")["norrby"][call_id]
    assert entry.who == "Eve" and entry.owner.startswith("Anna ") and len(entry.owner) <= 120
    assert "\x00" not in entry.note and len(entry.note) <= 2000
    page = web.get(f"/c/{token}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # a body larger than any form: refused, nothing recorded
    before = len(store.history("norrby", call_id))
    big = web.post(f"/c/{token}/status", data={"csrf": csrf, "call": call_id, "status": "granted", "who": "Eve",
                                               "note": "z" * 20_000})
    assert big.status_code == 403 and len(store.history("norrby", call_id)) == before
    # a search text: cut to 300 characters, shown escaped
    q = '<img src=x onerror=alert(1)>' + "q" * 1000
    shown = web.get(f"/c/{token}", params={"q": q})
    assert shown.status_code == 200 and "<img src=x" not in shown.text and "&lt;img src=x onerror=alert(1)&gt;" in shown.text
    assert "q" * 301 not in shown.text
