"""Wall time and peak memory of a cold and a warm offline cycle.

Copies the shipped config, feeds and profiles into a temporary folder with a
fresh store, then runs ``fundbot run --once --offline`` twice as separate
processes.  The model cache is cold unless ``--warm-model`` is given (then the
repository's own ``.cache/fundbot`` is used).

    python bench/cycle.py [--warm-model]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str], cwd: Path) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS (MB) of the child, and its JSON summary."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    # ru_maxrss of children is the max over all children so far: report it only when it grew
    return wall, max(peak, before) / 1024, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-model", action="store_true", help="reuse the repository's model cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "feeds", work / "feeds")
        shutil.copytree(ROOT / "profiles", work / "profiles")
        config = (ROOT / "config.toml").read_text(encoding="utf-8")
        cache = ROOT / ".cache/fundbot" if args.warm_model else work / "model-cache"
        config = config.replace('cache_dir = ".cache/fundbot"', f'cache_dir = "{cache}"')
        (work / "config.toml").write_text(config, encoding="utf-8")
        fundbot = [sys.executable, "-m", "matcher.cli", "run", "--once", "--offline", "--json",
                   "--config", str(work / "config.toml")]
        for label in ("first cycle (" + ("warm" if args.warm_model else "cold") + " model cache)", "second cycle"):
            wall, peak, summary = run(fundbot, work)
            print(f"{label:34} wall {wall:6.1f} s   peak RSS {peak:7.0f} MB   "
                  f"calls {summary['calls']['total']} (new {summary['calls']['new']})   "
                  f"embedded {summary['embedded']}   sent {summary['deliveries']['sent']}")


if __name__ == "__main__":
    main()
