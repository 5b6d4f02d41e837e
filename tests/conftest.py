"""Shared fixtures: a throw-away deployment on disk, built from the recorded
sample payloads, with the dependency-free hashing embedder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pgserver

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

CONFIG = """\
feeds = "feeds"
profiles = "profiles"
timezone = "Europe/Stockholm"

[store]
url = "sqlite:///fundbot.db"

[matcher]
model = "hashing"
min_score = 0.0
top = 5
"""

SEDIA_SOURCE = """\
id = "eu"
funder = "European Commission"
kind = "sedia"
url = "https://api.tech.ec.europa.eu/search-api/prod/rest/search"
snapshot = "snapshots/eu"
recorded_at = 2026-11-20
language = "en"
"""

VINNOVA_SOURCE = """\
id = "vinnova"
funder = "Vinnova"
kind = "vinnova"
url = "https://data.vinnova.se/api/ansokningsomgangar/{since}"
snapshot = "snapshots/vinnova.json"
recorded_at = 2026-11-20
"""

PROFILE = """\
[city]
id = "{id}"
name = "{name}"
language = "sv"

[eligibility]
county = "Västerbottens län"

[[needs]]
id = "{id}-N1"
text = "Innovationsupphandling och klimatkrav i offentlig upphandling för klimatneutrala städer."
weight = 3
keywords = ["pre-commercial procurement", "climate-neutral cities"]

[[needs]]
id = "{id}-N2"
text = "Markhälsa och jordbruk."
weight = 1
keywords = ["soil health"]

[[channels]]
kind = "console"
"""


class Deployment:
    """A deployment folder the test can edit, and ways to run fundbot on it."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "config.toml"

    def write(self, rel: str, content: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content), encoding="utf-8")
        return path

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        """Run the real ``fundbot`` command in a subprocess."""
        proc = subprocess.run(
            [sys.executable, "-m", "matcher.cli", *args, "--config", str(self.config)],
            capture_output=True, text=True, cwd=self.root, timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"fundbot {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def retitle_vinnova_round(self, title: str) -> None:
        """Give the first recorded Vinnova round this title and keep it open
        on the replayed day (for escaping tests)."""
        import json

        path = self.root / "feeds/snapshots/vinnova.json"
        rounds = json.loads(path.read_text())
        rounds[0]["Titel"] = title
        rounds[0]["Stangningsdatum"] = "2027-01-31T14:00:00"
        path.write_text(json.dumps(rounds, ensure_ascii=False))

    def load(self):
        from matcher import config

        return config.load(self.config)


def use_fake_slack(deployment, server, monkeypatch, token_env: str = "FUNDBOT_TEST_SLACK_TOKEN") -> None:
    """Point the deployment's two cities at Slack channels on a local Slack-compatible server."""
    monkeypatch.setenv(token_env, server.token)
    config = (deployment.root / "config.toml").read_text()
    config += f'\n[slack]\ntoken_env = "{token_env}"\nbase_url = "{server.base_url}"\n'
    (deployment.root / "config.toml").write_text(config)
    for city, channel in (("norrby", "C0NORRBY"), ("sunnana", "C0SUNNANA")):
        path = deployment.root / f"profiles/{city}.toml"
        path.write_text(path.read_text().replace('kind = "console"', f'kind = "slack"\ntarget = "{channel}"'))
        server.add_channel(channel)


@pytest.fixture
def deployment(tmp_path: Path, request) -> Deployment:
    d = Deployment(tmp_path)
    config = CONFIG
    if os.environ.get("FUNDBOT_TEST_STORE") == "postgresql":
        config = config.replace('url = "sqlite:///fundbot.db"', f'url = "{request.getfixturevalue("pg_url")}"')
    d.write("config.toml", config)
    d.write("feeds/eu.toml", SEDIA_SOURCE)
    d.write("feeds/vinnova.toml", VINNOVA_SOURCE)
    (tmp_path / "feeds/snapshots/eu").mkdir(parents=True)
    shutil.copy(DATA / "sedia_page1.json", tmp_path / "feeds/snapshots/eu/page-0001.json")
    shutil.copy(DATA / "sedia_empty.json", tmp_path / "feeds/snapshots/eu/page-0002.json")
    shutil.copy(DATA / "vinnova_rounds.json", tmp_path / "feeds/snapshots/vinnova.json")
    d.write("profiles/norrby.toml", PROFILE.format(id="norrby", name="Norrby kommun"))
    d.write("profiles/sunnanå.toml".replace("å", "a"), PROFILE.format(id="sunnana", name="Sunnanå kommun"))
    return d


# --- PostgreSQL ------------------------------------------------------------------------------------
# FUNDBOT_TEST_PG: an admin URL of a server to use (.ci/run starts one); otherwise the session starts
# a throw-away cluster itself when Debian's postgresql is installed.  FUNDBOT_TEST_STORE=postgresql
# runs every deployment of the suite on PostgreSQL instead of SQLite.


def pytest_collection_modifyitems(config, items):
    """With FUNDBOT_TEST_STORE=postgresql (CI's second pass) only the tests that run a deployment are run: theirs is
    the store that changes; every other test ran in the first pass, PostgreSQL store tests included."""
    if os.environ.get("FUNDBOT_TEST_STORE") != "postgresql":
        return
    keep = [item for item in items if "deployment" in getattr(item, "fixturenames", ())]
    dropped = [item for item in items if "deployment" not in getattr(item, "fixturenames", ())]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def pg_admin():
    url = os.environ.get("FUNDBOT_TEST_PG")
    if url:
        yield url, None
        return
    try:
        cluster = pgserver.start()
    except RuntimeError as exc:
        yield None, str(exc)
        return
    yield cluster.url, None
    cluster.stop()


@pytest.fixture
def pg_url(pg_admin):
    admin, reason = pg_admin
    if admin is None:
        pytest.skip(f"no PostgreSQL server could be started here: {reason}")
    url = pgserver.create_database(admin)
    yield url
    pgserver.drop_database(admin, url)
