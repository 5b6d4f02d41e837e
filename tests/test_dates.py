"""Dates as the two first APIs write them (the sources issue adds prose dates)."""

from __future__ import annotations

import datetime as dt

import pytest

from matcher.normalize.dates import BRUSSELS, STOCKHOLM, UTC, localize, parse_iso

CASES = [
    # (input, zone, end_of_day, expected UTC ISO or None)
    ("2026-10-13T14:00:00", STOCKHOLM, False, "2026-10-13T12:00:00+00:00"),  # summer time
    ("2026-11-20T14:00:00", STOCKHOLM, False, "2026-11-20T13:00:00+00:00"),  # winter time
    ("2024-04-18T19:00:00.000+0200", BRUSSELS, True, "2024-04-18T17:00:00+00:00"),
    ("2025-09-23T15:00:00.000+0000", BRUSSELS, True, "2025-09-23T15:00:00+00:00"),
    ("2024-09-27+02:00 Europe/Brussels", BRUSSELS, True, "2024-09-27T21:59:59+00:00"),
    ("2026-11-20", STOCKHOLM, True, "2026-11-20T22:59:59+00:00"),
    ("2026-11-20", STOCKHOLM, False, "2026-11-19T23:00:00+00:00"),
    ("1900-01-01T00:00:00", STOCKHOLM, True, None),
    ("", STOCKHOLM, True, None),
    (None, STOCKHOLM, True, None),
    ("not a date", STOCKHOLM, True, None),
]


@pytest.mark.parametrize("value,zone,eod,expected", CASES)
def test_parse_iso(value, zone, eod, expected):
    got = parse_iso(value, zone, end_of_day=eod)
    if expected is None:
        assert got is None
    else:
        assert got.astimezone(UTC).isoformat() == expected


def test_dst_gap_moves_forward():
    got = localize(dt.datetime(2026, 3, 29, 2, 30), STOCKHOLM)
    assert got.astimezone(UTC) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # = 03:30 CEST


def test_dst_ambiguous_takes_summer_time():
    got = localize(dt.datetime(2026, 10, 25, 2, 30), STOCKHOLM)
    assert got.utcoffset() == dt.timedelta(hours=2)
