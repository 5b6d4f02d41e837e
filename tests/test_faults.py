"""Faults, each against a real HTTP server on 127.0.0.1: the cycle completes
in bounded time and exits 0, the failing source is reported with a clear
reason, the other source is ingested, and nothing already stored is lost."""

from __future__ import annotations

import json
import time

import pytest

from conftest import DATA
from localserver import LocalServer, Reply, json_reply

ROUNDS = (DATA / "vinnova_rounds.json").read_bytes()
FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>Call for small projects</title><link>https://example.org/c1</link>
<description>Deadline 9 March 2027</description></item></channel></rss>"""

CONFIG = """\
feeds = "feeds"
profiles = "profiles"

[matcher]
model = "hashing"
min_score = 0.0

[http]
connect_timeout = 1.0
read_timeout = 1.5
retries = 1
min_interval = 0.0
max_bytes = 2000000
"""


@pytest.fixture
def online(deployment):
    with LocalServer() as server:
        deployment.write("config.toml", CONFIG)
        (deployment.root / "feeds/eu.toml").unlink()
        deployment.write("feeds/vinnova.toml", f"""\
            id = "vinnova"
            funder = "Vinnova"
            kind = "vinnova"
            url = "{server.url}/api/ansokningsomgangar/{{since}}"
            """)
        deployment.write("feeds/bsr.toml", f"""\
            id = "bsr"
            funder = "Interreg Baltic Sea Region"
            kind = "rss"
            url = "{server.url}/feed/"
            language = "en"
            [options]
            deadline_labels = ["Deadline"]
            """)
        server.routes["/api/ansokningsomgangar/"] = json_reply(ROUNDS)
        server.routes["/feed/"] = Reply(200, FEED, {"Content-Type": "application/rss+xml"})
        yield deployment, server


def cycle(deployment) -> tuple[dict, float]:
    start = time.monotonic()
    proc = deployment.cli("run", "--once", "--json")
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout), took


def healthy_then(deployment, server, route: str, fault) -> dict:
    first, _ = cycle(deployment)
    assert first["sources"]["vinnova"]["ok"] and first["sources"]["bsr"]["ok"], first
    total = first["calls"]["total"]
    server.routes[route] = fault
    summary, took = cycle(deployment)
    assert took < 60
    assert summary["calls"]["total"] == total and summary["calls"]["gone"] == 0  # nothing lost
    return summary


FAULTS = {
    "never answers": ("/api/ansokningsomgangar/", Reply(200, ROUNDS, {"Content-Type": "application/json"}, delay=6),
                      "vinnova", "no answer within 1.5 s, tried twice"),
    "500s": ("/api/ansokningsomgangar/", Reply(500, b"oops", {"Content-Type": "text/plain"}), "vinnova",
             "HTTP 500 (server error), tried twice"),
    "malformed JSON": ("/api/ansokningsomgangar/", json_reply(b'[{"Diarienummer": "2026-1", '), "vinnova",
                       "invalid JSON"),
    "HTML instead of JSON": ("/api/ansokningsomgangar/", Reply(200, b"<!doctype html><p>Underhall</p>",
                                                               {"Content-Type": "text/html"}), "vinnova", "HTML"),
    "renamed fields": ("/api/ansokningsomgangar/", json_reply(ROUNDS.replace(b'"Diarienummer"', b'"DiarieNr"')),
                       "vinnova", "has the API changed"),
    "50 MB body": ("/api/ansokningsomgangar/", json_reply(b"[" + b" " * 50_000_000 + b"]"), "vinnova",
                   "larger than"),
    "malformed XML": ("/feed/", Reply(200, b"<rss><channel><item><title>x</tit", {"Content-Type": "application/rss+xml"}),
                      "bsr", "malformed feed"),
    "billion laughs": ("/feed/", Reply(200, b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>&lol3;</title><item><title>&lol3;</title></item></channel></rss>""",
                                       {"Content-Type": "application/rss+xml"}), "bsr", "entities"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_is_reported_and_loses_nothing(online, name):
    deployment, server = online
    route, fault, source, reason = FAULTS[name]
    summary = healthy_then(deployment, server, route, fault)
    failed = summary["sources"][source]
    assert failed["ok"] is False and reason in failed["error"], failed
    other = "bsr" if source == "vinnova" else "vinnova"
    assert summary["sources"][other]["ok"] is True and summary["sources"][other]["items"] > 0
    status = json.loads(deployment.cli("status", "--json", check=True).stdout)
    assert status["sources"][source]["ok"] is False and status["sources"][source]["failures"] == 1


def test_429_with_retry_after_is_honoured(online):
    deployment, server = online
    server.routes["/api/ansokningsomgangar/"] = [
        Reply(429, b"slow down", {"Retry-After": "1", "Content-Type": "text/plain"}), json_reply(ROUNDS)]
    summary, _ = cycle(deployment)
    assert summary["sources"]["vinnova"]["ok"] is True and summary["sources"]["vinnova"]["items"] == 3
    (t1, *_), (t2, *_) = server.hits("/api/ansokningsomgangar/")[:2]
    assert t2 - t1 >= 0.9  # waited as told


def test_conditional_get_and_304(online):
    deployment, server = online
    server.routes["/api/ansokningsomgangar/"] = json_reply(ROUNDS, ETag='"v1"', **{"Last-Modified": "Fri, 20 Nov 2026 06:00:00 GMT"})
    first, _ = cycle(deployment)
    assert first["sources"]["vinnova"]["new"] == 3
    server.routes["/api/ansokningsomgangar/"] = Reply(304, b"", {"ETag": '"v1"'})
    second, _ = cycle(deployment)
    assert second["sources"]["vinnova"]["ok"] is True and second["sources"]["vinnova"]["new"] == 0
    assert second["calls"]["gone"] == 0 and second["calls"]["total"] == first["calls"]["total"]
    headers = server.hits("/api/ansokningsomgangar/")[-1][3]
    assert headers.get("If-None-Match") == '"v1"'
    assert headers.get("If-Modified-Since") == "Fri, 20 Nov 2026 06:00:00 GMT"
    assert headers["User-Agent"].startswith("fundbot/") and "(+https://" in headers["User-Agent"]


def test_one_request_per_second_per_host():
    from matcher.sources.fetch import HostPacer

    waits, now = [], [0.0]
    pacer = HostPacer(1.0, clock=lambda: now[0], sleep=waits.append)
    with pacer.turn("a.example"):
        pass
    now[0] = 0.3
    with pacer.turn("a.example"):
        pass
    with pacer.turn("b.example"):
        pass
    assert waits == [pytest.approx(0.7)]


def test_one_request_at_a_time_per_host_across_threads():
    import threading

    from matcher.errors import FetchError
    from matcher.sources.fetch import HostPacer

    pacer, inside, overlap = HostPacer(0.0), [], []

    def request():
        with pacer.turn("a.example"):
            inside.append(1)
            overlap.append(len(inside))
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap == [1, 1, 1, 1]
    with pacer.turn("a.example"):  # a source whose time runs out while another holds the host is told so
        with pytest.raises(FetchError, match="still busy"), pacer.turn("a.example", wait=0.05):
            pass
