"""The web view in Debian's Chromium (Playwright, never a downloaded
browser) against the real app served by uvicorn on 127.0.0.1: open a city's
signed link from a digest, filter, search, mark a call through the
confirmation page, and see the store and the next digest change."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time

import pytest

SECRET = "b" * 48
COORD = "coordinators-key-" + "k" * 20
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>Utlysning'


# The WCAG 2.1 AA checks a machine can make on a rendered page: the page's language (3.1.1), one h1 and
# headings in order (1.3.1), every form control labelled (1.3.1, 4.1.2), text contrast ≥ 4.5:1 against
# the background it is drawn on (1.4.3), no positive tabindex (2.4.3), a skip link to the main content (2.4.1).
A11Y = """() => {
  const bad = [];
  if (!document.documentElement.lang) bad.push('no lang');
  if (document.querySelectorAll('h1').length !== 1) bad.push('h1 count');
  let last = 0;
  for (const h of document.querySelectorAll('h1,h2,h3,h4,h5,h6')) {
    const n = +h.tagName[1]; if (n > last + 1) bad.push('heading jump ' + h.tagName); last = n; }
  for (const el of document.querySelectorAll('input:not([type=hidden]),select,textarea')) {
    const named = (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.closest('label')
      || el.getAttribute('aria-label');
    if (!named) bad.push('unlabelled ' + el.name); }
  for (const el of document.querySelectorAll('[tabindex]')) if (+el.getAttribute('tabindex') > 0) bad.push('tabindex');
  const skip = document.querySelector('a[href="#main"]');
  if (!skip || !document.getElementById('main')) bad.push('no skip link');
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const bg = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c; } return [255, 255, 255]; };
  for (const el of document.querySelectorAll('body *')) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(el); if (st.display === 'none' || st.visibility === 'hidden') continue;
    if (el.classList.contains('skip')) continue;  // off screen until focused
    const a = lum(rgb(st.color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push('contrast ' + ratio.toFixed(2) + ' ' + el.tagName + ' ' + el.className); }
  return bad; }"""


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.os.path.exists(path):
        pytest.skip("Debian chromium is not installed here (.ci/run installs it)")
    return path


@pytest.fixture
def served(deployment, monkeypatch):
    """The demo store after one cycle whose digests carry links, served on a free port."""
    import uvicorn

    from matcher.embed import make_embedder
    from matcher.store import Store
    from matcher.web.app import WebApp, create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = deployment.config.read_text().replace("[matcher]", "[delivery]\nreminder_days = 90\n\n[matcher]")
    deployment.config.write_text(config + f'\n[web]\nbase_url = "http://127.0.0.1:{port}/"\n'
                                          'secret_env = "FUNDBOT_TEST_WEB_SECRET"\n')
    for city in ("norrby", "sunnana"):
        path = deployment.root / f"profiles/{city}.toml"
        path.write_text(path.read_text().replace('kind = "console"', 'kind = "console"\ncadence = "instant"'))
    deployment.retitle_vinnova_round(HOSTILE)
    monkeypatch.setenv("FUNDBOT_TEST_WEB_SECRET", SECRET)
    first = deployment.cli("run", "--once", "--offline", "-v", check=True).stdout
    dep = deployment.load()
    store = Store(dep.store_url)
    app = WebApp(dep, store, SECRET.encode(), embedder_factory=lambda: make_embedder("hashing", deployment.root),
                 coordinator_token=COORD)
    server = uvicorn.Server(uvicorn.Config(create_app(app), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield {"digest": first, "store": store, "port": port, "deployment": deployment}
    server.should_exit = True
    thread.join(5)
    store.close()


def test_a_city_works_its_list_in_the_browser(served):
    from playwright.sync_api import sync_playwright

    digest, store, deployment = served["digest"], served["store"], served["deployment"]
    link = re.search(r"Er sida i fundbot[^:]*: (http://127\.0\.0\.1:\d+/c/\S+)", digest).group(1)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
        page.goto(link)
        heading = page.locator("h1").inner_text()
        city = "norrby" if "Norrby" in heading else "sunnana"
        items = page.locator("ol.ranked > li")
        total = items.count()
        assert total > 0
        assert HOSTILE in page.locator("main").inner_text()  # shown as text, never run
        # filter by a funder: fewer or as many, each of that funder
        funder = page.locator("#f-funder option").nth(1).inner_text()
        page.select_option("#f-funder", label=funder)
        with page.expect_navigation():
            page.click("form.filters button")
        shown = page.locator("ol.ranked > li")
        assert 0 < shown.count() <= total and all(funder in shown.nth(i).inner_text() for i in range(shown.count()))
        # search by need
        page.fill("#q", "innovationsupphandling klimatkrav")
        with page.expect_navigation():
            page.click("form.search button")
        assert page.locator("h2", has_text="Öppna utlysningar för").count() == 1
        assert page.locator("ol.ranked").first.locator("li").count() > 0
        # mark through an action link from the digest: the confirmation page, a name, confirm
        actions = re.findall(r"   Vi söker: (http://127\.0\.0\.1:\d+/a/\S+)", digest)
        token = next(a for a in actions if f".{city}." in a)
        call_id = int(token.split("/a/")[1].split(".")[5])
        page.goto(token)
        assert store.pipeline(city) == {}  # opening it changed nothing
        page.fill("#who", "Anna Berg")
        with page.expect_navigation():
            page.click("form button[type=submit]")
        assert "förbereder ansökan" in page.locator("main").inner_text()
        entry = store.pipeline(city)[city][call_id]
        assert (entry.status, entry.who, entry.via) == ("preparing", "Anna Berg", "web")
        # the city's page shows it, with who
        page.goto(link + "?status=preparing")
        assert page.locator(f"#call-{call_id}").count() == 1
        assert "Anna Berg" in page.locator(f"#call-{call_id}").inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        page.goto(link)
        assert page.evaluate(A11Y) == []  # what a machine can check of WCAG 2.1 AA
        page.goto(token)
        assert page.evaluate(A11Y) == []
        # the coordinators sign in and see who prepares what
        base = link.split("/c/")[0]
        page.goto(base + "/coord")
        assert page.url.endswith("/coord/login") and page.evaluate(A11Y) == []
        page.fill("#credential", COORD)
        with page.expect_navigation():
            page.click("form button[type=submit]")
        text = page.locator("main").inner_text()
        assert "Anna Berg" in text and "förbereder ansökan" in text and page.evaluate(A11Y) == []
        browser.close()
    assert errors == []
    # the next digest changes: a reminder for the call the city now prepares an application for
    import datetime as dt

    call = store.call(call_id)
    deadline = min(d for d in call.record.deadlines if d.date() > dt.date(2026, 11, 20))
    day = (deadline - dt.timedelta(days=10)).date().isoformat()  # replayed: ten days before its deadline
    second = deployment.cli("run", "--once", "--offline", "-v", "--as-of", day, check=True).stdout
    title = call.record.title
    assert f"Påminnelse: {title}" in second
