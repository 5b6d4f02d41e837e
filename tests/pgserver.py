"""A throw-away PostgreSQL cluster on 127.0.0.1 for the tests, from Debian's
packages (``apt-get install postgresql``): initdb into a temporary folder,
start on a free port, stop and delete at the end.  Run as root it runs the
server as the ``postgres`` user (PostgreSQL refuses to run as root).

    python tests/pgserver.py start    # prints the admin URL, then `export FUNDBOT_TEST_PG=<url>`
    python tests/pgserver.py stop DIR

Used by `.ci/run` and, when no server is given in FUNDBOT_TEST_PG, by the
test session itself (tests/conftest.py).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class Cluster:
    def __init__(self, folder: Path, port: int):
        self.folder = folder
        self.port = port

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        stop(self.folder)


def start() -> Cluster:
    """Start a cluster; raises RuntimeError saying why it cannot."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="fundbot-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = _free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                        "-E", "UTF8", "--no-sync"]), **run)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
                                        "-o", options, "-w", "-t", "60", "start"]), **run)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"cannot start a PostgreSQL cluster: {detail.strip()[:300]}") from exc
    (folder / "port").write_text(str(port))
    return Cluster(folder, port)


def stop(folder: Path) -> None:
    bin_dir = binaries()
    data = Path(folder) / "data"
    if bin_dir is not None and data.exists():
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60)
    shutil.rmtree(folder, ignore_errors=True)


def create_database(admin_url: str) -> str:
    """A fresh, empty database on the server; returns its URL."""
    import psycopg

    name = f"fundbot_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        cluster = start()
        print(cluster.folder)
        print(cluster.url)
    elif sys.argv[1:2] == ["stop"] and len(sys.argv) == 3:
        stop(Path(sys.argv[2]))
    else:
        sys.exit(__doc__)
