"""Fit the ranking model on labelled sets and report its quality honestly:
every number comes from heads that never saw the call (or city, or funder)
they score.

    python bench/train_ranker.py [--set DIR ...] [--out matcher/data/ranker.json] [--dry-run] [--json]

Three views, side by side, per set and over all sets:
  loco   leave-one-city-out: heads fitted without the city (they have seen
         each call through the other cities, so this view flatters);
  oof    out-of-fold over calls: 5 folds grouped by call (all cities of a call
         in one fold) and stratified by funder; the view the targets use;
  lofo   leave-one-funder-out: a funder's calls scored by heads that never
         saw one of its calls (a new funder's house style).
A gap of more than 0.03 nDCG@10 between loco and oof says the model is too
free for the data.

The model written has heads fitted on everything (``all``: what scores a
call nobody labelled) and, per fold, heads fitted without the fold's calls
with the fold's call keys (``folds``), so that ``fundbot eval`` — and a run on
the recorded snapshots — scores a labelled call with heads blind to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import devset  # noqa: E402  (puts the repository on the path)
from matcher import evaluate  # noqa: E402
from matcher.rank import (FEATURES, NEED_FEATURES, NEEDS_SHOWN, RankerModel, call_key,  # noqa: E402
                          expected_grade, need_feature_rows, need_texts)

HEADS = {"ge1": 1, "ge2": 2, "ge3": 3}
FOLDS = 5
SEED = 20261204
NEED_C = 1.0
ELIGIBLE_ONLY = False


def fit_heads(X: np.ndarray, grades: np.ndarray, C: float) -> dict:
    from sklearn.linear_model import LogisticRegression

    heads = {}
    for name, threshold in HEADS.items():
        y = (grades >= threshold).astype(int)
        lr = LogisticRegression(C=C, max_iter=5000)
        lr.fit(X, y)
        heads[name] = {"coef": lr.coef_[0].round(6).tolist(), "intercept": round(float(lr.intercept_[0]), 6)}
    return heads


@dataclass
class Rows:
    """Every labelled (city, call) pair of all sets, one row each."""

    X: np.ndarray  # FEATURES
    grade: np.ndarray
    set: np.ndarray  # set name
    city: np.ndarray
    call: np.ndarray  # call id (unique over sets)
    funder: np.ndarray
    key: np.ndarray  # call_key(title, text)
    need_rows: list  # per row: (needs × NEED_FEATURES, labelled-need mask) for pairs graded ≥ 2 with need ids, else None


def collect(sets: list[devset.DevSet]) -> Rows:
    cols: dict[str, list] = {k: [] for k in Rows.__dataclass_fields__}
    for dev in sets:
        ranker = evaluate.build_ranker(dev.calls, dev.vectors)
        needs = evaluate.load_need_ids(dev.folder / "qrels.tsv")
        for p in dev.profiles:
            if p.city.id not in dev.qrels:
                continue
            vectors = dev.vectors(need_texts(p))
            X = ranker.feature_matrix(p, vectors)
            F = need_feature_rows(ranker, p, ranker.score(p, vectors))  # needs × calls × NEED_FEATURES
            ids = np.array([n.id for n in p.needs])
            for i, c in enumerate(dev.calls):
                labelled = needs.get(p.city.id, {}).get(c.id)
                grade = dev.qrels[p.city.id].get(c.id, 0)
                cols["X"].append(X[i])
                cols["grade"].append(grade)
                cols["set"].append(dev.name)
                cols["city"].append(p.city.id)
                cols["call"].append(f"{dev.name}/{c.id}")
                cols["funder"].append(c.funder or "?")
                cols["key"].append(call_key(c.title, c.text))
                cols["need_rows"].append((F[:, i].astype(np.float64), np.isin(ids, labelled))
                                         if grade >= 2 and labelled else None)
    return Rows(np.array(cols["X"], dtype=np.float64), np.array(cols["grade"]),
                *(np.array(cols[k], dtype=object) for k in ("set", "city", "call", "funder", "key")),
                cols["need_rows"])


def call_folds(rows: Rows, n_folds: int = FOLDS, seed: int = SEED) -> np.ndarray:
    """A fold per row: grouped by call, stratified by funder (:func:`matcher.evaluate.call_folds`)."""
    return evaluate.call_folds(rows.call, rows.funder, n_folds, seed)


def out_of_group(rows: Rows, groups: np.ndarray, Z, C: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """P(grade ≥ 2) and the order key of every row, from heads fitted without
    the row's group; and those heads per group."""
    p2 = np.zeros(len(rows.grade))
    key = np.zeros(len(rows.grade))
    fitted = {}
    usable = rows.X[:, FEATURES.index("ineligible")] == 0 if ELIGIBLE_ONLY else np.ones(len(rows.grade), bool)
    for g in np.unique(groups):
        test = groups == g
        train = ~test & usable
        heads = fit_heads(Z(rows.X[train]), rows.grade[train], C)
        fitted[g] = heads
        p2[test], key[test] = predict(heads, Z(rows.X[test]))
    return p2, key, fitted


def predict(heads: dict, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = np.stack([Z @ np.array(heads[h]["coef"]) + heads[h]["intercept"] for h in HEADS], axis=1)
    p = 1.0 / (1.0 + np.exp(-logits))
    return p[:, 1], expected_grade(p[:, 0], p[:, 1], p[:, 2])


def report(rows: Rows, p2: np.ndarray, key: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Ranking metrics per city over the rows in ``mask`` (one set), averaged
    over cities; ineligible calls last, as ``rank`` does."""
    mask = np.ones(len(rows.grade), bool) if mask is None else mask
    inel = rows.X[:, FEATURES.index("ineligible")] > 0
    order_key = np.where(inel, -1.0, key)
    rankings, qrels = {}, {}
    for city in np.unique(rows.city[mask]):
        idx = np.flatnonzero(mask & (rows.city == city))
        idx = idx[np.lexsort((rows.call[idx], -np.where(inel[idx], 0, p2[idx]), -order_key[idx]))]
        rankings[city] = list(rows.call[idx])
        qrels[city] = {rows.call[i]: int(rows.grade[i]) for i in idx}
    out = evaluate.metrics(rankings, qrels)
    probs = np.where(inel, 0.0, p2)[mask]
    labels = (rows.grade[mask] >= 2).astype(float)
    out["brier"] = round(float(((probs - labels) ** 2).mean()), 4)
    # what a threshold (min_score) lets through: the share of pairs at or above it that are graded ≥ 2
    out["precision_at"] = {t: round(float(labels[probs >= t].mean()), 3) if (probs >= t).any() else None
                           for t in (0.5, 0.6, 0.7, 0.8, 0.9)}
    return out


def fit_need_model(rows: Rows, train: np.ndarray, C: float = NEED_C) -> dict:
    """Which need a call pays for: a logistic model over NEED_FEATURES, one
    row per (pair, need) of the labelled pairs in ``train``, positive where
    the labeller named the need."""
    from sklearn.linear_model import LogisticRegression

    chosen = [rows.need_rows[i] for i in np.flatnonzero(train) if rows.need_rows[i] is not None]
    X = np.vstack([F for F, _ in chosen])
    y = np.concatenate([m for _, m in chosen]).astype(int)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale < 1e-6] = 1.0
    lr = LogisticRegression(C=C, max_iter=5000).fit((X - mean) / scale, y)
    coef = lr.coef_[0] / scale  # the standardisation folded in
    return {"coef": coef.round(6).tolist(), "intercept": round(float(lr.intercept_[0] - mean @ coef), 6)}


def need_hits(rows: Rows, models: dict, groups: np.ndarray) -> np.ndarray:
    """(rows × 2): the need shown / any of the needs listed is a labelled one
    (-1 for rows without need ids), each row's need chosen by ``models[group]``."""
    out = np.full((len(rows.grade), 2), -1, dtype=np.int8)
    for i, item in enumerate(rows.need_rows):
        if item is None:
            continue
        F, mask = item
        m = models[groups[i]]
        order = np.argsort(-(F @ np.array(m["coef"]) + m["intercept"]), kind="stable")
        out[i] = (mask[order[0]], mask[order[:NEEDS_SHOWN]].any())
    return out


def need_rates(hits: np.ndarray, mask: np.ndarray) -> dict:
    hits = hits[mask]
    hits = hits[hits[:, 0] >= 0]
    return {"need@1": round(float(hits[:, 0].mean()), 4) if len(hits) else None,
            "need@3": round(float(hits[:, 1].mean()), 4) if len(hits) else None, "need_pairs": int(len(hits))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", help="a labelled set's folder (repeatable; default: every set "
                                                    "under tests/data that has a qrels.tsv)")
    ap.add_argument("--out", default=str(devset.ROOT / "matcher/data/ranker.json"))
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--need-C", type=float, default=NEED_C, help="regularisation of the need model")
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--repeats", type=int, default=1, help="also report oof over this many random splits "
                                                          "(mean, standard deviation)")
    ap.add_argument("--eligible-only", action="store_true", help="fit on the pairs the city can apply for")
    ap.add_argument("--drop", nargs="*", help="features left out (their weights are zero in the model written)")
    args = ap.parse_args()
    global ELIGIBLE_ONLY
    ELIGIBLE_ONLY = args.eligible_only
    folders = args.set or [str(p.parent) for p in sorted((devset.ROOT / "tests/data").glob("eval-*/qrels.tsv"))]
    sets = [devset.load(f, args.model) for f in folders]
    rows = collect(sets)
    mean, scale = rows.X.mean(axis=0), rows.X.std(axis=0)
    scale[scale < 1e-6] = 1.0
    Z = lambda X: (X - mean) / scale  # noqa: E731

    if args.drop:
        unknown = set(args.drop) - set(FEATURES)
        if unknown:
            sys.exit(f"unknown features: {', '.join(sorted(unknown))}")
        rows.X[:, [FEATURES.index(f) for f in args.drop]] = 0.0
    folds = call_folds(rows)
    views = {"loco": rows.city, "oof": folds, "lofo": rows.funder}
    scored = {name: out_of_group(rows, groups, Z, args.C) for name, groups in views.items()}
    # the folds are one random split of few calls: further splits show how much the number moves
    extra = [out_of_group(rows, call_folds(rows, seed=SEED + r), Z, args.C) for r in range(1, args.repeats)]
    # which need: fitted out of fold with the same call folds (the shown need is scored by a model blind to the call)
    need_models = {k: fit_need_model(rows, folds != k, args.need_C) for k in np.unique(folds)}
    need_all = fit_need_model(rows, np.ones(len(rows.grade), bool), args.need_C)
    hits = need_hits(rows, need_models, folds)
    hits_in = need_hits(rows, {0: need_all}, np.zeros(len(rows.grade), int))
    result: dict = {"features": len(FEATURES) - len(args.drop or []), "C": args.C, "pairs": int(len(rows.grade)),
                    "calls": int(len(np.unique(rows.call)))}
    for s in [*(d.name for d in sets), "all"] if len(sets) > 1 else [sets[0].name]:
        mask = np.ones(len(rows.grade), bool) if s == "all" else rows.set == s
        result[s] = {name: report(rows, p2, key, mask) for name, (p2, key, _) in scored.items()}
        if extra:
            runs = [result[s]["oof"]] + [report(rows, p2, key, mask) for p2, key, _ in extra]
            result[s]["oof_splits"] = {m: [round(float(np.mean([r[m] for r in runs])), 4),
                                           round(float(np.std([r[m] for r in runs])), 4)]
                                       for m in ("ndcg@10", "p@5", "brier")}
        result[s].update(need_rates(hits, mask))
        result[s]["need_in_sample"] = need_rates(hits_in, mask)
        result[s]["gap loco-oof"] = round(result[s]["loco"]["ndcg@10"] - result[s]["oof"]["ndcg@10"], 4)

    heads_all = fit_heads(Z(rows.X), rows.grade, args.C)
    fold_heads = scored["oof"][2]
    model = {"features": list(FEATURES), "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
             "embedding_model": args.model, "sets": [d.name for d in sets], "C": args.C, "all": heads_all,
             "need_features": list(NEED_FEATURES), "need": need_all,
             "folds": [{"calls": sorted(set(rows.key[folds == k])), "heads": fold_heads[k], "need": need_models[k]}
                       for k in sorted(fold_heads)]}
    if args.json:
        print(json.dumps(result))
    else:
        for s, views_ in result.items():
            if not isinstance(views_, dict):
                continue
            print(f"{s}: need@1 {views_['need@1']} need@3 {views_['need@3']} ({views_['need_pairs']} pairs; in sample "
                  f"{views_['need_in_sample']['need@1']} / {views_['need_in_sample']['need@3']}), "
                  f"gap loco-oof {views_['gap loco-oof']}")
            for name in views:
                print(f"  {name:5s} {json.dumps(views_[name])}")
            if "oof_splits" in views_:
                print(f"  oof over {args.repeats} splits (mean, sd): {json.dumps(views_['oof_splits'])}")
    for name, h in heads_all.items():
        print(name, dict(zip(FEATURES, [round(v, 2) for v in h["coef"]])), file=sys.stderr)
    if args.drop:  # a column of zeros gets a weight of exactly zero: the model written ignores those features
        model["dropped"] = sorted(args.drop)
    if not args.dry_run:
        RankerModel(model)  # refuses what it could not load
        Path(args.out).write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
