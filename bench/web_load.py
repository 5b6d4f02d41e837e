"""A bounded load test of the web view on 127.0.0.1: the shipped deployment's
demo store (`run --once --offline`, every profile), `fundbot web` as a
separate process, then N concurrent clients (keep-alive, one thread each)
asking for one city's page for a fixed time.  Prints requests, errors and
latency percentiles.

    python bench/web_load.py [--clients 20] [--seconds 30] [--city skelleftea] [--path page|search|ics]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--city", default="skelleftea")
    ap.add_argument("--path", choices=["page", "search", "ics"], default="page")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fundbot-web-load-"))
    for part in ("feeds", "profiles"):
        shutil.copytree(ROOT / part, work / part)
    shutil.copy(ROOT / "config.toml", work / "config.toml")
    cache = ROOT / ".cache"
    if cache.exists():  # the built model, if this checkout has one (else the run builds it)
        shutil.copytree(cache, work / ".cache", dirs_exist_ok=True)
    port = free_port()
    env = dict(os.environ, FUNDBOT_WEB_SECRET="load-test-secret-" + "x" * 32)
    fundbot = [sys.executable, "-m", "matcher.cli"]
    conf = ["--config", str(work / "config.toml")]
    subprocess.run(fundbot + ["run", "--once", "--offline", *conf], cwd=work, env=env, check=True,
                   capture_output=True)
    links = subprocess.run(fundbot + ["link", "--city", args.city, *conf], cwd=work, env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    page = urlsplit(links[0]).path
    target = {"page": page, "search": page + "?q=" + quote("laddinfrastruktur på landsbygden"),
              "ics": urlsplit(links[1]).path}[args.path]
    server = subprocess.Popen(fundbot + ["web", "--port", str(port), *conf], cwd=work, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        warm.request("GET", target)
        first = warm.getresponse()
        first.read()
        if first.status != 200:
            raise SystemExit(f"the page answered {first.status}")
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        stop_at = time.perf_counter() + args.seconds

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine = []
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    conn.request("GET", target)
                    r = conn.getresponse()
                    r.read()
                    ok = r.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                if ok:
                    mine.append(time.perf_counter() - t0)
                else:
                    with lock:
                        errors[0] += 1
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    out = {"path": args.path, "clients": args.clients, "seconds": round(wall, 1), "requests": len(latencies),
           "errors": errors[0], "rps": round(len(latencies) / wall, 1),
           "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1), "p99_ms": round(q[98] * 1000, 1)}
    print(json.dumps(out) if args.json else
          f"{out['clients']} clients × {out['seconds']} s on the {args.path} of {args.city}: {out['requests']} requests "
          f"({out['rps']}/s), {out['errors']} errors; p50 {out['p50_ms']} ms, p95 {out['p95_ms']} ms, "
          f"p99 {out['p99_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
