"""Issue 15's fault cycle with the shipped `[http]` defaults: six local faulty
sources — a hang, HTTP 500, malformed XML, an entity bomb, a 50 MB body, one
byte every 2 s — and one good one, each on its own 127.0.0.1 server.  Runs
`fundbot run --once --json` once in a fresh deployment (hashing embedder, a
new SQLite store) and prints the wall time and each source's outcome.  The
target: the good source ingested and every fault reported within 120 s.

    python bench/faults.py [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from faultyday import REASONS, faulty_day  # noqa: E402

PROFILE = """\
[city]
id = "norrby"
name = "Norrby kommun"

[[needs]]
id = "norrby-N1"
text = "Innovationsupphandling och klimatkrav i offentlig upphandling."
weight = 3

[[channels]]
kind = "console"
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    http = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))["http"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "profiles").mkdir()
        (root / "profiles/norrby.toml").write_text(PROFILE, encoding="utf-8")
        # the shipped [http] section as it is, only the embedder made dependency-free
        (root / "config.toml").write_text(
            'feeds = "feeds"\nprofiles = "profiles"\n[store]\nurl = "sqlite:///fundbot.db"\n'
            '[matcher]\nmodel = "hashing"\n', encoding="utf-8")
        with faulty_day(root, read_timeout=http["read_timeout"]):
            start = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "matcher.cli", "run", "--once", "--json",
                                   "--config", str(root / "config.toml")], cwd=root, capture_output=True, text=True)
            took = time.monotonic() - start
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    sources = json.loads(proc.stdout)["sources"]
    held = sources["good"]["ok"] and all(not sources[s]["ok"] and r in (sources[s]["error"] or "")
                                         for s, r in REASONS.items())
    result = {"seconds": round(took, 1), "target_seconds": 120, "held": held,
              "http": {k: http[k] for k in ("read_timeout", "retries", "source_budget")},
              "sources": {s: o["error"] or f"ok, {o['items']} call(s)" for s, o in sources.items()}}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(f"fault cycle: {took:.1f} s (target ≤ 120 s) with read_timeout {http['read_timeout']:g} s, "
              f"retries {http['retries']}, source_budget {http['source_budget']:g} s — "
              f"{'held' if held else 'NOT held'}")
        for source_id, said in result["sources"].items():
            print(f"  {source_id:10} {said}")
    return 0 if held and took <= 120 else 1


if __name__ == "__main__":
    sys.exit(main())
