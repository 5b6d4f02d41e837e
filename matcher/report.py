"""`fundbot report --out DIR`: the combined view as files that need no server —
report.json, matches.csv, gaps.csv, one ICS calendar per city, and static
HTML pages (every piece of feed text escaped; no external resources).  Run
again into the same folder, it marks what changed since the report it
replaces: the calls each city is offered that it was not, and those gone."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from zoneinfo import ZoneInfo


from .combined import gaps_by_theme, joint_opportunities, need_coverage
from .config import Deployment
from .rank import need_texts
from .safety import SafeCsvWriter, safe_url
from .store import Store
from .templates import environment

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


def match_rows(saved) -> list[dict]:
    """A city's saved matches as the report's rows, in the ranking's own order (expected grade)."""
    return [{"city": m.city, "call_id": m.call_id, "score": m.score, "need_id": m.need_id, "passage": m.passage,
             "eligibility": m.eligibility, "reasons": m.detail.get("reasons", []),
             "caveats": m.detail.get("caveats", []), "rank_key": m.rank_key} for m in saved]


def collect(dep: Deployment, store: Store, embedder) -> dict:
    from .embed import embed_cached

    at = store.reference_at(dep.settings.timezone)
    if at is None:
        raise ValueError("no cycle has run yet: run `fundbot run --once` first")
    zone = ZoneInfo(dep.settings.timezone)
    threshold = dep.settings.matcher.min_score
    matches = {city: match_rows(saved) for city, saved in sorted(store.saved_matches().items())}
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


ICS_TEXT = {"sv": {"deadline": "Sista dag", "relevance": "Relevans", "caveats": "Att kontrollera", "need": "Behov"},
            "en": {"deadline": "Deadline", "relevance": "Relevance", "caveats": "To check", "need": "Need"}}


def write_ics(path: Path, city: str, data: dict, reminder_days: int, lang: str = "sv") -> int:
    """The city's calendar as a file (see :func:`ics_bytes`)."""
    body, n = ics_bytes(city, data, reminder_days, lang)
    path.write_bytes(body)
    return n


def city_data(dep: Deployment, store: Store, city: str) -> dict:
    """What :func:`ics_bytes` reads, for one city, from the last cycle's ranking (no model needed)."""
    from .suggest import reference_at

    at = reference_at(dep, store)
    matches = {city: match_rows(store.saved_matches(city).get(city, []))}
    calls = {c.id: c for c in store.calls(include_gone=True, ids={m["call_id"] for m in matches[city]})}
    return {"matches": matches, "calls": calls, "threshold": dep.settings.matcher.min_score, "at": at}


def ics_bytes(city: str, data: dict, reminder_days: int, lang: str = "sv") -> tuple[bytes, int]:
    """The city's calendar (through the icalendar library): a deadline event,
    with a reminder, per call it is offered, in ``lang``."""
    from icalendar import Alarm, Calendar, Event

    t = ICS_TEXT.get(lang, ICS_TEXT["en"])
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cal = Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", f"-//fundbot//Klimatkontrakt 2030//{lang.upper()}")
    cal.add("calscale", "GREGORIAN")
    n = 0
    for m in data["matches"].get(city, []):
        if m["score"] < data["threshold"] or m["eligibility"] == "ineligible":
            continue
        call = data["calls"][m["call_id"]]
        deadline = call.next_deadline(data["at"])
        if deadline is None:
            continue
        n += 1
        when = deadline.astimezone(dt.timezone.utc)
        event = Event()
        event.add("uid", f"fundbot-{city}-{call.id}-{when:%Y%m%dT%H%M%SZ}@fundbot")
        event.add("dtstamp", now)
        event.add("dtstart", when)
        event.add("dtend", when)
        event.add("summary", f"{t['deadline']}: {call.record.title}")
        event.add("description", f"{call.record.funder}. {t['relevance']} {m['score']:.2f}. {t['need']}: "
                                 f"{m['need_id']}." + (f" {t['caveats']}: {'; '.join(m['caveats'])}."
                                                       if m.get("caveats") else "")
                                 + f" {safe_url(call.record.url) or ''}")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -dt.timedelta(days=reminder_days))
        alarm.add("description", call.record.title)
        event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical(), n


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


def heat_map(data: dict) -> dict:
    """Calls × cities for the SVG (darker = more relevant): the 40 calls most
    relevant to any city, city names on top."""
    profiles = data["profiles"]
    scored: dict[int, dict[str, float]] = {}
    for city, rows in data["matches"].items():
        for m in rows:
            scored.setdefault(m["call_id"], {})[city] = m["score"]
    top = sorted(scored, key=lambda c: (-max(scored[c].values()), c))[:40]
    cell, left, head = 16, 280, 110
    rows = []
    for y, call_id in enumerate(top):
        title = data["calls"][call_id].record.title
        cells = []
        for x, p in enumerate(profiles):
            score = scored[call_id].get(p.city.id, 0.0)
            cells.append({"x": left + x * cell, "shade": int(255 - 200 * score), "name": p.city.name, "score": score})
        rows.append({"y": head + y * cell, "title": title, "short": title if len(title) <= 42 else title[:41] + "…",
                     "cells": cells})
    return {"width": left + cell * len(profiles) + 70, "height": head + cell * len(top) + 4, "cell": cell,
            "head": head, "columns": [(left + x * cell + 11, p.city.id, p.city.name[:22]) for x, p in enumerate(profiles)],
            "rows": rows}


def timeline(data: dict, t: dict, pages: dict[str, str], days: int = 60) -> dict:
    """The deadlines of the next ``days`` days on a drawn time axis, one
    marker per call (labels in lanes so that they never overlap)."""
    at, zone = data["at"], data["zone"]
    soon = sorted(((d, c) for c in data["calls"].values()
                   if (d := c.next_deadline(at)) and d - at <= dt.timedelta(days=days)), key=lambda x: (x[0], x[1].id))
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
        marks.append({"x": f"{x:.1f}", "text_x": f"{x + 6:.1f}", "y": axis_y + 14 + lane * lane_h, "label": label,
                      "href": f'{pages.get(c.record.funder, "index.html")}#call-{c.id}', "title": c.record.title,
                      "funder": c.record.funder, "when": f"{d.astimezone(zone):%Y-%m-%d %H:%M}"})
    weeks = [(f"{left + week * scale:.1f}",
              t["today"] if week == 0 else f"{(at + dt.timedelta(days=week)).astimezone(zone):%d/%m}")
             for week in range(0, days + 1, 7)]
    return {"left": left, "right": right, "width": width, "axis": axis_y, "height": axis_y + 14 + lane_h * len(lanes),
            "weeks": weeks, "marks": marks}


def _deadline(c, data: dict, t: dict) -> str:
    """The next deadline, its stage, and the day the source last showed the call."""
    from .channels.text import seen_note, stage_note

    at, lang = data["at"], t["lang"]
    d = c.next_deadline(at)
    text = (f"{d.astimezone(data['zone']):%Y-%m-%d %H:%M}" if d else t["rolling"]) + stage_note(
        c.stage(d), c.status(at), lang)
    return text + (f" · {seen_note(c.seen_on, lang)}" if c.seen_on else "")


def write_html(out: Path, data: dict, lang: str) -> None:
    """The report's pages, from the templates in matcher/templates."""
    from .channels.text import lifecycle_words

    t = dict(T.get(lang, T["sv"]), lang=lang if lang in T else "sv")
    env = environment()
    at = data["at"]
    names = {p.city.id: p.city.name for p in data["profiles"]}
    pages = funder_pages(data)
    threshold = data["threshold"]
    common = {"t": t, "lang": lang}

    def page(template: str, name: str, title: str, **values) -> None:
        (out / name).write_text(env.get_template(template).render(common, title=title, **values), encoding="utf-8")

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
    changes = data["changes"]["cities"]
    words = lifecycle_words(t["lang"])
    page("index.html", "index.html", t["title"], today=data["today"], pages=pages,
         numbers=[(len(open_calls), t["open_calls"] + " " + t["from_funders"].format(n=len(per_funder))),
                  (len(data["profiles"]), t["cities_n"]), (len(data["joint"]), t["joint_n"]),
                  (len(data["gaps"]), t["gaps_n"])],
         heat=heat_map(data), line=timeline(data, t, pages),
         per_funder=sorted(per_funder.items(), key=lambda x: (-x[1], x[0])), most=max(per_funder.values(), default=1),
         cities=[{"id": p.city.id, "name": p.city.name,
                  "count": sum(1 for m in data["matches"].get(p.city.id, []) if m["score"] >= threshold),
                  "new": len(changes.get(p.city.id, {}).get("new") or [])} for p in data["profiles"]],
         # never suggested, but a person should know they are there
         to_check=[{"url": safe_url(r.get("url")), "title": r["title"], "funder": r["funder"],
                    "note": words["check"].format(day=r["seen_on"]) if r["status"] == "unverified"
                    else words["invitation"]} for r in data.get("to_check") or []])

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
            items.append({"id": c.id, "url": safe_url(c.record.url), "title": c.record.title, "new": c.id in fresh,
                          "funder": c.record.funder, "funder_page": pages[c.record.funder],
                          "deadline": _deadline(c, data, t), "score": m["score"],
                          "need": data["need_text"].get((p.city.id, m["need_id"]), m["need_id"]),
                          "passage": m["passage"][:320],
                          "ineligible": "; ".join(m["reasons"]) if m["eligibility"] == "ineligible" else "",
                          "caveats": "; ".join(m["caveats"])})
        cover = []
        for g in (g for g in data["coverage"] if g.city == p.city.id):
            best = data["calls"].get(g.best_call_id) if g.best_call_id else None
            cover.append({"need": g.need_text, "weight": g.weight, "relevance": g.best_relevance,
                          "gap": g.best_relevance < threshold,
                          "best": {"url": safe_url(best.record.url), "title": best.record.title} if best else None})
        page("city.html", f"city-{p.city.id}.html", p.city.name, since=since, fresh=fresh, items=items, cover=cover,
             dropped=[{"url": safe_url(d.get("url")), "title": d["title"] or ""} for d in change["dropped"]])

    # one page per funder: its calls and the cities each fits
    for funder, name in pages.items():
        calls = sorted((c for c in data["calls"].values() if c.record.funder == funder),
                       key=lambda c: (c.next_deadline(at) is None, c.next_deadline(at) or at, c.id))
        page("funder.html", name, funder, calls=[
            {"id": c.id, "url": safe_url(c.record.url), "title": c.record.title,
             "status": t.get(c.status(at), c.status(at)), "deadline": _deadline(c, data, t),
             "fits": [(city, names.get(city, city), score)
                      for city, score in sorted(fits.get(c.id, []), key=lambda x: -x[1])]} for c in calls])

    # joint opportunities
    joint = []
    for o in data["joint"]:
        c = data["calls"][o.call_id]
        joint.append({"url": safe_url(c.record.url), "title": c.record.title, "funder": o.funder,
                      "funder_page": pages[c.record.funder], "deadline": _deadline(c, data, t),
                      "consortium": o.consortium, "cities": [(x, names.get(x, x)) for x in o.cities],
                      "shared": "; ".join(sorted(set(o.needs.values())))[:400]})
    page("joint.html", "joint.html", t["joint"], joint=joint)

    # financing gaps: by theme across cities, then per city
    themes = gaps_by_theme(data["gaps"], data["need_vectors"])
    page("gaps.html", "gaps.html", t["gaps"],
         themes=[(theme, [(x, names.get(x, x)) for x in cities]) for theme, cities in themes.items()],
         gaps=[{"city": g.city, "name": names.get(g.city, g.city), "need": g.need_text, "weight": g.weight,
                "relevance": g.best_relevance} for g in data["gaps"]])


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
