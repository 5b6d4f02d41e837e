"""The embedding backends of the built-in model, side by side: load time,
throughput on the same passages, agreement of the vectors, and the dev-set
ranking each gives.  Prints a table; with --json the last line is

  {"<backend>": {"load_s", "texts_per_s", "cosine_mean", "cosine_min", "hybrid_ndcg10", "hybrid_p5",
                 "embed_ndcg10", "embed_p5"}, ...}

    python bench/backends.py [--calls N] [--json]

Each backend runs in a process of its own (PyTorch's idle threads slow ONNX Runtime
down in a shared one: 1.25× instead of 1.5×).  Passages: N synthetic calls of `bench/speed.py` (real sentences
from the snapshots, Swedish and English), chunked as the ranking chunks them.  Cosine: each backend's vectors
against PyTorch's (the float model), on those passages.  Dev: `fundbot eval`'s hybrid and embed methods on the
labelled development set (leave-one-city-out), with the shipped ranking model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

import numpy as np

import devset  # puts the repository on sys.path
from matcher.embed import E5_SMALL, make_embedder  # noqa: E402
from matcher.evaluate import evaluate  # noqa: E402
from matcher.rank import RankerModel, make_doc  # noqa: E402

BACKENDS = ("torch", "onnx-int8")


def passages(n: int) -> list[str]:
    import speed

    calls = speed.synthetic_calls(n, speed.snapshot_sentences(), seed=7)
    return [c for i, r in enumerate(calls) for c in make_doc(i, r.title, r.text, r.language).chunks]


def measure(backend: str, texts: list[str], dev) -> tuple[dict, np.ndarray]:
    embedder = make_embedder(E5_SMALL, devset.ROOT / ".cache/fundbot", backend=backend, progress=lambda m: None)
    start = time.perf_counter()
    embedder.encode(texts[:8])  # loads (and builds, the first time) the model
    load = time.perf_counter() - start
    start = time.perf_counter()
    vectors = embedder.encode(texts)
    rate = len(texts) / (time.perf_counter() - start)
    seen: dict[str, np.ndarray] = {}

    def embed(batch):
        missing = [t for t in dict.fromkeys(batch) if t not in seen]
        if missing:
            seen.update(zip(missing, embedder.encode(missing)))
        return np.vstack([seen[t] for t in batch])

    scores = {m: evaluate(dev.calls, dev.profiles, dev.qrels, m, embed, RankerModel.load() if m == "hybrid" else None)
              for m in ("hybrid", "embed")}
    return {"load_s": round(load, 2), "texts_per_s": round(rate, 1),
            "hybrid_ndcg10": scores["hybrid"]["ndcg@10"], "hybrid_p5": scores["hybrid"]["p@5"],
            "embed_ndcg10": scores["embed"]["ndcg@10"], "embed_p5": scores["embed"]["p@5"]}, vectors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=40, help="synthetic calls whose passages are embedded")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", choices=BACKENDS, help=argparse.SUPPRESS)  # one backend, in a process of its own
    ap.add_argument("--vectors", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:  # the child: torch's idle threads must not slow the other backend down, so each runs alone
        result, vectors = measure(args.one, passages(args.calls), devset.load())
        np.save(args.vectors, vectors)
        print(json.dumps(result))
        return
    results, vectors = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in BACKENDS:
            path = f"{tmp}/{backend}.npy"
            out = subprocess.run([sys.executable, __file__, "--one", backend, "--vectors", path,
                                  "--calls", str(args.calls)], check=True, capture_output=True, text=True).stdout
            results[backend], vectors[backend] = json.loads(out.splitlines()[-1]), np.load(path)
    for backend in BACKENDS:
        cosine = (vectors[backend] * vectors["torch"]).sum(axis=1)
        results[backend].update(cosine_mean=round(float(cosine.mean()), 4), cosine_min=round(float(cosine.min()), 4))
    print(f"{len(vectors['torch'])} passages of {args.calls} synthetic calls; dev set: tests/data/eval-dev")
    print(f"{'backend':10} {'load s':>7} {'texts/s':>8} {'cos mean':>9} {'cos min':>8} {'hybrid nDCG@10':>15} "
          f"{'P@5':>5} {'embed nDCG@10':>14} {'P@5':>5}")
    for backend, r in results.items():
        print(f"{backend:10} {r['load_s']:7.2f} {r['texts_per_s']:8.1f} {r['cosine_mean']:9.4f} {r['cosine_min']:8.4f} "
              f"{r['hybrid_ndcg10']:15.4f} {r['hybrid_p5']:5.2f} {r['embed_ndcg10']:14.4f} {r['embed_p5']:5.2f}")
    speedup = results["onnx-int8"]["texts_per_s"] / results["torch"]["texts_per_s"]
    print(f"onnx-int8 embeds {speedup:.2f}× as fast as torch")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
