"""Six faulty funders and one good one, each on its own local server (its own
host:port, so the cycle may fetch them side by side): the scenario of issue
15's fault cycle, shared by ``tests/test_hostile.py`` (short budgets) and
``bench/faults.py`` (the shipped defaults)."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

from localserver import LocalServer, Reply

GOOD_FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>Klimatneutrala st\xc3\xa4der: innovationsupphandling</title><link>https://example.org/c1</link>
<description>Innovationsupphandling och klimatkrav. Deadline 9 March 2027</description></item></channel></rss>"""
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>&lol3;</title><item><title>&lol3;</title></item></channel></rss>"""
RSS = {"Content-Type": "application/rss+xml"}


def faults(read_timeout: float) -> dict[str, Reply]:
    """Source id → what its server answers (the hang outlasts any read time-out)."""
    return {
        "hang": Reply(200, GOOD_FEED, RSS, delay=max(600.0, 20 * read_timeout)),
        "http500": Reply(500, b"oops", {"Content-Type": "text/plain"}),
        "malformed": Reply(200, b"<rss><channel><item><title>x</tit", RSS),
        "bomb": Reply(200, BOMB, RSS),
        "huge": Reply(200, b"<rss>" + b" " * 50_000_000 + b"</rss>", RSS),
        "trickle": Reply(200, GOOD_FEED, RSS, trickle=2.0),
        "good": Reply(200, GOOD_FEED, RSS),
    }


# what each failing source's error must say (plain words, no urllib3 repr)
REASONS = {
    "hang": "no answer within",
    "http500": "HTTP 500 (server error)",
    "malformed": "malformed feed",
    "bomb": "entities",
    "huge": "larger than",
    "trickle": "no complete answer within this source's",
}


@contextlib.contextmanager
def faulty_day(root: Path, read_timeout: float):
    """Write one RSS source per server into ``root/feeds`` and serve them."""
    with contextlib.ExitStack() as stack:
        servers = {}
        for source_id, reply in faults(read_timeout).items():
            server = stack.enter_context(LocalServer())
            server.routes["/feed"] = reply
            servers[source_id] = server
            (root / "feeds").mkdir(parents=True, exist_ok=True)
            (root / f"feeds/{source_id}.toml").write_text(textwrap.dedent(f"""\
                id = "{source_id}"
                funder = "Funder {source_id}"
                kind = "rss"
                url = "{server.url}/feed"
                language = "en"
                [options]
                deadline_labels = ["Deadline"]
                """), encoding="utf-8")
        yield servers
