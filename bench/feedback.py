"""Does the ranking learn from clicks?  Measured on a labelled set.

For each city, the top K calls of the unadapted ranking (what a user sees)
get a click from their label: grade ≥ 2 → Relevant, otherwise Not relevant.
The city's ranking is then recomputed with those clicks
(``Ranker.rank(..., feedback=...)``), and nDCG@10 is taken on the *remaining*
calls (the clicked ones removed from both lists), before and after.

    python bench/feedback.py [--set tests/data/eval-dev] [--k 3 5] [--weights 0.25 0.5 1 2] [--json]

The unadapted ranking is the shipped hybrid model, leave-one-city-out as in
`fundbot eval`.  FEEDBACK_WEIGHT (log-odds per standard deviation of
closeness to a clicked call) is printed for a few values: the default was
chosen here, on the same set — a mild, one-number selection; say so.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import devset  # noqa: E402  (puts the repository on the path)
from matcher import evaluate, rank  # noqa: E402
from matcher.rank import ANCHOR, Feedback, Ranker, RankerModel, make_doc, need_texts  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default=str(devset.DEFAULT_SET))
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--k", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    dev = devset.load(args.set, args.model)
    calls, qrels, vectors, embedder = dev.calls, dev.qrels, dev.vectors, dev.embedder
    profiles = [p for p in dev.profiles if p.city.id in qrels]

    docs = [make_doc(i, c.title, c.text, c.language, eligibility=c.eligibility, funder=c.funder)
            for i, c in enumerate(calls)]
    ranker = Ranker(docs, vectors([ch for d in docs for ch in d.chunks]), anchor_vector=vectors([ANCHOR])[0],
                    model=RankerModel.for_embedder(embedder.name))
    needs = {p.city.id: vectors(need_texts(p)) for p in profiles}
    ids = [c.id for c in calls]

    results = []
    default = rank.FEEDBACK_WEIGHT
    for k in args.k:
        for weight in args.weights:
            rank.FEEDBACK_WEIGHT = weight
            before, after, better, worse, positives = [], [], 0, 0, 0
            for p in profiles:
                grades = qrels[p.city.id]
                ranked = [m.call_id for m in ranker.rank(p, needs[p.city.id])]
                clicked = ranked[:k]
                pos = [j for j in clicked if grades.get(ids[j], 0) >= 2]
                neg = [j for j in clicked if grades.get(ids[j], 0) < 2]
                positives += len(pos)
                fb = Feedback(ranker.centroids[pos], ranker.centroids[neg])
                adapted = [m.call_id for m in ranker.rank(p, needs[p.city.id], feedback=fb)]
                rest = set(clicked)
                b = evaluate.ndcg_at([ids[j] for j in ranked if j not in rest], grades, 10)
                a = evaluate.ndcg_at([ids[j] for j in adapted if j not in rest], grades, 10)
                before.append(b)
                after.append(a)
                better += a > b + 1e-9
                worse += a < b - 1e-9
            row = {"clicks": k, "weight": weight, "ndcg@10_before": round(float(np.mean(before)), 4),
                   "ndcg@10_after": round(float(np.mean(after)), 4), "cities_better": better,
                   "cities_worse": worse, "cities": len(profiles), "relevant_clicks": positives}
            results.append(row)
            print(f"top {k} clicked ({positives} Relevant, {k * len(profiles) - positives} Not relevant), "
                  f"weight {weight:>4}: nDCG@10 on the remaining calls {row['ndcg@10_before']:.3f} → "
                  f"{row['ndcg@10_after']:.3f}  (better in {better}, worse in {worse} of {len(profiles)} cities)")
    rank.FEEDBACK_WEIGHT = default
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
