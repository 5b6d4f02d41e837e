"""How the store writes and reads a moment: ISO 8601 text, as given."""

from __future__ import annotations

import datetime as dt


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
