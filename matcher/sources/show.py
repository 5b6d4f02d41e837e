"""`fundbot source show`: one source fetched (live, or its snapshot) and what
the adapter made of it, call by call — without touching the store.  What a
municipality's IT person runs when a funder redesigns its site, or to try the
region's own grant page as a new ``html`` source."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ..config import Deployment, SourceSpec
from ..errors import FetchError, SourceError
from ..models import StoredCall
from . import ADAPTERS, FetchContext


def show_source(dep: Deployment, source: SourceSpec, *, offline: bool,
                now: dt.datetime | None = None) -> dict:
    """Everything the adapter read from ``source``; raises SourceError or
    FetchError when the source cannot be read at all."""
    from ..cycle import LOOKBACK_DAYS, evidence_day, make_clock, make_fetcher, stale_after
    from ..eligibility import read_terms, terms_to_json
    from ..safety import clean_record, safe_url
    import json

    clock = make_clock(dep, offline=offline, as_of=None, now=now)
    fetcher = make_fetcher(dep, source, offline)  # no validators: a full answer, never "not modified"
    today = source.recorded_at if offline and source.recorded_at else clock.today
    since = today - dt.timedelta(days=int(source.options.get("lookback_days", LOOKBACK_DAYS)))
    ctx = FetchContext(today=today, since=since, offline=offline)
    records = ADAPTERS[source.kind].collect(source, fetcher, ctx)
    zone = ZoneInfo(dep.settings.timezone)
    calls, unsafe = [], 0
    for raw in records:
        record, dropped = clean_record(raw)
        unsafe += bool(dropped)
        seen = evidence_day(fetcher, record.url, clock)
        call = StoredCall(0, record, record.content_hash, clock.now, clock.now, seen_on=seen)
        missing = list(ctx.missing.get(raw.native_id, []))
        if dropped:
            missing.append("a link that is not an http(s) address (dropped)")
        if not record.deadlines:
            missing.append("no deadline" + (" (only an opening date)" if record.opens_at else ""))
        if not record.text.strip():
            missing.append("empty text")
        if not record.budget:
            missing.append("no budget")
        if not record.url:
            missing.append("no link")
        terms = read_terms(title=record.title, text=record.text, eligibility=record.eligibility,
                           funder=record.funder)
        calls.append({
            "native_id": record.native_id, "identifier": record.identifier, "title": record.title,
            "url": safe_url(record.url), "language": record.language, "programme": record.programme,
            "opens_at": record.opens_at.astimezone(zone).isoformat() if record.opens_at else None,
            "deadlines": [{"date": d.astimezone(zone).isoformat(), "stage": call.stage(d) or None}
                          for d in record.deadlines],
            "budget": record.budget, "eligibility": record.eligibility,
            "terms": json.loads(terms_to_json(terms)),
            "text_chars": len(record.text), "seen_on": seen.isoformat(),
            "status": call.lifecycle(clock.at, stale_after(dep)), "missing": missing,
        })
    return {"source": source.id, "kind": source.kind, "url": source.url, "offline": offline, "ok": True,
            "judged_at": clock.today.isoformat(), "evidence_day": evidence_day(fetcher, None, clock).isoformat(),
            "calls": calls, "skipped": list(ctx.skipped), "unsafe_links": unsafe}


def format_show(data: dict) -> str:
    """The same, for a person on a terminal."""
    lines = [f"source {data['source']} ({data['kind']}, {'snapshot' if data['offline'] else 'live'}): "
             f"{len(data['calls'])} call(s), evidence of {data['evidence_day']}, judged on {data['judged_at']}"]
    for n, c in enumerate(data["calls"], 1):
        lines.append(f"{n}. {c['title']}  [{c['native_id']}]")
        dates = ", ".join(d["date"][:16].replace("T", " ") + (f" ({d['stage']})" if d["stage"] else "")
                          for d in c["deadlines"]) or "–"
        lines.append(f"   status {c['status']} · deadlines {dates}"
                     + (f" · opens {c['opens_at'][:10]}" if c["opens_at"] else "") + f" · seen {c['seen_on']}")
        lines.append(f"   language {c['language']} · budget {c['budget'] or '–'} · text {c['text_chars']} chars"
                     + (f" · {c['url']}" if c["url"] else ""))
        terms = {k: v for k, v in c["terms"].items() if v not in (None, [], {}, False, "")}
        if terms:
            lines.append("   eligibility terms: " + "; ".join(f"{k}={v}" for k, v in sorted(terms.items())))
        if c["missing"]:
            lines.append("   could not find: " + "; ".join(c["missing"]))
    for reason in data["skipped"]:
        lines.append(f"skipped: {reason}")
    return "\n".join(lines) + "\n"


__all__ = ["FetchError", "SourceError", "format_show", "show_source"]
