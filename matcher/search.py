"""Search by need: a free text ("laddinfrastruktur på landsbygden") ranked
against the calls a city can apply for now, exactly as its profile's needs
are — the same model, the same eligibility, the same explanation (the
passage).  The web view's search box and Slack's ``/fundbot <text>`` use it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MAX_QUERY = 300


@dataclass(frozen=True)
class Hit:
    call: object  # StoredCall
    match: object  # Match
    deadline: dt.datetime | None
    at: dt.datetime


def search_calls(dep, store, embedder, profile, text: str, *, top: int, now: dt.datetime) -> list[Hit]:
    from .config import Need
    from .cycle import Clock, match_all, open_calls, stale_after
    from .suggest import reference_at

    text = " ".join((text or "").split())[:MAX_QUERY]
    if len(text) < 2:
        return []
    at = reference_at(dep, store)
    calls = open_calls(store, Clock(now=now, at=at), stale_after(dep))
    if not calls:
        return []
    probe = profile.model_copy(update={"needs": (Need(id=f"{profile.city.id}-search", text=text, weight=3),)})
    matches, _ = match_all(dep, store, embedder, calls, profiles=(probe,))
    by_id = {c.id: c for c in calls}
    return [Hit(by_id[m.call_id], m, by_id[m.call_id].next_deadline(at), at)
            for m in matches.get(profile.city.id, [])[:top]]
