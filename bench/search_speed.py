"""Search by need, in-process: N searches for one city on a demo store,
either with the call side kept between searches (the web view's Searcher)
or built afresh for each (``--fresh``).  For `farm-bench --vs`:

    python bench/search_speed.py --prepare /tmp/fundbot-search     # once: the demo store (every profile)
    farm-bench -- python bench/search_speed.py --dir /tmp/fundbot-search \\
        --vs 'python bench/search_speed.py --dir /tmp/fundbot-search --fresh'
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the query texts' vectors are kept in the store after the first run: both forms then time the ranking side only
TEXTS = ["laddinfrastruktur på landsbygden", "energieffektivisering i flerbostadshus", "cirkulär ekonomi i byggsektorn",
         "klimatanpassning mot skyfall", "hållbar mobilitet och kollektivtrafik"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepare", metavar="DIR")
    ap.add_argument("--dir", metavar="DIR")
    ap.add_argument("--city", default="skelleftea")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    if args.prepare:
        work = Path(args.prepare)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        for part in ("feeds", "profiles"):
            shutil.copytree(ROOT / part, work / part)
        shutil.copy(ROOT / "config.toml", work / "config.toml")
        subprocess.run([sys.executable, "-m", "matcher.cli", "run", "--once", "--offline", "--config",
                        str(work / "config.toml")], check=True, capture_output=True)
        return 0
    from matcher import config
    from matcher.embed import make_embedder
    from matcher.search import Searcher, search_calls
    from matcher.store import Store

    dep = config.load(Path(args.dir) / "config.toml")
    store = Store(dep.store_url)
    m = dep.settings.matcher
    embedder = make_embedder(m.model, dep.resolve(m.cache_dir), batch_size=m.batch_size, backend=m.backend)
    profile = dep.profile(args.city)
    now = dt.datetime.now(dt.timezone.utc)
    searcher = Searcher(dep, store, lambda: embedder)
    embedder.encode(["query: uppvärmning"])  # the model loaded before the clock starts
    t0 = time.perf_counter()
    for k in range(args.n):
        text = TEXTS[k % len(TEXTS)]
        hits = (search_calls(dep, store, embedder, profile, text, top=10, now=now) if args.fresh
                else searcher.search(profile, text, top=10, now=now))
        assert hits
    print(f"{args.n} searches ({'fresh' if args.fresh else 'kept'}): {(time.perf_counter() - t0) / args.n * 1000:.1f} ms each",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
