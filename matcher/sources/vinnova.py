"""Vinnova's open-data API: application rounds (``ansokningsomgangar``).

A round is the unit with dates.  Dates are naive Stockholm time;
``1900-01-01`` means "no date"; rounds with ``Publik``/``Webbsida`` 0 are by
invitation only and skipped.  ``"x"`` or ``""`` in an English field means
"not translated".
"""

from __future__ import annotations

from typing import Any

from ..config import SourceSpec
from ..errors import SourceError
from ..models import CallRecord
from ..normalize.dates import STOCKHOLM, parse_iso
from ..normalize.html import html_to_text
from .base import FetchContext, FormatError, load_json
from .fetch import Fetcher

UNTRANSLATED = {"", "x", "X", "-"}


def _english(value: Any) -> str | None:
    if value is None or str(value).strip() in UNTRANSLATED:
        return None
    return str(value)


class VinnovaAdapter:
    kind = "vinnova"

    def collect(self, source: SourceSpec, fetcher: Fetcher, ctx: FetchContext) -> list[CallRecord]:
        url = source.url.replace("{since}", ctx.since.isoformat())
        resp = fetcher.request("GET", url)
        try:
            data = load_json(resp)
        except FormatError as exc:
            raise SourceError(source.id, str(exc)) from exc
        if not isinstance(data, list):
            raise SourceError(source.id, f"expected a JSON list of rounds, got {type(data).__name__}")
        if data and not any(isinstance(r, dict) and "Diarienummer" in r and "Titel" in r for r in data):
            raise SourceError(source.id, "no round has 'Diarienummer' and 'Titel': has the API changed?")
        records = []
        for row in data:
            if not isinstance(row, dict):
                raise SourceError(source.id, "a round is not a JSON object")
            record = ctx.parse(f"round {row.get('Diarienummer')!r}", self.parse, source, row)
            if record is not None:
                records.append(record)
        return records

    def parse(self, source: SourceSpec, row: dict[str, Any]) -> CallRecord | None:
        dnr = row.get("Diarienummer")
        if not dnr:
            return None
        if row.get("Publik") == 0 or row.get("Webbsida") == 0:
            return None  # invited applicants only
        english = source.options.get("language") == "en"
        title = (_english(row.get("TitelEngelska")) if english else None) or row.get("Titel") or str(dnr)
        body = (row.get("BeskrivningEngelska") if english else None) or row.get("Beskrivning") or ""
        paragraphs = [html_to_text(body)]
        for part in row.get("WebTextLista") or []:
            text = (part.get("TextEn") if english else None) or part.get("TextSv")
            if text:
                paragraphs.append(html_to_text(text))
        text = "\n".join(p for p in dict.fromkeys(paragraphs) if p)
        links = [link.get("URL") for link in row.get("LankLista") or [] if link.get("URL")]
        closes = parse_iso(row.get("Stangningsdatum"), STOCKHOLM, end_of_day=True)
        return CallRecord(
            source=source.id,
            native_id=str(dnr),
            funder=source.funder,
            title=" ".join(str(title).split()),
            text=text,
            url=links[0] if links else None,
            language="en" if english else "sv",
            identifier=str(dnr),
            programme=row.get("DiarienummerUtlysning"),
            opens_at=parse_iso(row.get("Oppningsdatum"), STOCKHOLM),
            deadlines=(closes,) if closes else (),
            budget=None,
            eligibility=None,
        )

