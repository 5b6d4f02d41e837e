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


class Ranker:
    """Ranks one pool of calls for any number of cities."""

    def __init__(self, docs: list[CallDoc], chunk_vectors: list[np.ndarray]):
        if len(docs) != len(chunk_vectors):
            raise ValueError("one array of chunk vectors per call is needed")
        self.docs = docs
        self.chunk_vectors = chunk_vectors
        self.lexical = LexicalIndex(docs) if docs else None

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

    def rank(self, profile: Profile, need_vectors: np.ndarray) -> list[Match]:
        """Every call scored for this city, best first."""
        if not self.docs:
            return []
        needs = profile.needs
        sims, best_chunk = self.semantic(need_vectors)
        sem_z = _standardise(self.centre_by_language(sims))
        lex = self.lexical.similarity([n.query for n in needs])
        lex_z = _standardise(lex)
        combined = SEMANTIC_WEIGHT * sem_z + LEXICAL_WEIGHT * lex_z
        weights = np.array([n.weight for n in needs], dtype=np.float32)[:, None]
        scores = _sigmoid(SLOPE * combined + OFFSET - WEIGHT_SHIFT * (3 - weights))
        matches = []
        for j, doc in enumerate(self.docs):
            i = int(scores[:, j].argmax())
            chunk = int(best_chunk[i, j])
            passage = doc.chunks[chunk] if chunk > 0 else (split_passages(doc.text)[:1] or [doc.title])[0]
            matches.append(
                Match(
                    city=profile.city.id,
                    call_id=doc.id,
                    score=round(float(scores[i, j]), 4),
                    need_id=needs[i].id,
                    need_text=needs[i].text,
                    passage=passage,
                    similarity=round(float(sims[i, j]), 4),
                    lexical=round(float(lex[i, j]), 4),
                    needs=tuple(
                        sorted(((n.id, round(float(scores[k, j]), 4)) for k, n in enumerate(needs)),
                               key=lambda t: -t[1])
                    ),
                )
            )
        matches.sort(key=lambda m: (-m.score, m.call_id))
        return matches


def need_texts(profile: Profile) -> list[str]:
    """What is embedded for each need."""
    return [n.query for n in profile.needs]


def isfinite(x: float) -> bool:
    return math.isfinite(x)
