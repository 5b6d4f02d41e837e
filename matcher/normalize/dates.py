"""Dates as funders write them, read into timezone-aware datetimes.

Swedish sources are Europe/Stockholm local time, EU sources Europe/Brussels.
A date without a time is a deadline at the end of that day (23:59:59).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
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


# --- dates in prose: Swedish, English, Norwegian --------------------------------

MONTHS = {
    # Swedish
    "januari": 1, "februari": 2, "mars": 3, "april": 4, "maj": 5, "juni": 6, "juli": 7, "augusti": 8,
    "september": 9, "oktober": 10, "november": 11, "december": 12,
    # English
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7, "august": 8, "october": 10,
    # Norwegian (others coincide with Swedish/English)
    "januar": 1, "februar": 2, "mai": 5, "desember": 12,
    # abbreviations (sv/en/no)
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "okt": 10, "oct": 10, "nov": 11, "dec": 12, "des": 12,
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_TIME = (r"(?:\s*(?:,|kl\.?|klockan|at|@)?\s*\[?\s*(?P<h>[012]?\d)[:.](?P<mi>[0-5]\d)"
         r"(?:\s*(?P<ampm>[ap]\.?m\.?))?(?!\d))?")
_DATE_PATTERNS = [
    # 2024-10-16 [14:00]
    ("iso", re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?:T(?P<h2>\d{2}):(?P<mi2>\d{2}))?" + _TIME, re.I)),
    # 17/02/2027, 17.03.2025 [23:59]
    ("dmy", re.compile(r"(?<![\d.])(?P<d>\d{1,2})[./](?P<m>\d{1,2})[./](?P<y>\d{4})(?!\d)" + _TIME, re.I)),
    # 18–29 september 2023 (a range of days in one month)
    ("dayrange", re.compile(
        r"(?<!\d)(?P<d1>\d{1,2})\.?\s*(?:–|-|—|till|to)\s*(?P<d>\d{1,2})\.?\s+(?P<mn>" + _MONTH + r")\b\.?"
        r"(?:\s+(?P<y>\d{4}))?" + _TIME, re.I)),
    # 19 mars 2024, 7. okt. 2026, 20th September 2023, 20 oktober
    ("dmony", re.compile(
        r"(?<![\d.])(?P<d>\d{1,2})(?:st|nd|rd|th|:e|:a)?\.?\s*(?P<mn>" + _MONTH + r")\b\.?(?:\s+(?P<y>\d{4}))?" + _TIME,
        re.I)),
    # September 20th, 2023
    ("mdy", re.compile(r"\b(?P<mn>" + _MONTH + r")\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})" + _TIME, re.I)),
    # Feb 2027 (month precision)
    ("my", re.compile(r"\b(?P<mn>" + _MONTH + r")\.?\s+(?P<y>\d{4})\b", re.I)),
]
_TIME_BEFORE = re.compile(r"kl\.?\s*(?P<h>[012]?\d)[:.](?P<mi>[0-5]\d)\D{0,25}$", re.I)
# "7. okt. 2026, frist kl. 16.00": a time a few words after the date
_TIME_AFTER = re.compile(r"^[^\d\n]{0,20}?\b(?:kl\.?|klockan|at)\s*(?P<h>[012]?\d)[:.](?P<mi>[0-5]\d)", re.I)


@dataclass(frozen=True)
class FoundDate:
    """A date found in text, before a time zone is attached."""

    date: dt.date
    time: dt.time | None
    start: int  # span in the text
    end: int
    precision: str = "day"  # or "month"
    year_inferred: bool = False
    next_day: bool = False  # "kl. 24:00": the end of ``date``

    def at(self, zone: ZoneInfo, *, end_of_day: bool) -> dt.datetime:
        """As an aware datetime; a date without a time is the start or the
        end of its day (or of its month, at month precision)."""
        day = self.date
        if self.time is not None:
            naive = dt.datetime.combine(day, self.time)
            if self.next_day:
                naive += dt.timedelta(days=1)
            return localize(naive, zone)
        if end_of_day and self.precision == "month":
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        return localize(dt.datetime.combine(day, dt.time(23, 59, 59) if end_of_day else dt.time(0, 0)), zone)


def _infer_year(month: int, day: int, reference: dt.date) -> int:
    """The year that puts day/month nearest to the reference date."""
    best = None
    for year in (reference.year - 1, reference.year, reference.year + 1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        distance = abs((candidate - reference).days)
        if best is None or distance < best[0]:
            best = (distance, year)
    return best[1] if best else reference.year


def _time_of(m: re.Match) -> tuple[dt.time | None, bool]:
    groups = m.groupdict()
    h, mi = groups.get("h") or groups.get("h2"), groups.get("mi") or groups.get("mi2")
    if h is None:
        return None, False
    hour, minute = int(h), int(mi)
    ampm = (groups.get("ampm") or "").replace(".", "").lower()
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    if hour == 24 and minute == 0:
        return dt.time(0, 0), True
    if hour > 23:
        return None, False
    return dt.time(hour, minute), False


def find_dates(text: str, *, reference: dt.date | None = None) -> list[FoundDate]:
    """Every date written in ``text``, in order.  A missing year is taken
    from a nearby later date with a year ("2 mars till 30 april 2020"), else
    inferred from ``reference`` (the page's publication or fetch date)."""
    taken: list[tuple[int, int]] = []
    raw: list[tuple[int, int, int | None, int, int, dt.time | None, bool, str]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for kind, pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if not free(m.start(), m.end()):
                continue
            g = m.groupdict()
            month = MONTHS[g["mn"].lower().rstrip(".")] if g.get("mn") else int(g["m"])
            year = int(g["y"]) if g.get("y") else None
            time, next_day = _time_of(m)
            if kind == "my":
                raw.append((m.start(), m.end(), year, month, 1, None, False, "month"))
            elif kind == "dayrange":
                d1_end = m.start("d1") + len(g["d1"])
                raw.append((m.start(), d1_end, year, month, int(g["d1"]), None, False, "day"))
                raw.append((m.start("d"), m.end(), year, month, int(g["d"]), time, next_day, "day"))
            else:
                raw.append((m.start(), m.end(), year, month, int(g["d"]), time, next_day, "day"))
            taken.append((m.start(), m.end()))
    raw.sort()
    found: list[FoundDate] = []
    for i, (start, end, year, month, day, time, next_day, precision) in enumerate(raw):
        inferred = False
        if year is None:
            later = next((r for r in raw[i + 1:] if r[2] is not None and r[0] - end < 60), None)
            if later is not None:
                year = later[2] if (month, day) <= (later[3], later[4]) else later[2] - 1
            else:
                # the nearest earlier date with a year ("uppdaterad 2023-12-15, … till 13 februari"),
                # else the page's publication or fetch date
                earlier = [f.date for f in found if not f.year_inferred]
                year = _infer_year(month, day, earlier[-1] if earlier else (reference or dt.date.today()))
                inferred = True
        if time is None:
            near = _TIME_BEFORE.search(text[max(0, start - 40):start]) or _TIME_AFTER.search(text[end:end + 40])
            if near:
                hour, minute = int(near["h"]), int(near["mi"])
                if hour == 24 and minute == 0:
                    time, next_day = dt.time(0, 0), True
                elif hour < 24:
                    time = dt.time(hour, minute)
        try:
            date = dt.date(year, month, day)
        except ValueError:
            continue
        found.append(FoundDate(date, time, start, end, precision, inferred, next_day))
    return found


def labelled_dates(text: str, labels: list[str] | tuple[str, ...], *, reference: dt.date | None = None,
                   window: int = 120) -> list[FoundDate]:
    return [f for f, *_context in labelled_dates_in_context(text, labels, reference=reference, window=window)]


def labelled_dates_in_context(text: str, labels: list[str] | tuple[str, ...], *, reference: dt.date | None = None,
                              window: int = 120) -> list[tuple[FoundDate, str, str, str]]:
    """Dates that a label governs (case-insensitive labels):

    - the dates on the rest of the label's line (up to ``window`` characters):
      "Sista dag för ansökan 2021-10-20 17:00", "stänger 28 januari 2022 och … 30 november 2021";
    - else the last date earlier on the same line ("17 Nov 2026 Stage 1 closes");
    - else, when the label ends a line without dates, a list that follows it,
      one date a line ("Ansökningsdatum:\n• 29 april 2021\n• 31 augusti 2021").
    """
    if not labels:
        return []
    pattern = re.compile("|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True)), re.I)
    out: list[tuple[FoundDate, str, str, str]] = []
    seen: set[tuple[dt.date, dt.time | None]] = set()
    lines_after = re.compile(r"\n[ \t]*(?:[•\-–*]|\d)[^\n]*")
    for m in pattern.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end < 0 else line_end
        found = find_dates(text[m.end():min(line_end, m.end() + window)], reference=reference)
        # what precedes each date on its line, the label included (a later date's own words count for it)
        befores = [text[line_start:m.end() + f.start] for f in found]
        if not found:  # "17 Nov 2026 Stage 1 closes"
            found = find_dates(text[line_start:m.start()], reference=reference)[-1:]
        if not found and not text[m.end():line_end].strip(" :\t"):
            pos = line_end
            while True:
                item = lines_after.match(text, pos)
                if not item:
                    break
                dates = find_dates(item.group(0), reference=reference)
                if not dates:
                    break
                found.extend(dates)
                pos = item.end()
        for i, f in enumerate(found):
            key = (f.date, f.time)
            if key not in seen:
                seen.add(key)
                before = befores[i] if i < len(befores) else text[line_start:m.end()]
                out.append((f, m.group(0), before, text[line_start:line_end]))
    return out


def parse_epoch_ms(value: str | int | None) -> dt.datetime | None:
    """Epoch milliseconds (the portal's bulk file), as UTC."""
    if value in (None, ""):
        return None
    try:
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
