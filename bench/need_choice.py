"""Which need should a match name?  need@1 / need@3 of candidate rules on the
labelled sets (pairs graded ≥ 2 whose labels name the needs the call pays for).

    python bench/need_choice.py [--set DIR ...]

Rules that are fitted (``learned``) are scored out-of-fold over calls, with
the folds of bench/train_ranker.py.  ``shipped`` is what ``rank`` does now.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import devset  # noqa: E402
from matcher import evaluate  # noqa: E402
from matcher.rank import NEED_FEATURES, need_feature_rows, need_texts  # noqa: E402


def zrows(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(axis=1, keepdims=True)) / np.maximum(a.std(axis=1, keepdims=True), 1e-6)


def fit_listwise(groups: list, l2: float = 1.0) -> np.ndarray:
    """Weights of a conditional logit: for each (features per need, labelled
    mask) the log of the softmax mass on the labelled needs, maximised."""
    from scipy.optimize import minimize

    def loss(w):
        total, grad = l2 * w @ w / 2, l2 * w
        for F, mask in groups:
            z = F @ w
            z = z - z.max()
            e = np.exp(z)
            p = e / e.sum()
            mass = p[mask].sum()
            total -= np.log(mass)
            # d/dw -log(sum_mask p) = E_p[F] - E_{p|mask}[F]
            grad = grad + p @ F - (p[mask] / mass) @ F[mask]
        return total, grad

    return minimize(loss, np.zeros(groups[0][0].shape[1]), jac=True, method="L-BFGS-B").x


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append")
    args = ap.parse_args()
    folders = args.set or [str(p.parent) for p in sorted((devset.ROOT / "tests/data").glob("eval-*/qrels.tsv"))]
    pairs = []  # (set, call, rule scores per need, labelled mask, need feature rows)
    for folder in folders:
        dev = devset.load(folder)
        ranker = evaluate.build_ranker(dev.calls, dev.vectors)
        labels = evaluate.load_need_ids(dev.folder / "qrels.tsv")
        for p in dev.profiles:
            vectors = dev.vectors(need_texts(p))
            s = ranker.score(p, vectors)
            weights = np.array([n.weight for n in p.needs], dtype=np.float32)[:, None]
            ids = [n.id for n in p.needs]
            shipped = ranker.need_scores(p, s.comb)
            rules = {
                "shipped": shipped,
                "shipped-order": ranker.need_order(p, s, np.arange(len(dev.calls)))[1],
                "comb": s.comb,
                "sims": s.sims,
                "lex": s.lex,
                "comb_rowz": zrows(s.comb),
                "sims_rowz": zrows(s.sims),
                "comb+rowz": s.comb + zrows(s.comb),
                "comb+0.5rowz": s.comb + 0.5 * zrows(s.comb),
                "comb_rowz+weight": zrows(s.comb) + 0.2 * weights,
            }
            F = need_feature_rows(ranker, p, s)  # (needs × calls × features)
            for j, c in enumerate(dev.calls):
                want = labels.get(p.city.id, {}).get(c.id)
                if not want:
                    continue
                mask = np.array([i in want for i in ids])
                pairs.append((dev.name, f"{dev.name}/{c.id}", {k: v[:, j] for k, v in rules.items()}, mask, F[:, j],
                              c.funder))
    out = {}
    names = list(pairs[0][2])

    def rates(scores_of) -> dict:
        res = {}
        for s in sorted({p[0] for p in pairs}) + ["all"]:
            sel = [p for p in pairs if s == "all" or p[0] == s]
            top1 = [p[3][np.argmax(scores_of(p))] for p in sel]
            top3 = [p[3][np.argsort(-scores_of(p), kind="stable")[:3]].any() for p in sel]
            res[s] = [round(float(np.mean(top1)), 4), round(float(np.mean(top3)), 4), len(sel)]
        return res

    for name in names:
        out[name] = rates(lambda p, n=name: p[2][n])
    # learned: logistic regression over NEED_FEATURES, out of fold over calls
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    calls = np.array([p[1] for p in pairs])
    learned = {}
    for k, (train, test) in enumerate(GroupKFold(n_splits=5).split(calls, groups=calls)):
        X = np.vstack([pairs[i][4] for i in train])
        y = np.concatenate([pairs[i][3] for i in train])
        mu, sd = X.mean(axis=0), np.maximum(X.std(axis=0), 1e-6)
        lr = LogisticRegression(C=1.0, max_iter=2000).fit((X - mu) / sd, y)
        for i in test:
            learned[i] = lr.decision_function((pairs[i][4] - mu) / sd)
    index = {id(p): i for i, p in enumerate(pairs)}
    out["learned (oof)"] = rates(lambda p: learned[index[id(p)]])
    # listwise: a softmax over the city's needs per call, fitted to put its mass on the labelled needs
    listwise = {}
    for k, (train, test) in enumerate(GroupKFold(n_splits=5).split(calls, groups=calls)):
        X = np.vstack([pairs[i][4] for i in train])
        mu, sd = X.mean(axis=0), np.maximum(X.std(axis=0), 1e-6)
        w = fit_listwise([((pairs[i][4] - mu) / sd, pairs[i][3]) for i in train])
        for i in test:
            listwise[i] = ((pairs[i][4] - mu) / sd) @ w
    out["listwise (oof)"] = rates(lambda p: listwise[index[id(p)]])
    print(json.dumps({"features": list(NEED_FEATURES), "rules (need@1, need@3, pairs)": out}, indent=1))


if __name__ == "__main__":
    main()
