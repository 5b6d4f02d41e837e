"""Ranking: which calls suit which city, and why.  Pure: texts, arrays and
profiles in, matches out — no HTTP, no database, no clock.

Per (need, call):
  semantic = the best cosine between the need and any chunk of the call,
             centred per call language (every model scores same-language
             text higher: a Swedish need would otherwise prefer any Swedish
             call to a fitting English one);
  lexical  = TF-IDF cosine (scikit-learn, character n-grams, which also
             catch cognates across Swedish and English) between the need's
             text + keywords and the call;
  combined = a weighted sum of the two, standardised; the need's priority
             (weight 1–3) shifts it; a logistic turns it into a 0–1 score.
The city's score for a call is its best need's score; the explanation is
that need and the call's passage closest to it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .config import Profile
from .models import Match

SEMANTIC_WEIGHT = 0.75
LEXICAL_WEIGHT = 0.25
# logistic mapping of the standardised combined score to 0..1; provisional
# (a calibrated probability is the matcher issue's work)
SLOPE = 1.6
OFFSET = -3.2
WEIGHT_SHIFT = 0.35  # per priority step below 3

MAX_CHUNKS = 12
CHUNK_WORDS = 70


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

    @property
    def full_text(self) -> str:
        return f"{self.title}\n{self.text}"


_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[A-ZÅÄÖÉ0-9•\"'(])|\n+")


def split_passages(text: str, max_words: int = CHUNK_WORDS) -> list[str]:
    """Consecutive sentences grouped into passages of at most ``max_words``."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
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
             funder: str | None = None) -> CallDoc:
    passages = split_passages(text)
    head = " ".join(text.split()[:CHUNK_WORDS * 2])
    whole = f"{title}. {head}".strip()
    chunks = [whole] + [p for p in passages if p != head][: MAX_CHUNKS - 1]
    return CallDoc(call_id, title, text, language, tuple(chunks), eligibility, funder)


class LexicalIndex:
    """TF-IDF over the calls (character n-grams within word boundaries)."""

    def __init__(self, docs: list[CallDoc]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                          lowercase=True, min_df=1)
        corpus = [d.full_text for d in docs] or [""]
        self.matrix = self.vectorizer.fit_transform(corpus)

    def similarity(self, queries: list[str]) -> np.ndarray:
        """(queries × calls) cosine similarities."""
        q = self.vectorizer.transform(queries)
        return np.asarray((q @ self.matrix.T).todense(), dtype=np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _standardise(values: np.ndarray) -> np.ndarray:
    sd = float(values.std())
    return (values - float(values.mean())) / (sd if sd > 1e-6 else 1.0)


# A fixed description of what the whole programme is about: how near a call
# is to it says whether the call funds municipal climate work at all,
# whatever the city's own needs.
ANCHOR = ("Bidrag till kommuner och städer för klimatomställning: investeringar, innovation och samverkan "
          "för klimatneutrala städer, hållbar mobilitet, energi, byggande och klimatanpassning.")

FEATURES = ("sem_best", "sem_top3", "lex_best", "comb_best", "comb_w23", "weight_best", "breadth", "anchor",
            "app_lead", "app_partner", "app_excluded", "ineligible", "caveats", "english",
            "transnational", "coord_other", "muni_first", "research_first")


@dataclass(frozen=True)
class CitySignals:
    """Per (need, call) similarities and per call eligibility, for one city."""

    sims: np.ndarray  # raw best-chunk cosine, needs × calls
    best_chunk: np.ndarray
    sem_z: np.ndarray  # language-centred, standardised
    lex: np.ndarray
    lex_z: np.ndarray
    verdicts: list  # eligibility.Verdict per call


class Ranker:
    """Ranks one pool of calls for any number of cities."""

    def __init__(self, docs: list[CallDoc], chunk_vectors: list[np.ndarray], anchor_vector: np.ndarray | None = None,
                 model: "RankerModel | None" = None):
        if len(docs) != len(chunk_vectors):
            raise ValueError("one array of chunk vectors per call is needed")
        self.docs = docs
        self.chunk_vectors = chunk_vectors
        self.lexical = LexicalIndex(docs) if docs else None
        self.model = model
        self.anchor = np.zeros(len(docs), dtype=np.float32)
        if anchor_vector is not None and docs:
            raw = np.array([float((v @ anchor_vector).max()) for v in chunk_vectors], dtype=np.float32)
            self.anchor = _standardise(self.centre_by_language(raw[None, :])[0])

    def semantic(self, need_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(needs × calls) best-chunk similarity and the index of that chunk."""
        n_needs, n_calls = need_vectors.shape[0], len(self.docs)
        sims = np.zeros((n_needs, n_calls), dtype=np.float32)
        best = np.zeros((n_needs, n_calls), dtype=np.int32)
        for j, vecs in enumerate(self.chunk_vectors):
            s = need_vectors @ vecs.T  # needs × chunks
            best[:, j] = s.argmax(axis=1)
            sims[:, j] = s.max(axis=1)
        return sims, best

    def centre_by_language(self, sims: np.ndarray) -> np.ndarray:
        """Remove each call language's mean similarity (groups of fewer than
        three calls keep the overall mean)."""
        out = sims.copy()
        overall = float(sims.mean())
        languages = np.array([d.language for d in self.docs])
        for lang in set(languages.tolist()):
            cols = languages == lang
            mean = float(sims[:, cols].mean()) if cols.sum() >= 3 else overall
            out[:, cols] -= mean
        return out

    def signals(self, profile: Profile, need_vectors: np.ndarray) -> CitySignals:
        from .eligibility import assess

        sims, best_chunk = self.semantic(need_vectors)
        sem_z = _standardise(self.centre_by_language(sims))
        lex = self.lexical.similarity([n.query for n in profile.needs])
        verdicts = [assess(profile, title=d.title, text=d.text, eligibility=d.eligibility, funder=d.funder)
                    for d in self.docs]
        return CitySignals(sims, best_chunk, sem_z, lex, _standardise(lex), verdicts)

    def features(self, profile: Profile, sig: CitySignals) -> np.ndarray:
        """One row of FEATURES per call."""
        from .eligibility import applicant_details

        weights = np.array([n.weight for n in profile.needs], dtype=np.float32)[:, None]
        comb = SEMANTIC_WEIGHT * sig.sem_z + LEXICAL_WEIGHT * sig.lex_z
        best = comb.argmax(axis=0)
        top3 = np.sort(sig.sem_z, axis=0)[-3:].mean(axis=0)
        high = weights[:, 0] >= 2
        comb_w23 = comb[high].max(axis=0) if high.any() else np.full(len(self.docs), -3.0)
        app = [v.applicant for v in sig.verdicts]
        details = [applicant_details(d.eligibility or "") for d in self.docs]
        return np.column_stack([
            sig.sem_z.max(axis=0), top3, sig.lex_z.max(axis=0), comb.max(axis=0), comb_w23,
            weights[best, 0] - 2.0, np.log1p((comb > 1.0).sum(axis=0)), self.anchor,
            [a == "lead" for a in app], [a == "partner" for a in app], [a == "excluded" for a in app],
            [v.ineligible for v in sig.verdicts], [len(v.caveats) for v in sig.verdicts],
            [d.language == "en" for d in self.docs],
            *([dd[k] for dd in details] for k in ("transnational", "coord_other", "muni_first", "research_first")),
        ]).astype(np.float32)

    def rank(self, profile: Profile, need_vectors: np.ndarray) -> list[Match]:
        """Every call scored for this city, best first: eligible calls by
        expected grade, then those the city cannot apply for."""
        if not self.docs:
            return []
        needs = profile.needs
        sig = self.signals(profile, need_vectors)
        comb = SEMANTIC_WEIGHT * sig.sem_z + LEXICAL_WEIGHT * sig.lex_z
        weights = np.array([n.weight for n in needs], dtype=np.float32)[:, None]
        need_scores = _sigmoid(SLOPE * comb + OFFSET - WEIGHT_SHIFT * (3 - weights))
        if self.model is not None:
            relevance, order_key = self.model.predict(profile.city.id, self.features(profile, sig))
        else:
            relevance = need_scores.max(axis=0)
            order_key = relevance
        matches = []
        for j, doc in enumerate(self.docs):
            i = int(need_scores[:, j].argmax())
            chunk = int(sig.best_chunk[i, j])
            passage = doc.chunks[chunk] if chunk > 0 else (split_passages(doc.text)[:1] or [doc.title])[0]
            verdict = sig.verdicts[j]
            score = 0.0 if verdict.ineligible else float(relevance[j])
            matches.append(
                Match(
                    city=profile.city.id,
                    call_id=doc.id,
                    score=round(score, 4),
                    need_id=needs[i].id,
                    need_text=needs[i].text,
                    passage=passage,
                    similarity=round(float(sig.sims[i, j]), 4),
                    lexical=round(float(sig.lex[i, j]), 4),
                    needs=tuple(
                        sorted(((n.id, round(float(need_scores[k, j]), 4)) for k, n in enumerate(needs)),
                               key=lambda t: -t[1])
                    ),
                    eligibility=verdict.status,
                    reasons=verdict.reasons,
                    caveats=verdict.caveats,
                    rank_key=round(-1.0 if verdict.ineligible else float(order_key[j]), 6),
                )
            )
        matches.sort(key=lambda m: (-m.rank_key, -m.score, m.call_id))
        return matches


class RankerModel:
    """Logistic heads P(grade ≥ 1), P(grade ≥ 2), P(grade ≥ 3) over FEATURES.

    The relevance shown and thresholded is P(grade ≥ 2) — the probability
    that the call is relevant; the order is the expected grade.  A city the
    model was fitted on is scored by the model fitted without it.
    """

    def __init__(self, data: dict):
        if tuple(data["features"]) != FEATURES:
            raise ValueError("the ranking model was fitted on other features; refit it (bench/train_ranker.py)")
        self.data = data

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
        None (the ranking falls back to the unfitted hybrid score)."""
        model = cls.load()
        return model if model.data.get("embedding_model") == name else None

    def heads(self, city: str) -> dict:
        return self.data["without"].get(city) or self.data["all"]

    def predict(self, city: str, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        heads = self.heads(city)
        mean = np.array(self.data["mean"], dtype=np.float32)
        scale = np.array(self.data["scale"], dtype=np.float32)
        Z = (X - mean) / scale
        probs = {name: _sigmoid(Z @ np.array(h["coef"], dtype=np.float32) + h["intercept"])
                 for name, h in heads.items()}
        p1, p2, p3 = probs["ge1"], probs["ge2"], probs["ge3"]
        p2 = np.minimum(p2, p1)
        p3 = np.minimum(p3, p2)
        return p2, p1 + p2 + p3


def need_texts(profile: Profile) -> list[str]:
    """What is embedded for each need."""
    return [n.query for n in profile.needs]


def isfinite(x: float) -> bool:
    return math.isfinite(x)
