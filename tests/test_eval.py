"""`fundbot eval`: metrics by hand, the DESIGN.md JSON shape, every method."""

from __future__ import annotations

import json
import math

import pytest

from matcher.evaluate import mrr, ndcg_at, precision_at, recall_at

CALLS = [
    {"id": "bike", "funder": "X", "title": "Cycling infrastructure", "text": "Bike lanes and cycle paths in cities.",
     "language": "en"},
    {"id": "heat", "funder": "X", "title": "Urban heat", "text": "Heatwave adaptation with shade and green roofs.",
     "language": "en"},
    {"id": "manu", "funder": "Y", "title": "Medieval manuscripts", "text": "Digitising church archives.",
     "language": "en"},
]
PROFILE = """\
[city]
id = "{id}"
name = "{id}"
[[needs]]
id = "{id}-1"
text = "{need}"
weight = 3
"""


def test_metrics_by_hand():
    grades = {"a": 3, "b": 2, "c": 0, "d": 1}
    ranked = ["c", "a", "d", "b"]
    dcg = 0 + 3 / math.log2(3) + 1 / math.log2(4) + 2 / math.log2(5)
    idcg = 3 + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranked, grades) == pytest.approx(dcg / idcg)
    assert precision_at(ranked, grades, 5) == pytest.approx(2 / 5)
    assert recall_at(ranked, grades, 2) == pytest.approx(1 / 2)
    assert mrr(ranked, grades) == pytest.approx(1 / 2)


@pytest.fixture
def evalset(tmp_path):
    (tmp_path / "calls.jsonl").write_text("\n".join(json.dumps(c) for c in CALLS) + "\n")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles/a.toml").write_text(PROFILE.format(id="a", need="cycling infrastructure bike lanes"))
    (tmp_path / "profiles/b.toml").write_text(PROFILE.format(id="b", need="heatwave adaptation green roofs"))
    (tmp_path / "qrels.tsv").write_text("city_id\tcall_id\tgrade\tneed_ids\na\tbike\t3\ta-1\nb\theat\t3\tb-1\n")
    (tmp_path / "config.toml").write_text('[matcher]\nmodel = "hashing"\n[store]\nurl = "sqlite:///v.db"\n')
    return tmp_path


@pytest.mark.parametrize("method", ["tfidf", "bm25", "embed", "hybrid"])
def test_eval_json(evalset, method):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "matcher.cli", "eval", "--calls", str(evalset / "calls.jsonl"),
         "--profiles", str(evalset / "profiles"), "--qrels", str(evalset / "qrels.tsv"), "--method", method,
         "--json", "--config", str(evalset / "config.toml")],
        capture_output=True, text=True, cwd=evalset)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"method", "ndcg@10", "p@5", "r@20", "mrr", "need@1", "need@3", "cities", "calls"}
    assert result["method"] == method and result["cities"] == 2 and result["calls"] == 3
    # each city has one relevant call, and every method finds it first on this easy set
    assert result["mrr"] == 1.0 and result["ndcg@10"] == 1.0 and result["p@5"] == pytest.approx(0.2)
    # which need a match names is measured for the ranking run does (each city has one need: always right)
    if method == "hybrid":
        assert result["need@1"] == 1.0 and result["need@3"] == 1.0
    else:
        assert result["need@1"] is None and result["need@3"] is None


def test_eval_bad_path_is_usage_error(evalset):
    from matcher.cli import main

    assert main(["eval", "--calls", "nope.jsonl", "--profiles", str(evalset / "profiles"),
                 "--qrels", str(evalset / "qrels.tsv")]) == 2


def test_folds_group_every_city_of_a_call_and_spread_each_funder():
    from collections import Counter

    from matcher.evaluate import call_folds

    funders = ["Formas"] * 10 + ["Vinnova"] * 10 + ["EU"] * 20  # 40 calls
    calls = [f"c{i}" for i in range(len(funders))]
    rows_call = [c for c in calls for _ in range(10)]  # ten cities per call
    rows_funder = [f for f in funders for _ in range(10)]
    fold = call_folds(rows_call, rows_funder, 5, seed=1)
    by_call = {}
    for c, k in zip(rows_call, fold):
        by_call.setdefault(c, set()).add(int(k))
    assert all(len(ks) == 1 for ks in by_call.values())  # a call's cities never straddle two folds
    per_fold = Counter((int(k), f) for c, f, k in zip(calls, funders, [min(by_call[c]) for c in calls]))
    for k in range(5):  # stratified: each fold holds 2 Formas, 2 Vinnova and 4 EU calls
        assert (per_fold[(k, "Formas")], per_fold[(k, "Vinnova")], per_fold[(k, "EU")]) == (2, 2, 4)
    assert (fold == call_folds(rows_call, rows_funder, 5, seed=1)).all()  # the same folds every time


def test_eval_scores_a_call_the_model_was_fitted_on_with_the_heads_that_left_it_out(evalset):
    """A model whose fold heads (blind to 'manu') rank it first while the heads
    fitted on everything rank it last: eval must use the fold's view."""
    from matcher.embed import FakeEmbedder
    from matcher.evaluate import evaluate, load_calls, load_need_ids, load_profiles, load_qrels
    from matcher.rank import FEATURES, NEED_FEATURES, RankerModel, call_key

    calls = load_calls(evalset / "calls.jsonl")
    manu = next(c for c in calls if c.id == "manu")
    zero = {"coef": [0.0] * len(FEATURES), "intercept": 0.0}

    def heads(intercept: float) -> dict:  # the same score for every call: P(grade ≥ 2) = sigmoid(intercept)
        return {"ge1": dict(zero, intercept=-2.0), "ge2": dict(zero, intercept=intercept), "ge3": zero}

    data = {"features": list(FEATURES), "mean": [0.0] * len(FEATURES), "scale": [1.0] * len(FEATURES),
            "embedding_model": "hashing", "all": heads(-3.0), "need_features": list(NEED_FEATURES),
            "need": {"coef": [0.0] * len(NEED_FEATURES), "intercept": 0.0},
            "folds": [{"calls": [call_key(manu.title, manu.text)], "heads": heads(3.0),
                       "need": {"coef": [0.0] * len(NEED_FEATURES), "intercept": 0.0}}]}
    model = RankerModel(data)
    emb = FakeEmbedder()
    profiles = load_profiles(evalset / "profiles")
    qrels = {"a": {"manu": 3}, "b": {"manu": 3}}  # here 'manu' is the relevant call
    result = evaluate(calls, profiles, qrels, "hybrid", vectors=emb.encode, model=model,
                      need_ids=load_need_ids(evalset / "qrels.tsv"))
    assert result["mrr"] == 1.0  # ranked first: scored by its fold's heads (P 0.95), the others by "all" (P 0.05)
    data["folds"] = []
    blind_to_nothing = evaluate(calls, profiles, qrels, "hybrid", vectors=emb.encode, model=RankerModel(data))
    assert blind_to_nothing["mrr"] < 1.0  # without the fold it ties with the rest, and ranks lower by id
