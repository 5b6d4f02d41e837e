"""EU Funding & Tenders Portal through the SEDIA search API (Horizon Europe, LIFE, …).

The API wants a POST whose body is multipart/form-data with JSON parts
(``query``, ``languages``, ``sort``); paging ends at the first empty page;
rows repeat across pages (de-duplicated on ``reference``); every metadata
value is a list; a few cascade-funding rows have no ``metadata`` at all.
"""

from __future__ import annotations

import json
from typing import Any

from ..config import SourceSpec
from ..errors import SourceError
from ..models import CallRecord
from ..normalize.dates import BRUSSELS, parse_iso
from ..normalize.html import html_to_text
from .base import FetchContext, FormatError, load_json
from .fetch import Fetcher

DEFAULT_QUERY = {
    "bool": {
        "must": [
            {"terms": {"type": ["1", "2", "8"]}},
            {"terms": {"status": ["31094501", "31094502"]}},
            {"term": {"programmePeriod": "2021 - 2027"}},
        ]
    }
}
PROGRAMMES = {
    "43108390": "Horizon Europe",
    "43252405": "LIFE",
    "43152860": "Digital Europe",
    "43251567": "CEF",
}
TOPIC_URL = "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/topic-details/{}"


def _all(md: dict[str, Any], key: str) -> list[Any]:
    value = md.get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _first(md: dict[str, Any], key: str) -> Any:
    values = _all(md, key)
    return values[0] if values else None


def topic_budget(budget_overview: str | None, identifier: str) -> str | None:
    """The topic's own budget from the call-wide ``budgetOverview`` JSON string."""
    if not budget_overview or not identifier:
        return None
    try:
        data = json.loads(budget_overview)
    except json.JSONDecodeError:
        return None
    total = 0.0
    found = False
    for actions in (data.get("budgetTopicActionMap") or {}).values():
        for action in actions or []:
            if not str(action.get("action", "")).startswith(identifier):
                continue
            for amount in (action.get("budgetYearMap") or {}).values():
                try:
                    total += float(amount)
                    found = True
                except (TypeError, ValueError):
                    continue
    if not found or total <= 0:
        return None
    return f"EUR {total:,.0f}".replace(",", " ")


class SediaAdapter:
    kind = "sedia"

    def collect(self, source: SourceSpec, fetcher: Fetcher, ctx: FetchContext) -> list[CallRecord]:
        opts = source.options
        query = opts.get("query", DEFAULT_QUERY)
        if isinstance(query, str):
            query = json.loads(query)
        parts = {
            "query": ("blob", json.dumps(query).encode(), "application/json"),
            "languages": ("blob", json.dumps(opts.get("languages", ["en"])).encode(), "application/json"),
            "sort": ("blob", json.dumps({"field": "identifier", "order": "ASC"}).encode(), "application/json"),
        }
        page_size = int(opts.get("page_size", 100))
        max_pages = int(opts.get("max_pages", 50))
        seen: dict[str, CallRecord] = {}
        for page in range(1, max_pages + 1):
            params = {"apiKey": opts.get("api_key", "SEDIA"), "text": opts.get("text", "***"),
                      "pageSize": page_size, "pageNumber": page}
            resp = fetcher.request("POST", source.url, params=params, files=parts)
            try:
                data = load_json(resp)
            except FormatError as exc:
                raise SourceError(source.id, str(exc)) from exc
            if isinstance(data, dict) and data.get("type") == "throwable":
                raise SourceError(source.id, f"API error on page {page}: {data.get('message')}")
            if not isinstance(data, dict) or "results" not in data:
                raise SourceError(source.id, f"page {page}: no 'results' in the response")
            results = data["results"] or []
            if not results:
                break
            parsed = [ctx.parse(f"result {row.get('reference')!r}", self.parse, source, row)
                      for row in results if isinstance(row, dict)]
            if not any(parsed):
                raise SourceError(source.id, f"page {page}: no result has 'reference' and 'identifier': "
                                             "has the API changed?")
            for record in parsed:
                if record is not None and record.native_id not in seen:
                    seen[record.native_id] = record
        else:
            raise SourceError(source.id, f"still more pages after {max_pages}; raise options.max_pages")
        return list(seen.values())

    def parse(self, source: SourceSpec, row: dict[str, Any]) -> CallRecord | None:
        md = row.get("metadata") or row  # cascade rows carry fields at top level
        reference = row.get("reference")
        identifier = _first(md, "identifier")
        if not reference or not identifier:
            return None
        title = _first(md, "title") or row.get("summary") or row.get("content") or identifier
        description = _first(md, "descriptionByte") or _first(md, "description") or ""
        conditions = _first(md, "topicConditions") or _first(md, "beneficiaryAdministration")
        text = html_to_text(description)
        if not text:
            text = html_to_text(row.get("content") or "")
        deadlines = tuple(sorted(
            d for d in (parse_iso(v, BRUSSELS, end_of_day=True) for v in _all(md, "deadlineDate")) if d
        ))
        stages = deadline_stages(_first(md, "deadlineModel"), len(deadlines))
        call_title = _first(md, "callTitle")
        programme = PROGRAMMES.get(str(_first(md, "frameworkProgramme")), None)
        if call_title:
            programme = f"{programme} – {call_title}" if programme else call_title
        budget = topic_budget(_first(md, "budgetOverview"), identifier)
        if budget is None and _first(md, "budget"):
            budget = f"{_first(md, 'currency') or 'EUR'} {_first(md, 'budget')}"
        url = row.get("url") or ""
        if not url or "/data/topicDetails/" in url:
            url = TOPIC_URL.format(str(identifier).lower())
        return CallRecord(
            source=source.id,
            native_id=str(reference),
            funder=source.funder,
            title=" ".join(str(title).split()),
            text=text,
            url=url,
            language=str(row.get("language") or "en")[:2],
            identifier=str(identifier),
            programme=programme,
            opens_at=parse_iso(_first(md, "startDate"), BRUSSELS),
            deadlines=deadlines,
            budget=budget,
            eligibility=html_to_text(conditions) or None,
            stages=stages,
        )


def deadline_stages(model: Any, count: int) -> tuple[str, ...]:
    """The portal's ``deadlineModel`` as one stage per (sorted) deadline:
    ``two-stage`` — the first date is stage 1 (open to all), the later ones
    stage 2 (invited applicants only); ``multiple cut-off`` — each date a
    cut-off of a call that stays open; ``single-stage`` — the one deadline."""
    words = " ".join(str(model or "").lower().replace("-", " ").split())
    if not count or not words:
        return ()
    if words.startswith("two stage") or words.startswith("2 stage"):
        return ("stage1",) + ("stage2",) * (count - 1) if count > 1 else ("stage1",)
    if "cut off" in words or "cutoff" in words:
        return ("cutoff",) * count
    if words.startswith("single stage"):
        return ("single",) * count if count == 1 else ("cutoff",) * count
    return ()
