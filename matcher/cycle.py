"""One cycle: fetch → store → match → deliver.  The CLI's ``run --once`` and
the scheduler call the same functions; every stage is idempotent."""

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

from .channels import Channel, Digest, DigestItem, NotConfigured
from .channels.slack import ChannelBlocked
from .config import Deployment, Profile, SourceSpec
from .embed import Embedder, embed_cached
from .errors import FetchError, FundbotError, SourceError
from .models import Match, StoredCall
from .rank import ANCHOR, CallDoc, Feedback, Ranker, RankerModel, call_views, make_doc, need_texts
from .safety import clean_record, safe_url
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
    result = store.sync_source(source.id, records, clock.now, at=clock.at, partial=ctx.incremental,
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
    return store.refresh_terms([c for c in store.calls(canonical_only=True) if c.suggestible(clock.at, max_age)])


def docs_for(calls: list[StoredCall]) -> list[CallDoc]:
    return [make_doc(c.id, c.record.title, c.record.text, c.record.language,
                     eligibility=c.record.eligibility, funder=c.record.funder, terms=c.terms) for c in calls]


# how many matches per city are kept (stored, shown by `suggest`, offered to channels)
KEEP = 100


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
    from .lexical import cached_counts

    ranker = Ranker(docs, vectors[:pos], anchor_vector=vectors[-1], model=RankerModel.for_embedder(embedder.name),
                    term_counts=cached_counts(store, [d.full_text for d in docs]) if docs else None)
    per_city = []
    for p in profiles:
        per_city.append(vectors[pos:pos + len(p.needs)])
        pos += len(p.needs)
    queries = [q for p in profiles for q in need_texts(p)]
    out = ranker.rank_many(list(profiles), per_city, limit=max(KEEP, dep.settings.matcher.top),
                           need_counts=cached_counts(store, queries) if docs and queries else None,
                           feedback=feedback_for(store, embedder, profiles))
    return out, embedded


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


# --- stage 3: deliver ------------------------------------------------------------------

BLOCKED_RETRY = dt.timedelta(hours=24)


def guarded(store: Store, spec, city: str, ids: list[int], clock: Clock, report: "CycleReport", call):
    """Run one channel operation; None when it did not happen: not configured
    (said once), a permanent error (the channel stops), anything else (the
    rows stay pending, retried with backoff)."""
    try:
        return call()
    except NotConfigured as exc:
        if str(exc) not in report.notices:
            report.notices.append(str(exc))
    except ChannelBlocked as exc:
        store.block_channel(spec.key, city, str(exc), clock.now)
        report.notices.append(f"{spec.key} for {city} is stopped: {exc}")
    except Exception as exc:  # noqa: BLE001 - one channel never stops the others
        log.warning("channel %s for %s failed: %s", spec.key, city, exc)
        store.mark_failed(ids, clock.now, f"{type(exc).__name__}: {exc}")
        report.deliveries["failed"] += len(ids)
    return None


def reconcile(store: Store, channel: Channel, spec, city: str, pending: list, clock: Clock,
              report: "CycleReport") -> list:
    """Exactly once where the channel can be read back (Slack): rows a crash
    left posted but unrecorded are marked sent, not posted again.  Returns the
    rows still to send — none if the channel cannot be checked now."""
    if not hasattr(channel, "delivered"):
        return pending
    try:
        already = channel.delivered(spec, city, store.pending_since(city, spec.key))
    except ChannelBlocked as exc:
        store.block_channel(spec.key, city, str(exc), clock.now)
        report.notices.append(f"{spec.key} for {city} is stopped: {exc}")
        return []
    except Exception as exc:  # noqa: BLE001 - cannot check: do not post blindly
        log.warning("channel %s for %s: cannot read history: %s", spec.key, city, exc)
        report.notices.append(f"{spec.key} for {city}: unreachable ({type(exc).__name__}); kept pending")
        return []
    done = [d.id for d in pending if d.id in already]
    if done:
        store.mark_sent(done, clock.now, "reconciled")
    return [d for d in pending if d.id not in already]


def send_digest(store: Store, channel: Channel, spec, digest: Digest, clock: Clock, report: "CycleReport") -> None:
    """Send one digest and record the outcome: rows confirmed as the channel
    accepts them; a permanent error stops the channel; anything else leaves
    the rows pending (retried with backoff)."""
    city = digest.city_id

    def confirm(ids: list[int], ref: str | None) -> None:
        store.mark_sent(list(ids), dt.datetime.now(dt.timezone.utc), ref)

    result = guarded(store, spec, city, [i.delivery_id for i in digest.items], clock, report,
                     lambda: channel.send(spec, digest, confirm))
    if result is None:
        return
    store.block_channel(spec.key, city, None, None)
    if result.failed:
        store.mark_failed(list(result.failed), clock.now, result.error or "failed")
    report.deliveries["sent"] += len(result.sent)
    report.deliveries["failed"] += len(result.failed)
    log.info("channel %s for %s: %d sent%s", spec.key, city, len(result.sent),
             f", {len(result.failed)} failed: {result.error}" if result.failed else "")

CADENCE_GAP = {"instant": dt.timedelta(0), "daily": dt.timedelta(hours=20), "weekly": dt.timedelta(days=6, hours=12)}


def queue_and_send(dep: Deployment, store: Store, channels: dict[str, Channel], matches: dict[str, list[Match]],
                   calls: dict[int, StoredCall], clock: Clock, report: CycleReport,
                   unavailable: dict[str, str], *, cadences: set[str] | None = None, notices: bool = True) -> None:
    """Queue each city's new suggestions for all its channels; send the
    digests of channels whose cadence is in ``cadences`` (None: all, as far
    as each cadence's gap allows) and, with ``notices``, pending follow-ups."""
    top = dep.settings.matcher.top
    for profile in dep.profiles:
        city = profile.city.id
        hidden = {cid for cid, mark in store.marks(city).items() if mark == "not-relevant"}
        ranked = [m for m in matches.get(city, []) if m.call_id not in hidden]
        for spec in profile.channels:
            if spec.kind not in channels:
                reason = unavailable.get(spec.kind, f"channel kind {spec.kind!r} is not available in this version")
                if reason not in report.notices:
                    report.notices.append(reason)
                continue
            threshold = spec.min_score if spec.min_score is not None else dep.settings.matcher.min_score
            for m in ranked[:top]:
                # a call the city cannot use is never suggested, whatever the channel's threshold
                if m.score >= threshold and m.eligibility != "ineligible":
                    store.queue_delivery(city, spec.key, m.call_id, "suggestion", score=m.score,
                                         need_id=m.need_id, now=clock.now)
            blocked = store.blocked_channels().get((spec.key, city))
            if blocked and clock.now - dt.datetime.fromisoformat(blocked["blocked_at"]) < BLOCKED_RETRY:
                report.notices.append(f"{spec.key} for {city} is stopped: {blocked['error']} (fix it; retried daily)")
                continue
            if notices:
                send_notices(dep, store, channels, profile, spec, clock, report)
            if cadences is not None and spec.cadence not in cadences:
                continue  # this channel's digest has its own job
            pending = [d for d in store.deliveries(status="pending", city=city, channel=spec.key)
                       if d.kind == "suggestion" and d.due(clock.now)]
            if not pending:
                continue
            channel = channels[spec.kind]
            pending = reconcile(store, channel, spec, city, pending, clock, report)
            if not pending:
                continue
            last = store.last_sent_at(city, spec.key)
            if last is not None and clock.now - last < CADENCE_GAP[spec.cadence]:
                continue  # not due yet; stays in the outbox
            by_call = {m.call_id: m for m in ranked}
            items = []
            for d in pending:
                call = calls.get(d.call_id) or store.call(d.call_id)
                m = by_call.get(d.call_id)
                if call is None or m is None:
                    continue  # closed or gone since queued: nothing to suggest any more
                deadline = call.next_deadline(clock.at)
                items.append(DigestItem(
                    delivery_id=d.id, title=call.record.title, funder=call.record.funder, url=safe_url(call.record.url),
                    deadline=deadline, status=call.status(clock.at), score=m.score,
                    need_id=m.need_id, need_text=m.need_text, passage=m.passage,
                    programme=call.record.programme, budget=call.record.budget, caveats=m.caveats,
                    stage=call.stage(deadline), seen_on=call.seen_on,
                ))
            if not items:
                continue
            digest = Digest(city, profile.city.name, profile.city.language, tuple(items), dep.settings.timezone)
            send_digest(store, channel, spec, digest, clock, report)


# --- follow-ups: changes that matter, deadline reminders --------------------------

MATTERS = {"deadlines", "status", "budget"}


def queue_notices(dep: Deployment, store: Store, changes: dict[int, list[str]], clock: Clock) -> None:
    """Queue a follow-up for every channel that was suggested a call which
    has now changed in a way that matters (deadline moved, reopened, budget),
    and a reminder ``[delivery] reminder_days`` before each deadline of a call
    a city is applying for.  Each is queued once (keyed by what it says)."""
    days = dep.settings.delivery.reminder_days
    for profile in dep.profiles:
        city = profile.city.id
        suggested = [d for d in store.deliveries(city=city) if d.kind == "suggestion" and d.status == "sent"]
        applying = {cid for cid, mark in store.marks(city).items() if mark == "applying"}
        for d in suggested:
            fields = sorted(MATTERS & set(changes.get(d.call_id, ())))
            if not fields and d.call_id not in applying:
                continue  # nothing to say about this call
            call = store.call(d.call_id)
            if call is None:
                continue
            if fields:
                store.queue_delivery(city, d.channel, d.call_id, f"change:{call.content_hash[:16]}",
                                     score=None, need_id=",".join(fields), now=clock.now)
            if d.call_id in applying:
                upcoming = call.next_deadline(clock.at)
                if upcoming and upcoming - clock.at <= dt.timedelta(days=days):
                    store.queue_delivery(city, d.channel, d.call_id, f"reminder:{upcoming.date().isoformat()}",
                                         score=None, need_id=None, now=clock.now)


def send_notices(dep: Deployment, store: Store, channels: dict[str, Channel], profile: Profile, spec,
                 clock: Clock, report: "CycleReport") -> None:
    """Post pending follow-ups of one city and channel (threaded on Slack)."""
    from .channels import Notice

    city = profile.city.id
    pending = [d for d in store.deliveries(status="pending", city=city, channel=spec.key)
               if d.kind != "suggestion" and d.due(clock.now)]
    if not pending:
        return
    parents = {d.call_id: d for d in store.deliveries(status="sent", city=city, channel=spec.key)
               if d.kind == "suggestion"}
    channel = channels[spec.kind]
    for d in pending:
        call = store.call(d.call_id)
        parent = parents.get(d.call_id)
        if call is None or parent is None:
            continue
        deadline = call.next_deadline(clock.at)
        notice = Notice(delivery_id=d.id, kind=d.kind.split(":")[0], city_id=city, language=profile.city.language,
                        title=call.record.title, url=safe_url(call.record.url), deadline=deadline,
                        status=call.status(clock.at), budget=call.record.budget,
                        fields=tuple((d.need_id or "").split(",")) if d.need_id else (),
                        thread=parent.message_ref, timezone=dep.settings.timezone, stage=call.stage(deadline))
        ref = guarded(store, spec, city, [d.id], clock, report, lambda: channel.notify(spec, notice))
        if ref is None:
            return
        store.mark_sent([d.id], clock.now, ref)
        report.deliveries["sent"] += 1


# --- the coordination channel: joint opportunities for Viable Cities and the agencies ---

COORDINATION = "coordination"  # the outbox's "city" for the coordination channels


def send_coordination(dep: Deployment, store: Store, channels: dict[str, Channel], embedder: Embedder,
                      matches: dict[str, list[Match]], pool: list[StoredCall], clock: Clock,
                      report: CycleReport, unavailable: dict[str, str], *, cadences: set[str] | None = None) -> None:
    """Joint opportunities to the ``[coordination]`` channels (those whose
    cadence is in ``cadences``; None: all), digest style, through the same
    outbox: each (call, group of cities) once per channel."""
    import hashlib

    from .combined import joint_opportunities

    specs = [s for s in dep.settings.coordination.channels if cadences is None or s.cadence in cadences]
    if not specs:
        return
    rows = {city: [{"call_id": m.call_id, "need_id": m.need_id, "score": m.score, "eligibility": m.eligibility}
                   for m in ms] for city, ms in matches.items()}
    keys = [(p.city.id, n.id) for p in dep.profiles for n in p.needs]
    vectors, _ = embed_cached(store, embedder, [t for p in dep.profiles for t in need_texts(p)])
    need_vectors = dict(zip(keys, vectors))
    need_text = {(p.city.id, n.id): n.text for p in dep.profiles for n in p.needs}
    names = {p.city.id: p.city.name for p in dep.profiles}
    calls = {c.id: c for c in pool}
    opportunities = joint_opportunities(rows, calls, need_vectors, need_text, dep.settings.matcher.min_score, clock.at)
    for spec in specs:
        if spec.kind not in channels:
            reason = unavailable.get(spec.kind, f"channel kind {spec.kind!r} is not available")
            if reason not in report.notices:
                report.notices.append(reason)
            continue
        by_delivery = {}
        for o in opportunities[: dep.settings.matcher.top]:
            group = hashlib.sha256(",".join(o.cities).encode()).hexdigest()[:12]
            store.queue_delivery(COORDINATION, spec.key, o.call_id, f"joint:{group}",
                                 score=o.total_relevance / len(o.cities), need_id=",".join(o.cities), now=clock.now)
            by_delivery[(o.call_id, f"joint:{group}")] = o
        pending = [d for d in store.deliveries(status="pending", city=COORDINATION, channel=spec.key)
                   if d.due(clock.now) and (d.call_id, d.kind) in by_delivery]
        channel = channels[spec.kind]
        pending = reconcile(store, channel, spec, COORDINATION, pending, clock, report) if pending else []
        if not pending:
            continue
        items = []
        for d in pending:
            o = by_delivery[(d.call_id, d.kind)]
            call = calls[o.call_id]
            cities = ", ".join(names.get(c, c) for c in o.cities)
            shared = "; ".join(sorted(set(o.needs.values())))[:600]
            items.append(DigestItem(
                delivery_id=d.id, title=o.title, funder=o.funder, url=safe_url(o.url), deadline=o.deadline,
                status=call.status(clock.at), score=o.total_relevance / len(o.cities), need_id=cities,
                need_text=f"{cities}" + (" · konsortium" if o.consortium else ""), passage=shared,
                programme=call.record.programme, budget=call.record.budget,
                stage=call.stage(o.deadline), seen_on=call.seen_on))
        digest = Digest(COORDINATION, "Viable Cities – gemensamma möjligheter", "sv", tuple(items),
                        dep.settings.timezone)
        send_digest(store, channel, spec, digest, clock, report)


# --- the whole cycle ----------------------------------------------------------------------


def run_cycle(dep: Deployment, store: Store, embedder: Embedder, channels: dict[str, Channel], clock: Clock, *,
              offline: bool, unavailable: dict[str, str] | None = None,
              fetchers: dict[str, Fetcher] | None = None,
              progress: Callable[[str], None] | None = None) -> CycleReport:
    """One whole cycle: every source, then :func:`deliver_cycle`."""
    report = CycleReport(today=clock.today.isoformat())
    enabled = [s for s in dep.sources if s.enabled]
    for source_id, outcome in fetch_sources(dep, store, enabled, clock, offline=offline, fetchers=fetchers).items():
        report.sources[source_id] = {k: outcome[k] for k in ("ok", "items", "new", "changed", "error", "warning")}
        report.calls["new"] += outcome["new"]
        report.calls["changed"] += outcome["changed"]
        report.calls["gone"] += outcome["gone"]
    return deliver_cycle(dep, store, embedder, channels, clock, unavailable=unavailable, progress=progress,
                         report=report, offline=offline)


def deliver_cycle(dep: Deployment, store: Store, embedder: Embedder, channels: dict[str, Channel], clock: Clock, *,
                  unavailable: dict[str, str] | None = None, progress: Callable[[str], None] | None = None,
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
    queue_notices(dep, store, changes, clock)
    send_coordination(dep, store, channels, embedder, matches, pool, clock, report, unavailable or {},
                      cadences=cadences)
    queue_and_send(dep, store, channels, matches, {c.id: c for c in pool}, clock, report, unavailable or {},
                   cadences=cadences, notices=notices)
    report.deliveries["pending"] = len(store.deliveries(status="pending"))
    store.finish_run(run_id, dt.datetime.now(dt.timezone.utc), report.as_dict())
    return report


__all__ = ["Clock", "CycleReport", "FundbotError", "deliver_cycle", "make_clock", "run_cycle"]
