"""The README's first command, for real: shipped config, feeds, profiles and
the real multilingual model (int8, on ONNX Runtime), on a fresh store.  Then
the second cycle, which must find nothing new and load no model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from matcher import config

pytestmark = pytest.mark.slow

MODEL_CACHE = ROOT / ".cache" / "fundbot"  # shared with the README's first command


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    work = tmp_path_factory.mktemp("shipped")
    shutil.copytree(ROOT / "feeds", work / "feeds")
    shutil.copytree(ROOT / "profiles", work / "profiles")
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert 'cache_dir = ".cache/fundbot"' in text
    (work / "config.toml").write_text(text.replace('cache_dir = ".cache/fundbot"', f'cache_dir = "{MODEL_CACHE}"'),
                                      encoding="utf-8")
    return work


def fundbot(work, *args):
    proc = subprocess.run([sys.executable, "-m", "matcher.cli", *args, "--config", str(work / "config.toml")],
                          capture_output=True, text=True, cwd=work, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_first_cycle_suggests_for_every_city_then_second_cycle_is_quiet(shipped):
    dep = config.load(shipped / "config.toml")
    first = fundbot(shipped, "run", "--once", "--offline", "--json")
    summary = json.loads(first.stdout)
    assert all(s["ok"] for s in summary["sources"].values()), summary["sources"]
    assert summary["calls"]["new"] == summary["calls"]["total"] > 20
    assert summary["embedded"] > 0 and summary["deliveries"]["sent"] > 0
    for profile in dep.profiles:
        assert f"Finansieringsförslag för {profile.city.name}" in first.stderr, profile.city.id
        suggestions = json.loads(fundbot(shipped, "suggest", "--city", profile.city.id, "--json").stdout)
        top = suggestions["suggestions"][0]
        assert top["need_id"] in {n.id for n in profile.needs} and top["passage"] and top["status"] != "closed"

    # second cycle in-process, so we can see what it imported
    code = (
        "import sys, json, io, contextlib\n"
        "from matcher.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    code = main(['run', '--once', '--offline', '--json', '--config', {str(shipped / 'config.toml')!r}])\n"
        "assert code == 0\n"
        "print(json.dumps({'summary': json.loads(buf.getvalue()), 'torch': 'torch' in sys.modules,"
        " 'st': 'sentence_transformers' in sys.modules, 'ort': 'onnxruntime' in sys.modules}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=shipped, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["torch"] is False and out["st"] is False and out["ort"] is False  # no model loaded at all
    again = out["summary"]
    assert again["calls"]["new"] == 0 and again["calls"]["changed"] == 0
    assert again["embedded"] == 0
    assert again["deliveries"] == {"sent": 0, "pending": 0, "failed": 0}


def test_swedish_need_finds_the_english_call_that_fits(shipped):
    """Cross-lingual sanity with the real model: Skellefteå's public-transport
    need (Swedish) ranks the EU multimodal-hub topic (English) above the
    health topics."""
    fundbot(shipped, "run", "--once", "--offline")
    items = json.loads(fundbot(shipped, "suggest", "--city", "skelleftea", "--top", "60", "--json").stdout)
    order = [s["identifier"] for s in items["suggestions"]]
    hub = order.index("HORIZON-MISS-2027-04-CIT-03")
    health = [order.index(i) for i in order if i and i.startswith("HORIZON-HLTH")]
    assert health and hub < min(health)
