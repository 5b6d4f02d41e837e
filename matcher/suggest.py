"""Read-side views for people: a city's suggestions, the bot's status."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .config import Deployment, Profile
from .safety import safe_url
from .store import Store


def suggestions(store: Store, profile: Profile, *, top: int = 10,
                timezone: str = "Europe/Stockholm", hidden: bool = False,
                pipeline: dict | None = None) -> list[dict] | None:
    """The city's ranking as of the last cycle (None if it was never ranked);
    the calls it marked not relevant only with ``hidden``.  ``pipeline``: the
    city's pipeline entries when the caller has read them already."""
    at = store.reference_at(timezone)
    if at is None:
        return None
    marks = (store.marks(profile.city.id) if pipeline is None
             else {cid: e.mark for cid, e in pipeline.items() if e.mark})
    # the ranking's own order (expected grade), without the calls the city marked not relevant
    rows = [m for m in store.saved_matches(profile.city.id).get(profile.city.id, [])
            if hidden or marks.get(m.call_id) != "not-relevant"][:top]
    calls = {c.id: c for c in store.calls(include_gone=True, ids=[r.call_id for r in rows])}
    needs = {n.id: n for n in profile.needs}
    out = []
    for r in rows:
        call = calls[r.call_id]
        detail = r.detail
        deadline = call.next_deadline(at)
        out.append({
            "call_id": call.id,
            "source": call.record.source,
            "native_id": call.record.native_id,
            "identifier": call.record.identifier,
            "title": call.record.title,
            "funder": call.record.funder,
            "url": safe_url(call.record.url),
            "score": r.score,
            "need_id": r.need_id,
            "need_text": needs[r.need_id].text if r.need_id in needs else detail.get("need_text"),
            "passage": r.passage,
            "deadline": deadline.isoformat() if deadline else None,
            "stage": call.stage(deadline) or None,
            "deadlines": [d.isoformat() for d in call.record.deadlines],
            "stages": list(call.record.stages) or None,
            "seen_on": call.seen_on.isoformat() if call.seen_on else None,
            "status": call.status(at),
            "mark": marks.get(call.id),
            "learned": detail.get("learned", 0.0),
            "eligibility": {"status": detail.get("eligibility", "unknown"), "reasons": detail.get("reasons", []),
                            "caveats": detail.get("caveats", [])},
        })
    return out


def status_report(dep: Deployment, store: Store) -> dict:
    states = store.source_states()
    sources = {}
    for s in dep.sources:
        st = states.get(s.id, {})
        sources[s.id] = {
            "kind": s.kind, "enabled": s.enabled,
            "last_attempt": st.get("last_attempt"), "last_success": st.get("last_success"),
            "ok": None if not st else bool(st.get("ok")), "items": st.get("items"),
            "error": st.get("error"), "warning": st.get("warning"), "failures": st.get("failures") or 0,
        }
    stopped = store.blocked_channels()
    channels = {f"{city}:{channel}": state for (channel, city), state in stopped.items()}
    from .embed import describe

    m = dep.settings.matcher
    evidence = evidence_report(dep, store)
    for sid, why in evidence["stale_sources"].items():
        if sid in sources:
            sources[sid]["stale"] = why
    return {"sources": sources, "deliveries": store.delivery_counts(), "calls": store.count_calls(),
            "last_run": store.last_run(), "stopped_channels": channels, "channels": channel_health(dep, store),
            "schedule": schedule(dep), "embedding": describe(m.model, dep.resolve(m.cache_dir), m.backend),
            "unverified": evidence["unverified"], "invitation_only": evidence["invitation_only"]}


def reference_at(dep: Deployment, store: Store) -> dt.datetime:
    """The moment the last cycle judged deadlines at (its replayed day, offline), else now."""
    return store.reference_at(dep.settings.timezone) or dt.datetime.now(ZoneInfo(dep.settings.timezone))


def evidence_report(dep: Deployment, store: Store, language: str = "sv") -> dict:
    """What a person should check with the funder: calls known only from
    stale evidence (no future deadline, not listed for longer than ``[matcher]
    stale_after_days``), calls past their first stage (the rest by
    invitation), and sources whose every current call has gone stale."""
    from .channels.text import lifecycle_words
    from .cycle import stale_after

    at, max_age = reference_at(dep, store), stale_after(dep)
    words = lifecycle_words(language)
    unverified, invited, per_source = [], [], {}
    for c in store.calls(canonical_only=True):
        state = c.lifecycle(at, max_age)
        if state == "closed":
            continue
        per_source.setdefault(c.record.source, []).append(state)
        row = {"call_id": c.id, "source": c.record.source, "title": c.record.title, "funder": c.record.funder,
               "url": safe_url(c.record.url), "seen_on": c.seen_on.isoformat() if c.seen_on else None}
        if state == "unverified":
            unverified.append(dict(row, note=words["check"].format(day=row["seen_on"])))
        elif state == "invitation":
            later = c.next_deadline(at)
            invited.append(dict(row, deadline=later.isoformat() if later else None, note=words["invitation"]))
    stale = {sid: f"all {len(states)} current call(s) are known only from evidence older than "
                  f"{dep.settings.matcher.stale_after_days} days: is the source still read correctly?"
             for sid, states in per_source.items() if states and all(s == "unverified" for s in states)}
    unverified.sort(key=lambda r: (r["seen_on"] or "", r["source"], r["title"]))
    return {"at": at.date().isoformat(), "unverified": unverified, "invitation_only": invited, "stale_sources": stale}


def channel_health(dep: Deployment, store: Store) -> dict[str, dict]:
    """Every configured channel ("<city>:<channel>"), with what it has sent,
    what waits, and whether it works: ok, failing (retrying after errors),
    stopped (a permanent error; retried daily) or idle (nothing sent yet)."""
    from .store import COORDINATION

    health = store.channel_health()
    stopped = store.blocked_channels()
    specs = [(p.city.id, c) for p in dep.profiles for c in p.channels]
    specs += [(COORDINATION, c) for c in dep.settings.coordination.channels]
    out = {}
    for city, spec in specs:
        h = dict(health.get((spec.key, city)) or {"sent": 0, "pending": 0, "failed": 0, "last_sent": None,
                                                   "last_error": None})
        block = stopped.get((spec.key, city))
        h["cadence"] = spec.cadence
        h["stopped"] = block["error"] if block else None
        h["state"] = ("stopped" if block else "failing" if h["failed"] else "ok" if h["sent"] else "idle")
        out[f"{city}:{spec.key}"] = h
    return out


def schedule(dep: Deployment, now: dt.datetime | None = None) -> dict[str, str]:
    """When each job of `fundbot serve` runs next (job id → ISO time)."""
    from .serve import job_specs

    now = now or dt.datetime.now(dt.timezone.utc)
    out = {}
    for spec in job_specs(dep):
        fire = spec.trigger.get_next_fire_time(None, now)
        out[spec.id] = fire.isoformat() if fire else None
    return out
