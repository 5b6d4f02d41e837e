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
import gc
import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from .config import Profile
from .models import Match
from .themes import METHODS as _THEME_METHODS
from .themes import NAMES as _THEME_NAMES
from .themes import call_profile, need_call_scores

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
CANDIDATES = 100
# learning from clicks (bench/feedback.py): log-odds added per standard deviation of
# closeness to a call the city marked, counted up to FEEDBACK_CAP deviations
FEEDBACK_WEIGHT = 0.25
FEEDBACK_CAP = 4.0
# a match names the needs the call serves best, with their scores
NEEDS_SHOWN = 3
# and, in pools larger than PRUNE_LIMIT, the lexical index keeps, per word, the
# MAX_POSTINGS calls where it weighs most (bench/two_stage.py measures both on the dev set)
PRUNE_LIMIT = 2000
MAX_POSTINGS = 500
# cities whose whole-call similarities are computed in one matrix product
CITY_BLOCK = 16

# A fixed description of what the whole programme is about: how near a call
# is to it says whether the call funds municipal climate work at all,
# whatever the city's own needs.
ANCHOR = ("Bidrag till kommuner och städer för klimatomställning: investeringar, innovation och samverkan "
          "för klimatneutrala städer, hållbar mobilitet, energi, byggande och klimatanpassning.")

# (the best single semantic, lexical and combined scores, the weight of the best need and "municipalities as
# partners" were features too: collinear with these, they let the model weigh noise — out-of-fold nDCG@10 rose
# without them, and the gap to leave-one-city-out fell from 0.016 to 0.009 on dev)
FEATURES = ("sem_top3", "comb_w23", "breadth", "anchor", "theme_main", "adaptation_unmet",
            "app_lead", "app_excluded", "ineligible", "caveats", "english",
            "transnational", "coord_other", "muni_first", "research_first")


_ADAPTATION = _THEME_NAMES.index("adaptation")
ADAPTATION_SHARE = 0.3  # a call this much about adaptation (share of its subject words) is an adaptation call

# What says which need a call pays for, per (need, call): the combined score,
# the same relative to the need's usual score over the pool (a need close to
# everything is not what every call funds), the gap to the call's best need,
# the semantic and lexical parts made relative the same way, and the weight;
# and, for a broad call that names no theme strongly ("implement your own
# transition"), which of the city's subjects such money is usually brought to
# (a learned preference per theme, scaled by how broad the call is).
NEED_FEATURES = ("comb", "comb_rowz", "comb_gap", "sims_rowz", "lex_rowz", "theme", "theme_gap", "weight",
                 "weight_broad") + tuple(f"broad_{name}" for name in _THEME_NAMES)


def _rowz(values: np.ndarray, calls: np.ndarray | None = None) -> np.ndarray:
    """Each row standardised over the whole pool, for the columns ``calls``."""
    mean = values.mean(axis=1, keepdims=True)
    sd = np.maximum(values.std(axis=1, keepdims=True), np.float32(1e-6))
    return ((values if calls is None else values[:, calls]) - mean) / sd


def need_feature_rows(ranker: "Ranker", profile: Profile, s: "CityScores",
                      calls: np.ndarray | None = None) -> np.ndarray:
    """(needs × calls × NEED_FEATURES) for the calls ``calls`` (default: all)."""
    calls = np.arange(len(ranker.docs)) if calls is None else calls
    comb = s.comb[:, calls]
    weights = np.array([n.weight for n in profile.needs], dtype=np.float32)[:, None]
    call_themes = ranker.call_themes[calls]
    need_themes = ranker.need_themes(profile)
    theme = need_call_scores(need_themes, call_themes)
    # a call that names no theme strongly (a broad "implement your transition" call) serves the city's
    # priorities: there the weight counts
    broad = 1.0 / (1.0 + call_themes.max(axis=1))[None, :]
    columns = {
        "comb": comb,
        "comb_rowz": _rowz(s.comb, calls),
        "comb_gap": comb - comb.max(axis=0, keepdims=True),
        "sims_rowz": _rowz(s.sims, calls),
        "lex_rowz": _rowz(s.lex, calls),
        "theme": theme,
        "theme_gap": theme - theme.max(axis=0, keepdims=True),
        "weight": np.broadcast_to(weights - 2.0, comb.shape),
        "weight_broad": (weights - 2.0) * broad,
    }
    for k, name in enumerate(_THEME_NAMES):
        columns[f"broad_{name}"] = need_themes[:, k:k + 1] * broad
    return np.stack([columns[name] for name in NEED_FEATURES], axis=-1).astype(np.float32)


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


# page furniture a call page carries besides the call: review and update stamps, share and print links
_FURNITURE = re.compile(
    r"^\s*(?:granskad|senast (?:uppdaterad|ändrad|granskad)|sidan (?:uppdaterades|granskades)|publicerad|"
    r"uppdaterad|last (?:updated|reviewed|modified)|page last updated|published|edited on|dela(?: sidan)?|"
    r"skriv ut|share(?: this page)?|print(?: this page)?)\b[^\n]{0,60}$", re.I | re.M)


def strip_furniture(text: str) -> str:
    """The call's own text: lines of page furniture (a review date, a share
    link) removed — they are never quoted as a passage."""
    return _FURNITURE.sub("", text) if text else ""


def make_doc(call_id: int, title: str, text: str, language: str, *, eligibility: str | None = None,
             funder: str | None = None, terms=None) -> CallDoc:
    """The call's chunks: a whole-call view (title + opening), then passages
    covering the entire text — longer passages for very long texts, so the
    last paragraph is never dropped.  Page furniture is left out of both."""
    own = strip_furniture(text)
    n_words = len(own.split())
    size = max(CHUNK_WORDS, -(-n_words // (MAX_CHUNKS - 1)))
    passages = split_passages(own, size)
    while len(passages) > MAX_CHUNKS - 1:
        size = int(size * 1.25) + 1
        passages = split_passages(own, size)
    head = " ".join(own.split()[:CHUNK_WORDS])
    whole = f"{title}. {head}".strip()
    chunks = [whole] + [p for p in passages if p != head][: MAX_CHUNKS - 1]
    return CallDoc(call_id, title, text, language, tuple(chunks), eligibility, funder, terms)


@functools.lru_cache(maxsize=4096)
def _need_themes(needs: tuple) -> np.ndarray:
    from .themes import need_profile

    out = np.array([need_profile(text, keywords) for text, keywords in needs], dtype=np.float32)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=4096)
def _details(eligibility: str) -> dict:
    from .eligibility import applicant_details

    return applicant_details(eligibility)


def need_texts(profile: Profile) -> list[str]:
    """What is embedded for each need."""
    return [n.query for n in profile.needs]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1.0 - p))


def _standardise(values: np.ndarray) -> np.ndarray:
    mean = float(values.mean())
    out = values - np.float32(mean)
    out *= np.float32(1.0 / _sd(float((values * values).mean()), mean))
    return out


def _best_and_top3(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: the largest value and the mean of the three largest (of
    all rows, when there are fewer), in one pass over the few rows."""
    first = values[0].copy()
    if values.shape[0] == 1:
        return first, first.copy()
    second = np.full_like(first, -np.inf)
    third = np.full_like(first, -np.inf)
    for row in values[1:]:
        np.maximum(third, np.minimum(second, row), out=third)
        np.maximum(second, np.minimum(first, row), out=second)
        np.maximum(first, row, out=first)
    k = min(3, values.shape[0])
    top = first + second if k == 2 else first + second + third
    return first, top / np.float32(k)


def _best_by_weight(comb: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per call: the best combined score, the weight of the need that gives
    it (the higher weight on ties), and the best among needs of weight ≥ 2
    (−3 when the city has none)."""
    best = label = high = None
    for w in sorted(set(weights.tolist())):
        group = comb[weights == w].max(axis=0)
        if w >= 2:
            high = group if high is None else np.maximum(high, group)
        if best is None:
            best, label = group, np.full(group.shape, w, dtype=np.float32)
        else:
            label = np.where(group >= best, np.float32(w), label)
            best = np.maximum(best, group)
    if high is None:
        high = np.full(comb.shape[1], -3.0, dtype=np.float32)
    return best, label, high


def _segment_argmax(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The position of each segment's largest value within the segment
    (the first on ties); segments are consecutive and non-empty."""
    best = np.repeat(np.maximum.reduceat(values, starts), sizes)
    positions = np.where(values == best, np.arange(len(values)), len(values))
    return np.minimum.reduceat(positions, starts) - starts


def _sd(mean_square: float, mean: float) -> float:
    sd = float(np.sqrt(max(mean_square - mean * mean, 0.0)))
    return sd if sd > 1e-6 else 1.0


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off for a while: the tens of thousands
    of matches a ranking builds (all kept) would otherwise set off full
    collections over every object the process holds, which find nothing."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def call_views(chunks: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Each call's chunk vectors averaged and made unit length (``sizes``:
    chunks per call, in order)."""
    from scipy import sparse

    n, total = len(sizes), int(np.sum(sizes))
    if not n:
        return np.zeros((0, chunks.shape[1] if chunks.ndim == 2 else 1), np.float32)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    members = sparse.csr_matrix((np.ones(total, np.float32), np.arange(total), offsets), shape=(n, total))
    sums = np.asarray(members @ chunks, dtype=np.float32)  # the (calls × chunks) indicator sums each call
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), np.float32(1e-6))
    return sums


@dataclass(frozen=True)
class Feedback:
    """A city's clicks, as the vectors of the calls it marked (:func:`call_views`):
    relevant or applying, and not relevant."""

    positive: np.ndarray  # k × dim
    negative: np.ndarray  # m × dim

    def __bool__(self) -> bool:
        return bool(len(self.positive) or len(self.negative))


@dataclass(frozen=True)
class CityScores:
    """One city's view of the pool, as arrays over calls."""

    relevance: np.ndarray  # 0..1, P(grade >= 2); 0 when ineligible
    order: np.ndarray  # sort key (expected grade; -1 when ineligible)
    comb: np.ndarray  # combined semantic + lexical score, needs × calls
    sims: np.ndarray  # raw semantic similarity, needs × calls
    lex: np.ndarray  # lexical similarity, needs × calls
    ineligible: np.ndarray
    read: np.ndarray  # the calls read chunk by chunk (sorted)
    nearest: tuple  # their chunk scores (chunks × needs) and each call's first row
    shift: np.ndarray  # what the city's clicks added to each call's log-odds


class Ranker:
    """Ranks one pool of calls for any number of cities."""

    def __init__(self, docs: list[CallDoc], chunk_vectors: "list[np.ndarray] | np.ndarray", anchor_vector: np.ndarray | None = None,
                 model: "RankerModel | None" = None, term_counts=None):
        from .eligibility import EligibilityMatrix, read_terms
        from .lexical import LexicalIndex, hashed_counts

        n = len(docs)
        self._lexical = None
        if n:  # the lexical index is built on a second thread while the rest is prepared
            def build() -> LexicalIndex:
                counts = term_counts if term_counts is not None else hashed_counts([d.full_text for d in docs])
                return LexicalIndex(counts, max_postings=MAX_POSTINGS if n > PRUNE_LIMIT else None)

            background = ThreadPoolExecutor(max_workers=1)
            self._lexical_job = background.submit(build)
            background.shutdown(wait=False)
        if isinstance(chunk_vectors, np.ndarray):  # already stacked, call after call (as the cache returns them)
            sizes = np.array([len(d.chunks) for d in docs], dtype=np.int64)
            if chunk_vectors.ndim != 2 or chunk_vectors.shape[0] != sizes.sum():
                raise ValueError("one vector per chunk of every call is needed")
            stacked = chunk_vectors
        else:
            if n != len(chunk_vectors):
                raise ValueError("one array of chunk vectors per call is needed")
            sizes = np.array([len(v) for v in chunk_vectors], dtype=np.int64)
            stacked = np.vstack(chunk_vectors) if n else np.zeros((0, 1), np.float32)
        self.docs = docs
        self.model = model
        self.folds = model.folds_for(docs) if model is not None else None
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if n else np.zeros(0, np.int64)
        self.chunks = np.ascontiguousarray(stacked, dtype=np.float32)
        self.sizes = sizes
        self.ids = np.array([d.id for d in docs])
        self.heads = self.chunks[self.offsets] if n else self.chunks  # each call's whole-call view
        # and the mean of its chunks, which a deep passage still moves (and which says what the
        # call is about as a whole, for learning from clicks)
        self.centroids = call_views(self.chunks, sizes)
        languages = np.array([d.language for d in docs])
        _, self.language_codes = np.unique(languages, return_inverse=True)
        self.language_sizes = np.bincount(self.language_codes)
        self.terms = [d.terms or read_terms(title=d.title, text=d.text, eligibility=d.eligibility, funder=d.funder)
                      for d in docs]
        self.eligibility = EligibilityMatrix(self.terms)
        self._verdicts: dict = {}  # city facts -> {call: Verdict}
        anchor = np.zeros(n, dtype=np.float32)
        if anchor_vector is not None and n:
            raw = self.best_per_call(anchor_vector[None, :])
            anchor = _standardise(self.centre_by_language(raw)[0])
        # what each call is about, read with its terms (a call stored by an older version: read here)
        themes_n = len(_THEME_NAMES)
        self.call_themes = np.array([t.themes if len(t.themes) == themes_n else call_profile(d.title, d.text)
                                     for t, d in zip(self.terms, docs)], dtype=np.float32).reshape(n, themes_n)
        # what a call pays for is its subject (transport, energy, adaptation …); how it is to be done — governance,
        # engagement, digital tools — every call speaks of, so it counts only in a call that names no subject
        method = np.isin(np.array(_THEME_NAMES), _THEME_METHODS)
        subject = np.where(method[None, :], 0.0, self.call_themes)
        has_subject = subject.sum(axis=1, keepdims=True) > 0
        basis = np.where(has_subject, subject, self.call_themes)
        totals = basis.sum(axis=1, keepdims=True)
        self.theme_shares = np.where(totals > 0, basis / np.maximum(totals, 1e-6), 0.0).astype(np.float32)
        self.main_theme = self.theme_shares.argmax(axis=1) if n else np.zeros(0, np.int64)
        self.main_theme_named = totals[:, 0] > 0

        details = [_details(d.eligibility or "") for d in docs]
        app = [t.applicant for t in self.terms]
        # the call-level feature columns, the same for every city
        self.call_columns = {
            "anchor": anchor,
            "app_lead": np.array([a == "lead" for a in app], dtype=np.float32),
            "app_excluded": np.array([a == "excluded" for a in app], dtype=np.float32),
            "english": (languages == "en").astype(np.float32),
            **{k: np.array([d[k] for d in details], dtype=np.float32)
               for k in ("transnational", "coord_other", "muni_first", "research_first")},
        }

    def need_themes(self, profile: Profile) -> np.ndarray:
        """(needs × themes): what each of the city's needs is about."""
        return _need_themes(tuple((n.text, tuple(n.keywords)) for n in profile.needs))

    @property
    def lexical(self):
        """The pool's :class:`~matcher.lexical.LexicalIndex` (waits for it to be built)."""
        if self._lexical is None:
            self._lexical = self._lexical_job.result()
        return self._lexical

    # --- signals ------------------------------------------------------------

    def best_per_call(self, need_vectors: np.ndarray, head_sims: np.ndarray | None = None,
                      centroid_best: np.ndarray | None = None) -> np.ndarray:
        """(needs × calls): each need's best cosine over each call's chunks.

        In a pool larger than EXACT_LIMIT only the city's CANDIDATES calls
        nearest by their whole-call view, and CANDIDATES nearest by the mean
        of their chunks (which a fitting paragraph deep in a long text still
        moves), are read chunk by chunk; the rest keep the whole-call
        similarity (a lower bound of the exact value).
        """
        return self._dense(need_vectors, head_sims, centroid_best)[0]

    def _dense(self, need_vectors: np.ndarray, head_sims: np.ndarray | None = None,
               centroid_best: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, tuple]:
        """:meth:`best_per_call`, with the calls read chunk by chunk (sorted)
        and their chunk scores (to find passages in)."""
        needs = need_vectors.astype(np.float32)
        if len(self.docs) <= EXACT_LIMIT:
            read = np.arange(len(self.docs))
            sims, nearest = self._chunk_scores(needs, read)
            return sims, read, nearest
        sims = (needs @ self.heads.T) if head_sims is None else head_sims.copy()
        if centroid_best is None:
            centroid_best = (needs @ self.centroids.T).max(axis=0)
        chosen = np.zeros(len(self.docs), dtype=bool)
        chosen[np.argpartition(-sims.max(axis=0), CANDIDATES)[:CANDIDATES]] = True
        chosen[np.argpartition(-centroid_best, CANDIDATES)[:CANDIDATES]] = True
        read = np.flatnonzero(chosen)
        sims[:, read], nearest = self._chunk_scores(needs, read)
        return sims, read, nearest

    def _chunk_scores(self, needs: np.ndarray, calls: np.ndarray) -> tuple[np.ndarray, tuple]:
        """(needs × calls) best cosine over each call's chunks, and the chunk
        scores themselves (chunks × needs, with each call's first row) to
        find a passage in later."""
        sizes = self.sizes[calls]
        local = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        if len(calls) == len(self.docs):
            chunks = self.chunks
        else:
            chunks = self.chunks[np.repeat(self.offsets[calls] - local, sizes) + np.arange(sizes.sum())]
        sims = chunks @ needs.T  # chunks × needs: the faster layout for few needs
        return np.maximum.reduceat(sims, local, axis=0).T, (sims, local)

    def best_chunks(self, need_vectors: np.ndarray, need_rows: np.ndarray, calls: np.ndarray,
                    read: np.ndarray | None = None, nearest: tuple | None = None) -> list[int]:
        """For each call in ``calls``: which of its passages (chunks after the
        whole-call view) is nearest to the need in ``need_rows`` at the same position (from the chunk scores in
        ``nearest`` for the calls in ``read``)."""
        out = np.zeros(len(calls), dtype=np.int64)
        missing = np.ones(len(calls), dtype=bool)
        if read is not None and len(read):
            at = np.minimum(np.searchsorted(read, calls), len(read) - 1)
            found = read[at] == calls
            if found.any():
                chunk_sims, local = nearest
                sizes = self.sizes[calls[found]]
                starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                rows = np.repeat(local[at[found]] - starts, sizes) + np.arange(sizes.sum())
                values = chunk_sims[rows, np.repeat(need_rows[found], sizes)]
                values[starts[sizes > 1]] = -np.inf  # the whole-call view is not a passage of the text
                out[found] = _segment_argmax(values, starts, sizes)
            missing = ~found
        if missing.any():
            calls_m, rows_m = calls[missing], need_rows[missing]
            starts, sizes = self.offsets[calls_m], self.sizes[calls_m]
            local = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            rows = np.repeat(starts - local, sizes) + np.arange(sizes.sum())
            all_needs = self.chunks[rows] @ np.asarray(need_vectors, dtype=np.float32).T  # chunks × needs
            sims = all_needs[np.arange(len(rows)), np.repeat(rows_m, sizes)]
            sims[local[sizes > 1]] = -np.inf
            out[missing] = _segment_argmax(sims, local, sizes)
        return out.tolist()

    def language_shift(self, sims: np.ndarray, column: np.ndarray | None = None) -> np.ndarray:
        """Per call: the mean similarity of its language's calls (groups of
        fewer than three calls take the overall mean) — what centring removes
        (``column``: ``sims.mean(axis=0)``, when known)."""
        column = sims.mean(axis=0) if column is None else column
        overall = float(column.mean()) if column.size else 0.0
        means = np.bincount(self.language_codes, weights=column, minlength=len(self.language_sizes))
        means = np.where(self.language_sizes >= 3, means / np.maximum(self.language_sizes, 1), overall)
        return means.astype(np.float32)[self.language_codes]

    def centre_by_language(self, sims: np.ndarray) -> np.ndarray:
        """Remove each call language's mean similarity."""
        return sims - self.language_shift(sims)

    def features(self, profile: Profile, sims: np.ndarray, lex: np.ndarray, ineligible: np.ndarray,
                 caveats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One row of FEATURES per call, and the combined (needs × calls) score.

        The semantic score is centred by call language and standardised, the
        lexical one standardised, and ``comb`` is their weighted sum.  All of
        that is affine per call, so it is folded into two passes over the
        (needs × calls) arrays, and the per-call maxima are taken of the raw
        scores and transformed after."""
        column = sims.mean(axis=0)
        shift = self.language_shift(sims, column)
        # mean and standard deviation of the centred similarities, without making them
        mean_s = float(sims.mean()) - float(shift.mean())
        sq = (float(np.vdot(sims, sims)) / sims.size - 2.0 * float(np.dot(column, shift)) / shift.size
              + float(np.dot(shift, shift)) / shift.size)
        a_s = 1.0 / _sd(sq, mean_s)
        mean_l = float(lex.mean())
        a_l = 1.0 / _sd(float(np.vdot(lex, lex)) / max(lex.size, 1), mean_l)
        offset_s = ((shift + np.float32(mean_s)) * np.float32(a_s)).astype(np.float32)  # sem_z = sims·a_s − offset_s
        comb = sims * np.float32(SEMANTIC_WEIGHT * a_s)
        comb += lex * np.float32(LEXICAL_WEIGHT * a_l)
        comb -= SEMANTIC_WEIGHT * offset_s + np.float32(LEXICAL_WEIGHT * a_l * mean_l)
        weights = np.array([n.weight for n in profile.needs], dtype=np.float32)
        sem_top3 = _best_and_top3(sims)[1]
        comb_w23 = _best_by_weight(comb, weights)[2]
        # the call's main subject: how much of it the city's needs of weight 2–3 name (a call on adaptation
        # fits a city with no adaptation priority poorly, however close its words come to the city's needs)
        high = weights >= 2
        # per theme, how much of it the city's needs of weight 2–3 name
        named = self.need_themes(profile)[high].max(axis=0) if high.any() else np.zeros(len(_THEME_NAMES), np.float32)
        theme_main = np.where(self.main_theme_named, named[self.main_theme], np.float32(0.0))
        # LABELLING.md: an adaptation call for a city with no adaptation priority is tangential
        adaptation_unmet = (self.theme_shares[:, _ADAPTATION] >= ADAPTATION_SHARE) & (named[_ADAPTATION] < 0.1)
        columns = {
            "theme_main": theme_main,
            "adaptation_unmet": adaptation_unmet.astype(np.float32),
            "sem_top3": sem_top3 * np.float32(a_s) - offset_s,
            "comb_w23": comb_w23,
            "breadth": np.log1p(np.add.reduce(comb > 1.0, axis=0, dtype=np.uint16), dtype=np.float32),
            "ineligible": ineligible,
            "caveats": caveats,
            **self.call_columns,
        }
        X = np.empty((len(self.docs), len(FEATURES)), dtype=np.float32, order="F")
        for k, name in enumerate(FEATURES):
            X[:, k] = columns[name]
        return X, comb

    def feature_matrix(self, profile: Profile, need_vectors: np.ndarray) -> np.ndarray:
        """FEATURES for every call (what the model is fitted on)."""
        sims = self.best_per_call(need_vectors)
        lex = self.lexical.similarity([n.query for n in profile.needs])
        return self.features(profile, sims, lex, *self.eligibility.judge(profile))[0]

    def score(self, profile: Profile, need_vectors: np.ndarray, lex: np.ndarray | None = None,
              head_sims: np.ndarray | None = None, centroid_best: np.ndarray | None = None,
              feedback: Feedback | None = None) -> CityScores:
        sims, read, nearest = self._dense(need_vectors, head_sims, centroid_best)
        if lex is None:
            lex = self.lexical.similarity([n.query for n in profile.needs])
        ineligible, caveats = self.eligibility.judge(profile)
        X, comb = self.features(profile, sims, lex, ineligible, caveats)
        shift = self.feedback_shift(feedback) if feedback else None
        if self.model is not None:
            relevance, order = self.model.predict(X, shift, self.folds)
        else:
            relevance = self.need_scores(profile, comb).max(axis=0)
            if shift is not None:
                relevance = _sigmoid(_logit(relevance) + shift)
            order = relevance.copy()
        relevance = np.where(ineligible, np.float32(0.0), relevance)
        order = np.where(ineligible, np.float32(-1.0), order)
        return CityScores(relevance, order, comb, sims, lex, ineligible, read, nearest,
                          shift if shift is not None else np.zeros(len(self.docs), np.float32))

    def feedback_shift(self, feedback: Feedback) -> np.ndarray:
        """What a city's clicks add to each call's log-odds: FEEDBACK_WEIGHT per
        standard deviation that the call is closer than usual to a call the city
        marked relevant, minus the same for calls it marked not relevant.  Only
        closeness counts — a call unlike the ones clicked keeps its score, since
        a city has other needs than those its clicks were about."""
        shift = np.zeros(len(self.docs), dtype=np.float32)
        for vectors, sign in ((feedback.positive, 1.0), (feedback.negative, -1.0)):
            if len(vectors):
                near = (self.centroids @ np.asarray(vectors, dtype=np.float32).T).max(axis=1)
                shift += np.float32(sign * FEEDBACK_WEIGHT) * np.clip(_standardise(near), 0.0, FEEDBACK_CAP)
        return shift

    def need_order(self, profile: Profile, s: CityScores, calls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which needs each of ``calls`` pays for, best first: (NEEDS_SHOWN × calls)
        row indices into the profile's needs, and (needs × calls) each need's
        0–1 score (rounded, as shown).  With a fitted model, the score is its
        probability that the call pays for the need (what the call is about —
        its passages, words and themes — not the need's weight alone); else
        the fixed formula."""
        if self.model is not None and self.model.has_need_model:
            F = need_feature_rows(self, profile, s, calls)
            folds = self.folds[calls] if self.folds is not None else None
            per_need = np.round(self.model.need_probability(F, folds).astype(np.float64), 4)
        else:
            per_need = np.round(self.need_scores(profile, s.comb[:, calls]).astype(np.float64), 4)
        by_need = np.argsort(-per_need, axis=0, kind="stable")[:NEEDS_SHOWN]  # each column's best needs
        return by_need, per_need

    @staticmethod
    def need_scores(profile: Profile, comb: np.ndarray) -> np.ndarray:
        """Each need's own 0–1 score (the fixed formula): which need a call serves."""
        weights = np.array([n.weight for n in profile.needs], dtype=np.float32)[:, None]
        return _sigmoid(SLOPE * comb + OFFSET - WEIGHT_SHIFT * (3 - weights))

    # --- matches for people --------------------------------------------------------

    def rank_many(self, profiles: list[Profile], need_vectors: list[np.ndarray], *,
                  limit: int | None = None, need_counts=None, workers: int | None = None,
                  feedback: "dict[str, Feedback] | None" = None) -> dict[str, list[Match]]:
        """:meth:`rank` for several cities (``need_counts``: the needs' cached
        term counts, in order).

        In a large pool the whole-call and chunk-mean similarities of a block
        of CITY_BLOCK cities come from one matrix product each, computed on
        their own thread ahead of the cities that need them; the block's
        lexical scores come from one sparse product, on a third thread; the
        cities are ranked on ``workers`` threads (default: one per core).  BLAS
        runs single-threaded meanwhile: the products release the GIL, so they
        fill the time the city threads spend waiting for it.  The garbage
        collector pauses until the matches are built.  The result does not
        depend on the number of threads."""
        if not self.docs:
            return {p.city.id: [] for p in profiles}
        from threadpoolctl import threadpool_limits

        from .lexical import hashed_counts

        bounds = np.cumsum([0] + [len(p.needs) for p in profiles])
        big = len(self.docs) > EXACT_LIMIT

        def block(start: int) -> list[tuple[np.ndarray, np.ndarray]]:
            ks = range(start, min(start + CITY_BLOCK, len(profiles)))
            flat = np.vstack([need_vectors[k] for k in ks]).astype(np.float32, copy=False)
            head_all, cent_all = flat @ self.heads.T, flat @ self.centroids.T
            local = bounds[ks.start:ks.stop + 1] - bounds[ks.start]
            return [(head_all[a:b], cent_all[a:b].max(axis=0)) for a, b in zip(local[:-1], local[1:])]

        def lexical_block(start: int) -> list[np.ndarray]:
            stop = min(start + CITY_BLOCK, len(profiles))
            scores = self.lexical.similarity_weighed(queries[bounds[start]:bounds[stop]])
            local = bounds[start:stop + 1] - bounds[start]
            return [scores[a:b] for a, b in zip(local[:-1], local[1:])]

        def one(k: int, products, lexical) -> list[Match]:
            head_sims, centroid_best = products.result()[k % CITY_BLOCK] if big else (None, None)
            return self.rank(profiles[k], need_vectors[k], limit=limit, head_sims=head_sims,
                             centroid_best=centroid_best, feedback=(feedback or {}).get(profiles[k].city.id),
                             lex=lexical.result()[k % CITY_BLOCK])

        workers = max(1, min(workers or os.cpu_count() or 1, len(profiles)))
        with _collector_paused(), threadpool_limits(limits=1, user_api="blas"), \
                ThreadPoolExecutor(max_workers=1) as products, \
                ThreadPoolExecutor(max_workers=1) as lexical, ThreadPoolExecutor(max_workers=workers) as cities:
            starts = range(0, len(profiles), CITY_BLOCK)
            blocks = [products.submit(block, a) if big else None for a in starts]
            if need_counts is None:
                need_counts = hashed_counts([n.query for p in profiles for n in p.needs])
            queries = self.lexical.weigh(need_counts)  # waits for the index, while the products run
            lexicals = [lexical.submit(lexical_block, a) for a in starts]
            jobs = [cities.submit(one, k, blocks[k // CITY_BLOCK], lexicals[k // CITY_BLOCK])
                    for k in range(len(profiles))]
            ranked = [job.result() for job in jobs]
        return {p.city.id: m for p, m in zip(profiles, ranked)}

    def rank(self, profile: Profile, need_vectors: np.ndarray, *, limit: int | None = None,
             lex: np.ndarray | None = None, head_sims: np.ndarray | None = None,
             centroid_best: np.ndarray | None = None, feedback: Feedback | None = None) -> list[Match]:
        """The city's calls, best first (all of them, or the first ``limit``):
        eligible calls by expected grade, then those it cannot apply for."""
        from .eligibility import facts_key, judge

        if not self.docs:
            return []
        s = self.score(profile, need_vectors, lex, head_sims, centroid_best, feedback)
        if limit is not None and limit < len(self.docs):
            top = np.argpartition(-s.order, limit - 1)[:limit]
            threshold = s.order[top].min()
            top = np.flatnonzero(s.order >= threshold)  # ties at the edge stay in
        else:
            top = np.arange(len(self.docs))
        order = top[np.lexsort((self.ids[top], -s.relevance[top], -s.order[top]))][:limit]
        needs = profile.needs
        by_need, per_need = self.need_order(profile, s, order)
        best_need = by_need[0]
        need_ids = np.array([n.id for n in needs], dtype=object)[by_need].tolist()  # a list per place
        need_values = np.take_along_axis(per_need, by_need, axis=0).tolist()
        chunks = self.best_chunks(need_vectors, best_need, order, s.read, s.nearest)
        score = np.round(s.relevance[order].astype(np.float64), 4).tolist()
        similarity = np.round(s.sims[best_need, order].astype(np.float64), 4).tolist()
        lexical = np.round(s.lex[best_need, order].astype(np.float64), 4).tolist()
        rank_key = np.round(s.order[order].astype(np.float64), 6).tolist()
        learned = np.round(s.shift[order].astype(np.float64), 3).tolist()
        verdicts = self._verdicts.setdefault(facts_key(profile), {})  # shared by cities with the same facts
        rows = order.tolist()
        for j in set(rows).difference(verdicts):
            verdicts[j] = judge(profile, self.terms[j])
        docs = [self.docs[j] for j in rows]
        # the passage of the call's own text nearest to the need shown (chunk 0, the whole-call view, is chosen
        # only when it is all there is: then the text itself, without page furniture, is quoted)
        passages = [d.chunks[c] if c > 0 else (strip_furniture(d.text).strip() or d.title)
                    for d, c in zip(docs, chunks)]
        served = [needs[i] for i in best_need.tolist()]
        verdict = [verdicts[j] for j in rows]
        # built column by column: 30,000 matches for 300 cities cost a tenth of a second, not a second
        return list(map(Match, repeat(profile.city.id), [d.id for d in docs], score, [n.id for n in served],
                        [n.text for n in served], passages, similarity, lexical,
                        list(zip(*map(zip, need_ids, need_values))), [v.status for v in verdict],
                        [v.reasons for v in verdict], [v.caveats for v in verdict], rank_key, learned))


def _fold_groups(folds: np.ndarray | None):
    """(fold, row mask) for each fold that rows of ``folds`` belong to (-1: none)."""
    if folds is None:
        return
    for k in np.unique(folds[folds >= 0]).tolist():
        yield k, folds == k


def expected_grade(p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """The expected grade from P(grade ≥ 1, 2, 3), kept monotone (the order a ranking shows)."""
    return p1 + np.minimum(p2, p1) + np.minimum(p3, p2)


def call_key(title: str, text: str) -> str:
    """What recognises a call the ranking model was fitted on: its title and
    text (not an id, which another store numbers differently)."""
    import hashlib

    return hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:16]


class RankerModel:
    """Logistic heads P(grade ≥ 1), P(grade ≥ 2), P(grade ≥ 3) over FEATURES.

    The relevance shown and thresholded is P(grade ≥ 2) — the probability
    that the call is relevant; the order is the expected grade.  A call the
    model was fitted on (recognised by :func:`call_key`) is scored by the
    heads of the fold that left it out, so a labelled call is never scored
    by heads that saw its label — in ``fundbot eval`` and in a run alike.
    """

    def __init__(self, data: dict):
        if tuple(data["features"]) != FEATURES:
            raise ValueError("the ranking model was fitted on other features; refit it (bench/train_ranker.py)")
        self.data = data
        self.mean = np.array(data["mean"], dtype=np.float64)
        self.scale = np.array(data["scale"], dtype=np.float64)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.fold_of = {key: k for k, fold in enumerate(data.get("folds", [])) for key in fold["calls"]}

    def folds_for(self, docs) -> np.ndarray | None:
        """Per call (anything with a ``title`` and a ``text``): the fold that left it out, or -1 for a call the model was
        not fitted on; None when no call of the pool was."""
        if not self.fold_of:
            return None
        folds = np.array([self.fold_of.get(call_key(d.title, d.text), -1) for d in docs], dtype=np.int64)
        return folds if (folds >= 0).any() else None

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
        # a quantised variant of the model (``name+int8-f2``) serves too: its vectors agree with the float
        # model's to a cosine of 0.994 or more, and the dev-set ranking with it was measured unchanged
        return model if model.data.get("embedding_model") == name.split("+", 1)[0] else None

    @property
    def has_need_model(self) -> bool:
        return "need" in self.data and tuple(self.data.get("need_features", ())) == NEED_FEATURES

    def need_probability(self, F: np.ndarray, folds: np.ndarray | None = None) -> np.ndarray:
        """(needs × calls) from (needs × calls × NEED_FEATURES): the probability
        that the call pays for the need; ``folds`` (per call) as in :meth:`predict`."""
        def logits(model: dict, rows: np.ndarray) -> np.ndarray:
            return rows @ np.array(model["coef"], dtype=np.float32) + np.float32(model["intercept"])

        out = logits(self.data["need"], F)
        for k, cols in _fold_groups(folds):
            out[:, cols] = logits(self.data["folds"][k]["need"], F[:, cols])
        return _sigmoid(out)

    def heads(self, fold: int = -1) -> dict:
        return self.data["folds"][fold]["heads"] if fold >= 0 else self.data["all"]

    def _folded(self, fold: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """A fold's three heads (-1: those fitted on everything) as one
        (features × 3) matrix and offsets, with the standardisation folded in."""
        heads = self.heads(fold)
        key = id(heads)
        if key not in self._cache:
            coef = np.array([heads[h]["coef"] for h in ("ge1", "ge2", "ge3")], dtype=np.float64).T / self.scale[:, None]
            intercept = np.array([heads[h]["intercept"] for h in ("ge1", "ge2", "ge3")], dtype=np.float64)
            self._cache[key] = (coef.astype(np.float32), (intercept - self.mean @ coef).astype(np.float32))
        return self._cache[key]

    def predict(self, X: np.ndarray, shift: np.ndarray | None = None,
                folds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """P(grade ≥ 2) and the expected grade per row; ``shift`` is added to
        every head's log-odds (what the city's clicks taught); ``folds``
        (:meth:`folds_for`) picks each row's heads."""
        coef, intercept = self._folded()
        logits = X @ coef + intercept
        for k, rows in _fold_groups(folds):
            coef_k, intercept_k = self._folded(k)
            logits[rows] = X[rows] @ coef_k + intercept_k
        if shift is not None:
            logits += shift[:, None]
        probs = _sigmoid(logits)
        p1, p2, p3 = probs[:, 0], probs[:, 1], probs[:, 2]
        return p2, expected_grade(p1, p2, p3)
