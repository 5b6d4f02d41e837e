"""Delivery: what is due goes out through each channel, recorded in the
outbox row by row.

A :class:`Delivery` is one delivery run (a cycle's last stage, or one of
``serve``'s digest and reminder jobs).  It owns what every step needs — the
deployment, the store, the channels, the clock, the tally — and has three
steps, taken in this order:

- :meth:`Delivery.follow_ups` queues change notices and deadline reminders
  for calls already suggested;
- :meth:`Delivery.coordination` queues and sends joint opportunities to the
  ``[coordination]`` channels;
- :meth:`Delivery.suggestions` queues each city's new suggestions for every
  channel, sends pending follow-ups, and sends the digests that are due.

Exactly once where a channel can be read back (Slack): rows a crash left
posted but unrecorded are found there and marked sent.  Elsewhere at least
once: a row is recorded the moment its channel accepts it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .channels import Channel, ChannelBlocked, Channels, Digest, DigestItem, NotConfigured, Notice
from .config import ChannelSpec, Deployment, Profile
from .models import Match, StoredCall
from .safety import safe_url
from .store import COORDINATION, Store

if TYPE_CHECKING:
    from .cycle import Clock, CycleReport
    from .embed import Embedder

log = logging.getLogger(__name__)

# a channel stopped by a permanent error is tried again after this long
BLOCKED_RETRY = dt.timedelta(hours=24)
# the least time between two digests of a channel, by its cadence
CADENCE_GAP = {"instant": dt.timedelta(0), "daily": dt.timedelta(hours=20), "weekly": dt.timedelta(days=6, hours=12)}
# the changes to a call that are worth a follow-up
MATTERS = {"deadlines", "status", "budget"}


@dataclass
class Delivery:
    """One delivery run.  ``cadences``: the digests of channels with these
    cadences are sent (None: every channel, as far as its cadence's gap allows)."""

    dep: Deployment
    store: Store
    channels: Channels
    clock: "Clock"
    report: "CycleReport"
    cadences: set[str] | None = None
    links: object | None = None  # matcher.web.links.DigestLinks when [web] base_url is set

    # --- the steps ------------------------------------------------------------------------------

    def follow_ups(self, changes: dict[int, list[str]]) -> None:
        """Queue a follow-up for every channel that was suggested a call which
        has now changed in a way that matters (deadline moved, reopened,
        budget), and a reminder ``[delivery] reminder_days`` before each
        deadline of a call a city is applying for.  Each is queued once
        (keyed by what it says)."""
        store, clock = self.store, self.clock
        days = self.dep.settings.delivery.reminder_days
        for profile in self.dep.profiles:
            city = profile.city.id
            suggested = store.deliveries(city=city, status="sent", kind="suggestion")
            applying = {cid for cid, mark in store.marks(city).items() if mark == "applying"}
            for d in suggested:
                fields = sorted(MATTERS & set(changes.get(d.call_id, ())))
                if not fields and d.call_id not in applying:
                    continue  # nothing to say about this call
                call = store.call(d.call_id)
                if call is None:
                    continue
                if fields:  # once per version of the call: a later change is a new notice
                    store.queue_delivery(city, d.channel, d.call_id, "change", dedupe=call.content_hash[:16],
                                         score=None, payload={"fields": fields}, now=clock.now)
                if d.call_id in applying:
                    upcoming = call.next_deadline(clock.at)
                    if upcoming and upcoming - clock.at <= dt.timedelta(days=days):
                        store.queue_delivery(city, d.channel, d.call_id, "reminder",
                                             dedupe=upcoming.date().isoformat(), score=None, now=clock.now)

    def coordination(self, embedder: "Embedder", matches: dict[str, list[Match]], pool: list[StoredCall]) -> None:
        """Joint opportunities to the ``[coordination]`` channels, digest
        style, through the same outbox: each (call, group of cities) once per
        channel."""
        from .combined import joint_opportunities
        from .embed import embed_cached
        from .rank import need_texts

        dep, store, clock = self.dep, self.store, self.clock
        specs = [s for s in dep.settings.coordination.channels if self.cadences is None or s.cadence in self.cadences]
        if not specs:
            return
        rows = {city: [{"call_id": m.call_id, "need_id": m.need_id, "score": m.score, "eligibility": m.eligibility}
                       for m in ms] for city, ms in matches.items()}
        keys = [(p.city.id, n.id) for p in dep.profiles for n in p.needs]
        vectors, _ = embed_cached(store, embedder, [t for p in dep.profiles for t in need_texts(p)])
        need_text = {(p.city.id, n.id): n.text for p in dep.profiles for n in p.needs}
        names = {p.city.id: p.city.name for p in dep.profiles}
        calls = {c.id: c for c in pool}
        opportunities = joint_opportunities(rows, calls, dict(zip(keys, vectors)), need_text,
                                            dep.settings.matcher.min_score, clock.at)
        for spec in specs:
            channel = self._open(spec)
            by_delivery = {}
            for o in opportunities[: dep.settings.matcher.top]:
                group = hashlib.sha256(",".join(o.cities).encode()).hexdigest()[:12]
                store.queue_delivery(COORDINATION, spec.key, o.call_id, "joint", dedupe=group,
                                     score=o.total_relevance / len(o.cities), payload={"cities": list(o.cities)},
                                     now=clock.now)
                by_delivery[(o.call_id, group)] = o
            if channel is None:
                continue
            pending = [d for d in store.deliveries(status="pending", city=COORDINATION, channel=spec.key, kind="joint")
                       if d.due(clock.now) and (d.call_id, d.dedupe) in by_delivery]
            pending = self._reconcile(channel, spec, COORDINATION, pending) if pending else []
            if not pending:
                continue
            items = []
            for d in pending:
                o = by_delivery[(d.call_id, d.dedupe)]
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
            self._send_digest(channel, spec, digest)

    def suggestions(self, matches: dict[str, list[Match]], calls: dict[int, StoredCall], *,
                    notices: bool = True) -> None:
        """Queue each city's new suggestions for all its channels; send the
        digests that are due and, with ``notices``, pending follow-ups."""
        dep, store, clock = self.dep, self.store, self.clock
        top = dep.settings.matcher.top
        for profile in dep.profiles:
            city = profile.city.id
            hidden = {cid for cid, mark in store.marks(city).items() if mark == "not-relevant"}
            ranked = [m for m in matches.get(city, []) if m.call_id not in hidden]
            by_call = {m.call_id: m for m in ranked}
            for spec in profile.channels:
                threshold = spec.min_score if spec.min_score is not None else dep.settings.matcher.min_score
                for m in ranked[:top]:
                    # a call the city cannot use is never suggested, whatever the channel's threshold
                    if m.score >= threshold and m.eligibility != "ineligible":
                        store.queue_delivery(city, spec.key, m.call_id, "suggestion", score=m.score,
                                             need_id=m.need_id, now=clock.now)
                channel = self._open(spec)
                if channel is None or self._stopped(spec, city):
                    continue  # queued: it goes out once the channel can run
                if notices:
                    self._send_notices(channel, profile, spec)
                if self.cadences is not None and spec.cadence not in self.cadences:
                    continue  # this channel's digest has its own job
                pending = [d for d in store.deliveries(status="pending", city=city, channel=spec.key,
                                                       kind="suggestion") if d.due(clock.now)]
                pending = self._reconcile(channel, spec, city, pending) if pending else []
                if not pending:
                    continue
                last = store.last_sent_at(city, spec.key)
                if last is not None and clock.now - last < CADENCE_GAP[spec.cadence]:
                    continue  # not due yet; stays in the outbox
                items = [item for d in pending if (item := self._item(d, calls, by_call)) is not None]
                if items:
                    page = self.links.page(city) if self.links is not None else None
                    self._send_digest(channel, spec, Digest(city, profile.city.name, profile.city.language,
                                                            tuple(items), dep.settings.timezone, page_url=page))

    # --- parts of the steps ---------------------------------------------------------------------------

    def _item(self, d, calls: dict[int, StoredCall], by_call: dict[int, Match]) -> DigestItem | None:
        """One pending suggestion as a digest item; None when it is no longer one
        (closed or gone since it was queued, or no longer among the matches)."""
        call = calls.get(d.call_id) or self.store.call(d.call_id)
        m = by_call.get(d.call_id)
        if call is None or m is None:
            return None
        at = self.clock.at
        deadline = call.next_deadline(at)
        return DigestItem(
            delivery_id=d.id, title=call.record.title, funder=call.record.funder, url=safe_url(call.record.url),
            deadline=deadline, status=call.status(at), score=m.score, need_id=m.need_id, need_text=m.need_text,
            passage=m.passage, programme=call.record.programme, budget=call.record.budget, caveats=m.caveats,
            stage=call.stage(deadline), seen_on=call.seen_on,
            actions=self.links.actions(d.city, d.call_id) if self.links is not None else ())

    def _say(self, text: str) -> None:
        if text not in self.report.notices:
            self.report.notices.append(text)

    def _open(self, spec: ChannelSpec) -> Channel | None:
        """The channel for ``spec``; None (and the reason said once) when it cannot run here."""
        try:
            return self.channels.open(spec)
        except NotConfigured as exc:
            self._say(str(exc))
            return None

    def _stopped(self, spec: ChannelSpec, city: str) -> bool:
        """Whether a permanent error stopped this channel less than BLOCKED_RETRY ago."""
        blocked = self.store.blocked_channels().get((spec.key, city))
        if blocked and self.clock.now - dt.datetime.fromisoformat(blocked["blocked_at"]) < BLOCKED_RETRY:
            self._say(f"{spec.key} for {city} is stopped: {blocked['error']} (fix it; retried daily)")
            return True
        return False

    def _block(self, spec: ChannelSpec, city: str, exc: ChannelBlocked) -> None:
        self.store.block_channel(spec.key, city, str(exc), self.clock.now)
        self.report.notices.append(f"{spec.key} for {city} is stopped: {exc}")

    def _guarded(self, spec: ChannelSpec, city: str, ids: list[int], call):
        """Run one channel operation; None when it did not happen: a permanent
        error (the channel stops), anything else (the rows stay pending,
        retried with backoff)."""
        try:
            return call()
        except ChannelBlocked as exc:
            self._block(spec, city, exc)
        except Exception as exc:  # noqa: BLE001 - one channel never stops the others
            log.warning("channel %s for %s failed: %s", spec.key, city, exc)
            self.store.mark_failed(ids, self.clock.now, f"{type(exc).__name__}: {exc}")
            self.report.deliveries["failed"] += len(ids)
        return None

    def _reconcile(self, channel: Channel, spec: ChannelSpec, city: str, pending: list) -> list:
        """Where the channel can be read back, rows a crash left posted but
        unrecorded are marked sent, not posted again.  Returns the rows still
        to send — none if the channel cannot be checked now."""
        if not channel.reads_back:
            return pending
        try:
            already = channel.delivered(city, self.store.pending_since(city, spec.key))
        except ChannelBlocked as exc:
            self._block(spec, city, exc)
            return []
        except Exception as exc:  # noqa: BLE001 - cannot check: do not post blindly
            log.warning("channel %s for %s: cannot read history: %s", spec.key, city, exc)
            self.report.notices.append(f"{spec.key} for {city}: unreachable ({type(exc).__name__}); kept pending")
            return []
        done = [d.id for d in pending if d.id in already]
        if done:
            self.store.mark_sent(done, self.clock.now, "reconciled")
        return [d for d in pending if d.id not in already]

    def _send_digest(self, channel: Channel, spec: ChannelSpec, digest: Digest) -> None:
        """Send one digest, cut to the channel's limits, and record the
        outcome: rows confirmed as the channel accepts them."""
        city, store = digest.city_id, self.store
        digest = digest.within_limits(title=channel.max_title, text=channel.max_text)

        def confirm(ids: list[int], ref: str | None) -> None:
            store.mark_sent(list(ids), dt.datetime.now(dt.timezone.utc), ref)

        result = self._guarded(spec, city, [i.delivery_id for i in digest.items],
                               lambda: channel.send(digest, confirm))
        if result is None:
            return
        store.block_channel(spec.key, city, None, None)
        if result.failed:
            store.mark_failed(list(result.failed), self.clock.now, result.error or "failed")
        self.report.deliveries["sent"] += len(result.sent)
        self.report.deliveries["failed"] += len(result.failed)
        log.info("channel %s for %s: %d sent%s", spec.key, city, len(result.sent),
                 f", {len(result.failed)} failed: {result.error}" if result.failed else "")

    def _send_notices(self, channel: Channel, profile: Profile, spec: ChannelSpec) -> None:
        """Post pending follow-ups of one city and channel (threaded where the channel can)."""
        store, clock = self.store, self.clock
        city = profile.city.id
        pending = [d for d in store.deliveries(status="pending", city=city, channel=spec.key)
                   if d.kind != "suggestion" and d.due(clock.now)]
        if not pending:
            return
        parents = {d.call_id: d for d in store.deliveries(status="sent", city=city, channel=spec.key,
                                                          kind="suggestion")}
        for d in pending:
            call = store.call(d.call_id)
            parent = parents.get(d.call_id)
            if call is None or parent is None:
                continue
            deadline = call.next_deadline(clock.at)
            notice = Notice(delivery_id=d.id, kind=d.kind, city_id=city,
                            language=profile.city.language, title=call.record.title, url=safe_url(call.record.url),
                            deadline=deadline, status=call.status(clock.at), budget=call.record.budget,
                            fields=d.fields,
                            thread=parent.message_ref, timezone=self.dep.settings.timezone,
                            stage=call.stage(deadline))
            ref = self._guarded(spec, city, [d.id], lambda: channel.notify(notice))
            if ref is None:
                return
            store.mark_sent([d.id], clock.now, ref)
            self.report.deliveries["sent"] += 1


__all__ = ["BLOCKED_RETRY", "CADENCE_GAP", "COORDINATION", "Delivery", "MATTERS"]
