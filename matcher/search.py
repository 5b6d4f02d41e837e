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


class Searcher:
    """Search with the call side kept between searches: the open calls, their
    vectors and the ranker are built once per cycle (the store's last run and
    the reference day), so a search embeds only its own text."""

    def __init__(self, dep, store, embedder_factory):
        import threading

        self.dep, self.store, self.embedder_factory = dep, store, embedder_factory
        self.lock = threading.Lock()
        self.key = None
        self.pool = None  # (ranker, calls by id, at)

    def _pool(self, now: dt.datetime):
        from .cycle import ANCHOR, Clock, docs_for, make_ranker, open_calls, stale_after
        from .embed import embed_cached
        from .suggest import reference_at

        at = reference_at(self.dep, self.store)
        last = self.store.last_run()
        key = (last["id"] if last else None, at.isoformat())
        if key != self.key:
            calls = open_calls(self.store, Clock(now=now, at=at), stale_after(self.dep))
            docs = docs_for(calls)
            texts = [chunk for d in docs for chunk in d.chunks] + [ANCHOR]
            vectors, _ = embed_cached(self.store, self.embedder_factory(), texts)
            ranker = make_ranker(self.store, self.embedder_factory(), docs, vectors[:-1], vectors[-1]) if calls else None
            self.pool, self.key = (ranker, {c.id: c for c in calls}, at), key
        return self.pool

    def search(self, profile, text: str, *, top: int, now: dt.datetime) -> list[Hit]:
        from .config import Need
        from .cycle import rank_with
        from .embed import embed_cached
        from .rank import need_texts

        text = " ".join((text or "").split())[:MAX_QUERY]
        if len(text) < 2:
            return []
        with self.lock:  # one ranking at a time: the ranker is shared
            ranker, by_id, at = self._pool(now)
            if ranker is None:
                return []
            embedder = self.embedder_factory()
            probe = profile.model_copy(update={"needs": (Need(id=f"{profile.city.id}-search", text=text, weight=3),)})
            vectors, _ = embed_cached(self.store, embedder, need_texts(probe))
            matches = rank_with(self.dep, self.store, embedder, ranker, (probe,), [vectors])
        return [Hit(by_id[m.call_id], m, by_id[m.call_id].next_deadline(at), at)
                for m in matches.get(profile.city.id, [])[:top]]


def search_calls(dep, store, embedder, profile, text: str, *, top: int, now: dt.datetime) -> list[Hit]:
    """One search without a kept call side (Slack's `/fundbot`)."""
    return Searcher(dep, store, lambda: embedder).search(profile, text, top=top, now=now)
