"""Reading dates and budgets out of a call's prose, by the labels a source
names in its ``[options]`` (shared by the html and rss adapters)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..models import with_stages
from ..normalize.dates import labelled_dates, labelled_dates_in_context
from ..normalize.text import parse_budget


@dataclass(frozen=True)
class ProseFacts:
    opens_at: dt.datetime | None
    deadlines: tuple[dt.datetime, ...]
    budget: str | None
    stages: tuple[str, ...] = ()


# how a page says what a deadline is (English and Swedish): the label itself, else the deadline's line
STAGE_WORDS = {
    "stage1": re.compile(r"\b(?:stage|step|phase)\s*(?:1|one|i)\b|\bfirst\s+(?:stage|step)\b|\bpre-?proposals?\b"
                         r"|\bconcept\s+notes?\b|\bexpressions?\s+of\s+interest\b|\bförsta\s+(?:steg|etapp)\w*"
                         r"|\b(?:steg|etapp)\s*1\b|\bföransökan\w*|\bskissansökan\w*|\bintresseanmälan\w*", re.I),
    "stage2": re.compile(r"\b(?:stage|step|phase)\s*(?:2|two|ii)\b|\bsecond\s+(?:stage|step)\b|\bfull\s+proposals?\b"
                         r"|\bby\s+invitation\b|\binvited\s+(?:applicants|consortia|proposals|projects)\b"
                         r"|\bandra\s+(?:steg|etapp)\w*|\b(?:steg|etapp)\s*2\b|\bfullständig\w*\s+ansökan\w*"
                         r"|\binbjudna\b", re.I),
    "cutoff": re.compile(r"\bcut-?\s?offs?\b|\bbrytdatum\w*", re.I),
}


def stage_of(label: str, before: str = "", line: str = "") -> str:
    """The stage a deadline's label names; else the last one named on its
    line up to the label ("Andra steget, endast inbjudna: senast …"); else
    the first one named on the rest of the line; else ""."""
    def hits(where: str) -> list[tuple[int, str]]:
        return sorted((m.start(), stage) for stage, rx in STAGE_WORDS.items() for m in rx.finditer(where))

    named = hits(label) or hits(before)[-1:] or hits(line)
    return named[0][1] if named else ""


def _labels(opts: dict[str, Any], key: str) -> list[str]:
    value = opts.get(key) or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def read_facts(text: str, opts: dict[str, Any], *, zone: ZoneInfo, reference: dt.date,
               default_currency: str | None = None) -> ProseFacts:
    found = labelled_dates_in_context(text, _labels(opts, "deadline_labels"), reference=reference)
    # a listing card writes the day, the call page the day and the hour: one deadline, at that hour
    timed = {f.date for f, *_ in found if f.time is not None}
    deadlines, stages = with_stages(
        (f.at(zone, end_of_day=True), stage_of(label, before, line))
        for f, label, before, line in found if f.time is not None or f.date not in timed)
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
    return ProseFacts(opens_at, deadlines, budget, stages)
