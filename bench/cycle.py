"""Wall time and peak memory of a cold and a warm offline cycle.

Copies the shipped config, feeds and profiles into a temporary folder with a
fresh store, then runs ``fundbot run --once --offline`` twice as separate
processes.  The model cache is cold unless ``--warm-model`` is given (then the
repository's own ``.cache/fundbot`` is used).  ``--store URL`` puts the store in
another (empty) database, e.g. PostgreSQL, instead of a fresh SQLite file.

    python bench/cycle.py [--warm-model] [--store URL]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# runs fundbot's main() and then reports the process's own peak RSS on stderr
WRAPPER = (
    "import resource, sys\n"
    "from matcher.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(f'PEAK_RSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run(args: list[str], cwd: Path) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS (MB) of the process, and its JSON summary."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"fundbot {' '.join(args)} failed:\n{proc.stderr}")
    peak_kb = int(proc.stderr.rsplit("PEAK_RSS_KB ", 1)[1].split()[0])
    return wall, peak_kb / 1024, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-model", action="store_true", help="reuse the repository's model cache")
    parser.add_argument("--store", metavar="URL", help="an empty database for the store (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "feeds", work / "feeds")
        shutil.copytree(ROOT / "profiles", work / "profiles")
        config = (ROOT / "config.toml").read_text(encoding="utf-8")
        cache = ROOT / ".cache/fundbot" if args.warm_model else work / "model-cache"
        config = config.replace('cache_dir = ".cache/fundbot"', f'cache_dir = "{cache}"')
        if args.store:
            config = config.replace('url = "sqlite:///fundbot.db"', f'url = "{args.store}"')
            assert args.store in config, "config.toml's [store] url line has changed"
        print(f"store: {args.store or 'a new SQLite file'}")
        (work / "config.toml").write_text(config, encoding="utf-8")
        fundbot = ["run", "--once", "--offline", "--json", "--config", str(work / "config.toml")]
        for label in ("first cycle (" + ("warm" if args.warm_model else "cold") + " model cache)", "second cycle"):
            wall, peak, summary = run(fundbot, work)
            print(f"{label:34} wall {wall:6.1f} s   peak RSS {peak:7.0f} MB   "
                  f"calls {summary['calls']['total']} (new {summary['calls']['new']})   "
                  f"embedded {summary['embedded']}   sent {summary['deliveries']['sent']}")


if __name__ == "__main__":
    main()
