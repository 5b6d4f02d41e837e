"""Freeze the recorded snapshots' calls as a labelled set's ``calls.jsonl``.

    fundbot run --once --offline --store sqlite:///snap.db   # (or any store an offline cycle filled)
    python bench/snapshot_set.py --store sqlite:///snap.db --out tests/data/eval-snap/calls.jsonl

Every call the store holds, as the adapters read it from ``feeds/snapshots/``
(long, real-shaped texts — what production sees), except:
  * a second listing of a call another source already holds (``canonical_id``);
  * a call that duplicates one of the dev set's (same identifier, URL or title);
  * calls whose URL is a placeholder (a test fixture's ``…/abc``, not a real page).
The texts are copied, so later changes to the snapshots do not move the set.
Ids are ``<source>-<8 hex of the native id>``: stable, short, and naming no score.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import devset  # noqa: F401  (puts the repository on the path)
from matcher import evaluate  # noqa: E402
from matcher.store import Store  # noqa: E402

PLACEHOLDER_URL_ENDINGS = ("/abc", "/example", "/test")


def call_id(source: str, native_id: str) -> str:
    return f"{source}-{hashlib.sha1(native_id.encode()).hexdigest()[:8]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="the store an offline cycle filled (a URL)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dev", default=str(devset.DEFAULT_SET / "calls.jsonl"))
    args = ap.parse_args()
    dev = evaluate.load_calls(Path(args.dev))
    dev_rows = [json.loads(line) for line in Path(args.dev).read_text(encoding="utf-8").splitlines() if line.strip()]
    identifiers = {r["identifier"].strip().lower() for r in dev_rows if r.get("identifier")}
    urls = {c.url.rstrip("/").lower() for c in dev if c.url}
    titles = {c.title.strip().lower() for c in dev}
    store = Store(args.store)
    out, dropped = [], []
    canonical = {c.id for c in store.calls(include_gone=True, canonical_only=True)}
    for call in store.calls(include_gone=True):
        r = call.record
        why = None
        if call.id not in canonical:
            why = "listed by another source too (the first listing is kept)"
        elif r.identifier and r.identifier.strip().lower() in identifiers:
            why = "same identifier as a dev call"
        elif r.url and r.url.rstrip("/").lower() in urls:
            why = "same URL as a dev call"
        elif r.title.strip().lower() in titles:
            why = "same title as a dev call"
        elif r.url and r.url.rstrip("/").lower().endswith(PLACEHOLDER_URL_ENDINGS):
            why = "placeholder URL (not a real page)"
        if why:
            dropped.append((call.key, r.title, why))
            continue
        out.append({
            "id": call_id(r.source, r.native_id), "source": r.source, "funder": r.funder, "programme": r.programme,
            "identifier": r.identifier, "title": r.title, "text": r.text, "language": r.language,
            "deadline": r.deadlines[-1].date().isoformat() if r.deadlines else None,
            "deadlines": [d.isoformat() for d in r.deadlines],
            "opens_at": r.opens_at.isoformat() if r.opens_at else None,
            "url": r.url, "eligibility": r.eligibility, "budget": r.budget, "synthetic": False,
        })
    ids = [row["id"] for row in out]
    if len(ids) != len(set(ids)):
        sys.exit("two calls got the same id")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        for row in out:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    for key, title, why in dropped:
        print(f"dropped {key}: {title[:60]} — {why}", file=sys.stderr)
    print(json.dumps({"calls": len(out), "dropped": len(dropped)}))


if __name__ == "__main__":
    main()
