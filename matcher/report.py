"""`fundbot report --out DIR`: the combined view as files that need no server —
report.json, matches.csv, gaps.csv, one ICS calendar per city, and static
HTML pages (every piece of feed text escaped; no external resources).  Run
again into the same folder, it marks what changed since the report it
replaces: the calls each city is offered that it was not, and those gone."""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
from pathlib import Path
from zoneinfo import ZoneInfo


from .combined import gaps_by_theme, joint_opportunities, need_coverage
from .config import Deployment
from .rank import need_texts
from .safety import SafeCsvWriter, safe_url
from .store import Store

log = logging.getLogger(__name__)

T = {
    "sv": {"title": "Finansiering för Klimatkontrakt 2030", "cities": "Städer", "funders": "Finansiärer",
           "joint": "Gemensamma möjligheter", "gaps": "Finansieringsgap", "deadlines": "Sista dagar de närmaste 60 dagarna",
           "calls": "utlysningar", "relevance": "Relevans", "need": "Behov", "deadline": "Sista dag",
           "none": "Inga", "heat": "Utlysningar × städer (relevans)", "consortium": "konsortium",
           "overview": "Översikt", "open_calls": "öppna utlysningar", "from_funders": "från {n} finansiärer",
           "cities_n": "städer", "joint_n": "gemensamma möjligheter", "gaps_n": "behov utan täckning",
           "as_of": "Läget {day}", "fits": "Passar", "status": "Status", "weight": "Vikt", "best": "Bästa utlysning",
           "theme": "Tema", "by_theme": "Gap per tema, alla städer", "per_city": "Per stad", "to_check": "Att kontrollera",
           "ineligible": "Kan inte söka", "no_call": "ingen", "shared": "Gemensamt behov", "today": "idag",
           "open": "öppen", "forthcoming": "öppnar snart", "closed": "stängd", "eligible": "behörig",
           "unknown": "behörighet oklar", "rolling": "löpande / ej angiven", "covered": "Behov med vikt 2–3 och bästa utlysning",
           "new": "ny", "since": "Sedan rapporten {day}: {new} nya förslag, {dropped} borta",
           "dropped": "Inte längre bland förslagen", "new_n": "nya",
           "check_funder": "Att kontrollera hos finansiären (föreslås inte)",
           "check_why": "Utlysningar utan kommande sista dag som källan inte visat på länge, och utlysningar "
                        "vars första steg har passerat."},
    "en": {"title": "Funding for Klimatkontrakt 2030", "cities": "Cities", "funders": "Funders",
           "joint": "Joint opportunities", "gaps": "Financing gaps", "deadlines": "Deadlines in the next 60 days",
           "calls": "calls", "relevance": "Relevance", "need": "Need", "deadline": "Deadline",
           "none": "None", "heat": "Calls × cities (relevance)", "consortium": "consortium",
           "overview": "Overview", "open_calls": "open calls", "from_funders": "from {n} funders",
           "cities_n": "cities", "joint_n": "joint opportunities", "gaps_n": "needs without cover",
           "as_of": "As of {day}", "fits": "Fits", "status": "Status", "weight": "Weight", "best": "Best call",
           "theme": "Theme", "by_theme": "Gaps by theme, all cities", "per_city": "Per city", "to_check": "To check",
           "ineligible": "Cannot apply", "no_call": "none", "shared": "Shared need", "today": "today",
           "open": "open", "forthcoming": "opens soon", "closed": "closed", "eligible": "eligible",
           "unknown": "eligibility unclear", "rolling": "rolling / not stated", "covered": "Needs of weight 2–3 and their best call",
           "new": "new", "since": "Since the report of {day}: {new} new suggestions, {dropped} gone",
           "dropped": "No longer among the suggestions", "new_n": "new",
           "check_funder": "To check with the funder (not suggested)",
           "check_why": "Calls with no deadline ahead that their source has not shown for a long time, and calls "
                        "past their first stage."},
}


def collect(dep: Deployment, store: Store, embedder) -> dict:
    from .embed import embed_cached

    at = store.reference_at(dep.settings.timezone)
    if at is None:
        raise ValueError("no cycle has run yet: run `fundbot run --once` first")
    zone = ZoneInfo(dep.settings.timezone)
    threshold = dep.settings.matcher.min_score
    matches: dict[str, list[dict]] = {  # in the ranking's own order (expected grade)
        city: [{"city": m.city, "call_id": m.call_id, "score": m.score, "need_id": m.need_id, "passage": m.passage,
                "eligibility": m.eligibility, "reasons": m.detail.get("reasons", []),
                "caveats": m.detail.get("caveats", []), "rank_key": m.rank_key} for m in saved]
        for city, saved in sorted(store.saved_matches().items())}
    calls = {c.id: c for c in store.calls(include_gone=True, ids={m["call_id"] for ms in matches.values() for m in ms})}
    profiles = list(dep.profiles)
    keys = [(p.city.id, n.id) for p in profiles for n in p.needs]
    texts = [t for p in profiles for t in need_texts(p)]
    vectors, _ = embed_cached(store, embedder, texts) if texts else ([], 0)
    need_vectors = dict(zip(keys, vectors))
    need_text = {(p.city.id, n.id): n.text for p in profiles for n in p.needs}
    joint = joint_opportunities(matches, calls, need_vectors, need_text, threshold, at)
    coverage = need_coverage(profiles, matches, threshold)
    gaps = [g for g in coverage if g.best_relevance < threshold]
    from .suggest import evidence_report

    evidence = evidence_report(dep, store)
    to_check = [dict(r, status="unverified") for r in evidence["unverified"]]
    to_check += [dict(r, status="invitation") for r in evidence["invitation_only"]]
    return {"today": at.date().isoformat(), "threshold": threshold, "at": at, "profiles": profiles, "calls": calls,
            "to_check": to_check,
            "matches": matches, "joint": joint, "gaps": gaps, "coverage": coverage, "need_text": need_text,
            "need_vectors": need_vectors, "changes": changes_since(None, {}),
            "zone": zone}


def to_json(data: dict) -> dict:
    at = data["at"]
    return {
        "today": data["today"],
        "threshold": data["threshold"],
        "calls": [{"id": c.id, "source": c.record.source, "identifier": c.record.identifier, "title": c.record.title,
                   "funder": c.record.funder, "url": safe_url(c.record.url), "status": c.status(at),
                   "deadline": (d.isoformat() if (d := c.next_deadline(at)) else None),
                   "deadlines": [x.isoformat() for x in c.record.deadlines],
                   "stages": list(c.record.stages) or None, "stage": c.stage(c.next_deadline(at)) or None,
                   "seen_on": c.seen_on.isoformat() if c.seen_on else None, "budget": c.record.budget}
                  for c in data["calls"].values()],
        "to_check": data.get("to_check", []),
        "cities": [{"id": p.city.id, "name": p.city.name, "needs": len(p.needs)} for p in data["profiles"]],
        "matches": [m for rows in data["matches"].values() for m in rows],
        "joint_opportunities": [o.as_dict() for o in data["joint"]],
        "gaps": [g.as_dict() for g in data["gaps"]],
        "gaps_by_theme": gaps_by_theme(data["gaps"], data["need_vectors"]),
        "coverage": [dict(g.as_dict(), gap=g.best_relevance < data["threshold"]) for g in data["coverage"]],
        "changes": data["changes"],
    }


def suggested(data: dict) -> dict[str, list[int]]:
    """Per city: the calls it is offered (at or above the threshold, not ineligible), best first."""
    return {city: [m["call_id"] for m in rows if m["score"] >= data["threshold"] and m["eligibility"] != "ineligible"]
            for city, rows in data["matches"].items()}


def _call_key(call: dict) -> tuple:
    """What identifies a call across two reports of one deployment (store ids are stable, but a
    report may come from another store): its source and identifier, else its title."""
    return call.get("source"), call.get("identifier") or call.get("title")


def changes_since(previous: dict | None, data: dict) -> dict:
    """What changed for each city since ``previous`` (an earlier report.json): the calls now
    suggested that were not, and those suggested then that are not now (closed, gone, or
    overtaken), with their titles.  Nothing when there is no earlier report."""
    if not previous:
        return {"since": None, "cities": {}}
    then_calls = {c["id"]: c for c in previous.get("calls", []) if isinstance(c, dict) and "id" in c}
    threshold = previous.get("threshold", data["threshold"])
    then: dict[str, set] = {}
    for m in previous.get("matches", []):
        call = then_calls.get(m.get("call_id"))
        if call and m.get("score", 0) >= threshold and m.get("eligibility") != "ineligible":
            then.setdefault(m.get("city"), set()).add(_call_key(call))
    now_calls = {c.id: {"source": c.record.source, "identifier": c.record.identifier, "title": c.record.title}
                 for c in data["calls"].values()}
    out = {}
    for city, ids in suggested(data).items():
        keys = {_call_key(now_calls[i]): i for i in ids}
        before = then.get(city, set())
        dropped = [then_calls[i] for i in sorted(then_calls) if _call_key(then_calls[i]) in before - set(keys)]
        out[city] = {"new": [i for k, i in keys.items() if k not in before],
                     "dropped": [{"identifier": c.get("identifier"), "title": c.get("title"), "url": c.get("url")}
                                 for c in dropped]}
    return {"since": previous.get("today"), "cities": out}


def read_previous(path: Path) -> dict | None:
    """The report.json an earlier `fundbot report` left in the folder, if it can be read."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s: not a report this run can compare with (%s); nothing is marked new", path, exc)
        return None
    return doc if isinstance(doc, dict) else None


def write_gaps_csv(path: Path, data: dict) -> None:
    """Every need of weight 2–3 with its best open call and whether it is a gap — for the agencies."""
    names = {p.city.id: p.city.name for p in data["profiles"]}
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = SafeCsvWriter(fh)
        w.writerow(["city", "city_name", "need_id", "need", "weight", "theme", "best_call_id", "best_call_title",
                    "best_call_funder", "best_relevance", "gap"])
        for g in data["coverage"]:
            best = data["calls"].get(g.best_call_id) if g.best_call_id else None
            w.writerow([g.city, names.get(g.city, g.city), g.need_id, g.need_text, g.weight, "; ".join(g.theme),
                        best.id if best else "", best.record.title if best else "", best.record.funder if best else "",
                        f"{g.best_relevance:.4f}", "yes" if g.best_relevance < data["threshold"] else "no"])


def write_csv(path: Path, data: dict) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = SafeCsvWriter(fh)
        w.writerow(["city", "call_id", "title", "funder", "score", "need_id", "eligibility", "deadline", "url"])
        for city, rows in data["matches"].items():
            for m in rows:
                call = data["calls"][m["call_id"]]
                d = call.next_deadline(data["at"])
                w.writerow([city, call.id, call.record.title, call.record.funder, f"{m['score']:.4f}", m["need_id"],
                            m["eligibility"], d.isoformat() if d else "", safe_url(call.record.url) or ""])


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


ICS_TEXT = {"sv": {"deadline": "Sista dag", "relevance": "Relevans", "caveats": "Att kontrollera", "need": "Behov"},
            "en": {"deadline": "Deadline", "relevance": "Relevance", "caveats": "To check", "need": "Need"}}


def write_ics(path: Path, city: str, data: dict, reminder_days: int, lang: str = "sv") -> int:
    """The city's calendar: a deadline event, with a reminder, per call it is offered (in ``lang``)."""
    t = ICS_TEXT.get(lang, ICS_TEXT["en"])
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:-//fundbot//Klimatkontrakt 2030//{lang.upper()}",
             "CALSCALE:GREGORIAN"]
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
                  _fold("SUMMARY:" + _ics_text(f"{t['deadline']}: {call.record.title}")),
                  _fold("DESCRIPTION:" + _ics_text(
                      f"{call.record.funder}. {t['relevance']} {m['score']:.2f}. {t['need']}: {m['need_id']}."
                      + (f" {t['caveats']}: {'; '.join(m['caveats'])}." if m.get("caveats") else "")
                      + f" {safe_url(call.record.url) or ''}")),
                  "BEGIN:VALARM", "ACTION:DISPLAY", f"TRIGGER:-P{reminder_days}D",
                  _fold("DESCRIPTION:" + _ics_text(call.record.title)), "END:VALARM", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return n


CSS = """
body{font-family:system-ui,sans-serif;max-width:64rem;margin:auto;padding:.8rem;line-height:1.45;color:#1b1b1b}
nav{display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.95rem}
h1{font-size:1.5rem;margin:.6rem 0}h2{font-size:1.15rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%}td,th{padding:.25rem .4rem;text-align:left;vertical-align:top;
border-bottom:1px solid #e4e4e4}th{font-weight:600}
.figure{overflow-x:auto}svg{height:auto}.muted{color:#5d5d5d}.small{font-size:.88rem}
.numbers{display:flex;flex-wrap:wrap;gap:.6rem;margin:.6rem 0;padding:0;list-style:none}
.numbers li{background:#eef2fb;border-radius:.4rem;padding:.4rem .7rem}.numbers b{font-size:1.3rem;display:block}
.bar{background:#4a6fd1;height:.8rem;display:inline-block;vertical-align:middle;margin-right:.4rem}
ol.ranked>li{margin-bottom:.8rem}.warn{color:#8a4b00}.bad{color:#9b1c1c}
.new{background:#e3f4e1;color:#1d5c1a;border-radius:.3rem;padding:0 .35rem;font-size:.8rem;font-weight:600}
@media (max-width:40rem){td,th{padding:.2rem}h1{font-size:1.25rem}}
"""


def _page(title: str, body: str, lang: str, t: dict) -> str:
    e = html.escape
    nav = (f'<nav><a href="index.html">{e(t["overview"])}</a><a href="joint.html">{e(t["joint"])}</a>'
           f'<a href="gaps.html">{e(t["gaps"])}</a></nav>')
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
            f"{nav}<h1>{e(title)}</h1>{body}</body></html>")


def slug(text: str) -> str:
    """A file-name-safe form of a funder's name (å/ä/ö folded)."""
    import re
    import unicodedata

    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-") or "funder"


def funder_pages(data: dict) -> dict[str, str]:
    """Funder name → its page's file name (unique)."""
    out: dict[str, str] = {}
    for funder in sorted({c.record.funder for c in data["calls"].values()}):
        name, n = f"funder-{slug(funder)}.html", 2
        while name in out.values():
            name, n = f"funder-{slug(funder)}-{n}.html", n + 1
        out[funder] = name
    return out


def heat_map(data: dict, t: dict) -> str:
    """Calls × cities as an inline SVG (darker = more relevant); the 40 calls
    most relevant to any city, city names on top."""
    profiles = data["profiles"]
    scored: dict[int, dict[str, float]] = {}
    for city, rows in data["matches"].items():
        for m in rows:
            scored.setdefault(m["call_id"], {})[city] = m["score"]
    top = sorted(scored, key=lambda c: (-max(scored[c].values()), c))[:40]
    cell, left, head = 16, 280, 110
    width, height = left + cell * len(profiles) + 70, head + cell * len(top) + 4
    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{e(t["heat"])}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" id="heatmap">']
    for x, p in enumerate(profiles):
        cx = left + x * cell + 11
        parts.append(f'<a href="city-{e(p.city.id)}.html"><text x="{cx}" y="{head - 4}" font-size="11" '
                     f'transform="rotate(-60 {cx} {head - 4})">{e(p.city.name[:22])}</text></a>')
    for y, call_id in enumerate(top):
        title = data["calls"][call_id].record.title
        short = title if len(title) <= 42 else title[:41] + "…"
        parts.append(f'<text x="0" y="{head + y * cell + 12}" font-size="11">{e(short)}'
                     f'<title>{e(title)}</title></text>')
        for x, p in enumerate(profiles):
            score = scored[call_id].get(p.city.id, 0.0)
            shade = int(255 - 200 * score)
            parts.append(f'<rect x="{left + x * cell}" y="{head + y * cell}" width="{cell - 1}" height="{cell - 1}" '
                         f'fill="rgb({shade},{shade},255)"><title>{e(p.city.name)} — {e(title)}: '
                         f'{score:.2f}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def timeline(data: dict, t: dict, pages: dict[str, str], days: int = 60) -> str:
    """The deadlines of the next ``days`` days on a drawn time axis, one
    marker per call (labels in lanes so that they never overlap)."""
    e = html.escape
    at, zone = data["at"], data["zone"]
    soon = sorted(((d, c) for c in data["calls"].values()
                   if (d := c.next_deadline(at)) and d - at <= dt.timedelta(days=days)), key=lambda x: (x[0], x[1].id))
    if not soon:
        return f'<p class=muted id="timeline-empty">{e(t["none"])}</p>'
    left, right, width, lane_h, axis_y = 24, 10, 900, 18, 24
    scale = (width - left - right) / days
    lanes: list[float] = []  # the x where each lane is free again
    marks = []
    for d, c in soon:
        x = left + max(0.0, (d - at).total_seconds() / 86400) * scale
        label = f"{d.astimezone(zone):%d/%m} {c.record.title[:38]}"
        span = 6.2 * len(label) + 12
        lane = next((k for k, free in enumerate(lanes) if free <= x), None)
        if lane is None:
            lanes.append(0.0)
            lane = len(lanes) - 1
        lanes[lane] = x + span
        marks.append((x, lane, label, d, c))
    height = axis_y + 14 + lane_h * len(lanes)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" role="img" aria-label="{e(t["deadlines"])}" '
             f'viewBox="0 0 {width + 260} {height}" width="{width + 260}" height="{height}">',
             f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" stroke="#444"/>']
    for week in range(0, days + 1, 7):
        x = left + week * scale
        day = (at + dt.timedelta(days=week)).astimezone(zone)
        parts.append(f'<line x1="{x:.1f}" y1="{axis_y - 4}" x2="{x:.1f}" y2="{axis_y + 4}" stroke="#444"/>'
                     f'<text x="{x:.1f}" y="{axis_y - 8}" font-size="11" text-anchor="middle">'
                     f'{e(t["today"]) if week == 0 else f"{day:%d/%m}"}</text>')
    for x, lane, label, d, c in marks:
        y = axis_y + 14 + lane * lane_h
        href = f'{pages.get(c.record.funder, "index.html")}#call-{c.id}'
        parts.append(f'<a href="{e(href)}"><line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{y - 4}" stroke="#9aa9d6"/>'
                     f'<circle cx="{x:.1f}" cy="{y - 4}" r="3.5" fill="#4a6fd1"/>'
                     f'<text x="{x + 6:.1f}" y="{y}" font-size="11">{e(label)}'
                     f'<title>{e(c.record.title)} — {e(c.record.funder)}, {d.astimezone(zone):%Y-%m-%d %H:%M}</title>'
                     f'</text></a>')
    parts.append("</svg>")
    return "".join(parts)


def _deadline(c, data: dict, t: dict) -> str:
    """The next deadline, its stage, and the day the source last showed the call."""
    from .channels.text import seen_note, stage_note

    at, lang = data["at"], t["lang"]
    d = c.next_deadline(at)
    text = (f"{d.astimezone(data['zone']):%Y-%m-%d %H:%M}" if d else t["rolling"]) + stage_note(
        c.stage(d), c.status(at), lang)
    return text + (f" · {seen_note(c.seen_on, lang)}" if c.seen_on else "")


def _call_link(c) -> str:
    e = html.escape
    url = safe_url(c.record.url)
    return f'<a href="{e(url)}">{e(c.record.title)}</a>' if url else e(c.record.title)


def write_html(out: Path, data: dict, lang: str) -> None:
    t = dict(T.get(lang, T["sv"]), lang=lang if lang in T else "sv")
    e = html.escape
    at = data["at"]
    names = {p.city.id: p.city.name for p in data["profiles"]}
    pages = funder_pages(data)
    threshold = data["threshold"]
    fits: dict[int, list[tuple[str, float]]] = {}
    for city, rows in data["matches"].items():
        for m in rows:
            if m["score"] >= threshold and m["eligibility"] != "ineligible":
                fits.setdefault(m["call_id"], []).append((city, m["score"]))
    open_calls = [c for c in data["calls"].values() if c.status(at) != "closed"]
    per_funder: dict[str, int] = {}
    for c in open_calls:
        per_funder[c.record.funder] = per_funder.get(c.record.funder, 0) + 1

    # overview
    numbers = [(len(open_calls), t["open_calls"] + " " + t["from_funders"].format(n=len(per_funder))),
               (len(data["profiles"]), t["cities_n"]), (len(data["joint"]), t["joint_n"]),
               (len(data["gaps"]), t["gaps_n"])]
    most = max(per_funder.values(), default=1)
    body = [f"<p class=muted>{e(t['as_of'].format(day=data['today']))}</p><ul class=numbers>"]
    body += [f"<li><b>{n}</b>{e(label)}</li>" for n, label in numbers]
    body += ["</ul>", f"<h2>{e(t['heat'])}</h2><div class=figure>", heat_map(data, t), "</div>",
             f"<h2>{e(t['deadlines'])}</h2><div class=figure>", timeline(data, t, pages), "</div>",
             f"<h2>{e(t['funders'])}</h2><table>"]
    body += [f'<tr><td><a href="{pages[f]}">{e(f)}</a></td><td><span class=bar style="width:{8 * n / most:.1f}rem">'
             f"</span>{n} {e(t['calls'])}</td></tr>" for f, n in sorted(per_funder.items(), key=lambda x: (-x[1], x[0]))]
    body.append(f"</table><h2>{e(t['cities'])}</h2><ul>")
    changes = data["changes"]["cities"]
    body += [f'<li><a href="city-{e(p.city.id)}.html">{e(p.city.name)}</a> — '
             f'{sum(1 for m in data["matches"].get(p.city.id, []) if m["score"] >= threshold)} {e(t["calls"])}'
             + (f' <span class=new>{len(fresh)} {e(t["new_n"])}</span>'
                if (fresh := changes.get(p.city.id, {}).get("new")) else "") + "</li>"
             for p in data["profiles"]]
    body.append("</ul>")
    if data.get("to_check"):  # never suggested, but a person should know they are there
        from .channels.text import lifecycle_words

        words = lifecycle_words(t["lang"])
        body.append(f'<h2>{e(t["check_funder"])}</h2><p class="muted small">{e(t["check_why"])}</p><ul>')
        for r in data["to_check"]:
            note = (words["check"].format(day=r["seen_on"]) if r["status"] == "unverified"
                    else words["invitation"])
            title = (f'<a href="{e(r["url"])}">{e(r["title"])}</a>' if safe_url(r.get("url")) else e(r["title"]))
            body.append(f"<li>{title} — {e(r['funder'])}: {e(note)}</li>")
        body.append("</ul>")
    (out / "index.html").write_text(_page(t["title"], "".join(body), lang, t), encoding="utf-8")

    # one page per city: its ranked list, then its needs' cover and gaps
    since = data["changes"]["since"]
    for p in data["profiles"]:
        change = changes.get(p.city.id, {"new": [], "dropped": []})
        fresh = set(change["new"])
        items = []
        for m in data["matches"].get(p.city.id, []):
            if m["score"] < threshold:
                continue
            c = data["calls"][m["call_id"]]
            need = data["need_text"].get((p.city.id, m["need_id"]), m["need_id"])
            check = ""
            if m["eligibility"] == "ineligible":
                check = f'<br><span class=bad>{e(t["ineligible"])}: {e("; ".join(m["reasons"]))}</span>'
            elif m["caveats"]:
                check = f'<br><span class=warn>{e(t["to_check"])}: {e("; ".join(m["caveats"]))}</span>'
            badge = f' <span class=new>{e(t["new"])}</span>' if c.id in fresh else ""
            items.append(f'<li id="call-{c.id}"><strong>{_call_link(c)}</strong>{badge}<br>'
                         f'<a href="{pages[c.record.funder]}">{e(c.record.funder)}</a> · {e(t["deadline"])} '
                         f'{e(_deadline(c, data, t))} · {e(t["relevance"])} {m["score"]:.0%}<br>'
                         f'<span class=small>{e(t["need"])}: {e(need)}</span><br>'
                         f'<span class="muted small">“{e(m["passage"][:320])}”</span>{check}</li>')
        cover = [g for g in data["coverage"] if g.city == p.city.id]
        rows = []
        for g in cover:
            best = data["calls"].get(g.best_call_id) if g.best_call_id else None
            mark = "bad" if g.best_relevance < threshold else ""
            rows.append(f'<tr class="{mark}"><td>{e(g.need_text)}</td><td>{g.weight}</td>'
                        f'<td>{_call_link(best) if best else e(t["no_call"])}</td><td>{g.best_relevance:.0%}</td></tr>')
        head = (f'<p class=muted>{e(t["since"].format(day=since, new=len(fresh), dropped=len(change["dropped"])))}</p>'
                if since else "")
        gone = ""
        if change["dropped"]:
            gone = (f'<h2>{e(t["dropped"])}</h2><ul>'
                    + "".join(f'<li><a href="{e(safe_url(d["url"]))}">{e(d["title"] or "")}</a></li>' if safe_url(d.get("url"))
                              else f'<li>{e(d["title"] or "")}</li>' for d in change["dropped"]) + "</ul>")
        page = (f'{head}<ol class=ranked>{"".join(items) or "<li>" + e(t["none"]) + "</li>"}</ol>{gone}'
                f'<h2>{e(t["covered"])}</h2><table><tr><th>{e(t["need"])}</th><th>{e(t["weight"])}</th>'
                f'<th>{e(t["best"])}</th><th>{e(t["relevance"])}</th></tr>{"".join(rows)}</table>')
        (out / f"city-{p.city.id}.html").write_text(_page(p.city.name, page, lang, t), encoding="utf-8")

    # one page per funder: its calls and the cities each fits
    for funder, name in pages.items():
        rows = []
        for c in sorted((c for c in data["calls"].values() if c.record.funder == funder),
                        key=lambda c: (c.next_deadline(at) is None, c.next_deadline(at) or at, c.id)):
            cities = ", ".join(f'<a href="city-{e(city)}.html">{e(names.get(city, city))}</a> {score:.0%}'
                               for city, score in sorted(fits.get(c.id, []), key=lambda x: -x[1]))
            rows.append(f'<tr id="call-{c.id}"><td>{_call_link(c)}</td><td>{e(t.get(c.status(at), c.status(at)))}</td>'
                        f'<td>{e(_deadline(c, data, t))}</td><td>{cities or e(t["none"])}</td></tr>')
        page = (f'<table><tr><th></th><th>{e(t["status"])}</th><th>{e(t["deadline"])}</th><th>{e(t["fits"])}</th></tr>'
                f'{"".join(rows)}</table>')
        (out / name).write_text(_page(funder, page, lang, t), encoding="utf-8")

    # joint opportunities
    joint = []
    for o in data["joint"]:
        c = data["calls"][o.call_id]
        shared = "; ".join(sorted(set(o.needs.values())))
        joint.append(f'<li><strong>{_call_link(c)}</strong> — <a href="{pages[c.record.funder]}">{e(o.funder)}</a> · '
                     f'{e(t["deadline"])} {e(_deadline(c, data, t))}'
                     + (f" · <b>{e(t['consortium'])}</b>" if o.consortium else "")
                     + "<br>" + ", ".join(f'<a href="city-{e(x)}.html">{e(names.get(x, x))}</a>' for x in o.cities)
                     + f'<br><span class="muted small">{e(t["shared"])}: {e(shared[:400])}</span></li>')
    (out / "joint.html").write_text(
        _page(t["joint"], f'<ol class=ranked>{"".join(joint) or "<li>" + e(t["none"]) + "</li>"}</ol>', lang, t),
        encoding="utf-8")

    # financing gaps: by theme across cities, then per city
    themes = gaps_by_theme(data["gaps"], data["need_vectors"])
    body = [f'<h2>{e(t["by_theme"])}</h2><table><tr><th>{e(t["theme"])}</th><th>{e(t["cities"])}</th></tr>']
    body += [f"<tr><td>{e(theme)}</td><td>{len(cities)}: "
             + ", ".join(f'<a href="city-{e(x)}.html">{e(names.get(x, x))}</a>' for x in cities) + "</td></tr>"
             for theme, cities in themes.items()]
    body.append(f'</table><h2>{e(t["per_city"])}</h2><table><tr><th>{e(t["cities"])}</th><th>{e(t["need"])}</th>'
                f'<th>{e(t["weight"])}</th><th>{e(t["relevance"])}</th></tr>')
    body += [f'<tr><td><a href="city-{e(g.city)}.html">{e(names.get(g.city, g.city))}</a></td><td>{e(g.need_text)}</td>'
             f"<td>{g.weight}</td><td>{g.best_relevance:.0%}</td></tr>" for g in data["gaps"]]
    body.append("</table>")
    (out / "gaps.html").write_text(_page(t["gaps"], "".join(body), lang, t), encoding="utf-8")


# a report folder holds this file: `report --out` writes again only into a folder that has it (or --force)
MARKER = ".fundbot-report"


def write_report(dep: Deployment, store: Store, embedder, out: Path, lang: str = "sv") -> dict:
    data = collect(dep, store, embedder)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by fundbot report\n", encoding="utf-8")
    (out / "calendars").mkdir(exist_ok=True)
    try:
        data["changes"] = changes_since(read_previous(out / "report.json"), data)
    except (TypeError, KeyError, AttributeError, ValueError) as exc:  # a report.json of another shape
        log.warning("%s: not a report this run can compare with (%s: %s); nothing is marked new",
                    out / "report.json", type(exc).__name__, exc)
        data["changes"] = changes_since(None, data)
    doc = to_json(data)
    (out / "report.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    write_csv(out / "matches.csv", data)
    write_gaps_csv(out / "gaps.csv", data)
    for p in data["profiles"]:  # a city's calendar in the city's language
        write_ics(out / "calendars" / f"{p.city.id}.ics", p.city.id, in_language(data, p.city.language),
                  dep.settings.delivery.reminder_days, p.city.language)
    write_html(out, in_language(data, lang), lang)
    return doc


def in_language(data: dict, lang: str) -> dict:
    """``data`` with every match's eligibility reasons and caveats said in
    ``lang`` (they are stored in each city's own language)."""
    from .eligibility import judge, read_terms

    profiles = {p.city.id: p for p in data["profiles"]}
    matches = {}
    for city, rows in data["matches"].items():
        profile = profiles.get(city)
        out = []
        for m in rows:
            call = data["calls"].get(m["call_id"])
            if profile is not None and call is not None and profile.city.language != lang:
                r = call.record
                terms = call.terms or read_terms(title=r.title, text=r.text, eligibility=r.eligibility,
                                                 funder=r.funder)
                verdict = judge(profile, terms, lang)
                m = dict(m, reasons=list(verdict.reasons), caveats=list(verdict.caveats))
            out.append(m)
        matches[city] = out
    return dict(data, matches=matches)
