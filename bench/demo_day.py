"""What the demo day sends, held against the blind labels.

    python bench/demo_day.py [--json] [--min-score X]

Copies the shipped config, feeds and profiles into a temporary folder with a
fresh store (the repository's model cache is reused), runs
``fundbot run --once --offline`` — the shipped pipeline, as a user would — and
reads every suggestion it queued for a channel.  Each is graded by the labelled
sets: the snapshot set (``tests/data/eval-snap``, the call's frozen text) or,
for the few calls that duplicate a development-set call and were left out of
it, the dev label of that call (same identifier, URL or title).  The ranking
model scores a labelled call with the heads of the fold that left it out, so
what is counted here is out of fold.

Prints the share of suggestions the labels grade ≤ 1 (target ≤ 5 %) and lists
them, plus the relevant (≥ 2) calls the city was not sent.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import devset  # noqa: F401
from snapshot_set import call_id  # noqa: E402
from matcher import evaluate  # noqa: E402

ROOT = devset.ROOT


def labels() -> tuple[dict, dict]:
    """(city, snapshot call id) -> grade; and dev lookups by identifier / url / title -> dev call id."""
    grades = {}
    for name in ("eval-snap", "eval-dev"):
        for city, calls in evaluate.load_qrels(ROOT / "tests/data" / name / "qrels.tsv").items():
            for call, grade in calls.items():
                grades[(city, f"{name}/{call}")] = grade
    dev_keys = {}
    for line in (ROOT / "tests/data/eval-dev/calls.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            for key in (row.get("identifier"), (row.get("url") or "").rstrip("/").lower(), row["title"].strip().lower()):
                if key:
                    dev_keys[key.strip().lower()] = row["id"]
    return grades, dev_keys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    snap_ids = {json.loads(line)["id"] for line in
                (ROOT / "tests/data/eval-snap/calls.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()}
    grades, dev_keys = labels()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("feeds", "profiles"):
            shutil.copytree(ROOT / name, work / name)
        config = (ROOT / "config.toml").read_text(encoding="utf-8")
        config = config.replace('cache_dir = ".cache/fundbot"', f'cache_dir = "{ROOT / ".cache/fundbot"}"')
        (work / "config.toml").write_text(config, encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "matcher.cli", "run", "--once", "--offline", "--json"],
                              cwd=work, capture_output=True, text=True, env={**__import__("os").environ,
                                                                               "PYTHONPATH": str(ROOT)})
        if proc.returncode != 0:
            sys.exit(f"the cycle failed:\n{proc.stderr}")
        db = sqlite3.connect(work / "fundbot.db")
        rows = db.execute(
            "SELECT d.city, d.channel, d.score, c.source, c.native_id, c.title, c.identifier, c.url"
            " FROM deliveries d JOIN calls c ON c.id = d.call_id WHERE d.kind = 'suggestion'").fetchall()
        matched = db.execute("SELECT m.city, c.source, c.native_id, m.score, m.detail, c.title, c.identifier, c.url"
                             " FROM matches m JOIN calls c ON c.id = m.call_id").fetchall()
        top = int(__import__("tomllib").loads(config).get("matcher", {}).get("top", 10))
    def grade_of(city, source, native, title, identifier, url):
        snap = call_id(source, native)
        if snap in snap_ids:
            key = (city, f"eval-snap/{snap}")
        else:
            dev = next((dev_keys[k.strip().lower()] for k in (identifier, (url or "").rstrip("/").lower(), title)
                        if k and k.strip().lower() in dev_keys), None)
            key = (city, f"eval-dev/{dev}") if dev else None
        return (grades.get(key) if key else None), key

    # what other thresholds would have sent: each city's eligible matches in ranking order, the first `top`
    by_city: dict = {}
    for city, source, native, score, detail, title, identifier, url in matched:
        d = json.loads(detail or "{}")
        if d.get("eligibility") != "ineligible":
            by_city.setdefault(city, []).append((d.get("rank_key", score), score, grade_of(city, source, native,
                                                                                           title, identifier, url)[0]))
    # the most any ranking could send without a call graded ≤ 1: each city's labelled relevant open calls, at most `top`
    relevant_open = {city: sum(1 for _, _, g in rows_ if g is not None and g >= 2) for city, rows_ in by_city.items()}
    thresholds = {}
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        chosen = [g for rows_ in by_city.values() for _, score, g in sorted(rows_, key=lambda r: -r[0])[:top]
                  if score >= t and g is not None]
        thresholds[t] = {"sent": len(chosen), "share_le_1": round(sum(g <= 1 for g in chosen) / len(chosen), 4)
                         if chosen else None}
    sent, unlabelled, low = [], [], []
    for city, channel, score, source, native, title, identifier, url in rows:
        grade, key = grade_of(city, source, native, title, identifier, url)
        item = {"city": city, "channel": channel, "score": round(score, 3), "title": title[:80],
                "labelled_in": key[1].split("/")[0] if key else None, "grade": grade}
        if grade is None:
            unlabelled.append(item)
            continue
        sent.append(item)
        if grade <= 1:
            low.append(item)
    result = {"suggestions": len(rows), "labelled": len(sent), "graded_le_1": len(low),
              "share_le_1": round(len(low) / len(sent), 4) if sent else None,
              "unlabelled": len(unlabelled), "by_grade": {g: sum(1 for s in sent if s["grade"] == g) for g in range(4)},
              "low": sorted(low, key=lambda s: -s["score"]), "matches_stored": len(matched),
              "by_threshold": thresholds, "relevant_open": relevant_open,
              "best_possible": sum(min(top, v) for v in relevant_open.values())}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"{result['suggestions']} suggestions queued on the demo day; {len(sent)} labelled "
          f"(grades {result['by_grade']}); graded ≤ 1: {len(low)} = {100 * (result['share_le_1'] or 0):.1f} %")
    for s in result["low"]:
        print(f"  ≤1  {s['city']:10s} {s['score']:.3f}  grade {s['grade']}  {s['title']}")
    for s in unlabelled:
        print(f"  unlabelled: {s['city']} {s['title']}")
    print(f"relevant (≥ 2) open calls per city: {relevant_open}; a perfect ranking would send "
          f"{result['best_possible']} with none ≤ 1")
    print("had min_score been … (each city's first", top, "eligible matches):",
          "; ".join(f"{t}: {v['sent']} sent, {100 * (v['share_le_1'] or 0):.1f} % ≤ 1" for t, v in thresholds.items()))


if __name__ == "__main__":
    main()
