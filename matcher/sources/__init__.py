"""Source adapters, one module per format, registered explicitly by kind."""

from __future__ import annotations

from .base import Adapter, FetchContext
from .gdp import GdpAdapter
from .html import HtmlAdapter
from .rss import RssAdapter
from .sedia import SediaAdapter
from .vinnova import VinnovaAdapter

ADAPTERS: dict[str, Adapter] = {
    adapter.kind: adapter
    for adapter in (SediaAdapter(), VinnovaAdapter(), GdpAdapter(), RssAdapter(), HtmlAdapter())
}

__all__ = ["ADAPTERS", "Adapter", "FetchContext"]
