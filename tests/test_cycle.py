"""Whole cycles on a real SQLite file through the real CLI (hashing embedder)."""

from __future__ import annotations

import json
import sys

from matcher.channels import build_channels
from matcher.cycle import make_clock, run_cycle
from matcher.embed import FakeEmbedder
from matcher.store import Store


def test_offline_cycle_twice(deployment):
    first = deployment.cli("run", "--once", "--offline", "--json", check=True)
    summary = json.loads(first.stdout)  # stdout holds only the JSON document
    assert summary["today"] == "2026-11-20"  # the snapshots' recorded_at
    assert summary["sources"]["eu"] == {"ok": True, "items": 8, "new": 8, "changed": 0, "error": None, "warning": None}
    assert summary["sources"]["vinnova"]["ok"] and summary["sources"]["vinnova"]["items"] == 3
    assert summary["calls"] == {"total": 11, "new": 11, "changed": 0, "gone": 0}
    assert summary["deliveries"]["sent"] > 0 and summary["deliveries"]["failed"] == 0
    assert summary["embedded"] > 0
    # digests went to stderr (stdout is JSON only): per city, title, funder, deadline, score, need, link
    assert "Finansieringsförslag för Norrby kommun" in first.stderr
    assert "Sista dag:" in first.stderr and "Relevans:" in first.stderr and "Behov norrby-N1" in first.stderr
    assert "https://ec.europa.eu/" in first.stderr
    # a terminal gets a few lines per call and where the rest is; -v (below) the whole explanation
    assert "fundbot suggest --city norrby" in first.stderr and "Varför:" not in first.stderr
    assert "senast sedd 2026-11-20" in first.stderr

    second = deployment.cli("run", "--once", "--offline", "--json", check=True)
    again = json.loads(second.stdout)
    assert again["calls"]["new"] == 0 and again["calls"]["changed"] == 0
    assert again["deliveries"] == {"sent": 0, "pending": 0, "failed": 0}
    assert again["embedded"] == 0
    assert "Finansieringsförslag" not in second.stderr
    # -v: the whole digest (the need's text, the quote that shows the fit), on a store of its own
    import re
    import subprocess
    import sys

    config = deployment.root / "verbose.toml"
    config.write_text(re.sub(r'(?m)^url = ".*"$', 'url = "sqlite:///verbose.db"', deployment.config.read_text()))
    full = subprocess.run([sys.executable, "-m", "matcher.cli", "run", "--once", "--offline", "-v", "--config",
                           str(config)], capture_output=True, text=True, cwd=deployment.root, timeout=300)
    assert full.returncode == 0, full.stderr
    assert "Varför:" in full.stdout and "fundbot suggest --city" not in full.stdout


def test_calls_past_their_deadline_are_not_suggested(deployment):
    # 2026-01-20: the culture call (deadline 2026-01-15) has closed; the EIC one (2026-12-17) is open
    proc = deployment.cli("run", "--once", "--offline", "--as-of", "2026-01-20", "--json", check=True)
    assert json.loads(proc.stdout)["today"] == "2026-01-20"
    suggest = json.loads(deployment.cli("suggest", "--city", "norrby", "--top", "50", "--json", check=True).stdout)
    ids = {s["identifier"] for s in suggest["suggestions"]}
    native = {s["native_id"] for s in suggest["suggestions"]}
    assert "HORIZON-EIC-2026-ACCELERATOR-01" in ids
    assert "90000006CREACULT1768435200000" not in native  # the culture topic: its only deadline passed
    assert "49521170COMPETITIVE_CALLen" in native  # the cascade call of the same programme closes in October
    assert "HORIZON-CL5-2024-D2-01-03" not in ids  # 2024 deadline
    for s in suggest["suggestions"]:
        assert s["status"] in {"open", "forthcoming"}
        assert s["need_id"].startswith("norrby-") and s["passage"]


def test_suggest_before_any_run_is_a_clear_error(deployment):
    proc = deployment.cli("suggest", "--city", "norrby")
    assert proc.returncode == 1
    assert "run `fundbot run --once` first" in proc.stderr and "Traceback" not in proc.stderr
    proc = deployment.cli("suggest", "--city", "atlantis")
    assert proc.returncode == 2 and "no profile for city 'atlantis'" in proc.stderr


def test_broken_source_does_not_stop_the_cycle(deployment):
    (deployment.root / "feeds/snapshots/vinnova.json").write_text("<html>maintenance</html>")
    proc = deployment.cli("run", "--once", "--offline", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["sources"]["vinnova"]["ok"] is False
    assert "HTML page" in summary["sources"]["vinnova"]["error"]
    assert summary["sources"]["eu"]["ok"] is True and summary["calls"]["total"] == 8
    status = json.loads(deployment.cli("status", "--json", check=True).stdout)
    assert status["sources"]["vinnova"]["ok"] is False and "HTML" in status["sources"]["vinnova"]["error"]
    assert status["sources"]["eu"]["items"] == 8


def test_source_that_suddenly_lists_nothing_keeps_its_calls(deployment):
    dep = deployment.load()
    store = Store(dep.store_url)
    store.migrate()
    emb = FakeEmbedder()
    clock = make_clock(dep, offline=True, as_of=None)
    run_cycle(dep, store, emb, build_channels(sys.stderr), clock, offline=True)
    (deployment.root / "feeds/snapshots/eu/page-0001.json").write_text(
        (deployment.root / "feeds/snapshots/eu/page-0002.json").read_text())
    report = run_cycle(dep, store, emb, build_channels(sys.stderr), clock, offline=True)
    assert report.sources["eu"]["ok"] and "0 calls listed" in report.sources["eu"]["warning"]
    assert report.calls["gone"] == 0 and report.calls["total"] == 11


def test_changed_call_is_reported_and_not_resuggested(deployment):
    deployment.cli("run", "--once", "--offline", check=True)
    path = deployment.root / "feeds/snapshots/vinnova.json"
    rounds = json.loads(path.read_text())
    rounds[0]["Stangningsdatum"] = "2026-12-15T14:00:00"
    path.write_text(json.dumps(rounds))
    summary = json.loads(deployment.cli("run", "--once", "--offline", "--json", check=True).stdout)
    assert summary["calls"]["changed"] == 1 and summary["sources"]["vinnova"]["changed"] == 1
    assert summary["deliveries"]["sent"] == 0


def test_status_text(deployment):
    deployment.cli("run", "--once", "--offline", check=True)
    proc = deployment.cli("status", check=True)
    assert "eu" in proc.stdout and "ok, 8 items" in proc.stdout
    assert "deliveries:" in proc.stdout
    assert "embedding: hashing (no model" in proc.stdout


def test_help_does_not_import_torch():
    import subprocess

    code = "import sys; from matcher.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\nassert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_mark_not_relevant_hides_the_call_and_marks_are_kept(deployment):
    deployment.cli("run", "--once", "--offline", check=True)
    before = json.loads(deployment.cli("suggest", "--city", "norrby", "--json", check=True).stdout)["suggestions"]
    target = before[0]
    proc = deployment.cli("mark", "--city", "norrby", str(target["call_id"]), "not-relevant", "--who", "anna")
    assert proc.returncode == 0 and "marked not-relevant" in proc.stdout
    after = json.loads(deployment.cli("suggest", "--city", "norrby", "--json", check=True).stdout)["suggestions"]
    assert target["call_id"] not in {s["call_id"] for s in after}
    other = json.loads(deployment.cli("suggest", "--city", "sunnana", "--json", check=True).stdout)["suggestions"]
    assert target["call_id"] in {s["call_id"] for s in other}  # only for that city
    by_ref = deployment.cli("mark", "--city", "norrby", f"{target['source']}:{target['native_id']}", "applying")
    assert by_ref.returncode == 0
    assert deployment.cli("mark", "--city", "norrby", "no-such-call", "relevant").returncode == 1
    assert deployment.cli("mark", "--city", "norrby", "1", "maybe").returncode == 2


def test_joint_opportunities_go_to_the_coordination_channel_once(deployment):
    config = deployment.config.read_text().replace("[matcher]", '[coordination]\nchannels = [{ kind = "console" }]\n\n[matcher]')
    deployment.config.write_text(config)
    first = deployment.cli("run", "--once", "--offline", "--json", check=True)
    assert "Viable Cities – gemensamma möjligheter" in first.stderr
    assert "Norrby kommun, Sunnanå kommun" in first.stderr  # both cities named on each opportunity
    assert "konsortium" in first.stderr  # EU calls reward consortia
    second = deployment.cli("run", "--once", "--offline", "--json", check=True)
    assert "gemensamma möjligheter" not in second.stderr
    assert json.loads(second.stdout)["deliveries"]["sent"] == 0


def test_clicks_change_the_next_ranking_of_that_city_only(deployment):
    deployment.cli("run", "--once", "--offline", check=True)
    before = {s["call_id"]: s for s in json.loads(
        deployment.cli("suggest", "--city", "norrby", "--top", "50", "--json", check=True).stdout)["suggestions"]}
    assert all(s["learned"] == 0 for s in before.values())
    liked = next(iter(before))
    deployment.cli("mark", "--city", "norrby", str(liked), "relevant", "--who", "anna", check=True)
    deployment.cli("run", "--once", "--offline", check=True)
    after = {s["call_id"]: s for s in json.loads(
        deployment.cli("suggest", "--city", "norrby", "--top", "50", "--json", check=True).stdout)["suggestions"]}
    lifted = [c for c in after if c != liked and after[c]["learned"] > 0]
    assert lifted, "calls like the one marked relevant gain"
    assert all(after[c]["score"] >= before[c]["score"] for c in lifted if c in before)
    other = json.loads(deployment.cli("suggest", "--city", "sunnana", "--top", "50", "--json", check=True).stdout)
    assert all(s["learned"] == 0 for s in other["suggestions"])  # another city's clicks teach nothing here


def test_a_call_no_municipality_can_use_is_never_suggested_whatever_the_threshold(deployment):
    """The test deployment sends everything (min_score 0): a call recruiting
    experts still reaches no channel, and `suggest` shows why, in Swedish."""
    title = "Call for experts: join the pool of experts on climate-neutral cities"
    deployment.retitle_vinnova_round(title)
    assert "min_score = 0.0" in deployment.config.read_text()
    proc = deployment.cli("run", "--once", "--offline", "--json", check=True)
    summary = json.loads(proc.stdout)
    assert summary["deliveries"]["sent"] > 0  # other calls were sent
    assert title not in proc.stderr  # … but not this one, to any city
    store = Store(deployment.load().store_url)  # SQLite, or PostgreSQL in CI's second pass
    call = next(c for c in store.calls() if c.record.title == title)
    assert not [d for d in store.deliveries() if d.call_id == call.id]
    for city in ("norrby", "sunnana"):
        items = json.loads(deployment.cli("suggest", "--city", city, "--top", "50", "--json", check=True).stdout)
        item = next(s for s in items["suggestions"] if s["title"] == title)
        assert item["score"] == 0.0 and item["eligibility"]["status"] == "ineligible"
        assert item["eligibility"]["reasons"] == ["rekryterar experter eller granskare, finansierar inga projekt"]
    text = deployment.cli("suggest", "--city", "norrby", "--top", "50", check=True).stdout
    assert "kan inte söka: rekryterar experter" in text and "förslag" in text and "deadline" not in text
