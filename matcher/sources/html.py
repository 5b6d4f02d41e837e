"""HTML sources: a listing page and, optionally, one detail page per call.

What is a call, where its link, title, text and eligibility are, and which
labels precede its dates all come from the source file's ``[options]``
(CSS selectors, evaluated with selectolax/lexbor).  A listing on which the
item selector matches nothing is an error, not "no calls": the page layout
has probably changed.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from ..config import SourceSpec
from ..errors import FetchError, SourceError
from ..models import CallRecord
from ..normalize.html import clean_space, html_to_text
from ..normalize.text import detect_language
from .base import FetchContext
from .fetch import Fetcher, Response
from .prose import read_facts


def decode(resp: Response) -> str:
    charset = "utf-8"
    ctype = resp.headers.get("content-type", "")
    if "charset=" in ctype:
        charset = ctype.split("charset=")[-1].split(";")[0].strip() or "utf-8"
    try:
        return resp.body.decode(charset, errors="replace")
    except LookupError:
        return resp.body.decode("utf-8", errors="replace")


def _parse(markup: str):
    from selectolax.lexbor import LexborHTMLParser

    return LexborHTMLParser(markup)


def _text(node) -> str:
    return html_to_text(node.html) if node is not None else ""


def _first(node, selector: str | None):
    if not selector:
        return None
    try:
        return node.css_first(selector)
    except Exception as exc:  # noqa: BLE001 - a bad selector in the source file
        raise ValueError(f"bad CSS selector {selector!r}: {exc}") from exc


def native_id_from_url(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path.rstrip("/") or "/") + (f"?{parts.query}" if parts.query else "")


class HtmlAdapter:
    kind = "html"

    def collect(self, source: SourceSpec, fetcher: Fetcher, ctx: FetchContext) -> list[CallRecord]:
        opts = source.options
        if not opts.get("item"):
            raise SourceError(source.id, "options.item (the CSS selector of one call) is required for kind 'html'")
        include = re.compile(opts["include"], re.I) if opts.get("include") else None
        zone = ZoneInfo(opts.get("timezone", "Europe/Stockholm"))
        url: str | None = source.url
        records: dict[str, CallRecord] = {}
        pages, matched = 0, 0
        while url and pages < int(opts.get("max_pages", 5)):
            pages += 1
            tree = _parse(decode(fetcher.request("GET", url)))
            try:
                items = tree.css(opts["item"])
            except Exception as exc:  # noqa: BLE001
                raise SourceError(source.id, f"bad CSS selector options.item {opts['item']!r}: {exc}") from exc
            matched += len(items)
            for node in items:
                record = ctx.parse(f"an item on {url}", self._item, source, opts, fetcher, ctx, node, url, zone,
                                   include)
                if record is not None and record.native_id not in records:
                    records[record.native_id] = record
            nxt = _first(tree, opts.get("next_page"))
            href = nxt.attributes.get("href") if nxt is not None else None
            url = urljoin(url, href) if href else None
        if matched == 0:
            raise SourceError(source.id, f"no element matches options.item {opts['item']!r} on {source.url}: "
                                         "has the page layout changed?")
        return list(records.values())

    def _item(self, source: SourceSpec, opts: dict[str, Any], fetcher: Fetcher, ctx: FetchContext, node,
              page_url: str, zone: ZoneInfo, include) -> CallRecord | None:
        link = _first(node, opts.get("link")) if opts.get("link") else None
        if link is None and node.tag == "a":
            link = node
        href = link.attributes.get("href") if link is not None else None
        detail_url = urljoin(page_url, href) if href else None
        title_node = _first(node, opts.get("title"))
        title = clean_space((title_node or link or node).text(separator=" ")).replace("\n", " ")
        if not title:
            return None
        if include and not include.search(title):
            return None
        item_text = _text(node)
        missing: list[str] = []  # what a selector did not find: `fundbot source show` prints it

        def find(tree, option: str, where: str):
            found = _first(tree, opts.get(option))
            if opts.get(option) and found is None:
                missing.append(f"options.{option} {opts[option]!r} matched nothing {where}")
            return found

        detail_text, detail_title = "", None
        eligibility = _text(find(node, "eligibility", "in the item"))
        if opts.get("title") and title_node is None:
            missing.append(f"options.title {opts['title']!r} matched nothing in the item")
        if detail_url and opts.get("link"):
            try:
                detail = _parse(decode(fetcher.request("GET", detail_url)))
            except FetchError as exc:
                detail = None  # the listing still tells us the call exists
                missing.append(f"its detail page ({exc})")
            if detail is not None:
                body = (find(detail, "detail_text", "on the detail page") if opts.get("detail_text") else None) \
                    or _first(detail, "main") or detail.body
                detail_text = _text(body)
                dt_node = find(detail, "detail_title", "on the detail page")
                detail_title = clean_space(dt_node.text(separator=" ")) if dt_node is not None else None
                eligibility = _text(find(detail, "detail_eligibility", "on the detail page")) or eligibility
        text = detail_text or item_text
        facts = read_facts(f"{item_text}\n{detail_text}", opts, zone=zone, reference=ctx.today,
                           default_currency="SEK" if source.language == "sv" else None)
        title = " ".join((detail_title or title).split())
        native_id = native_id_from_url(detail_url) if detail_url else title
        for what in missing:
            ctx.note_missing(native_id, what)
        return CallRecord(
            source=source.id,
            native_id=native_id,
            funder=source.funder,
            title=title,
            text=text,
            url=detail_url or page_url,
            language=opts.get("language") or detect_language(f"{title}\n{text}", source.language),
            identifier=None,
            programme=opts.get("programme"),
            opens_at=facts.opens_at,
            deadlines=facts.deadlines, stages=facts.stages,
            budget=facts.budget,
            eligibility=eligibility or None,
        )
