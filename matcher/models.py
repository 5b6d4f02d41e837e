"""Frozen records that cross boundaries: what an adapter read, what we store,
what the ranking concluded."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field

# the outbox's addressee for the [coordination] channels (Viable Cities, the agencies); no city may take this id
COORDINATION = "coordination"


# what a deadline is: the only one; the first stage (pre-proposals, concept notes: open to all); a later stage
# (full proposals, by invitation only); one cut-off of a call that stays open; or not stated ("")
STAGES = ("single", "stage1", "stage2", "cutoff", "")


def with_stages(pairs) -> tuple[tuple[dt.datetime, ...], tuple[str, ...]]:
    """(deadline, stage) pairs as a record's sorted ``deadlines`` and
    ``stages``; the stages are dropped when none is known, one stage kept
    per moment (a stated one wins over "")."""
    by_moment: dict[dt.datetime, str] = {}
    for moment, stage in pairs:
        if moment is not None and (moment not in by_moment or not by_moment[moment]):
            by_moment[moment] = stage or ""
    moments = tuple(sorted(by_moment))
    stages = tuple(by_moment[m] for m in moments)
    return moments, (stages if any(stages) else ())


@dataclass(frozen=True)
class CallRecord:
    """One funding call as an adapter read it, already normalised.

    ``deadlines`` keeps every cut-off (two-stage calls, several cut-offs),
    as timezone-aware datetimes, sorted; ``stages`` (empty, or one per
    deadline) says what each one is: :data:`STAGES`.
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
    stages: tuple[str, ...] = ()

    # the fields whose change is news; order = how changes are reported ("stages" only once a source states them,
    # so a call whose source names no stage keeps the hash it had before stages were read)
    TRACKED = ("title", "text", "url", "opens_at", "deadlines", "budget", "eligibility", "stages")

    def __post_init__(self):
        if self.stages and len(self.stages) != len(self.deadlines):
            raise ValueError(f"{len(self.stages)} stage(s) for {len(self.deadlines)} deadline(s)")
        if any(s not in STAGES for s in self.stages):
            raise ValueError(f"unknown stage in {self.stages!r}")

    def fingerprint(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in self.TRACKED:
            value = getattr(self, name)
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            elif name == "stages":
                if not value:
                    continue
                value = list(value)
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
    seen_on: dt.date | None = None  # the evidence: the day the source last listed the call (a snapshot: its date)

    @property
    def key(self) -> str:
        return f"{self.record.source}:{self.record.native_id}"

    def next_deadline(self, now: dt.datetime) -> dt.datetime | None:
        upcoming = [d for d in self.record.deadlines if d >= now]
        return upcoming[0] if upcoming else None

    def stage(self, deadline: dt.datetime | None) -> str:
        """What ``deadline`` (one of the call's) is: a value of :data:`STAGES`."""
        r = self.record
        if deadline is None or not r.stages:
            return ""
        try:
            return r.stages[r.deadlines.index(deadline)]
        except ValueError:
            return ""

    def status(self, now: dt.datetime) -> str:
        """open / forthcoming / closed / invitation, derived from dates and
        stages only: ``invitation`` once a first stage has passed and only
        later stages (for invited applicants) remain."""
        r = self.record
        if r.deadlines and all(d < now for d in r.deadlines):
            return "closed"
        firsts = [d for d, s in zip(r.deadlines, r.stages) if s == "stage1"]
        if firsts and all(d < now for d in firsts):
            return "invitation"
        if r.opens_at and r.opens_at > now:
            return "forthcoming"
        return "open"

    def unverified(self, now: dt.datetime, max_age: dt.timedelta) -> bool:
        """No future deadline vouches for the call, and its source has not
        listed it for longer than ``max_age``: it may be long gone."""
        if self.next_deadline(now) is not None or self.seen_on is None:
            return False
        return self.seen_on < (now - max_age).date()

    def lifecycle(self, now: dt.datetime, max_age: dt.timedelta) -> str:
        """:meth:`status`, with ``unverified`` for a call known only from
        stale evidence — what decides whether a call may be suggested."""
        status = self.status(now)
        if status in ("open", "forthcoming") and self.unverified(now, max_age):
            return "unverified"
        return status

    def suggestible(self, now: dt.datetime, max_age: dt.timedelta) -> bool:
        return self.lifecycle(now, max_age) in ("open", "forthcoming")


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
