"""RSS/Atom sources: feedparser on bytes we fetched ourselves (it has no
timeout and no size limit of its own, and would read a string as a path)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from ..config import SourceSpec
from ..errors import SourceError
from ..models import CallRecord
from ..normalize.html import html_to_text
from ..normalize.text import detect_language
from .base import FetchContext
from .fetch import Fetcher
from .html import native_id_from_url
from .prose import read_facts


class RssAdapter:
    kind = "rss"

    def collect(self, source: SourceSpec, fetcher: Fetcher, ctx: FetchContext) -> list[CallRecord]:
        import feedparser

        resp = fetcher.request("GET", source.url)
        head = resp.body.lstrip()[:200].lower()
        if head.startswith(b"<!doctype html") or head.startswith(b"<html"):
            raise SourceError(source.id, f"expected a feed but got an HTML page from {resp.url}")
        if b"<!ENTITY" in resp.body[:65536]:
            raise SourceError(source.id, "the feed declares XML entities (entity expansion attack?); refused")
        feed = feedparser.parse(resp.body)
        problem = feed.get("bozo_exception")
        # a wrong declared charset is harmless; broken XML is not (the loose parser would guess)
        if feed.bozo and not type(problem).__name__.startswith("CharacterEncoding"):
            raise SourceError(source.id, f"malformed feed: {type(problem).__name__}: {problem}")
        opts = source.options
        include = re.compile(opts["include"], re.I) if opts.get("include") else None
        zone = ZoneInfo(opts.get("timezone", "Europe/Stockholm"))
        records: dict[str, CallRecord] = {}

        def read(entry) -> tuple[str, CallRecord] | None:
            title = " ".join(str(entry.get("title", "")).split())
            if not title or (include and not include.search(title)):
                return None
            content = entry.get("content") or []
            body = content[0].get("value") if content else entry.get("summary", "")
            text = html_to_text(body)
            published = entry.get("published_parsed") or entry.get("updated_parsed")
            reference = dt.date(*published[:3]) if published else ctx.today
            facts = read_facts(f"{html_to_text(entry.get('summary', ''))}\n{text}", opts, zone=zone,
                               reference=reference)
            link = entry.get("link")
            native = entry.get("id") or (native_id_from_url(link) if link else title)
            return str(native), CallRecord(
                source=source.id, native_id=str(native), funder=source.funder, title=title, text=text, url=link,
                language=opts.get("language") or detect_language(f"{title}\n{text}", source.language),
                programme=opts.get("programme"), opens_at=facts.opens_at, deadlines=facts.deadlines,
                stages=facts.stages,
                budget=facts.budget,
            )

        for entry in feed.entries:
            found = ctx.parse(f"entry {entry.get('id') or entry.get('link')!r}", read, entry)
            if found is not None:
                records.setdefault(*found)
        return list(records.values())
