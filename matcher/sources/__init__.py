"""Source adapters, one module per format, registered explicitly by kind."""

from __future__ import annotations

from .base import Adapter, FetchContext
from .sedia import SediaAdapter
from .vinnova import VinnovaAdapter

ADAPTERS: dict[str, Adapter] = {
    SediaAdapter.kind: SediaAdapter(),
    VinnovaAdapter.kind: VinnovaAdapter(),
}

__all__ = ["ADAPTERS", "Adapter", "FetchContext"]
