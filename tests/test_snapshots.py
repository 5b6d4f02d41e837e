"""Golden facts from every shipped snapshot, read by its adapter offline
(each fact is in the snapshot's PROVENANCE.md), and the twelve sources in
one offline cycle."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from conftest import ROOT
from matcher import config
from matcher.sources import ADAPTERS, FetchContext
from matcher.sources.fetch import SnapshotFetcher

DEP = config.load(ROOT / "config.toml")
SOURCES = {s.id: s for s in DEP.sources}


def read(source_id: str):
    s = SOURCES[source_id]
    ctx = FetchContext(today=s.recorded_at, since=s.recorded_at, offline=True)
    return ADAPTERS[s.kind].collect(s, SnapshotFetcher(DEP.snapshot_path(s)), ctx)


def by_title(records, start: str):
    found = [r for r in records if r.title.startswith(start)]
    assert found, f"no call titled {start!r}"
    return found[0]


def days(record) -> list[str]:
    return [d.date().isoformat() for d in record.deadlines]


# source id → number of distinct calls in its snapshot
COUNTS = {"eu-funding-tenders": 43, "vinnova": 2, "formas": 9, "energimyndigheten": 13, "tillvaxtverket": 15,
          "naturvardsverket": 5, "trafikverket": 5, "dut": 5, "eui-portico": 10, "urbact": 8, "interreg-aurora": 9,
          "interreg-baltic": 5}


def test_the_twelve_funders_are_configured():
    assert set(SOURCES) == set(COUNTS)


@pytest.mark.parametrize("source_id", sorted(COUNTS))
def test_snapshot_parses_to_distinct_calls(source_id):
    records = read(source_id)
    assert len(records) == COUNTS[source_id]
    assert len({r.native_id for r in records}) == len(records)
    for r in records:
        assert r.title and r.title == r.title.strip() and "<" not in r.title
        assert r.language in {"sv", "en", "no"}
        assert list(r.deadlines) == sorted(r.deadlines)
        assert all(d.tzinfo is not None for d in r.deadlines)


def test_dut_two_stages_with_the_date_before_its_label():
    call = by_title(read("dut"), "DUT Call 2026")
    assert days(call) == ["2026-11-17", "2027-04-15"]
    assert call.opens_at.date() == dt.date(2026, 9, 1)


def test_trafikverket_two_calls_in_one_sentence_and_four_foi_dates():
    records = read("trafikverket")
    assert days(by_title(records, "Ansök om bidrag för hållbara stadsmiljöer")) == ["2021-11-30", "2022-01-28"]
    assert days(by_title(records, "Lämna forsknings- och innovationsförslag")) == [
        "2021-02-01", "2021-04-29", "2021-08-31", "2021-10-29"]


def test_energimyndigheten_deadline_time_and_budget():
    call = by_title(read("energimyndigheten"), "Regionala elektrifieringspiloter")
    assert call.deadlines[-1].isoformat() == "2024-10-31T23:59:00+01:00"
    assert call.budget == "SEK 850 000 000"
    assert call.language == "sv"


def test_tillvaxtverket_regions_reach_the_eligibility_check():
    call = by_title(read("tillvaxtverket"), "Insatser för att främja cirkulär ekonomi inom Övre Norrland")
    assert "Norrbotten" in call.eligibility and "Västerbotten" in call.eligibility


def test_eui_portico_mission_cities_only():
    call = by_title(read("eui-portico"), "Enabling City Transformation 2")
    assert days(call) == ["2026-12-03"] and call.eligibility == "Mission Cities"
    assert call.budget == "EUR 8 000 000"


def test_interreg_aurora_deadline_in_cet_summer():
    call = by_title(read("interreg-aurora"), "Call 7 for small-scale projects")
    assert call.deadlines[0].isoformat() == "2026-10-07T16:00:00+02:00"  # "16.00 CET" while CEST is in force


def test_interreg_baltic_feed_keeps_calls_and_drops_news():
    records = read("interreg-baltic")
    assert all("call" in r.title.lower() for r in records)
    assert days(by_title(records, "Calls are open: second round")) == [
        "2023-01-05", "2023-01-26", "2023-02-14", "2023-03-14"]


def test_formas_rows_without_diarienummer_are_keyed_by_their_page():
    records = read("formas")
    keyed_by_page = [r for r in records if r.identifier is None]
    assert keyed_by_page and all(r.native_id.startswith("https://") for r in keyed_by_page)


def test_vinnova_skips_invited_rounds():
    assert "2025-00979" not in {r.native_id for r in read("vinnova")}


def test_offline_cycle_reads_all_twelve_sources(tmp_path):
    shutil.copytree(ROOT / "feeds", tmp_path / "feeds")
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    text = (ROOT / "config.toml").read_text(encoding="utf-8").replace(
        'model = "multilingual-e5-small"', 'model = "hashing"')
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "matcher.cli", "run", "--once", "--offline", "--json",
                           "--config", str(tmp_path / "config.toml")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert set(summary["sources"]) == set(COUNTS)
    for sid, outcome in summary["sources"].items():
        assert outcome["ok"] and outcome["items"] == COUNTS[sid] and outcome["error"] is None, (sid, outcome)
    assert summary["calls"]["total"] == sum(COUNTS.values())
