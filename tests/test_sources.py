"""Adapters on recorded payloads, offline and through a local HTTP server."""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import DATA
from matcher.config import SourceSpec
from matcher.errors import SourceError
from matcher.sources import ADAPTERS, FetchContext
from matcher.sources.fetch import HttpFetcher, SnapshotFetcher
from matcher.sources.sedia import topic_budget

CTX = FetchContext(today=dt.date(2026, 11, 20), since=dt.date(2025, 11, 20))
SEDIA = SourceSpec(id="eu", funder="European Commission", kind="sedia",
                   url="http://127.0.0.1:1/search", language="en")
VINNOVA = SourceSpec(id="vinnova", funder="Vinnova", kind="vinnova",
                     url="http://127.0.0.1:1/api/ansokningsomgangar/{since}")


def pages(tmp_path: Path, *files: str) -> Path:
    folder = tmp_path / "pages"
    folder.mkdir()
    for n, name in enumerate(files, 1):
        shutil.copy(DATA / name, folder / f"page-{n:04d}.json")
    return folder


def test_sedia_reads_every_page_and_deduplicates(tmp_path):
    # the API repeats rows across pages: page 1 twice, then the empty last page
    folder = pages(tmp_path, "sedia_page1.json", "sedia_page1.json", "sedia_empty.json")
    records = ADAPTERS["sedia"].collect(SEDIA, SnapshotFetcher(folder), CTX)
    refs = [r.native_id for r in records]
    assert len(refs) == len(set(refs)) == 8
    by_id = {r.identifier: r for r in records}

    soil = by_id["HORIZON-MISS-2027-05-SOIL-05-two-stage"]
    assert [d.date().isoformat() for d in soil.deadlines] == ["2027-04-15", "2027-09-14"]
    assert soil.deadlines[0].utcoffset() == dt.timedelta(hours=2)
    assert soil.budget == "EUR 6 400 000"
    assert "soil health" in soil.text.lower() and "<" not in soil.text
    assert soil.programme == "Horizon Europe – Mission 'A Soil Deal for Europe' 2027"
    assert soil.eligibility and "Admissibility" in soil.eligibility
    assert soil.url.endswith("/topic-details/horizon-miss-2027-05-soil-05-two-stage")

    pcp = by_id["HORIZON-MISS-2027-04-CIT-05"]
    assert pcp.budget == "EUR 7 000 000"  # budgetYearMap holds a string here
    assert pcp.opens_at.date() == dt.date(2027, 2, 9)

    hydrogen = by_id["HORIZON-MISS-2027-04-CIT-02"]
    assert hydrogen.deadlines == () and hydrogen.budget is None

    # cascade call without a metadata key: fields at top level
    cascade = next(r for r in records if r.native_id == "49521170COMPETITIVE_CALLen")
    assert cascade.title == "Open Call of Perform Europe 2026-2028"
    assert cascade.budget == "EUR 1400000"
    assert "performing arts" in cascade.text


def test_sedia_api_error_is_loud(tmp_path):
    folder = pages(tmp_path, "sedia_throwable.json")
    with pytest.raises(SourceError, match="Required request part 'query'"):
        ADAPTERS["sedia"].collect(SEDIA, SnapshotFetcher(folder), CTX)


def test_html_instead_of_json_is_loud(tmp_path):
    page = tmp_path / "vinnova.html"
    page.write_text("<!doctype html><html><body>Underhåll pågår</body></html>")
    with pytest.raises(SourceError, match="expected JSON but got an HTML page"):
        ADAPTERS["vinnova"].collect(VINNOVA, SnapshotFetcher(page), CTX)


def test_snapshot_that_runs_out_of_pages_is_an_error(tmp_path):
    folder = pages(tmp_path, "sedia_page1.json")  # no empty last page recorded
    from matcher.errors import FetchError

    with pytest.raises(FetchError, match="request 2 was not recorded"):
        ADAPTERS["sedia"].collect(SEDIA, SnapshotFetcher(folder), CTX)


def test_topic_budget_takes_only_the_topics_entry():
    overview = json.dumps({"budgetTopicActionMap": {"1": [
        {"action": "TOPIC-A - RIA", "budgetYearMap": {"2026": 1000000, "2027": 500000}},
        {"action": "TOPIC-B - IA", "budgetYearMap": {"2026": 9000000}},
    ]}})
    assert topic_budget(overview, "TOPIC-A") == "EUR 1 500 000"
    assert topic_budget(overview, "TOPIC-C") is None
    assert topic_budget("not json", "TOPIC-A") is None


def test_vinnova_rounds():
    records = ADAPTERS["vinnova"].collect(VINNOVA, SnapshotFetcher(DATA / "vinnova_rounds.json"), CTX)
    raw = json.loads((DATA / "vinnova_rounds.json").read_text())
    invited = [r["Diarienummer"] for r in raw if r.get("Publik") == 0 or r.get("Webbsida") == 0]
    ids = [r.native_id for r in records]
    assert invited and not set(invited) & set(ids)
    first = records[0]
    assert first.native_id == "2026-01503" and first.language == "sv"
    assert first.title == "Stärkt ekosystem för civil-militär innovationssamverkan"
    # naive Stockholm time, summer: 14:00 CEST = 12:00 UTC
    assert first.deadlines[0].astimezone(dt.timezone.utc).hour == 12
    assert "Max 2 miljoner kr." in first.text and "<p>" not in first.text
    assert first.url == "https://ansok.vinnova.se/utlysning/abc"
    placeholder = [r for r in records if not r.deadlines]
    assert placeholder, "the 1900-01-01 round must come out with no deadline"
    assert all(r.opens_at is None or r.opens_at.year > 1900 for r in records)


class _Recorder(BaseHTTPRequestHandler):
    routes: dict = {}
    seen: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def _answer(self, body: bytes, ctype="application/json", status=200):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.seen.append(("GET", self.path, dict(self.headers), b""))
        for prefix, body in self.routes.items():
            if self.path.startswith(prefix):
                return self._answer(body)
        self._answer(b"not found", "text/plain", 404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.seen.append(("POST", self.path, dict(self.headers), body))
        page = int(self.path.split("pageNumber=")[1].split("&")[0])
        name = "sedia_page1.json" if page == 1 else "sedia_empty.json"
        self._answer((DATA / name).read_bytes())


@pytest.fixture
def server():
    _Recorder.seen = []
    _Recorder.routes = {"/api/ansokningsomgangar/": (DATA / "vinnova_rounds.json").read_bytes()}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _fetcher():
    return HttpFetcher(user_agent="fundbot/test (+https://example.org/contact)", min_interval=0.0, retries=0)


def test_sedia_over_http_sends_multipart_json_parts(server):
    source = SEDIA.model_copy(update={"url": f"{server}/search-api/prod/rest/search"})
    records = ADAPTERS["sedia"].collect(source, _fetcher(), CTX)
    assert len(records) == 8
    posts = [s for s in _Recorder.seen if s[0] == "POST"]
    assert len(posts) == 2  # page 1, then the empty page 2
    method, path, headers, body = posts[0]
    assert "apiKey=SEDIA" in path and "pageNumber=1" in path and "text=" in path
    assert headers["User-Agent"] == "fundbot/test (+https://example.org/contact)"
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body)
    parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
    assert set(parts) == {"query", "languages", "sort"}
    assert all(p.get_content_type() == "application/json" for p in parts.values())
    query = json.loads(parts["query"].get_content())
    assert query["bool"]["must"][0] == {"terms": {"type": ["1", "2", "8"]}}


def test_vinnova_over_http_fills_since(server):
    source = VINNOVA.model_copy(update={"url": f"{server}/api/ansokningsomgangar/{{since}}"})
    records = ADAPTERS["vinnova"].collect(source, _fetcher(), CTX)
    assert records
    (get,) = [s for s in _Recorder.seen if s[0] == "GET"]
    assert get[1] == "/api/ansokningsomgangar/2025-11-20"


def test_http_error_is_a_fetch_error(server):
    from matcher.errors import FetchError

    source = VINNOVA.model_copy(update={"url": f"{server}/nothing/{{since}}"})
    with pytest.raises(FetchError, match="HTTP 404"):
        ADAPTERS["vinnova"].collect(source, _fetcher(), CTX)
