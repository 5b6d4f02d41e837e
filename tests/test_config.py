"""`fundbot check`: every broken input is caught, each error names file and key."""

from __future__ import annotations

import pytest

from matcher import config
from matcher.errors import ConfigError
from matcher.sources import ADAPTERS


def test_valid_deployment_loads(deployment):
    dep = deployment.load()
    assert [s.id for s in dep.sources] == ["eu", "vinnova"]
    assert {p.city.id for p in dep.profiles} == {"norrby", "sunnana"}
    assert dep.profile("norrby").needs[0].weight == 3
    proc = deployment.cli("check")
    assert proc.returncode == 0, proc.stderr
    assert "2 sources, 2 profiles" in proc.stdout


BROKEN = [
    # (file, broken content (appended or replacing), expected fragments of one error line)
    ("profiles/norrby.toml", "REPLACE:[city]\nid = \"norrby\"\nname = \"x\"\n[[needs]\nid=1",
     ["profiles/norrby.toml", "invalid TOML"]),
    ("profiles/norrby.toml", "APPEND:\n[city_extra]\ncolour = \"red\"\n",
     ["profiles/norrby.toml", "city_extra", "unknown key"]),
    ("profiles/norrby.toml", "SUB:weight = 3=>weight = 7", ["profiles/norrby.toml", "needs[0].weight", "between 1 and 3"]),
    ("profiles/norrby.toml", "SUB:id = \"norrby-N2\"=>id = \"norrby-N1\"",
     ["profiles/norrby.toml", "needs", "duplicate need id 'norrby-N1'"]),
    ("profiles/norrby.toml", "SUB:id = \"norrby\"=>id = \"southby\"",
     ["profiles/norrby.toml", "city.id", "differs from the file name"]),
    ("feeds/eu.toml", "SUB:kind = \"sedia\"=>kind = \"carrier-pigeon\"",
     ["feeds/eu.toml", "kind", "unknown kind 'carrier-pigeon'"]),
    ("profiles/norrby.toml", "SUB:kind = \"console\"=>kind = \"telegram\"",
     ["profiles/norrby.toml", "channels[0].kind"]),
    ("config.toml", "APPEND:\n[matcher_typo]\nmodel = \"x\"\n", ["config.toml", "matcher_typo", "unknown key"]),
    ("feeds/vinnova.toml", "APPEND:\nrecorded = 2026-11-20\n", ["feeds/vinnova.toml", "recorded", "unknown key"]),
    ("profiles/norrby.toml", "SUB:id = \"norrby\"=>id = \"coordination\"",
     ["profiles/norrby.toml", "city.id", "reserved for the [coordination] channels"]),
    ("profiles/norrby.toml", "SUB:cadence_missing=>x", None),  # placeholder, filtered below
]
BROKEN = [b for b in BROKEN if b[2] is not None]


def _break(deployment, rel: str, change: str) -> None:
    path = deployment.root / rel
    text = path.read_text(encoding="utf-8")
    how, _, what = change.partition(":")
    if how == "REPLACE":
        text = what
    elif how == "APPEND":
        text += what
    else:
        old, new = what.split("=>")
        assert old in text, f"test setup: {old!r} not in {rel}"
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("rel,change,expected", BROKEN, ids=[f"{b[0]}-{i}" for i, b in enumerate(BROKEN)])
def test_check_catches_broken_input(deployment, rel, change, expected):
    _break(deployment, rel, change)
    with pytest.raises(ConfigError) as info:
        deployment.load()
    assert any(all(frag in line for frag in expected) for line in info.value.errors), info.value.errors
    proc = deployment.cli("check")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert all(frag in proc.stderr for frag in expected), proc.stderr


def test_every_error_is_reported_at_once(deployment):
    for rel, change, _ in BROKEN[2:7]:  # weight 7, duplicate id, wrong id, unknown kind, unknown channel
        if rel == "profiles/norrby.toml" and "southby" in change:
            continue  # would hide the need errors behind one renamed profile — keep the others
        _break(deployment, rel, change)
    proc = deployment.cli("check")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("fundbot: error:")]
    assert len(errors) >= 4, proc.stderr
    assert any("weight" in e for e in errors)
    assert any("duplicate need id" in e for e in errors)
    assert any("carrier-pigeon" in e for e in errors)
    assert any("channels[0].kind" in e for e in errors)


def test_missing_config_file_is_one_clear_line(tmp_path):
    from matcher.cli import main

    code = main(["check", "--config", str(tmp_path / "nope.toml")])
    assert code == 2


def test_missing_snapshot_is_reported(deployment):
    _break(deployment, "feeds/vinnova.toml", 'SUB:snapshots/vinnova.json=>snapshots/missing.json')
    with pytest.raises(ConfigError) as info:
        deployment.load()
    assert any("feeds/vinnova.toml: snapshot" in e for e in info.value.errors)


def test_registered_adapters_match_the_kinds_config_accepts():
    assert set(ADAPTERS) == set(config.SOURCE_KINDS)


def test_paths_are_relative_to_the_config_file(deployment):
    import re

    text = deployment.config.read_text()
    deployment.config.write_text(re.sub(r'(?m)^url = ".*"$', 'url = "sqlite:///fundbot.db"', text))
    dep = deployment.load()
    assert dep.feeds_dir == deployment.root / "feeds"
    assert dep.store_url == f"sqlite:///{deployment.root / 'fundbot.db'}"


def test_shipped_config_feeds_and_profiles_are_valid():
    from conftest import ROOT

    dep = config.load(ROOT / "config.toml")
    assert {s.id for s in dep.sources} >= {"eu-funding-tenders", "vinnova"}
    assert len(dep.profiles) >= 5
    assert "skelleftea" in {p.city.id for p in dep.profiles}
    for s in dep.sources:
        assert s.recorded_at is not None and dep.snapshot_path(s).exists(), s.id


def test_every_config_key_is_documented_in_the_shipped_config():
    """Every key the code reads appears in config.toml (docs kept honest)."""
    import tomllib

    from conftest import ROOT

    shipped = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    for name, field in config.Settings.model_fields.items():
        assert name in shipped, f"config.toml lacks {name!r}"
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, config.BaseModel):
            for key in sub.model_fields:
                assert key in shipped[name], f"config.toml lacks [{name}] {key}"


def test_readme_names_every_source_kind_and_command():
    from conftest import ROOT
    from matcher.cli import COMMANDS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for kind in config.SOURCE_KINDS:
        assert f"`{kind}`" in readme, kind
    for command in COMMANDS:
        assert f"fundbot {command}" in readme, command
    assert readme.splitlines()[3].startswith("python3 -m venv .venv") and "fundbot run --once" in readme.splitlines()[3]
    assert "pytest" in readme.splitlines()[4] and readme.splitlines()[4] in (ROOT / ".ci/run").read_text()


def test_a_database_password_in_the_config_is_refused(deployment):
    import re

    text = deployment.config.read_text()
    deployment.config.write_text(re.sub(r'(?m)^url = ".*"$', 'url = "postgresql://fundbot:hunter2@db.example/fundbot"', text))
    proc = deployment.cli("check")
    assert proc.returncode == 2
    assert "store.url" in proc.stderr and "PGPASSWORD" in proc.stderr and "hunter2" not in proc.stderr
    deployment.config.write_text(re.sub(r'(?m)^url = ".*"$', 'url = "postgresql://fundbot@db.example/fundbot"', text))
    assert deployment.cli("check").returncode == 0


def test_a_twin_names_its_older_city_and_an_unknown_one_is_a_warning(deployment):
    from matcher import config

    path = deployment.root / "profiles/sunnana.toml"
    path.write_text(path.read_text().replace('language = "sv"', 'language = "sv"\ntwin_of = "norrby"'))
    dep = config.load(deployment.config)
    assert dep.profile("sunnana").city.twin_of == "norrby" and dep.warnings == ()
    path.write_text(path.read_text().replace('twin_of = "norrby"', 'twin_of = "nowhere"'))
    assert any("twin_of names 'nowhere'" in w for w in config.load(deployment.config).warnings)
    path.write_text(path.read_text().replace('twin_of = "nowhere"', 'twin_of = "Nowhere Town"'))
    proc = deployment.cli("check")
    assert proc.returncode == 2 and "twin_of" in proc.stderr
