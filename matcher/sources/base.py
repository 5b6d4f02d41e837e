"""What every source adapter is, and what it is given."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import SourceSpec
from ..models import CallRecord
from .fetch import Fetcher, Response


# what a bad item raises while it is read (a date out of range, a field of the wrong type): the item is skipped
ITEM_ERRORS = (ValueError, OverflowError, TypeError, KeyError, AttributeError, IndexError)


@dataclass(frozen=True)
class FetchContext:
    today: dt.date
    since: dt.date  # the last successful fetch, or a default look-back
    offline: bool = False
    incremental: bool = False  # the address asks only for changes since ``since`` (Vinnova's {since})
    skipped: list = field(default_factory=list)  # why items were skipped, one line each
    # per call (its native id): what the adapter looked for and did not find — `fundbot source show` prints it
    missing: dict = field(default_factory=dict)

    def note_missing(self, native_id: str, what: str) -> None:
        self.missing.setdefault(native_id, []).append(what)

    def parse(self, label: str, parse, *args):
        """``parse(*args)``, or None with the reason kept when the item is bad:
        one bad item never rejects its source."""
        try:
            return parse(*args)
        except ITEM_ERRORS as exc:
            self.skipped.append(f"{label}: {type(exc).__name__}: {exc}")
            return None


class Adapter(Protocol):
    kind: str

    def collect(self, source: SourceSpec, fetcher: Fetcher, ctx: FetchContext) -> list[CallRecord]:
        """Fetch and parse every call the source lists; raise SourceError if it cannot."""
        ...


class FormatError(ValueError):
    """The response is not what this adapter reads (HTML instead of JSON, …)."""


def load_json(resp: Response) -> Any:
    head = resp.body.lstrip()[:1]
    if head == b"<" or resp.content_type in {"text/html", "application/xhtml+xml"}:
        raise FormatError(f"expected JSON but got an HTML page from {resp.url}")
    try:
        return json.loads(resp.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"invalid JSON from {resp.url}: {exc}") from exc
