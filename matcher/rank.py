"""Ranking: which calls suit which city, and why.  Pure: texts, arrays and
profiles in, matches out — no HTTP, no database, no clock.

Signals per (need, call), computed for a whole pool at once with numpy:
  semantic  the best cosine between the need and any chunk of the call
            (long calls are chunked, so a relevant paragraph deep in a long
            topic text counts), centred per call language — every model
            scores same-language text higher, so a Swedish need would
            otherwise prefer any Swedish call to a fitting English one;
  lexical   TF-IDF cosine over words and word pairs (``matcher.lexical``);
  anchor    how near the call is to municipal climate funding at all;
  terms     eligibility and applicant type (``matcher.eligibility``).
A fitted logistic model (``RankerModel``) turns them into the probability
that the call is relevant (grade ≥ 2) — the score people see and thresholds
use — and an expected grade, which orders the list.  Calls the city cannot
apply for go last with score 0 and the reason.  Without a fitted model a
fixed hybrid formula is used.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from .config import Profile
from .models import Match

SEMANTIC_WEIGHT = 0.75
LEXICAL_WEIGHT = 0.25
# the fixed hybrid formula used when no fitted model matches the embedder
SLOPE = 1.6
OFFSET = -3.2
WEIGHT_SHIFT = 0.35  # per priority step below 3

CHUNK_WORDS = 50
MAX_CHUNKS = 64  # past ~3,200 words the passages grow instead
# Pools larger than this are scored in two stages: every call by its
# whole-call view, then every chunk of each city's best CANDIDATES calls.
EXACT_LIMIT = 2000
CANDIDATES = 150

# A fixed description of what the whole programme is about: how near a call
# is to it says whether the call funds municipal climate work at all,
# whatever the city's own needs.
ANCHOR = ("Bidrag till kommuner och städer för klimatomställning: investeringar, innovation och samverkan "
          "för klimatneutrala städer, hållbar mobilitet, energi, byggande och klimatanpassning.")

FEATURES = ("sem_best", "sem_top3", "lex_best", "comb_best", "comb_w23", "weight_best", "breadth", "anchor",
            "app_lead", "app_partner", "app_excluded", "ineligible", "caveats", "english",
            "transnational", "coord_other", "muni_first", "research_first")


@dataclass(frozen=True)
class CallDoc:
    """One call as the ranking sees it."""

    id: int
    title: str
    text: str
    language: str
    chunks: tuple[str, ...]  # texts to embed; chunks[0] is the whole-call view
    eligibility: str | None = None
    funder: str | None = None
    terms: object = None  # eligibility.CallTerms when already read (cached with the call)

    @property
    def full_text(self) -> str:
        return f"{self.title}\n{self.text}"


_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[A-ZÅÄÖÉ0-9•\"'(])|\n+")


def split_passages(text: str, max_words: int = CHUNK_WORDS) -> list[str]:
    """Consecutive sentences grouped into passages of at most ``max_words``
    (a single longer sentence is cut)."""
    sentences: list[str] = []
    for s in _SENTENCE.split(text):
        words = s.split() if s else []
        for k in range(0, len(words), max_words):
            sentences.append(" ".join(words[k:k + max_words]))
    passages: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in sentences:
        n = len(sentence.split())
        if current and count + n > max_words:
            passages.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += n
    if current:
        passages.append(" ".join(current))
    return passages


def make_doc(call_id: int, title: str, text: str, language: str, *, eligibility: str | None = None,
             funder: str | None = None, terms=None) -> CallDoc:
    """The call's chunks: a whole-call view (title + opening), then passages
    covering the entire text — longer passages for very long texts, so the
    last paragraph is never dropped."""
    n_words = len(text.split())
    size = max(CHUNK_WORDS, -(-n_words // (MAX_CHUNKS - 1)))
    passages = split_passages(text, size)
    while len(passages) > MAX_CHUNKS - 1:
        size = int(size * 1.25) + 1
        passages = split_passages(text, size)
    head = " ".join(text.split()[:CHUNK_WORDS])
    whole = f"{title}. {head}".strip()
    chunks = [whole] + [p for p in passages if p != head][: MAX_CHUNKS - 1]
    return CallDoc(call_id, title, text, language, tuple(chunks), eligibility, funder, terms)


@functools.lru_cache(maxsize=4096)
def _details(eligibility: str) -> dict:
    from .eligibility import applicant_details

    return applicant_details(eligibility)


def need_texts(profile: Profile) -> list[str]:
    """What is embedded for each need."""
    return [n.query for n in profile.needs]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _standardise(values: np.ndarray) -> np.ndarray:
    mean = float(values.mean())
    sd = float(np.sqrt(max(float((values * values).mean()) - mean * mean, 0.0)))
    out = values - np.float32(mean)
    out *= np.float32(1.0 / (sd if sd > 1e-6 else 1.0))
    return out


@dataclass(frozen=True)
class CityScores:
    """One city's view of the pool, as arrays over calls."""

    relevance: np.ndarray  # 0..1, P(grade >= 2); 0 when ineligible
    order: np.ndarray  # sort key (expected grade; -1 when ineligible)
    comb: np.ndarray  # combined semantic + lexical score, needs × calls
    sims: np.ndarray  # raw semantic similarity, needs × calls
    lex: np.ndarray  # lexical similarity, needs × calls
    ineligible: np.ndarray


class Ranker:
    """Ranks one pool of calls for any number of cities."""

    def __init__(self, docs: list[CallDoc], chunk_vectors: list[np.ndarray], anchor_vector: np.ndarray | None = None,
                 model: "RankerModel | None" = None, term_counts=None):
        from .eligibility import EligibilityMatrix, read_terms
        from .lexical import LexicalIndex, hashed_counts

        if len(docs) != len(chunk_vectors):
            raise ValueError("one array of chunk vectors per call is needed")
        self.docs = docs
        self.model = model
        n = len(docs)
        sizes = np.array([len(v) for v in chunk_vectors], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if n else np.zeros(0, np.int64)
        self.chunks = np.vstack(chunk_vectors).astype(np.float32) if n else np.zeros((0, 1), np.float32)
        self.sizes = sizes
        self.ids = np.array([d.id for d in docs])
        self.heads = self.chunks[self.offsets] if n else self.chunks  # each call's whole-call view
        if n > EXACT_LIMIT:  # and the mean of its chunks, which a deep passage still moves
            sums = np.add.reduceat(self.chunks, self.offsets, axis=0)
            self.centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-6)
        languages = np.array([d.language for d in docs])
        self.language_groups = [languages == lang for lang in sorted(set(languages.tolist()))]
        self.terms = [d.terms or read_terms(title=d.title, text=d.text, eligibility=d.eligibility, funder=d.funder)
                      for d in docs]
        self.eligibility = EligibilityMatrix(self.terms)
        if n:
            counts = term_counts if term_counts is not None else hashed_counts([d.full_text for d in docs])
            self.lexical = LexicalIndex(counts)
        anchor = np.zeros(n, dtype=np.float32)
        if anchor_vector is not None and n:
            raw = self.best_per_call(anchor_vector[None, :])
            anchor = _standardise(self.centre_by_language(raw)[0])
        details = [_details(d.eligibility or "") for d in docs]
        app = [t.applicant for t in self.terms]
        # the call-level feature columns, the same for every city
        self.call_columns = {
            "anchor": anchor,
            "app_lead": np.array([a == "lead" for a in app], dtype=np.float32),
            "app_partner": np.array([a == "partner" for a in app], dtype=np.float32),
            "app_excluded": np.array([a == "excluded" for a in app], dtype=np.float32),
            "english": (languages == "en").astype(np.float32),
            **{k: np.array([d[k] for d in details], dtype=np.float32)
               for k in ("transnational", "coord_other", "muni_first", "research_first")},
        }

    # --- signals ------------------------------------------------------------

    def best_per_call(self, need_vectors: np.ndarray, head_sims: np.ndarray | None = None) -> np.ndarray:
        """(needs × calls): each need's best cosine over each call's chunks.

        In a pool larger than EXACT_LIMIT only the city's CANDIDATES calls
        nearest by their whole-call view, and CANDIDATES nearest by the mean
        of their chunks (which a fitting paragraph deep in a long text still
        moves), are read chunk by chunk; the rest keep the whole-call
        similarity (a lower bound of the exact value).
        """
        needs = need_vectors.astype(np.float32)
        if len(self.docs) <= EXACT_LIMIT:
            return np.maximum.reduceat(needs @ self.chunks.T, self.offsets, axis=1)
        sims = (needs @ self.heads.T) if head_sims is None else head_sims.copy()
        by_head = np.argpartition(-sims.max(axis=0), CANDIDATES)[:CANDIDATES]
        by_centroid = np.argpartition(-(needs @ self.centroids.T).max(axis=0), CANDIDATES)[:CANDIDATES]
        cand = np.union1d(by_head, by_centroid)
        starts, sizes = self.offsets[cand], self.sizes[cand]
        rows = np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes) + np.arange(sizes.sum())
        local = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        sims[:, cand] = np.maximum.reduceat(needs @ self.chunks[rows].T, local, axis=1)
        return sims

    def best_chunk(self, need_vector: np.ndarray, j: int) -> int:
        start = int(self.offsets[j])
        end = int(self.offsets[j + 1]) if j + 1 < len(self.offsets) else self.chunks.shape[0]
        return int((self.chunks[start:end] @ need_vector).argmax())

    def centre_by_language(self, sims: np.ndarray) -> np.ndarray:
        """Remove each call language's mean similarity (groups of fewer than
        three calls keep the overall mean)."""
        out = sims.copy()
        overall = float(sims.mean())
        for cols in self.language_groups:
            out[:, cols] -= float(sims[:, cols].mean()) if cols.sum() >= 3 else overall
        return out

    def features(self, profile: Profile, sims: np.ndarray, lex: np.ndarray, ineligible: np.ndarray,
                 caveats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One row of FEATURES per call, and the combined (needs × calls) score."""
        sem_z = _standardise(self.centre_by_language(sims))
        lex_z = _standardise(lex)
        comb = SEMANTIC_WEIGHT * sem_z + LEXICAL_WEIGHT * lex_z
        weights = np.array([n.weight for n in profile.needs], dtype=np.float32)
        best = comb.argmax(axis=0)
        high = weights >= 2
        k = min(3, sem_z.shape[0])
        columns = {
            "sem_best": sem_z.max(axis=0),
            "sem_top3": np.partition(sem_z, -k, axis=0)[-k:].mean(axis=0),
            "lex_best": lex_z.max(axis=0),
            "comb_best": comb.max(axis=0),
            "comb_w23": comb[high].max(axis=0) if high.any() else np.full(len(self.docs), -3.0, np.float32),
            "weight_best": weights[best] - 2.0,
            "breadth": np.log1p((comb > 1.0).sum(axis=0)),
            "ineligible": ineligible.astype(np.float32),
            "caveats": caveats.astype(np.float32),
            **self.call_columns,
        }
        X = np.empty((len(self.docs), len(FEATURES)), dtype=np.float32)
        for k, name in enumerate(FEATURES):
            X[:, k] = columns[name]
        return X, comb

    def feature_matrix(self, profile: Profile, need_vectors: np.ndarray) -> np.ndarray:
        """FEATURES for every call (what the model is fitted on)."""
        sims = self.best_per_call(need_vectors)
        lex = self.lexical.similarity([n.query for n in profile.needs])
        return self.features(profile, sims, lex, *self.eligibility.judge(profile))[0]

    def score(self, profile: Profile, need_vectors: np.ndarray, lex: np.ndarray | None = None,
              head_sims: np.ndarray | None = None) -> CityScores:
        sims = self.best_per_call(need_vectors, head_sims)
        if lex is None:
            lex = self.lexical.similarity([n.query for n in profile.needs])
        ineligible, caveats = self.eligibility.judge(profile)
        X, comb = self.features(profile, sims, lex, ineligible, caveats)
        if self.model is not None:
            relevance, order = self.model.predict(profile.city.id, X)
        else:
            relevance = self.need_scores(profile, comb).max(axis=0)
            order = relevance.copy()
        relevance = np.where(ineligible, np.float32(0.0), relevance)
        order = np.where(ineligible, np.float32(-1.0), order)
        return CityScores(relevance, order, comb, sims, lex, ineligible)

    @staticmethod
    def need_scores(profile: Profile, comb: np.ndarray) -> np.ndarray:
        """Each need's own 0–1 score (the fixed formula): which need a call serves."""
        weights = np.array([n.weight for n in profile.needs], dtype=np.float32)[:, None]
        return _sigmoid(SLOPE * comb + OFFSET - WEIGHT_SHIFT * (3 - weights))

    # --- matches for people --------------------------------------------------------

    def rank_many(self, profiles: list[Profile], need_vectors: list[np.ndarray], *,
                  limit: int | None = None, need_counts=None) -> dict[str, list[Match]]:
        """:meth:`rank` for several cities, with their lexical scores in one
        pass (``need_counts``: the needs' cached term counts, in order)."""
        if not self.docs:
            return {p.city.id: [] for p in profiles}
        lex = self.lexical.similarity_many([[n.query for n in p.needs] for p in profiles], need_counts)
        heads: list = [None] * len(profiles)
        if len(self.docs) > EXACT_LIMIT and need_vectors:  # one matrix product for every city's needs
            flat = (np.vstack(need_vectors).astype(np.float32) @ self.heads.T)
            bounds = np.cumsum([0] + [len(v) for v in need_vectors])
            heads = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return {p.city.id: self.rank(p, v, limit=limit, lex=x, head_sims=h)
                for p, v, x, h in zip(profiles, need_vectors, lex, heads)}

    def rank(self, profile: Profile, need_vectors: np.ndarray, *, limit: int | None = None,
             lex: np.ndarray | None = None, head_sims: np.ndarray | None = None) -> list[Match]:
        """The city's calls, best first (all of them, or the first ``limit``):
        eligible calls by expected grade, then those it cannot apply for."""
        from .eligibility import judge

        if not self.docs:
            return []
        s = self.score(profile, need_vectors, lex, head_sims)
        if limit is not None and limit < len(self.docs):
            top = np.argpartition(-s.order, limit - 1)[:limit]
            threshold = s.order[top].min()
            top = np.flatnonzero(s.order >= threshold)  # ties at the edge stay in
        else:
            top = np.arange(len(self.docs))
        order = top[np.lexsort((self.ids[top], -s.relevance[top], -s.order[top]))][:limit]
        needs = profile.needs
        per_need = self.need_scores(profile, s.comb[:, order])
        matches = []
        for k_col, j in enumerate(order.tolist()):
            doc = self.docs[j]
            i = int(per_need[:, k_col].argmax())
            chunk = self.best_chunk(need_vectors[i], j)
            # the whole-call view (chunk 0) is not a passage: quote the first real one instead
            passage = doc.chunks[chunk] if chunk > 0 else (doc.chunks[1] if len(doc.chunks) > 1 else doc.text or doc.title)
            verdict = judge(profile, self.terms[j])
            matches.append(Match(
                city=profile.city.id,
                call_id=doc.id,
                score=round(float(s.relevance[j]), 4),
                need_id=needs[i].id,
                need_text=needs[i].text,
                passage=passage,
                similarity=round(float(s.sims[i, j]), 4),
                lexical=round(float(s.lex[i, j]), 4),
                needs=tuple(sorted(((n.id, round(float(per_need[k, k_col]), 4)) for k, n in enumerate(needs)),
                                   key=lambda t: -t[1])),
                eligibility=verdict.status,
                reasons=verdict.reasons,
                caveats=verdict.caveats,
                rank_key=round(float(s.order[j]), 6),
            ))
        return matches


class RankerModel:
    """Logistic heads P(grade ≥ 1), P(grade ≥ 2), P(grade ≥ 3) over FEATURES.

    The relevance shown and thresholded is P(grade ≥ 2) — the probability
    that the call is relevant; the order is the expected grade.  A city the
    model was fitted on is scored by the heads fitted without it.
    """

    def __init__(self, data: dict):
        if tuple(data["features"]) != FEATURES:
            raise ValueError("the ranking model was fitted on other features; refit it (bench/train_ranker.py)")
        self.data = data
        self.mean = np.array(data["mean"], dtype=np.float32)
        self.scale = np.array(data["scale"], dtype=np.float32)

    @classmethod
    def load(cls, path=None) -> "RankerModel":
        """The model shipped in ``matcher/data/ranker.json`` (or another file)."""
        import json
        from pathlib import Path

        path = Path(path) if path else Path(__file__).parent / "data" / "ranker.json"
        return cls(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def for_embedder(cls, name: str) -> "RankerModel | None":
        """The shipped model if it was fitted on vectors of this embedder, else
        None (the ranking falls back to the fixed hybrid formula)."""
        model = cls.load()
        return model if model.data.get("embedding_model") == name else None

    def heads(self, city: str) -> dict:
        return self.data["without"].get(city) or self.data["all"]

    def predict(self, city: str, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        heads = self.heads(city)
        Z = (X - self.mean) / self.scale
        probs = {name: _sigmoid(Z @ np.array(h["coef"], dtype=np.float32) + h["intercept"])
                 for name, h in heads.items()}
        p1, p2, p3 = probs["ge1"], probs["ge2"], probs["ge3"]
        return p2, p1 + np.minimum(p2, p1) + np.minimum(p3, p2)
