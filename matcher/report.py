"""`fundbot report --out DIR`: the combined view as files that need no server —
report.json, matches.csv, one ICS calendar per city, and static HTML pages
(every piece of feed text escaped; no external resources)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from .combined import financing_gaps, gaps_by_theme, joint_opportunities
from .config import Deployment
from .rank import need_texts
from .store import Store

T = {
    "sv": {"title": "Finansiering för Klimatkontrakt 2030", "cities": "Städer", "funders": "Finansiärer",
           "joint": "Gemensamma möjligheter", "gaps": "Finansieringsgap", "deadlines": "Sista dagar de närmaste 60 dagarna",
           "calls": "utlysningar", "relevance": "Relevans", "need": "Behov", "deadline": "Sista dag",
           "none": "Inga", "heat": "Utlysningar × städer (relevans)", "consortium": "konsortium"},
    "en": {"title": "Funding for Klimatkontrakt 2030", "cities": "Cities", "funders": "Funders",
           "joint": "Joint opportunities", "gaps": "Financing gaps", "deadlines": "Deadlines in the next 60 days",
           "calls": "calls", "relevance": "Relevance", "need": "Need", "deadline": "Deadline",
           "none": "None", "heat": "Calls × cities (relevance)", "consortium": "consortium"},
}


def collect(dep: Deployment, store: Store, embedder) -> dict:
    from .embed import embed_cached

    last = store.last_run()
    if last is None:
        raise ValueError("no cycle has run yet: run `fundbot run --once` first")
    zone = ZoneInfo(dep.settings.timezone)
    at = dt.datetime.combine(dt.date.fromisoformat(last["today"]), dt.time(12), zone)
    threshold = dep.settings.matcher.min_score
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT city, call_id, score, need_id, passage, detail FROM matches "
                                 "ORDER BY city, score DESC")).fetchall()
    matches: dict[str, list[dict]] = {}
    for r in rows:
        detail = json.loads(r.detail)
        matches.setdefault(r.city, []).append({
            "city": r.city, "call_id": r.call_id, "score": r.score, "need_id": r.need_id, "passage": r.passage,
            "eligibility": detail.get("eligibility", "unknown"), "reasons": detail.get("reasons", []),
            "caveats": detail.get("caveats", [])})
    calls = {c.id: c for c in store.calls(include_gone=True, ids={r.call_id for r in rows})}
    profiles = list(dep.profiles)
    keys = [(p.city.id, n.id) for p in profiles for n in p.needs]
    texts = [t for p in profiles for t in need_texts(p)]
    vectors, _ = embed_cached(store, embedder, texts) if texts else ([], 0)
    need_vectors = dict(zip(keys, vectors))
    need_text = {(p.city.id, n.id): n.text for p in profiles for n in p.needs}
    joint = joint_opportunities(matches, calls, need_vectors, need_text, threshold, at)
    gaps = financing_gaps(profiles, matches, threshold)
    return {"today": last["today"], "threshold": threshold, "at": at, "profiles": profiles, "calls": calls,
            "matches": matches, "joint": joint, "gaps": gaps}


def to_json(data: dict) -> dict:
    at = data["at"]
    return {
        "today": data["today"],
        "threshold": data["threshold"],
        "calls": [{"id": c.id, "source": c.record.source, "identifier": c.record.identifier, "title": c.record.title,
                   "funder": c.record.funder, "url": c.record.url, "status": c.status(at),
                   "deadline": (d.isoformat() if (d := c.next_deadline(at)) else None),
                   "deadlines": [x.isoformat() for x in c.record.deadlines], "budget": c.record.budget}
                  for c in data["calls"].values()],
        "cities": [{"id": p.city.id, "name": p.city.name, "needs": len(p.needs)} for p in data["profiles"]],
        "matches": [m for rows in data["matches"].values() for m in rows],
        "joint_opportunities": [o.as_dict() for o in data["joint"]],
        "gaps": [g.as_dict() for g in data["gaps"]],
        "gaps_by_theme": gaps_by_theme(data["gaps"]),
    }


def write_csv(path: Path, data: dict) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["city", "call_id", "title", "funder", "score", "need_id", "eligibility", "deadline", "url"])
        for city, rows in data["matches"].items():
            for m in rows:
                call = data["calls"][m["call_id"]]
                d = call.next_deadline(data["at"])
                w.writerow([city, call.id, call.record.title, call.record.funder, f"{m['score']:.4f}", m["need_id"],
                            m["eligibility"], d.isoformat() if d else "", call.record.url or ""])


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    out, raw = [], line.encode("utf-8")
    while len(raw) > 73:
        cut = 73
        while (raw[cut] & 0xC0) == 0x80:  # never split a UTF-8 character
            cut -= 1
        out.append(raw[:cut].decode())
        raw = raw[cut:]
    out.append(raw.decode())
    return "\r\n ".join(out)


def write_ics(path: Path, city: str, data: dict, reminder_days: int) -> int:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fundbot//Klimatkontrakt 2030//SV", "CALSCALE:GREGORIAN"]
    n = 0
    for m in data["matches"].get(city, []):
        if m["score"] < data["threshold"] or m["eligibility"] == "ineligible":
            continue
        call = data["calls"][m["call_id"]]
        deadline = call.next_deadline(data["at"])
        if deadline is None:
            continue
        n += 1
        stamp = deadline.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        lines += ["BEGIN:VEVENT", f"UID:fundbot-{city}-{call.id}-{stamp}@fundbot", f"DTSTAMP:{now}",
                  f"DTSTART:{stamp}", f"DTEND:{stamp}",
                  _fold("SUMMARY:" + _ics_text(f"Sista dag: {call.record.title}")),
                  _fold("DESCRIPTION:" + _ics_text(f"{call.record.funder}. Relevans {m['score']:.2f}. {call.record.url or ''}")),
                  "BEGIN:VALARM", "ACTION:DISPLAY", f"TRIGGER:-P{reminder_days}D",
                  _fold("DESCRIPTION:" + _ics_text(call.record.title)), "END:VALARM", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return n


def _page(title: str, body: str, lang: str) -> str:
    e = html.escape
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:auto;"
            "padding:1rem;line-height:1.4}table{border-collapse:collapse}td,th{padding:.2rem .4rem;text-align:left}"
            "svg{max-width:100%;height:auto}.muted{color:#666}</style></head><body>"
            f'<nav><a href="index.html">⌂</a></nav><h1>{e(title)}</h1>{body}</body></html>')


def heat_map(data: dict, t: dict) -> str:
    """Calls × cities as an inline SVG (darker = more relevant)."""
    cities = [p.city.id for p in data["profiles"]]
    scored: dict[int, dict[str, float]] = {}
    for city, rows in data["matches"].items():
        for m in rows:
            scored.setdefault(m["call_id"], {})[city] = m["score"]
    top = sorted(scored, key=lambda c: -max(scored[c].values()))[:40]
    cell, left, head = 14, 260, 90
    width, height = left + cell * len(cities) + 60, head + cell * len(top)  # room for the last rotated label
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{html.escape(t["heat"])}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" id="heatmap">']
    for x, city in enumerate(cities):
        parts.append(f'<text x="{left + x * cell + 10}" y="{head - 4}" font-size="10" '
                     f'transform="rotate(-60 {left + x * cell + 10} {head - 4})">{html.escape(city)}</text>')
    for y, call_id in enumerate(top):
        title = data["calls"][call_id].record.title
        parts.append(f'<text x="0" y="{head + y * cell + 11}" font-size="10">{html.escape(title[:45])}</text>')
        for x, city in enumerate(cities):
            score = scored[call_id].get(city, 0.0)
            shade = int(255 - 200 * score)
            parts.append(f'<rect x="{left + x * cell}" y="{head + y * cell}" width="{cell - 1}" height="{cell - 1}" '
                         f'fill="rgb({shade},{shade},255)"><title>{html.escape(city)}: {score:.2f}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def write_html(out: Path, data: dict, lang: str) -> None:
    t = T.get(lang, T["sv"])
    e = html.escape
    at = data["at"]
    funders: dict[str, int] = {}
    for c in data["calls"].values():
        funders[c.record.funder] = funders.get(c.record.funder, 0) + 1
    soon = sorted(((c.next_deadline(at), c) for c in data["calls"].values()
                   if c.next_deadline(at) and c.next_deadline(at) - at <= dt.timedelta(days=60)), key=lambda x: x[0])
    body = [f"<p class=muted>{e(data['today'])}</p>", f"<h2>{e(t['heat'])}</h2>", heat_map(data, t),
            f"<h2>{e(t['deadlines'])}</h2><ol>"]
    body += [f"<li>{d.astimezone(ZoneInfo('Europe/Stockholm')):%Y-%m-%d} — {e(c.record.title)} ({e(c.record.funder)})</li>"
             for d, c in soon] or [f"<li>{e(t['none'])}</li>"]
    body.append(f"</ol><h2>{e(t['cities'])}</h2><ul>")
    body += [f'<li><a href="city-{e(p.city.id)}.html">{e(p.city.name)}</a></li>' for p in data["profiles"]]
    body.append(f'</ul><h2>{e(t["funders"])}</h2><table>')
    body += [f"<tr><td>{e(f)}</td><td>{n} {e(t['calls'])}</td></tr>" for f, n in sorted(funders.items())]
    body.append(f'</table><p><a href="joint.html">{e(t["joint"])}</a> ({len(data["joint"])})</p>')
    (out / "index.html").write_text(_page(t["title"], "".join(body), lang), encoding="utf-8")

    for p in data["profiles"]:
        rows = [m for m in data["matches"].get(p.city.id, []) if m["score"] >= data["threshold"]]
        items = []
        for m in rows:
            c = data["calls"][m["call_id"]]
            link = f'<a href="{e(c.record.url)}">{e(c.record.title)}</a>' if c.record.url else e(c.record.title)
            items.append(f"<li><strong>{link}</strong> — {e(c.record.funder)} · {e(t['relevance'])} "
                         f"{m['score']:.2f}<br><span class=muted>{e(m['need_id'])}: {e(m['passage'][:300])}</span></li>")
        gaps = [f"<li>{e(g.need_text)} ({g.best_relevance:.2f})</li>" for g in data["gaps"] if g.city == p.city.id]
        page = (f"<ol>{''.join(items) or '<li>' + e(t['none']) + '</li>'}</ol><h2>{e(t['gaps'])}</h2>"
                f"<ul>{''.join(gaps) or '<li>' + e(t['none']) + '</li>'}</ul>")
        (out / f"city-{p.city.id}.html").write_text(_page(p.city.name, page, lang), encoding="utf-8")

    joint = [f"<li><strong>{e(o.title)}</strong> — {e(o.funder)} · {', '.join(e(c) for c in o.cities)}"
             + (f" · {e(t['consortium'])}" if o.consortium else "") + "</li>" for o in data["joint"]]
    (out / "joint.html").write_text(_page(t["joint"], f"<ol>{''.join(joint) or '<li>' + e(t['none']) + '</li>'}</ol>",
                                          lang), encoding="utf-8")


def write_report(dep: Deployment, store: Store, embedder, out: Path, lang: str = "sv") -> dict:
    data = collect(dep, store, embedder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calendars").mkdir(exist_ok=True)
    doc = to_json(data)
    (out / "report.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    write_csv(out / "matches.csv", data)
    for p in data["profiles"]:
        write_ics(out / "calendars" / f"{p.city.id}.ics", p.city.id, data, dep.settings.delivery.reminder_days)
    write_html(out, data, lang)
    return doc
