"""What the large-pool shortcuts cost in quality, measured on a labelled set.

Pools larger than EXACT_LIMIT are ranked in two stages (only each city's
CANDIDATES nearest calls, by whole-call view and by chunk mean, are read
chunk by chunk) and their lexical index is pruned to MAX_POSTINGS calls per
word.  The dev set has 76 calls, so here the shortcuts are forced on with the
same *share* of the pool they keep at 10,000 calls, and at a few larger
shares:

    python bench/two_stage.py [--set tests/data/eval-dev] [--json]

Prints hybrid nDCG@10 / P@5 (leave-one-city-out, as `fundbot eval`) for the
exact ranking and for each share.
"""

from __future__ import annotations

import argparse
import json

import devset  # noqa: E402  (puts the repository on the path)
from matcher import evaluate, rank  # noqa: E402
from matcher.rank import RankerModel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default=str(devset.DEFAULT_SET))
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    dev = devset.load(args.set, args.model)
    calls, profiles, qrels, vectors, embedder = dev.calls, dev.profiles, dev.qrels, dev.vectors, dev.embedder

    model = RankerModel.for_embedder(embedder.name)
    n = len(calls)
    names = ("EXACT_LIMIT", "CANDIDATES", "PRUNE_LIMIT", "MAX_POSTINGS")
    defaults = tuple(getattr(rank, k) for k in names)
    rows = []
    exact = evaluate.evaluate(calls, profiles, qrels, "hybrid", vectors=vectors, model=model)
    rows.append({"setting": "exact", "ndcg@10": exact["ndcg@10"], "p@5": exact["p@5"]})
    # the shares of the pool the shortcuts keep at 10,000 calls, then more generous ones
    base_candidates, base_postings = defaults[1] / 10_000, defaults[3] / 10_000
    for factor in (1, 2, 5, 10):
        candidates = max(1, round(factor * base_candidates * n))
        postings = min(n, max(1, round(factor * base_postings * n)))
        never = 10 ** 9
        for label, setting in (("both", (0, candidates, 0, postings)),
                               ("two-stage dense only", (0, candidates, never, postings)),
                               ("pruned lexical only", (never, candidates, 0, postings))):
            for k, v in zip(names, setting):
                setattr(rank, k, v)
            try:
                got = evaluate.evaluate(calls, profiles, qrels, "hybrid", vectors=vectors, model=model)
            finally:
                for k, v in zip(names, defaults):
                    setattr(rank, k, v)
            rows.append({"setting": f"x{factor}: {label}: {candidates} candidates/criterion, {postings} postings/word",
                         "ndcg@10": got["ndcg@10"], "p@5": got["p@5"]})
    for r in rows:
        print(f"{r['setting']:<78} nDCG@10 {r['ndcg@10']:.3f}  P@5 {r['p@5']:.2f}")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
