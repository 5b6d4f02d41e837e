"""Dates as funders write them, read into timezone-aware datetimes.

Swedish sources are Europe/Stockholm local time, EU sources Europe/Brussels.
A date without a time is a deadline at the end of that day (23:59:59).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
BRUSSELS = ZoneInfo("Europe/Brussels")
UTC = dt.timezone.utc

_ISO = re.compile(
    r"^\s*(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?"
    r"\s*(?P<offset>Z|[+-]\d{2}:?\d{2})?"
    r"(?:\s+(?P<zone>[A-Za-z]+/[A-Za-z_]+))?\s*$"
)

# "no date" placeholders some registers use
_PLACEHOLDER_YEARS = {1900, 1899, 1753, 9999}


def localize(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """Attach ``zone`` to a naive local time, resolving DST edges.

    A time that does not exist (spring forward gap) is moved forward by the
    gap; an ambiguous one (autumn) takes the first (summer-time) reading.
    """
    aware = naive.replace(tzinfo=zone, fold=0)
    roundtrip = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if roundtrip != naive:  # nonexistent: 02:30 on the spring-forward night
        aware = (naive + dt.timedelta(hours=1)).replace(tzinfo=zone)
    return aware


def parse_iso(value: str | None, zone: ZoneInfo, *, end_of_day: bool = False) -> dt.datetime | None:
    """Parse the ISO-like forms the APIs use.

    ``2026-10-13T14:00:00`` (naive, local to ``zone``),
    ``2024-04-18T19:00:00.000+0200``, ``2024-09-27+02:00 Europe/Brussels``,
    ``2026-11-20``.  Placeholder years (1900-01-01) mean "no date" → None.
    """
    if not value:
        return None
    m = _ISO.match(str(value))
    if not m:
        return None
    date = dt.date.fromisoformat(m["date"])
    if date.year in _PLACEHOLDER_YEARS:
        return None
    if m["time"]:
        t = dt.time.fromisoformat(m["time"][:8] if len(m["time"]) >= 8 else m["time"])
    else:
        t = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0)
    naive = dt.datetime.combine(date, t)
    if m["zone"]:
        try:
            zone = ZoneInfo(m["zone"])
        except Exception:  # unknown zone name: keep the source's zone
            pass
    if m["offset"] and not m["zone"]:
        off = m["offset"]
        if off == "Z":
            return naive.replace(tzinfo=UTC)
        sign = 1 if off[0] == "+" else -1
        digits = off[1:].replace(":", "")
        delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return naive.replace(tzinfo=dt.timezone(sign * delta))
    return localize(naive, zone)
