"""The pipeline: one record per city and call of what the city does with it —
a status, an owner and a note — each change a row with who made it, when
and through what (a Slack button, `fundbot mark`, the web page).

The latest row for a (city, call) is the current state; a change that names
only the status keeps the owner and note of the row before.  The older
decisions (`relevant`, `applying`, `not-relevant`) map onto statuses, and
every status says what the ranking learns and whether reminders run:

| status        | from the mark  | the ranking learns | reminders |
| ------------- | -------------- | ------------------ | --------- |
| new           | –              | nothing            | off       |
| interesting   | relevant       | relevant           | off       |
| preparing     | applying       | relevant           | on        |
| submitted     | –              | relevant           | off       |
| granted       | –              | relevant           | off       |
| rejected      | –              | relevant           | off       |
| not-relevant  | not-relevant   | not relevant       | off       |

Owners' names, notes and who made a change are personal data: they are
cleared by :meth:`PipelineStore.forget` (one person) and
:meth:`PipelineStore.expire_personal` (the retention rule); the status stays.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text

from .stamps import _dt, _iso

STATUSES = ("new", "interesting", "preparing", "submitted", "granted", "rejected", "not-relevant")
MARK_STATUS = {"relevant": "interesting", "applying": "preparing", "not-relevant": "not-relevant"}
# what each status means for the older decision words: the ranking's feedback and the reminders read these
STATUS_MARK = {"interesting": "relevant", "preparing": "applying", "submitted": "relevant", "granted": "relevant",
               "rejected": "relevant", "not-relevant": "not-relevant"}
VIAS = ("mark", "slack", "web")
MAX_OWNER, MAX_NOTE, MAX_WHO = 120, 2000, 120


@dataclass(frozen=True)
class Entry:
    """One change, or (the latest) a call's current state for a city."""

    id: int
    city: str
    call_id: int
    status: str
    owner: str | None
    note: str | None
    who: str | None
    via: str
    at: dt.datetime

    @property
    def mark(self) -> str | None:
        return STATUS_MARK.get(self.status)


def _entry(r) -> Entry:
    return Entry(r.id, r.city, r.call_id, r.status, r.owner, r.note, r.who, r.via, _dt(r.at))


def _clean(value: str | None, limit: int) -> str | None:
    """A person's text as kept: control characters gone, whitespace folded, cut to ``limit``."""
    if value is None:
        return None
    from ..safety import clean_text

    value = " ".join((clean_text(value) or "").split())[:limit].strip()
    return value or None


class PipelineStore:
    """Mixed into :class:`matcher.store.Store` (needs ``self.engine``)."""

    STATUSES = STATUSES

    def set_status(self, city: str, call_id: int, *, status: str | None = None, owner: str | None = None,
                   note: str | None = None, who: str | None, now: dt.datetime, via: str = "mark") -> Entry:
        """Record a change; what is not given (None) stays as it was. An
        owner or note of "" clears it."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
        if via not in VIAS:
            raise ValueError(f"unknown via {via!r}")
        with self.engine.begin() as conn:
            last = conn.execute(text("SELECT * FROM pipeline WHERE city = :c AND call_id = :id ORDER BY id DESC "
                                     "LIMIT 1"), {"c": city, "id": call_id}).first()
            row = {"c": city, "id": call_id,
                   "s": status or (last.status if last else "new"),
                   "o": _clean(owner, MAX_OWNER) if owner is not None else (last.owner if last else None),
                   "n": _clean(note, MAX_NOTE) if note is not None else (last.note if last else None),
                   "w": _clean(who, MAX_WHO), "v": via, "t": _iso(now)}
            new_id = conn.execute(text("INSERT INTO pipeline (city, call_id, status, owner, note, who, via, at) "
                                       "VALUES (:c, :id, :s, :o, :n, :w, :v, :t) RETURNING id"), row).scalar_one()
        return Entry(new_id, city, call_id, row["s"], row["o"], row["n"], row["w"], via, now)

    def add_mark(self, city: str, call_id: int, mark: str, who: str | None, now: dt.datetime,
                 via: str = "mark") -> None:
        """An older decision word (`fundbot mark`, a Slack button) as its status."""
        if mark not in MARK_STATUS:
            raise ValueError(f"unknown mark {mark!r} (known: {', '.join(MARK_STATUS)})")
        self.set_status(city, call_id, status=MARK_STATUS[mark], who=who, now=now, via=via)

    def pipeline(self, city: str | None = None) -> dict[str, dict[int, Entry]]:
        """Each city's current state per call (the latest change)."""
        where, args = ("WHERE city = :c", {"c": city}) if city else ("", {})
        out: dict[str, dict[int, Entry]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(text(f"SELECT * FROM pipeline {where} ORDER BY id"), args):
                out.setdefault(r.city, {})[r.call_id] = _entry(r)
        return out

    def history(self, city: str, call_id: int) -> list[Entry]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM pipeline WHERE city = :c AND call_id = :id ORDER BY id"),
                                {"c": city, "id": call_id})
            return [_entry(r) for r in rows]

    def marks_by_city(self) -> dict[str, dict[int, str]]:
        """Every city's :meth:`marks`, in one query."""
        return {city: {cid: e.mark for cid, e in entries.items() if e.mark}
                for city, entries in self.pipeline().items()}

    def marks(self, city: str) -> dict[int, str]:
        """Each call's current status as the older decision word (relevant,
        applying, not-relevant); calls back at 'new' have none."""
        return {cid: e.mark for cid, e in self.pipeline(city).get(city, {}).items() if e.mark}

    def forget(self, person: str) -> int:
        """Erase one person: their name as owner or as who made a change, and
        the notes they wrote (also where a later change carried them forward);
        statuses and other people's entries stay. Returns the rows touched."""
        person = (person or "").strip()
        if not person:
            raise ValueError("name the person to forget")
        p = {"p": person.lower()}
        with self.engine.begin() as conn:
            notes = [r[0] for r in conn.execute(text(
                "SELECT DISTINCT note FROM pipeline WHERE lower(who) = :p AND note IS NOT NULL"), p)]
            touched = {r[0] for r in conn.execute(text(
                "SELECT id FROM pipeline WHERE lower(who) = :p OR lower(owner) = :p"), p)}
            for k in range(0, len(notes), 200):
                part = {f"n{i}": v for i, v in enumerate(notes[k:k + 200])}
                ids = conn.execute(text(f"SELECT id FROM pipeline WHERE note IN ({', '.join(':' + n for n in part)})"),
                                   part)
                touched |= {r[0] for r in ids}
                conn.execute(text(f"UPDATE pipeline SET note = NULL WHERE note IN ({', '.join(':' + n for n in part)})"),
                             part)
            conn.execute(text("UPDATE pipeline SET owner = NULL WHERE lower(owner) = :p"), p)
            conn.execute(text("UPDATE pipeline SET who = NULL WHERE lower(who) = :p"), p)
        return len(touched)

    def expire_personal(self, call_ids) -> int:
        """The retention rule: for these calls (their last deadline is older
        than the retention period), clear owner, note and who. Returns the rows touched."""
        ids = sorted(set(call_ids))
        if not ids:
            return 0
        touched = 0
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                marks = ", ".join(f":i{k}" for k in range(len(part)))
                touched += conn.execute(text(
                    f"UPDATE pipeline SET owner = NULL, note = NULL, who = NULL WHERE call_id IN ({marks}) "
                    "AND (owner IS NOT NULL OR note IS NOT NULL OR who IS NOT NULL)"),
                    {f"i{k}": v for k, v in enumerate(part)}).rowcount
        return touched
