"""Every shipped profile through the real pipeline, end to end: the demo cycle
(`run --once --offline`, fresh store, the built model), `report`, and each of
`serve`'s jobs (every source's fetch, the digests of each cadence, the
reminders) run in-process as the scheduler would.  Prints wall time and peak
memory of each, and how many cities got a digest.

    python bench/scale.py [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = ("import resource, sys\nfrom matcher.cli import main\ncode = main(sys.argv[1:])\n"
           "print('peak_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nsys.exit(code)\n")


def run(work: Path, *args: str) -> tuple[float, int, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *args, "--config", str(work / "config.toml")],
                          capture_output=True, text=True, cwd=work, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"fundbot {' '.join(args)} failed:\n{proc.stderr}")
    peak = int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("peak_kb")))
    return wall, peak, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fundbot-scale-"))
    shutil.copytree(ROOT / "feeds", work / "feeds")
    shutil.copytree(ROOT / "profiles", work / "profiles")
    config = (ROOT / "config.toml").read_text(encoding="utf-8")
    (work / "config.toml").write_text(config.replace('cache_dir = ".cache/fundbot"',
                                                     f'cache_dir = "{ROOT / ".cache/fundbot"}"'), encoding="utf-8")
    out: dict = {}
    wall, peak, proc = run(work, "run", "--once", "--offline", "--json")
    summary = json.loads(proc.stdout)
    out["cycle"] = {"seconds": round(wall, 2), "peak_mb": round(peak / 1024), "calls": summary["calls"]["total"],
                    "matches": summary["matches"], "sent": summary["deliveries"]["sent"],
                    "digests": proc.stderr.count("Finansieringsförslag för")}
    wall, peak, _ = run(work, "report", "--out", "report")
    out["report"] = {"seconds": round(wall, 2), "peak_mb": round(peak / 1024)}

    sys.path.insert(0, str(ROOT))
    from matcher import config as cfg
    from matcher.channels import build_channels
    from matcher.cli import _embedder
    from matcher.serve import Jobs, job_specs
    from matcher.store import Store

    dep = cfg.load(work / "config.toml")
    store = Store(dep.store_url)
    store.migrate()
    jobs = Jobs(dep, store, _embedder(dep.settings, dep.resolve(dep.settings.matcher.cache_dir), lambda m: None),
                build_channels(io.StringIO(), dep.settings), offline=True)
    out["cities"] = len(dep.profiles)
    out["jobs"] = {}
    for spec in job_specs(dep):
        t0 = time.perf_counter()
        getattr(jobs, spec.action)(*spec.args)
        out["jobs"][spec.id] = round(time.perf_counter() - t0, 2)
    out["jobs_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    store.close()
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
    else:
        c = out["cycle"]
        print(f"{out['cities']} cities: cycle {c['seconds']} s, peak {c['peak_mb']} MB — {c['calls']} calls, "
              f"{c['matches']} matches, {c['sent']} sent, {c['digests']} digests")
        print(f"report {out['report']['seconds']} s, peak {out['report']['peak_mb']} MB")
        print("serve's jobs: " + ", ".join(f"{k} {v} s" for k, v in out["jobs"].items())
              + f"; peak {out['jobs_peak_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
