"""What every source adapter is, and what it is given."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import SourceSpec
from ..models import CallRecord
from .fetch import Fetcher, Response


@dataclass(frozen=True)
class FetchContext:
    today: dt.date
    since: dt.date  # the last successful fetch, or a default look-back
    offline: bool = False


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
