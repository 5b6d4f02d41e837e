"""The outbox: every message fundbot owes a channel, one row per (addressee,
channel, call, kind, dedupe key), confirmed row by row.

A row's ``kind`` says what it is — ``suggestion``, ``change`` (a call
already suggested changed in a way that matters), ``reminder`` (a deadline
nears for a call the city applies for) or ``joint`` (an opportunity for a
group of cities, to the coordination channels) — and its ``dedupe`` key what
makes it news: '' for a suggestion (once per call), the call's content hash
for a change (a second change is a second notice), the deadline's date for a
reminder, the group of cities for a joint opportunity.  What the row carries
beyond that is in ``payload`` (JSON): the changed fields, the cities.
The UNIQUE constraint on all five is what makes a second send impossible.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from sqlalchemy import text

from ..models import COORDINATION  # noqa: F401 - the addressee of the coordination rows
from ..safety import redact
from .stamps import _dt, _iso

KINDS = ("suggestion", "change", "reminder", "joint")


@dataclass(frozen=True)
class OutboxRow:
    id: int
    city: str  # the addressee: a city id, or COORDINATION
    channel: str  # ChannelSpec.key
    call_id: int
    kind: str  # KINDS
    score: float | None
    need_id: str | None  # the need a suggestion names
    status: str  # pending | sent
    attempts: int
    error: str | None
    message_ref: str | None = None
    last_attempt: dt.datetime | None = None
    dedupe: str = ""
    payload: dict = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        """What changed (a change notice)."""
        return tuple(self.payload.get("fields", ()))

    @property
    def cities(self) -> tuple[str, ...]:
        """The group a joint opportunity is for."""
        return tuple(self.payload.get("cities", ()))

    def due(self, now: dt.datetime) -> bool:
        """A failed row waits 2^attempts minutes (at most 6 h) before the next try."""
        if self.status != "pending" or not self.error or self.last_attempt is None:
            return True
        wait = dt.timedelta(minutes=min(2 ** self.attempts, 360))
        return now - self.last_attempt >= wait


def _row(r) -> OutboxRow:
    return OutboxRow(r.id, r.city, r.channel, r.call_id, r.kind, r.score, r.need_id, r.status, r.attempts, r.error,
                     r.message_ref, _dt(r.last_attempt), r.dedupe, json.loads(r.payload) if r.payload else {})


class OutboxStore:
    """The outbox part of :class:`matcher.store.Store` (a mixin: ``engine``
    and ``redact`` come from the store)."""

    def queue_delivery(self, city: str, channel: str, call_id: int, kind: str, *, score: float | None,
                       need_id: str | None = None, now: dt.datetime, dedupe: str = "",
                       payload: dict | None = None) -> bool:
        """Put a row in the outbox unless this (addressee, channel, call,
        kind, dedupe key) is already there, pending or sent.  True if queued now."""
        if kind not in KINDS:
            raise ValueError(f"outbox kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if (kind == "suggestion") == bool(dedupe):
            raise ValueError(f"a {kind} row {'takes no' if kind == 'suggestion' else 'needs a'} dedupe key")
        with self.engine.begin() as conn:
            result = conn.execute(
                text("INSERT INTO outbox (city, channel, call_id, kind, dedupe, score, need_id, payload, status,"
                     " created_at) VALUES (:city, :channel, :call_id, :kind, :dedupe, :score, :need_id, :payload,"
                     " 'pending', :now) ON CONFLICT (city, channel, call_id, kind, dedupe) DO NOTHING"),
                {"city": city, "channel": channel, "call_id": call_id, "kind": kind, "dedupe": dedupe,
                 "score": score, "need_id": need_id, "payload": json.dumps(payload, sort_keys=True) if payload else None,
                 "now": _iso(now)})
            return result.rowcount == 1

    def deliveries(self, *, status: str | None = None, city: str | None = None, channel: str | None = None,
                   kind: str | None = None) -> list[OutboxRow]:
        """Rows of the outbox, best score first, then in the order queued."""
        where, params = [], {}
        for name, value in (("status", status), ("city", city), ("channel", channel), ("kind", kind)):
            if value is not None:
                where.append(f"{name} = :{name}")
                params[name] = value
        sql = "SELECT * FROM outbox" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY score DESC, id"
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(text(sql), params).fetchall()]

    def delivery(self, delivery_id: int) -> OutboxRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(text("SELECT * FROM outbox WHERE id = :id"), {"id": delivery_id}).first()
        return _row(r) if r is not None else None

    def delivered_call_ids(self, city: str, channel: str) -> set[int]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT call_id FROM outbox WHERE city = :c AND channel = :ch"),
                                {"c": city, "ch": channel})
            return {r.call_id for r in rows}

    def mark_sent(self, ids: list[int], now: dt.datetime, ref: str | None = None) -> None:
        """Record rows as delivered (``ref``: the message that carried them)."""
        self._mark(ids, "sent", now, None)
        if ref is not None and ids:
            with self.engine.begin() as conn:
                conn.execute(text("UPDATE outbox SET message_ref = :r WHERE id = :id"),
                             [{"r": ref, "id": i} for i in ids])

    def mark_failed(self, ids: list[int], now: dt.datetime, error: str) -> None:
        self._mark(ids, "pending", now, error)  # stays in the outbox for the next cycle

    def _mark(self, ids: list[int], status: str, now: dt.datetime, error: str | None) -> None:
        if not ids:
            return
        error = redact(error)  # an error may quote a webhook URL or a token: never kept
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE outbox SET status = :status, attempts = attempts + 1, error = :error, last_attempt = :now,"
                     " sent_at = CASE WHEN :status = 'sent' THEN :now ELSE sent_at END WHERE id = :id"),
                [{"status": status, "error": error, "now": _iso(now), "id": i} for i in ids])

    def pending_since(self, city: str, channel: str) -> dt.datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                text("SELECT MIN(created_at) FROM outbox WHERE city = :c AND channel = :ch AND status = 'pending'"),
                {"c": city, "ch": channel}).scalar_one()
        return _dt(value)

    def last_sent_at(self, city: str, channel: str) -> dt.datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                text("SELECT MAX(sent_at) FROM outbox WHERE city = :c AND channel = :ch AND status = 'sent'"),
                {"c": city, "ch": channel}).scalar_one()
        return _dt(value)

    def delivery_counts(self) -> dict[str, int]:
        counts = {"sent": 0, "pending": 0, "failed": 0}
        with self.engine.connect() as conn:
            for r in conn.execute(text("SELECT status, error IS NOT NULL AS failed, COUNT(*) AS n FROM outbox"
                                       " GROUP BY status, error IS NOT NULL")):
                counts["sent" if r.status == "sent" else "failed" if r.failed else "pending"] += r.n
        return counts

    def channel_health(self) -> dict[tuple[str, str], dict]:
        """Per (channel, addressee): rows sent, pending, failing (pending after
        an error), the last confirmed send and the latest error."""
        out: dict[tuple[str, str], dict] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT channel, city, status, error IS NOT NULL AS failed, COUNT(*) AS n, MAX(sent_at) AS last_sent"
                " FROM outbox GROUP BY channel, city, status, error IS NOT NULL"))
            for r in rows:
                h = out.setdefault((r.channel, r.city), {"sent": 0, "pending": 0, "failed": 0, "last_sent": None,
                                                         "last_error": None})
                h["sent" if r.status == "sent" else "failed" if r.failed else "pending"] += r.n
                if r.last_sent and (h["last_sent"] is None or r.last_sent > h["last_sent"]):
                    h["last_sent"] = r.last_sent
            errors = conn.execute(text("SELECT channel, city, error FROM outbox WHERE status = 'pending'"
                                       " AND error IS NOT NULL ORDER BY id"))
            for r in errors:
                out[(r.channel, r.city)]["last_error"] = r.error
        return out

    # channels stopped by a permanent error

    def block_channel(self, channel: str, city: str, error: str | None, now: dt.datetime | None) -> None:
        """Stop (``now``) or release (``now=None``) a channel after a permanent error."""
        error = redact(error)
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM channel_state WHERE channel = :ch AND city = :c"), {"ch": channel, "c": city})
            if now is not None:
                conn.execute(text("INSERT INTO channel_state (channel, city, error, blocked_at) VALUES (:ch, :c, :e, :t)"),
                             {"ch": channel, "c": city, "e": error, "t": _iso(now)})

    def blocked_channels(self) -> dict[tuple[str, str], dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM channel_state")).fetchall()
        return {(r.channel, r.city): {"error": r.error, "blocked_at": r.blocked_at} for r in rows}
