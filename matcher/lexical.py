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
    """TF-IDF (sublinear tf, IDF from the pool, unit length) over the calls.

    ``max_postings`` prunes the index statically (Carmel et al., 2001): a
    term found in more calls keeps only the calls where it weighs most.  A
    call that loses a posting scores a little lower on a common word; the
    cost of a query no longer grows with the pool.  Only large pools use it.
    """

    def __init__(self, counts: sparse.csr_matrix, max_postings: int | None = None):
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=N_FEATURES).astype(np.float32)
        self.idf = (np.log((1.0 + n_docs) / (1.0 + df)) + 1.0).astype(np.float32)
        if n_docs >= 50:  # terms in most calls say little and cost much: dropped in large pools
            self.idf[df > 0.5 * n_docs] = 0.0
        self.matrix_t = self.weigh(counts).T.tocsr()
        if max_postings is not None:
            self.matrix_t = _prune(self.matrix_t, max_postings)

    def weigh(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """Term counts as unit-length TF-IDF rows (sublinear tf, this pool's IDF)."""
        m = counts.tocsr(copy=True)
        m.data = np.log(m.data, dtype=np.float32)
        m.data += np.float32(1.0)
        m.data *= self.idf[m.indices]
        m.eliminate_zeros()
        norms = np.ones(m.shape[0], dtype=np.float64)
        filled = np.flatnonzero(np.diff(m.indptr))  # each segment runs to the next filled row's start
        if len(filled):
            norms[filled] = np.sqrt(np.add.reduceat((m.data * m.data).astype(np.float64), m.indptr[filled]))
        norms[norms == 0] = 1.0
        m.data /= np.repeat((norms).astype(np.float32), np.diff(m.indptr))
        return m

    def similarity_weighed(self, queries: sparse.csr_matrix) -> np.ndarray:
        """(queries × calls) cosine similarities of rows from :meth:`weigh`."""
        return (queries @ self.matrix_t).toarray().astype(np.float32, copy=False)

    def similarity(self, queries: Sequence[str], counts: sparse.csr_matrix | None = None) -> np.ndarray:
        """(queries × calls) cosine similarities (``counts``: the queries'
        hashed term counts, when cached)."""
        return self.similarity_weighed(self.weigh(counts if counts is not None else hashed_counts(queries)))


def _prune(postings: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """Each row's ``keep`` largest entries (rows are terms, columns calls)."""
    lengths = np.diff(postings.indptr)
    long_rows = np.flatnonzero(lengths > keep)
    if not len(long_rows):
        return postings
    mask = np.ones(postings.nnz, dtype=bool)
    for row in long_rows.tolist():
        a, b = postings.indptr[row], postings.indptr[row + 1]
        drop = np.argpartition(postings.data[a:b], b - a - keep)[: b - a - keep]
        mask[a + drop] = False
    indptr = np.concatenate([[0], np.cumsum(np.minimum(lengths, keep))])
    return sparse.csr_matrix((postings.data[mask], postings.indices[mask], indptr), shape=postings.shape)
