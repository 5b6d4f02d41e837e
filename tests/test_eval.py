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
