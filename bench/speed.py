"""Speed: embedding throughput, the whole pipeline, a warm cycle, and the
ranking step at scale.  Prints numbers; with --json the last line is

  {"raw_texts_per_s", "pipeline_texts_per_s", "warm_cycle_s",
   "score_s_10k_calls_300_cities", "peak_rss_mb"}

    python bench/speed.py [--calls N] [--json] [--skip-model] [--backend auto|torch|onnx-int8]

raw_texts_per_s       the model's own encode() on exactly the texts the pipeline embeds (the limit)
pipeline_texts_per_s  N synthetic calls (real sentences from the snapshots, Swedish and English,
                      200–600 words) through store → chunk → embed (cache miss) → rank, per embedded text
warm_cycle_s          a whole `fundbot run --once --offline` process with nothing new
score_s_...           the ranking step as `run` does it — dense scores over chunks, lexical scores,
                      eligibility, the fitted model, each city's KEEP best matches with passages — for
                      10,000 calls × 300 cities × 10 needs, with vectors and term counts cached; the
                      median of --repeat runs (this machine's speed varies by ±20 % from run to run)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher import config  # noqa: E402
from matcher.config import Profile  # noqa: E402
from matcher.models import CallRecord  # noqa: E402
from matcher.cycle import KEEP  # noqa: E402
from matcher.rank import RankerModel  # noqa: E402


def snapshot_sentences() -> dict[str, list[str]]:
    """Real sentences from the shipped snapshots, by language."""
    from matcher.rank import split_passages
    from matcher.sources import ADAPTERS, FetchContext
    from matcher.sources.fetch import SnapshotFetcher

    dep = config.load(ROOT / "config.toml")
    out: dict[str, list[str]] = {"sv": [], "en": []}
    for s in dep.sources:
        ctx = FetchContext(today=s.recorded_at, since=s.recorded_at, offline=True)
        for r in ADAPTERS[s.kind].collect(s, SnapshotFetcher(dep.snapshot_path(s)), ctx):
            if r.language in out:
                out[r.language].extend(p for p in split_passages(r.text, 30) if len(p.split()) > 5)
    return out


def synthetic_calls(n: int, sentences: dict[str, list[str]], seed: int = 1) -> list[CallRecord]:
    rng = random.Random(seed)
    calls = []
    for i in range(n):
        lang = "sv" if i % 2 else "en"
        words, parts = rng.randint(200, 600), []
        while sum(len(p.split()) for p in parts) < words:
            parts.append(rng.choice(sentences[lang]))
        text = " ".join(parts)
        deadline = dt.datetime(2027, 1 + i % 12, 1 + i % 28, 14, tzinfo=dt.timezone.utc)
        calls.append(CallRecord(source="bench", native_id=f"b{i}", funder="Bench", title=parts[0][:80],
                                text=text, language=lang, deadlines=(deadline,)))
    return calls


def bench_pipeline(n: int, model: str, backend: str) -> tuple[float, float]:
    from matcher.cycle import Clock, match_all
    from matcher.embed import make_embedder
    from matcher.store import Store

    sentences = snapshot_sentences()
    calls = synthetic_calls(n, sentences, seed=int(time.time()))  # new texts: the cache must miss
    dep = config.load(ROOT / "config.toml")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.migrate()
        embedder = make_embedder(model, ROOT / ".cache/fundbot", backend=backend, progress=lambda m: None)
        embedder._load()  # model loading is not throughput
        now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)
        start = time.perf_counter()
        store.sync_source("bench", calls, now)
        pool = store.calls()
        _, embedded = match_all(dep, store, embedder, pool)
        pipeline = embedded / (time.perf_counter() - start)
        # the same texts, straight through the model
        from matcher.cycle import docs_for
        from matcher.rank import need_texts

        texts = [c for d in docs_for(pool) for c in d.chunks] + [t for p in dep.profiles for t in need_texts(p)]
        start = time.perf_counter()
        embedder.encode(texts)
        raw = len(texts) / (time.perf_counter() - start)
        del Clock
    return raw, pipeline


def bench_warm_cycle() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "feeds", work / "feeds")
        shutil.copytree(ROOT / "profiles", work / "profiles")
        text = (ROOT / "config.toml").read_text(encoding="utf-8").replace(
            'cache_dir = ".cache/fundbot"', f'cache_dir = "{ROOT / ".cache/fundbot"}"')
        (work / "config.toml").write_text(text, encoding="utf-8")
        cmd = [sys.executable, "-m", "matcher.cli", "run", "--once", "--offline", "--json",
               "--config", str(work / "config.toml")]
        subprocess.run(cmd, check=True, capture_output=True)  # the first, cold cycle
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - start


def bench_scoring(n_calls: int = 10_000, n_cities: int = 300, n_needs: int = 10, repeat: int = 3) -> list[float]:
    from matcher.eligibility import read_terms
    from matcher.lexical import hashed_counts
    from matcher.rank import Ranker, make_doc

    sentences = snapshot_sentences()
    calls = synthetic_calls(n_calls, sentences)
    elig = ["Kommuner och regioner.", "Forskare vid universitet.", "Only EU Cities Mission cities.",
            "Aktörer i Norrbotten och Västerbotten.", "Horizon Europe consortia; cities as demonstration partners."]
    # terms are read when a call is stored and kept with it, as `run` finds them
    docs = [make_doc(i, c.title, c.text, c.language, eligibility=elig[i % 5], funder="Bench",
                     terms=read_terms(title=c.title, text=c.text, eligibility=elig[i % 5], funder="Bench"))
            for i, c in enumerate(calls)]
    rng = np.random.default_rng(0)

    def unit(rows: int) -> np.ndarray:
        v = rng.standard_normal((rows, 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    chunk_vectors = unit(sum(len(d.chunks) for d in docs))  # cached vectors, stacked as the cache returns them
    counts = hashed_counts([d.full_text for d in docs])  # cached term counts
    words = " ".join(sentences["sv"]).split()
    profiles = [Profile.model_validate({
        "city": {"id": f"c{k}", "name": f"City {k}"},
        "eligibility": {"erdf_region": "Övre Norrland", "eu_mission_city": bool(k % 2)},
        "needs": [{"id": f"c{k}-n{j}", "text": " ".join(rng.choice(words, 12)), "weight": 1 + j % 3,
                   "keywords": ["climate", "mobility"]} for j in range(n_needs)],
    }) for k in range(n_cities)]
    need_vectors = [unit(n_needs) for _ in profiles]
    need_counts = hashed_counts([n.query for p in profiles for n in p.needs])  # cached too
    model = RankerModel.load()
    times = []
    for _ in range(repeat):  # the same work each time, from the cached inputs to the matches `run` keeps
        start = time.perf_counter()
        ranker = Ranker(docs, chunk_vectors, anchor_vector=unit(1)[0], model=model, term_counts=counts)
        ranker.rank_many(profiles, need_vectors, limit=KEEP, need_counts=need_counts)
        times.append(time.perf_counter() - start)
        del ranker
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--skip-model", action="store_true", help="leave out the two embedding measurements")
    ap.add_argument("--repeat", type=int, default=5, help="runs of the ranking step; the median is reported")
    ap.add_argument("--backend", default=None, help="embedding backend (default: config.toml's; auto, torch, onnx-int8)")
    args = ap.parse_args()
    settings = config.load(ROOT / "config.toml").settings.matcher
    model, backend = settings.model, args.backend or settings.backend
    result: dict[str, float | None] = {"raw_texts_per_s": None, "pipeline_texts_per_s": None}
    if not args.skip_model:
        raw, pipeline = bench_pipeline(args.calls, model, backend)
        result.update(raw_texts_per_s=round(raw, 2), pipeline_texts_per_s=round(pipeline, 2))
        print(f"embedding ({backend}): raw {raw:.1f} texts/s, pipeline {pipeline:.1f} texts/s "
              f"({pipeline / raw:.0%} of raw)")
    result["warm_cycle_s"] = round(bench_warm_cycle(), 3)
    print(f"warm cycle: {result['warm_cycle_s']:.2f} s")
    times = bench_scoring(repeat=args.repeat)
    result["score_s_10k_calls_300_cities"] = round(statistics.median(times), 3)
    print(f"ranking 10,000 calls × 300 cities × 10 needs: median {statistics.median(times):.2f} s of {len(times)} runs "
          f"({', '.join(f'{t:.2f}' for t in times)})")
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
