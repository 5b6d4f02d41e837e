"""`fundbot eval`: ranking quality on a labelled set (DESIGN.md "Evaluation set").

Methods: ``hybrid`` (what ``run`` does), and three fixed baselines that stay
comparable over time — ``embed`` (the model alone), ``tfidf`` and ``bm25``.
Baselines: call text = title + text; need query = need text + keywords; city
score = max over needs of sqrt(weight/3) × similarity.  Deadlines are ignored.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Profile, _pydantic_errors, read_utf8
from .errors import ConfigError, FundbotError

METHODS = ("hybrid", "embed", "tfidf", "bm25")


@dataclass(frozen=True)
class EvalCall:
    id: str
    funder: str
    title: str
    text: str
    language: str
    eligibility: str | None = None
    deadline: str | None = None
    url: str | None = None

    @property
    def full_text(self) -> str:
        return f"{self.title}\n{self.text}"


def load_calls(path: Path) -> list[EvalCall]:
    calls = []
    for n, line in enumerate(read_utf8(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            calls.append(EvalCall(row["id"], row.get("funder", ""), row["title"], row.get("text", ""),
                                  row.get("language", "en"), row.get("eligibility"), row.get("deadline"),
                                  row.get("url")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError([f"{path.name}: line {n}: {type(exc).__name__}: {exc}"]) from exc
    return calls


def load_profiles(folder: Path) -> list[Profile]:
    profiles, errors = [], []
    for file in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(read_utf8(file))
            profiles.append(Profile.model_validate(data))
        except tomllib.TOMLDecodeError as exc:
            errors.append(f"{file.name}: invalid TOML: {exc}")
        except Exception as exc:  # noqa: BLE001 - pydantic ValidationError
            if hasattr(exc, "errors"):
                errors.extend(_pydantic_errors(file.name, exc))
            else:
                raise
    if errors:
        raise ConfigError(errors)
    if not profiles:
        raise ConfigError([f"{folder}: no profiles (*.toml)"])
    return profiles


def load_need_ids(path: Path) -> dict[str, dict[str, list[str]]]:
    """city → call → the needs the labeller saw the call pay for (pairs
    graded ≥ 2 that name any)."""
    out: dict[str, dict[str, list[str]]] = {}
    for row in _qrel_rows(path):
        ids = [n.strip() for n in (row.get("need_ids") or "").split(",") if n.strip() not in ("", "-")]
        if ids and row["grade"] >= 2:
            out.setdefault(row["city_id"], {})[row["call_id"]] = ids
    return out


def _qrel_rows(path: Path) -> list[dict]:
    """The rows of a qrels file, each with a whole-number grade, or a ConfigError naming the line."""
    rows = []
    reader = csv.DictReader(io.StringIO(read_utf8(path)), delimiter="\t")
    for n, row in enumerate(reader, 2):
        try:
            rows.append({**row, "grade": int(row["grade"]), "city_id": row["city_id"], "call_id": row["call_id"]})
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError([f"{path.name}: line {n}: needs city_id, call_id and a whole-number grade "
                               f"({type(exc).__name__}: {exc})"]) from None
    return rows


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for row in _qrel_rows(path):
        qrels.setdefault(row["city_id"], {})[row["call_id"]] = row["grade"]
    return qrels


def call_folds(calls: "list[str] | np.ndarray", funders: "list[str] | np.ndarray", n_folds: int = 5,
               seed: int = 20261204) -> np.ndarray:
    """A fold per row for out-of-fold evaluation over *calls*: every row of a
    call (one per city) in the same fold, so a call's label never reaches its
    own scoring through another city; folds stratified by funder, so each
    holds a share of every funder's calls."""
    from sklearn.model_selection import StratifiedGroupKFold

    calls, funders = np.asarray(calls, dtype=object), np.asarray(funders, dtype=object)
    fold = np.full(len(calls), -1)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(calls)), funders, groups=calls)):
        fold[test] = k
    return fold


# --- metrics -------------------------------------------------------------------


def ndcg_at(ranked: list[str], grades: dict[str, int], k: int = 10) -> float:
    dcg = sum(grades.get(c, 0) / math.log2(i + 2) for i, c in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def precision_at(ranked: list[str], grades: dict[str, int], k: int = 5) -> float:
    return sum(1 for c in ranked[:k] if grades.get(c, 0) >= 2) / k


def recall_at(ranked: list[str], grades: dict[str, int], k: int = 20) -> float:
    relevant = {c for c, g in grades.items() if g >= 2}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr(ranked: list[str], grades: dict[str, int]) -> float:
    for i, c in enumerate(ranked):
        if grades.get(c, 0) >= 2:
            return 1.0 / (i + 1)
    return 0.0


def metrics(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    cities = [c for c in rankings if c in qrels]
    if not cities:
        raise FundbotError("no city of the profiles appears in the qrels")
    out = {"ndcg@10": 0.0, "p@5": 0.0, "r@20": 0.0, "mrr": 0.0}
    for city in cities:
        ranked, grades = rankings[city], qrels[city]
        out["ndcg@10"] += ndcg_at(ranked, grades)
        out["p@5"] += precision_at(ranked, grades)
        out["r@20"] += recall_at(ranked, grades)
        out["mrr"] += mrr(ranked, grades)
    return {k: round(v / len(cities), 4) for k, v in out.items()}


# --- the methods ----------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _baseline_scores(profile: Profile, sims: np.ndarray) -> np.ndarray:
    """City score per call: max over needs of sqrt(weight/3) × similarity."""
    weights = np.sqrt(np.array([n.weight for n in profile.needs], dtype=np.float32) / 3.0)[:, None]
    return (weights * sims).max(axis=0)


def rank_tfidf(calls: list[EvalCall], profiles: list[Profile]) -> dict[str, list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(lowercase=True, ngram_range=(1, 2), sublinear_tf=True)
    matrix = vec.fit_transform([c.full_text for c in calls])
    out = {}
    for p in profiles:
        q = vec.transform([n.query for n in p.needs])
        sims = np.asarray((q @ matrix.T).todense())
        out[p.city.id] = _order(calls, _baseline_scores(p, sims))
    return out


def rank_bm25(calls: list[EvalCall], profiles: list[Profile]) -> dict[str, list[str]]:
    from rank_bm25 import BM25Okapi

    bm25 = BM25Okapi([_tokens(c.full_text) for c in calls])
    out = {}
    for p in profiles:
        sims = np.array([bm25.get_scores(_tokens(n.query)) for n in p.needs])
        out[p.city.id] = _order(calls, _baseline_scores(p, sims))
    return out


def rank_embed(calls: list[EvalCall], profiles: list[Profile], vectors) -> dict[str, list[str]]:
    call_vecs = vectors([c.full_text for c in calls])
    out = {}
    for p in profiles:
        sims = vectors([n.query for n in p.needs]) @ call_vecs.T
        out[p.city.id] = _order(calls, _baseline_scores(p, sims))
    return out


def build_ranker(calls: list[EvalCall], vectors, model=None):
    """The ranking's view of a labelled set (call ``i`` of the list is doc ``i``)."""
    from .rank import ANCHOR, Ranker, make_doc

    docs = [make_doc(i, c.title, c.text, c.language, eligibility=c.eligibility, funder=c.funder)
            for i, c in enumerate(calls)]
    flat_vecs = vectors([chunk for d in docs for chunk in d.chunks])
    return Ranker(docs, flat_vecs, anchor_vector=vectors([ANCHOR])[0], model=model)


def rank_hybrid(calls: list[EvalCall], profiles: list[Profile], vectors, model=None):
    """Rankings, and per city the matches (for which need each names)."""
    from .rank import need_texts

    ranker = build_ranker(calls, vectors, model)
    out, matches = {}, {}
    for p in profiles:
        ranked = ranker.rank(p, vectors(need_texts(p)))
        out[p.city.id] = [calls[m.call_id].id for m in ranked]
        matches[p.city.id] = {calls[m.call_id].id: m for m in ranked}
    return out, matches


def need_rates(matches: dict, need_ids: dict[str, dict[str, list[str]]]) -> dict[str, float | None]:
    """need@1 / need@3: over labelled pairs with need ids, the share whose
    shown need / any need the match lists is one the call pays for."""
    hit1 = hit3 = n = 0
    for city, calls in need_ids.items():
        for call, ids in calls.items():
            m = matches.get(city, {}).get(call)
            if m is None:
                continue
            n += 1
            hit1 += m.need_id in ids
            hit3 += any(need in ids for need, _ in m.needs)
    return {"need@1": round(hit1 / n, 4) if n else None, "need@3": round(hit3 / n, 4) if n else None}


def _order(calls: list[EvalCall], scores: np.ndarray) -> list[str]:
    order = sorted(range(len(calls)), key=lambda i: (-float(scores[i]), calls[i].id))
    return [calls[i].id for i in order]


def evaluate(calls: list[EvalCall], profiles: list[Profile], qrels: dict[str, dict[str, int]], method: str,
             vectors=None, model=None, need_ids: dict | None = None) -> dict:
    """``model``: the fitted ranking model for ``hybrid`` (a call it was fitted
    on is scored by the heads of the fold that left it out); ``need_ids``
    (:func:`load_need_ids`) adds need@1 and need@3."""
    if method not in METHODS:
        raise FundbotError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    needs: dict[str, float | None] = {"need@1": None, "need@3": None}
    if method == "tfidf":
        rankings = rank_tfidf(calls, profiles)
    elif method == "bm25":
        rankings = rank_bm25(calls, profiles)
    elif method == "embed":
        rankings = rank_embed(calls, profiles, vectors)
    else:
        rankings, matches = rank_hybrid(calls, profiles, vectors, model)
        if need_ids:
            needs = need_rates(matches, need_ids)
    result = {"method": method, **metrics(rankings, qrels), **needs,
              "cities": len([p for p in profiles if p.city.id in qrels]), "calls": len(calls)}
    return result


def scored_out_of_fold(calls: list[EvalCall], model) -> int:
    """How many of ``calls`` the model was fitted on, and so scores with the
    heads of the fold that left each out."""
    folds = model.folds_for(calls) if model is not None else None  # an EvalCall has the title and text it reads
    return int((folds >= 0).sum()) if folds is not None else 0
