"""Frozen records that cross boundaries: what an adapter read, what we store,
what the ranking concluded."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CallRecord:
    """One funding call as an adapter read it, already normalised.

    ``deadlines`` keeps every cut-off (two-stage calls, several cut-offs),
    as timezone-aware datetimes, sorted.
    """

    source: str
    native_id: str
    funder: str
    title: str
    text: str
    url: str | None = None
    language: str = "sv"
    identifier: str | None = None  # official id (topic id, diarienummer)
    programme: str | None = None
    opens_at: dt.datetime | None = None
    deadlines: tuple[dt.datetime, ...] = ()
    budget: str | None = None
    eligibility: str | None = None

    # the fields whose change is news; order = how changes are reported
    TRACKED = ("title", "text", "url", "opens_at", "deadlines", "budget", "eligibility")

    def fingerprint(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in self.TRACKED:
            value = getattr(self, name)
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = [v.isoformat() for v in value]
            out[name] = value
        return out

    @property
    def content_hash(self) -> str:
        blob = json.dumps(self.fingerprint(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class StoredCall:
    """A call as the store knows it."""

    id: int
    record: CallRecord
    content_hash: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    gone_at: dt.datetime | None = None
    terms: object = None  # eligibility.CallTerms, read when the call was stored

    @property
    def key(self) -> str:
        return f"{self.record.source}:{self.record.native_id}"

    def next_deadline(self, now: dt.datetime) -> dt.datetime | None:
        upcoming = [d for d in self.record.deadlines if d >= now]
        return upcoming[0] if upcoming else None

    def status(self, now: dt.datetime) -> str:
        """open / forthcoming / closed, derived from dates only."""
        r = self.record
        if r.deadlines and all(d < now for d in r.deadlines):
            return "closed"
        if r.opens_at and r.opens_at > now:
            return "forthcoming"
        return "open"


@dataclass(slots=True)
class Match:
    """Why a call suits a city: the best need, the passage that shows it.
    Read-only by convention (not frozen: a frozen dataclass takes three
    times as long to build, and the ranking builds 100 per city).  The
    fields are positional in this order (``Ranker.rank`` builds them so)."""

    city: str
    call_id: int
    score: float  # 0..1
    need_id: str
    need_text: str
    passage: str
    similarity: float  # semantic part
    lexical: float  # lexical part
    needs: tuple[tuple[str, float], ...] = field(default=())  # the needs it serves best, with scores
    eligibility: str = "unknown"  # eligible / ineligible / unknown
    reasons: tuple[str, ...] = ()  # why the city cannot apply
    caveats: tuple[str, ...] = ()  # conditions the profile does not answer
    rank_key: float = 0.0  # the order (expected grade); ineligible calls last
    learned: float = 0.0  # log-odds the city's clicks added (like calls it marked relevant: > 0)

    def as_dict(self) -> dict:
        return asdict(self)
