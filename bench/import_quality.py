"""How good is an imported profile?  nDCG@10 (and P@5) on the labelled dev
set for one city, with its hand-written profile and with a profile drafted
by `fundbot profile import` from its climate contract.

    python bench/import_quality.py --city skelleftea --contract ../shared/context/klimatkontrakt-2030-skelleftea-2025-26.txt
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher import evaluate  # noqa: E402
from matcher.config import Profile  # noqa: E402
from matcher.embed import embed_cached, make_embedder  # noqa: E402
from matcher.profile_import import import_profile  # noqa: E402
from matcher.rank import RankerModel  # noqa: E402
from matcher.store import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--city", required=True)
    ap.add_argument("--contract", required=True)
    ap.add_argument("--set", default=str(ROOT / "tests/data/eval-dev"))
    args = ap.parse_args()
    folder = Path(args.set)
    calls = evaluate.load_calls(folder / "calls.jsonl")
    qrels = {args.city: evaluate.load_qrels(folder / "qrels.tsv")[args.city]}
    hand = Profile.model_validate(tomllib.loads((folder / "profiles" / f"{args.city}.toml").read_text()))
    text, _, _ = import_profile(Path(args.contract), args.city)
    imported = Profile.model_validate(tomllib.loads(text))
    cache = ROOT / ".cache/fundbot"
    cache.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{cache / 'vectors.db'}")
    store.migrate()
    embedder = make_embedder("multilingual-e5-small", cache, progress=lambda m: None)
    model = RankerModel.for_embedder(embedder.name)

    def vectors(texts):
        return embed_cached(store, embedder, texts)[0]

    for method in ("hybrid", "embed"):
        for label, profile in (("hand-written", hand), ("imported", imported)):
            result = evaluate.evaluate(calls, [profile], qrels, method, vectors, model)
            print(f"{args.city} {method:6} {label:12} needs {len(profile.needs):2}  nDCG@10 {result['ndcg@10']:.4f}  "
                  f"P@5 {result['p@5']:.2f}")


if __name__ == "__main__":
    main()
