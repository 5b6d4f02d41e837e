"""Reading dates and budgets out of a call's prose, by the labels a source
names in its ``[options]`` (shared by the html and rss adapters)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..normalize.dates import labelled_dates
from ..normalize.text import parse_budget


@dataclass(frozen=True)
class ProseFacts:
    opens_at: dt.datetime | None
    deadlines: tuple[dt.datetime, ...]
    budget: str | None


def _labels(opts: dict[str, Any], key: str) -> list[str]:
    value = opts.get(key) or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def read_facts(text: str, opts: dict[str, Any], *, zone: ZoneInfo, reference: dt.date,
               default_currency: str | None = None) -> ProseFacts:
    deadlines = sorted({f.at(zone, end_of_day=True) for f in
                        labelled_dates(text, _labels(opts, "deadline_labels"), reference=reference)})
    openings = labelled_dates(text, _labels(opts, "opening_labels"), reference=reference)
    opens_at = min(f.at(zone, end_of_day=False) for f in openings) if openings else None
    budget = None
    for label in _labels(opts, "budget_labels"):
        m = re.search(re.escape(label) + r"[\s:]*(?P<rest>[^\n]{0,160})", text, re.I)
        if m:
            parsed = parse_budget(m["rest"], default_currency=default_currency)
            budget = str(parsed) if parsed else m["rest"].strip() or None
            if budget:
                break
    return ProseFacts(opens_at, tuple(deadlines), budget)
