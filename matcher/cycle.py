"""One cycle: fetch → store → match → deliver.  The CLI's ``run --once`` and
the scheduler call the same functions; every stage is idempotent.  The last
stage, delivery, lives in :mod:`matcher.delivery`."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import numpy as np

from .channels import Channels
from .config import Deployment, Profile, SourceSpec
from .delivery import Delivery
from .eligibility import terms_from_json, terms_json
from .embed import Embedder, embed_cached
from .errors import FetchError, FundbotError, SourceError
from .models import Match, StoredCall
from .rank import ANCHOR, CallDoc, Feedback, Ranker, RankerModel, call_views, make_doc, need_texts
from .safety import clean_record
from .sources import ADAPTERS, FetchContext
from .sources.fetch import Fetcher, HostPacer, HttpFetcher, NotModified, SnapshotFetcher
from .store import Store

log = logging.getLogger(__name__)

LOOKBACK_DAYS = 365
# a source that suddenly lists nothing, after listing at least this many, is
# suspicious: keep its calls and warn rather than mark them all gone
SUSPICIOUS_DROP = 5


@dataclass(frozen=True)
class Clock:
    """``now`` is the wall clock (stamps in the store); ``at`` is the moment
    the cycle judges deadlines against (a replayed day when offline)."""

    now: dt.datetime
    at: dt.datetime

    @property
    def today(self) -> dt.date:
        return self.at.date()


def reference_day(dep: Deployment, *, offline: bool, as_of: dt.date | None, now: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(dep.settings.timezone)
    if as_of is None and offline:
        recorded = [s.recorded_at for s in dep.sources if s.enabled and s.recorded_at]
        as_of = max(recorded) if recorded else None
    if as_of is None:
        return now.astimezone(zone)
    return dt.datetime.combine(as_of, dt.time(12, 0), tzinfo=zone)


def make_clock(dep: Deployment, *, offline: bool, as_of: dt.date | None,
               now: dt.datetime | None = None) -> Clock:
    now = now or dt.datetime.now(dt.timezone.utc)
    return Clock(now=now, at=reference_day(dep, offline=offline, as_of=as_of, now=now))


def user_agent(dep: Deployment) -> str:
    from . import __version__

    return f"fundbot/{__version__} (+{dep.settings.http.contact_url})"


def make_fetcher(dep: Deployment, source: SourceSpec, offline: bool, validators: dict | None = None,
                 pacer: HostPacer | None = None) -> Fetcher:
    if offline:
        path = dep.snapshot_path(source)
        if path is None:
            raise FetchError("offline, and the source has no recorded snapshot")
        return SnapshotFetcher(path, source.recorded_at)
    http = dep.settings.http
    fetcher = HttpFetcher(user_agent=user_agent(dep), connect_timeout=http.connect_timeout,
                          read_timeout=http.read_timeout, max_bytes=http.max_bytes, retries=http.retries,
                          min_interval=http.min_interval, budget=http.source_budget, home=source.url,
                          pacer=pacer)
    fetcher.validators = {k: v for k, v in (validators or {}).items() if v}
    return fetcher


@dataclass
class CycleReport:
    sources: dict[str, dict] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=lambda: {"total": 0, "new": 0, "changed": 0, "gone": 0})
    matches: int = 0
    deliveries: dict[str, int] = field(default_factory=lambda: {"sent": 0, "pending": 0, "failed": 0})
    today: str = ""
    embedded: int = 0
    notices: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sources": self.sources, "calls": self.calls, "matches": self.matches,
                "deliveries": self.deliveries, "today": self.today, "embedded": self.embedded}


# --- stage 1: fetch and store --------------------------------------------------


@dataclass
class _Fetch:
    """One source's fetch: prepared and stored in the cycle's thread, run
    (network and parsing only, no store) in a worker of its own host."""

    source: SourceSpec
    state: dict
    ctx: FetchContext | None = None
    fetcher: Fetcher | None = None
    records: list | None = None
    not_modified: bool = False
    error: str | None = None
    started: float | None = None
    done: threading.Event = field(default_factory=threading.Event)

    abandoned: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        self.started = time.monotonic()
        records, not_modified, error = None, False, self.error
        try:
            if error is None:
                records = ADAPTERS[self.source.kind].collect(self.source, self.fetcher, self.ctx)
        except NotModified:
            not_modified = True
        except SourceError as exc:
            error = str(exc).removeprefix(f"source {self.source.id!r}: ")
        except FetchError as exc:
            error = f"fetch failed: {exc}"
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not stop the cycle
            log.debug("source %s: unexpected error", self.source.id, exc_info=True)
            error = f"unexpected error while parsing: {type(exc).__name__}: {exc}"
        with self.lock:
            if not self.abandoned:  # what a worker finds after the cycle stopped waiting is dropped
                self.records, self.not_modified, self.error = records, not_modified, error
            self.done.set()

    def give_up(self, reason: str) -> None:
        """The cycle stops waiting for this source (the worker is told to stop)."""
        with self.lock:
            self.abandoned = True
            self.records, self.not_modified, self.error = None, False, reason
            self.done.set()
        cancelled = getattr(self.fetcher, "cancelled", None)
        if cancelled is not None:
            cancelled.set()


def _prepare(dep: Deployment, store: Store, source: SourceSpec, clock: Clock, offline: bool,
             fetcher: Fetcher | None, pacer: HostPacer) -> _Fetch:
    job = _Fetch(source, store.source_state(source.id) or {})
    since = clock.today - dt.timedelta(days=int(source.options.get("lookback_days", LOOKBACK_DAYS)))
    incremental = False
    if job.state.get("last_success") and not offline:
        since = dt.datetime.fromisoformat(job.state["last_success"]).date()
        # an address with {since} asks only for what changed since the last success: what it leaves out is unchanged
        incremental = "{since}" in (source.url or "")
    # a recorded page is read as on the day it was recorded: "1 mars" on a page of 2021 is 1 March 2022, not 2027
    today = source.recorded_at if offline and source.recorded_at else clock.today
    job.ctx = FetchContext(today=today, since=since, offline=offline, incremental=incremental)
    try:
        job.fetcher = fetcher or make_fetcher(dep, source, offline, {"etag": job.state.get("etag"),
                                                                     "last_modified": job.state.get("last_modified")},
                                              pacer=pacer)
    except FetchError as exc:
        job.error = f"fetch failed: {exc}"
    return job


# a worker is given this much beyond a source's budget before the cycle stops waiting for it (the fetcher
# itself keeps to the budget; this is the backstop for a wait that nothing can interrupt, such as a DNS lookup)
BUDGET_GRACE = 5.0


def fetch_sources(dep: Deployment, store: Store, sources: list[SourceSpec], clock: Clock, *, offline: bool,
                  fetchers: dict[str, Fetcher] | None = None) -> dict[str, dict]:
    """Fetch ``sources`` into the store and return each one's outcome; never
    raises for a source's own failures — they are returned (and stored) as
    data.  Online, the sources of different hosts are fetched side by side
    (those of one host one after another, one request at a time), and the
    cycle waits for none longer than its budget: a hung funder delays no
    other.  Only this thread writes to the store."""
    pacer = HostPacer(dep.settings.http.min_interval)
    jobs = [_prepare(dep, store, s, clock, offline, (fetchers or {}).get(s.id), pacer) for s in sources]
    outcomes: dict[str, dict] = {}
    if offline:  # recorded files: nothing to wait for, and one after another keeps a replay simple
        for job in jobs:
            job.run()
            outcomes[job.source.id] = _record(store, job, clock)
        return outcomes
    by_host: dict[str, list[_Fetch]] = {}
    for job in jobs:
        by_host.setdefault(_host_of(job), []).append(job)
    for host, group in by_host.items():  # daemon threads: one stuck in a socket never keeps the process alive
        threading.Thread(target=lambda g=group: [j.run() for j in g if not j.done.is_set()],
                         name=f"fetch {host}", daemon=True).start()
    budget = dep.settings.http.source_budget + BUDGET_GRACE
    pending = list(jobs)
    while pending:
        for job in list(pending):
            if job.done.is_set():
                pending.remove(job)
                outcomes[job.source.id] = _record(store, job, clock)
            elif job.started is not None and time.monotonic() - job.started > budget:
                pending.remove(job)
                job.give_up(f"fetch failed: no complete answer within the source's "
                            f"{dep.settings.http.source_budget:g} s budget")
                outcomes[job.source.id] = _record(store, job, clock)
                for later in [j for j in pending if j in by_host.get(_host_of(job), ())]:
                    pending.remove(later)  # the host's worker is stuck: its later sources are not fetched now
                    later.give_up(f"fetch failed: not fetched, {_host_of(job)} did not finish "
                                  f"source {job.source.id!r} in time")
                    outcomes[later.source.id] = _record(store, later, clock)
        if pending:
            pending[0].done.wait(0.2)
    return {job.source.id: outcomes[job.source.id] for job in jobs}


def _host_of(job: _Fetch) -> str:
    return urlsplit(job.source.url or "").netloc or job.source.id


def fetch_source(dep: Deployment, store: Store, source: SourceSpec, clock: Clock, *, offline: bool,
                 fetcher: Fetcher | None = None) -> dict:
    """Fetch one source into the store (see :func:`fetch_sources`)."""
    return fetch_sources(dep, store, [source], clock, offline=offline,
                         fetchers={source.id: fetcher} if fetcher else None)[source.id]


def _record(store: Store, job: _Fetch, clock: Clock) -> dict:
    """Store what one source's fetch found, and say how it went."""
    source, state, ctx = job.source, job.state, job.ctx
    outcome = {"ok": False, "items": 0, "new": 0, "changed": 0, "gone": 0, "error": None, "warning": None}
    if job.not_modified:  # "304 Not Modified": every call it listed last time is still listed
        outcome.update(ok=True, items=state.get("items") or 0)
        log.info("source %s: not modified since the last fetch", source.id)
        store.confirm_source(source.id, clock.now, evidence_day(job.fetcher, None, clock))
        store.record_fetch(source.id, clock.now, ok=True)
        return outcome
    if job.error or job.records is None:
        outcome["error"] = job.error or "fetch failed: no answer"
        log.warning("source %s: %s", source.id, outcome["error"])
        store.record_fetch(source.id, clock.now, ok=False, error=outcome["error"])
        return outcome
    # everything a feed says is cleaned once, here, where every adapter's records pass (matcher.safety)
    cleaned = [clean_record(r) for r in job.records]
    records = [r for r, _ in cleaned]
    unsafe_links = sum(1 for _, dropped in cleaned if dropped)
    outcome["ok"] = True
    outcome["items"] = len(records)
    warnings = []
    if ctx.skipped:  # one bad item never rejects its source: it is skipped, counted, and the first reason named
        warnings.append(f"{len(ctx.skipped)} item(s) skipped as unreadable (first: {ctx.skipped[0]})")
        for reason in ctx.skipped:
            log.info("source %s: skipped %s", source.id, reason)
    if unsafe_links:
        warnings.append(f"{unsafe_links} item(s) had a link that is not an http(s) address; "
                        "the link was dropped, the call kept")
    if warnings:
        outcome["warning"] = "; ".join(warnings)
        log.warning("source %s: %s", source.id, outcome["warning"])
    previous = state.get("items") or 0
    if not records and previous >= SUSPICIOUS_DROP and not ctx.incremental:
        outcome["warning"] = f"0 calls listed where the last fetch had {previous}; kept the known calls"
        log.warning("source %s: %s", source.id, outcome["warning"])
        store.record_fetch(source.id, clock.now, ok=True, items=previous, warning=outcome["warning"])
        return outcome
    result = store.sync_source(source.id, records, clock.now, at=clock.at, partial=ctx.incremental, terms=terms_json,
                               seen_on=lambda r: evidence_day(job.fetcher, r.url if r else None, clock))
    outcome["new"], outcome["changed"], outcome["gone"] = len(result.new), len(result.changed), len(result.gone)
    if ctx.incremental:  # the answer held the changes; the source still lists these and the ones confirmed
        outcome["items"] = len(result.new) + len(result.changed) + result.unchanged
    store.record_fetch(source.id, clock.now, ok=True, items=outcome["items"], warning=outcome["warning"],
                       validators=getattr(job.fetcher, "new_validators", None) or None)
    log.info("source %s: %d calls (%d new, %d changed, %d gone)", source.id, len(records),
             outcome["new"], outcome["changed"], outcome["gone"])
    return outcome


def evidence_day(fetcher, url: str | None, clock: Clock) -> dt.date:
    """The day that vouches for a call a fetch listed: a snapshot's date (a
    page's own, where its manifest gives one) — never the wall clock — and
    live, the day of the fetch, in Swedish time."""
    day = getattr(fetcher, "evidence_day", None)
    recorded = day(url) if day is not None else None
    return recorded or clock.now.astimezone(clock.at.tzinfo).date()


# --- stage 2: match -----------------------------------------------------------------


def stale_after(dep: Deployment) -> dt.timedelta:
    return dt.timedelta(days=dep.settings.matcher.stale_after_days)


def open_calls(store: Store, clock: Clock, max_age: dt.timedelta) -> list[StoredCall]:
    """Canonical calls a city can still apply for: open or forthcoming — not
    past their deadlines, not past a first stage (the rest is by invitation),
    and not known only from evidence older than ``max_age``."""
    return store.refresh_terms([c for c in store.calls(canonical_only=True) if c.suggestible(clock.at, max_age)],
                               terms_json, terms_from_json)


def docs_for(calls: list[StoredCall]) -> list[CallDoc]:
    return [make_doc(c.id, c.record.title, c.record.text, c.record.language,
                     eligibility=c.record.eligibility, funder=c.record.funder, terms=c.terms) for c in calls]


# how many matches per city are kept (stored, shown by `suggest`, offered to channels)
KEEP = 100


def make_ranker(store: Store, embedder: Embedder, docs: list[CallDoc], chunk_vectors: np.ndarray,
                anchor: np.ndarray) -> Ranker:
    """The ranker over ``docs`` (their chunks' vectors given), with the model fitted for this embedder."""
    from .lexical import cached_counts

    return Ranker(docs, chunk_vectors, anchor_vector=anchor, model=RankerModel.for_embedder(embedder.name),
                  term_counts=cached_counts(store, [d.full_text for d in docs]) if docs else None)


def rank_with(dep: Deployment, store: Store, embedder: Embedder, ranker: Ranker, profiles, need_vectors) -> dict:
    """Rank for ``profiles`` (their needs' vectors given, in order) with an existing ranker."""
    from .lexical import cached_counts

    queries = [q for p in profiles for q in need_texts(p)]
    return ranker.rank_many(list(profiles), need_vectors, limit=max(KEEP, dep.settings.matcher.top),
                            need_counts=cached_counts(store, queries) if ranker.docs and queries else None,
                            feedback=feedback_for(store, embedder, profiles))


def match_all(dep: Deployment, store: Store, embedder: Embedder, calls: list[StoredCall],
              profiles: tuple[Profile, ...] | None = None) -> tuple[dict[str, list[Match]], int]:
    """Rank ``calls`` for every city.  Returns the matches per city and how
    many texts had to be embedded (0 when everything was cached)."""
    profiles = profiles if profiles is not None else dep.profiles
    docs = docs_for(calls)
    texts: list[str] = [chunk for d in docs for chunk in d.chunks]
    for p in profiles:
        texts.extend(need_texts(p))
    texts.append(ANCHOR)
    vectors, embedded = embed_cached(store, embedder, texts)
    pos = sum(len(d.chunks) for d in docs)
    ranker = make_ranker(store, embedder, docs, vectors[:pos], vectors[-1])
    per_city = []
    for p in profiles:
        per_city.append(vectors[pos:pos + len(p.needs)])
        pos += len(p.needs)
    return rank_with(dep, store, embedder, ranker, profiles, per_city), embedded


POSITIVE = {"relevant", "applying"}


def feedback_for(store: Store, embedder: Embedder, profiles) -> dict[str, Feedback]:
    """Each city's clicks as vectors of the calls it marked — closed calls
    too: what a city liked last year still says what it looks for."""
    every = store.marks_by_city()
    marks = {p.city.id: every.get(p.city.id, {}) for p in profiles}
    marked = sorted({cid for m in marks.values() for cid in m})
    if not marked:
        return {}
    calls = [c for c in store.calls(include_gone=True, ids=marked)]
    docs = docs_for(calls)
    vectors, _ = embed_cached(store, embedder, [chunk for d in docs for chunk in d.chunks])
    views = dict(zip((c.id for c in calls), call_views(vectors, np.array([len(d.chunks) for d in docs]))))
    out = {}
    for city, city_marks in marks.items():
        pos = [views[c] for c, mark in city_marks.items() if mark in POSITIVE and c in views]
        neg = [views[c] for c, mark in city_marks.items() if mark == "not-relevant" and c in views]
        dim = vectors.shape[1]
        fb = Feedback(np.array(pos, np.float32).reshape(-1, dim), np.array(neg, np.float32).reshape(-1, dim))
        if fb:
            out[city] = fb
    return out


# --- the whole cycle ----------------------------------------------------------------------


def run_cycle(dep: Deployment, store: Store, embedder: Embedder, channels: Channels, clock: Clock, *,
              offline: bool, fetchers: dict[str, Fetcher] | None = None,
              progress: Callable[[str], None] | None = None) -> CycleReport:
    """One whole cycle: every source, then :func:`deliver_cycle`."""
    report = CycleReport(today=clock.today.isoformat())
    enabled = [s for s in dep.sources if s.enabled]
    for source_id, outcome in fetch_sources(dep, store, enabled, clock, offline=offline, fetchers=fetchers).items():
        report.sources[source_id] = {k: outcome[k] for k in ("ok", "items", "new", "changed", "error", "warning")}
        report.calls["new"] += outcome["new"]
        report.calls["changed"] += outcome["changed"]
        report.calls["gone"] += outcome["gone"]
    return deliver_cycle(dep, store, embedder, channels, clock, progress=progress, report=report, offline=offline)


def deliver_cycle(dep: Deployment, store: Store, embedder: Embedder, channels: Channels, clock: Clock, *,
                  progress: Callable[[str], None] | None = None,
                  report: CycleReport | None = None, offline: bool = False,
                  cadences: set[str] | None = None, notices: bool = True) -> CycleReport:
    """Match what the store holds and deliver what is due (the half of a
    cycle that `serve` runs on its own schedule): the digests of channels
    whose cadence is in ``cadences`` (None: every channel) and, with
    ``notices``, pending follow-ups and reminders.  Changes that matter are
    taken from the store's events since the previous run began and queued
    for every channel, so none is missed when fetching and delivering happen
    at different times."""
    progress = progress or (lambda msg: log.info("%s", msg))
    report = report or CycleReport(today=clock.today.isoformat())
    previous = store.last_run()
    since = dt.datetime.fromisoformat(previous["started_at"]) if previous else None
    run_id = store.start_run(clock.now, clock.today, offline)
    changes = store.changes_since(since)
    store.link_duplicates()
    pool = open_calls(store, clock, stale_after(dep))
    report.calls["total"] = store.count_calls()
    progress(f"matching {len(pool)} open calls against {len(dep.profiles)} cities")
    matches, report.embedded = match_all(dep, store, embedder, pool)
    for profile in dep.profiles:
        city_matches = matches.get(profile.city.id, [])
        store.save_matches(profile.city.id, city_matches, clock.now)
        thresholds = [c.min_score for c in profile.channels if c.min_score is not None]
        floor = min(thresholds) if thresholds else dep.settings.matcher.min_score
        report.matches += sum(1 for m in city_matches if m.score >= floor and m.eligibility != "ineligible")
    delivery = Delivery(dep, store, channels, clock, report, cadences, links=_links(dep, store, channels, clock, report))
    delivery.follow_ups(changes)
    delivery.coordination(embedder, matches, pool)
    delivery.suggestions(matches, {c.id: c for c in pool}, notices=notices)
    report.deliveries["pending"] = len(store.deliveries(status="pending"))
    from .retention import expire

    if cleared := expire(dep, store, clock.now):
        report.notices.append(f"retention: names and notes cleared from {cleared} pipeline entries "
                              f"(calls ended more than {dep.settings.web.retention_months} months ago)")
    store.finish_run(run_id, dt.datetime.now(dt.timezone.utc), report.as_dict())
    return report


def _links(dep: Deployment, store: Store, channels: Channels, clock: Clock, report: CycleReport):
    """The web view's signed links for the digests, when ``[web] base_url`` is
    set; without the secret the digests go out without links (and say why)."""
    from .web.links import digest_links

    try:
        return digest_links(dep.settings, store, channels.environ, clock.now)
    except FundbotError as exc:
        report.notices.append(f"digests go out without web links: {exc}")
        return None


__all__ = ["Clock", "CycleReport", "FundbotError", "deliver_cycle", "make_clock", "run_cycle"]
