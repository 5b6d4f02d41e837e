"""Fit the ranking model on a labelled set and report leave-one-city-out
quality (the model that scores a city never saw that city's labels).

    python bench/train_ranker.py [--set tests/data/eval-dev] [--out matcher/data/ranker.json] [--dry-run]

Writes the model with one set of heads fitted on every city ("all", used for
cities it has never seen) and one fitted without each city ("without"), so
that a city in the training set is always scored by a model blind to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import devset  # noqa: E402  (puts the repository on the path)
from matcher import evaluate  # noqa: E402
from matcher.rank import ANCHOR, FEATURES, Ranker, RankerModel, make_doc, need_texts  # noqa: E402

HEADS = {"ge1": 1, "ge2": 2, "ge3": 3}


def fit_heads(X: np.ndarray, grades: np.ndarray, C: float) -> dict:
    from sklearn.linear_model import LogisticRegression

    heads = {}
    for name, threshold in HEADS.items():
        y = (grades >= threshold).astype(int)
        lr = LogisticRegression(C=C, max_iter=2000)
        lr.fit(X, y)
        heads[name] = {"coef": lr.coef_[0].round(6).tolist(), "intercept": round(float(lr.intercept_[0]), 6)}
    return heads


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default=str(devset.DEFAULT_SET))
    ap.add_argument("--out", default=str(devset.ROOT / "matcher/data/ranker.json"))
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--show", action="store_true", help="print each city's top 10 with grades")
    args = ap.parse_args()
    dev = devset.load(args.set, args.model)
    calls, profiles, qrels, vectors, embedder = dev.calls, dev.profiles, dev.qrels, dev.vectors, dev.embedder

    docs = [make_doc(i, c.title, c.text, c.language, eligibility=c.eligibility, funder=c.funder)
            for i, c in enumerate(calls)]
    flat = vectors([ch for d in docs for ch in d.chunks])
    chunk_vectors, pos = [], 0
    for d in docs:
        chunk_vectors.append(flat[pos:pos + len(d.chunks)])
        pos += len(d.chunks)
    ranker = Ranker(docs, chunk_vectors, anchor_vector=vectors([ANCHOR])[0])

    per_city = {}
    for p in profiles:
        if p.city.id not in qrels:
            continue
        X = ranker.feature_matrix(p, vectors(need_texts(p)))
        g = np.array([qrels[p.city.id].get(c.id, 0) for c in calls])
        per_city[p.city.id] = (X, g)
    cities = sorted(per_city)
    X_all = np.vstack([per_city[c][0] for c in cities])
    g_all = np.concatenate([per_city[c][1] for c in cities])
    mean, scale = X_all.mean(axis=0), X_all.std(axis=0)
    scale[scale < 1e-6] = 1.0
    Z = lambda X: (X - mean) / scale  # noqa: E731

    model = {"features": list(FEATURES), "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
             "embedding_model": args.model, "trained_on": cities, "set": Path(args.set).name, "C": args.C,
             "all": fit_heads(Z(X_all), g_all, args.C), "without": {}}
    for c in cities:
        rest = [o for o in cities if o != c]
        model["without"][c] = fit_heads(Z(np.vstack([per_city[o][0] for o in rest])),
                                        np.concatenate([per_city[o][1] for o in rest]), args.C)
    rm = RankerModel(model)

    # leave-one-city-out: rank each city with the heads fitted without it
    rankings, probs, labels = {}, [], []
    for c in cities:
        X, g = per_city[c]
        p2, key = rm.predict(c, X)
        inel = X[:, FEATURES.index("ineligible")] > 0
        key = np.where(inel, -1.0, key)
        order = sorted(range(len(calls)), key=lambda i: (-key[i], calls[i].id))
        rankings[c] = [calls[i].id for i in order]
        if args.show:
            print(c, " ".join(f"{calls[i].id}:{g[i]}" for i in order[:10]), file=sys.stderr)
        probs.extend(np.where(inel, 0.0, p2).tolist())
        labels.extend((g >= 2).astype(int).tolist())
    result = evaluate.metrics(rankings, qrels)
    probs, labels = np.array(probs), np.array(labels)
    brier = float(((probs - labels) ** 2).mean())
    bins = np.clip((probs * 5).astype(int), 0, 4)
    calib = [(f"{b / 5:.1f}-{(b + 1) / 5:.1f}", int((bins == b).sum()), round(float(labels[bins == b].mean()), 2)
              if (bins == b).any() else None) for b in range(5)]
    print(json.dumps({"loco": result, "brier": round(brier, 4), "calibration (bin, n, share relevant)": calib}))
    for name, h in model["all"].items():
        print(name, dict(zip(FEATURES, [round(v, 2) for v in h["coef"]])), file=sys.stderr)
    if not args.dry_run:
        Path(args.out).write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
