"""The lexical half of the hybrid score: TF-IDF over words and word pairs.

Term counts are hashed (no vocabulary to fit), so each call's counts depend
on its text alone and are cached in the store like its vectors; the IDF is
taken from the current pool of calls, which is cheap.  Swedish and English
stop words are dropped so that a need's query touches only content words.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Sequence

import numpy as np
from scipy import sparse

N_FEATURES = 2 ** 20

SWEDISH_STOP = (
    "och att det som en på är av för med till den har de inte om ett han men var jag sig från vi så kan man när "
    "år säger hon under också efter eller nu sin där vid mot ska skulle kommer ut får finns vara hade alla andra "
    "mycket än här då sedan över bara in blir upp även vad få två vill ha många hur mer går sverige kronor detta "
    "nya procent skall hans utan sina något svenska allt första fick måste mellan blev bli dag någon några sitt "
    "stora varit dem bland bra tre ta genom del hela annat fram gör ingen stor sagt inom deras samt vilka dessa "
    "vilket ni oss era vars kunna ska både samt dock såsom"
).split()


@functools.lru_cache(maxsize=1)
def _vectorizer():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer

    return HashingVectorizer(n_features=N_FEATURES, alternate_sign=False, norm=None, ngram_range=(1, 2),
                             lowercase=True, stop_words=sorted(set(ENGLISH_STOP_WORDS) | set(SWEDISH_STOP)))


def hashed_counts(texts: Sequence[str]) -> sparse.csr_matrix:
    return _vectorizer().transform(list(texts)).astype(np.float32).tocsr()


def counts_key(text: str) -> str:
    return "terms:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def pack(row: sparse.csr_matrix) -> np.ndarray:
    """One document's counts as a float32 vector: indices (as float-encoded
    int32 bits) then counts — stored in the vector cache's table."""
    idx = row.indices.astype(np.int32)
    return np.concatenate([idx.view(np.float32), row.data.astype(np.float32)])


def unpack(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = packed.shape[0] // 2
    return packed[:n].view(np.int32), packed[n:]


def cached_counts(store, texts: Sequence[str]) -> sparse.csr_matrix:
    """Hashed term counts of ``texts``, from the store's cache where possible."""
    keys = [counts_key(t) for t in texts]
    cached = store.get_vectors("hashed-terms-v1", keys) if store is not None else {}
    missing = {k: t for k, t in zip(keys, texts) if k not in cached}
    if missing:
        fresh = hashed_counts(list(missing.values()))
        new = {k: pack(fresh[i]) for i, k in enumerate(missing)}
        if store is not None:
            store.put_vectors("hashed-terms-v1", new)
        cached.update(new)
    indptr, indices, data = [0], [], []
    for k in keys:
        idx, val = unpack(cached[k])
        indices.append(idx)
        data.append(val)
        indptr.append(indptr[-1] + len(idx))
    return sparse.csr_matrix(
        (np.concatenate(data) if data else np.zeros(0, np.float32),
         np.concatenate(indices) if indices else np.zeros(0, np.int32), np.array(indptr)),
        shape=(len(keys), N_FEATURES), dtype=np.float32)


class LexicalIndex:
    """TF-IDF (sublinear tf, IDF from the pool, unit length) over the calls."""

    def __init__(self, counts: sparse.csr_matrix):
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=N_FEATURES).astype(np.float32)
        self.idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
        if n_docs >= 50:  # terms in most calls say little and cost much: dropped in large pools
            self.idf[df > 0.5 * n_docs] = 0.0
        self.matrix = self._weigh(counts)
        self.matrix_t = self.matrix.T.tocsr()

    def _weigh(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        m = counts.copy()
        m.data = (1.0 + np.log(m.data)) * self.idf[m.indices]
        m.eliminate_zeros()
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.diags(1.0 / norms).dot(m).tocsr().astype(np.float32)

    def similarity(self, queries: Sequence[str], counts: sparse.csr_matrix | None = None) -> np.ndarray:
        """(queries × calls) cosine similarities (``counts``: the queries'
        hashed term counts, when cached)."""
        q = self._weigh(counts if counts is not None else hashed_counts(queries))
        return np.asarray((q @ self.matrix_t).todense(), dtype=np.float32)

    def similarity_many(self, groups: Sequence[Sequence[str]],
                        counts: sparse.csr_matrix | None = None) -> list[np.ndarray]:
        """``similarity`` for several groups of queries in one pass."""
        flat = [q for g in groups for q in g]
        if not flat:
            return [np.zeros((0, self.matrix.shape[0]), np.float32) for _ in groups]
        q = self._weigh(counts if counts is not None else hashed_counts(flat))
        sims = (q @ self.matrix_t).tocsr()  # stays sparse: each group is made dense on its own
        out, pos = [], 0
        for g in groups:
            out.append(sims[pos:pos + len(g)].toarray().astype(np.float32, copy=False))
            pos += len(g)
        return out
