"""What the dev-set benchmarks share: the repository on the path, the
labelled set, and the real model's vectors through the cache next to the
model (``.cache/fundbot/vectors.db``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher import evaluate  # noqa: E402
from matcher.embed import embed_cached, make_embedder  # noqa: E402
from matcher.store import Store  # noqa: E402

DEFAULT_SET = ROOT / "tests/data/eval-dev"


@dataclass
class DevSet:
    name: str
    folder: Path
    calls: list
    profiles: list
    qrels: dict
    embedder: object
    store: Store

    def vectors(self, texts):
        return embed_cached(self.store, self.embedder, texts)[0]


def load(folder: str | Path = DEFAULT_SET, model: str = "multilingual-e5-small") -> DevSet:
    folder = Path(folder)
    cache = ROOT / ".cache/fundbot"
    cache.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{cache / 'vectors.db'}")
    store.migrate()
    return DevSet(folder.name, folder, evaluate.load_calls(folder / "calls.jsonl"), evaluate.load_profiles(folder / "profiles"),
                  evaluate.load_qrels(folder / "qrels.tsv"),
                  make_embedder(model, cache, progress=lambda m: print(m, file=sys.stderr)), store)
