"""The Swedish research funders' GDP API (Formas, Vinnova, Forte, VR):
``https://api.<agency>.se/gdp_<agency>/utlysningar`` with a free key.

The key comes from the environment variable named in ``options.key_env``
(needed only online).  ``status`` is ignored: open/closed come from dates.
Asking for a page ``limit`` has been reported to strip dates and status, so
no limit is sent.
"""

from __future__ import annotations

import os
from typing import Any

from ..config import SourceSpec
from ..errors import SourceError
from ..models import CallRecord
from ..normalize.dates import STOCKHOLM, parse_iso
from ..normalize.html import html_to_text
from .base import FetchContext, FormatError, load_json
from .fetch import Fetcher


class GdpAdapter:
    kind = "gdp"

    def collect(self, source: SourceSpec, fetcher: Fetcher, ctx: FetchContext) -> list[CallRecord]:
        params = None
        key_env = source.options.get("key_env")
        if not ctx.offline:
            if not key_env or not os.environ.get(key_env):
                raise SourceError(source.id, f"the GDP API needs a key: set the environment variable "
                                             f"{key_env or '(options.key_env)'}")
            params = {"authorization": os.environ[key_env]}
        resp = fetcher.request("GET", source.url, params=params)
        try:
            data = load_json(resp)
        except FormatError as exc:
            raise SourceError(source.id, str(exc)) from exc
        if isinstance(data, dict):  # some deployments wrap the list
            data = data.get("utlysningar") or data.get("items") or data.get("data")
        if not isinstance(data, list):
            raise SourceError(source.id, "expected a JSON list of calls (utlysningar)")
        records = []
        for row in data:
            if not isinstance(row, dict) or "diarienummer" not in row or "titel" not in row:
                raise SourceError(source.id, "a call lacks 'diarienummer' or 'titel': has the API changed?")
            record = ctx.parse(f"call {row.get('diarienummer')!r}", self.parse, source, row)
            if record is not None:
                records.append(record)
        return records

    def parse(self, source: SourceSpec, row: dict[str, Any]) -> CallRecord | None:
        english = source.options.get("language") == "en"
        sv_title, en_title = row.get("titel"), row.get("titelEng")
        title = (en_title if english else sv_title) or sv_title or en_title
        sv_body, en_body = row.get("beskrivning"), row.get("beskrivningEng")
        body = (en_body if english else sv_body) or sv_body or en_body or ""
        links = [p.get("webbadress") for p in row.get("publiceringsplatser") or [] if p.get("webbadress")]
        native = row.get("diarienummer") or (links[0] if links else None)
        if not title or not native:
            return None  # nothing to identify or show
        closes = parse_iso(row.get("stangningsdatum"), STOCKHOLM, end_of_day=True)
        budget = None
        if row.get("budgetBelopp"):
            budget = f"{row.get('budgetValuta') or 'SEK'} {float(row['budgetBelopp']):,.0f}".replace(",", " ")
        programme = (row.get("program") or {}).get("titel") if isinstance(row.get("program"), dict) else None
        return CallRecord(
            source=source.id,
            native_id=str(native),
            funder=row.get("finansiarNamn") or source.funder,
            title=" ".join(str(title).split()),
            text=html_to_text(body),
            url=links[0] if links else None,
            language="en" if (english or not sv_title) else "sv",
            identifier=row.get("diarienummer"),
            programme=programme,
            opens_at=parse_iso(row.get("oppningsdatum"), STOCKHOLM),
            deadlines=(closes,) if closes else (),
            budget=budget,
        )
