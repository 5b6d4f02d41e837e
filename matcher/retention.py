"""The retention rule for the pipeline's personal data (``[web]
retention_months``): owners' names, notes and who changed what are cleared
once the call's last deadline lies that long in the past (a call without
deadlines: the last day its source listed it).  Statuses stay — they hold
no one's name and the ranking learns from them."""

from __future__ import annotations

import datetime as dt


def _months_before(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(y, m + 1, min(day.day, 28))


def expire(dep, store, now: dt.datetime) -> int:
    """Apply the rule; returns the pipeline rows cleared."""
    ids = {cid for rows in store.pipeline().values() for cid in rows}
    if not ids:
        return 0
    cutoff = _months_before(now.date(), dep.settings.web.retention_months)
    def last_day(c) -> dt.date:
        return max(c.record.deadlines).date() if c.record.deadlines else (c.seen_on or c.last_seen.date())

    return store.expire_personal(c.id for c in store.calls(include_gone=True, ids=sorted(ids)) if last_day(c) < cutoff)
