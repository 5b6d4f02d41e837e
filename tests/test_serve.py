"""`fundbot serve` as a real process: it starts, fetches and delivers, a
second instance is refused, SIGTERM stops it cleanly and quickly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from matcher.serve import cron_trigger


def test_cron_weekdays_count_from_sunday():
    import datetime as dt

    trigger = cron_trigger("0 6 * * 1", "Europe/Stockholm")  # cron: Monday
    start = dt.datetime(2026, 11, 28, 12, tzinfo=dt.timezone.utc)  # a Saturday
    fire = trigger.get_next_fire_time(None, start)
    assert fire.strftime("%A %H:%M") == "Monday 06:00"
    assert cron_trigger("30 5 * * 0", "Europe/Stockholm").get_next_fire_time(None, start).strftime("%A") == "Sunday"


def test_serve_runs_refuses_a_second_instance_and_stops_on_sigterm(deployment):
    config = deployment.config.read_text() + "\n[serve]\ndeliver_every_minutes = 1\nrun_at_start = true\n"
    deployment.config.write_text(config)
    cmd = [sys.executable, "-m", "matcher.cli", "serve", "--offline", "--config", str(deployment.config)]
    log = deployment.root / "serve.log"
    with log.open("w") as fh:
        first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=fh, cwd=deployment.root)
        try:
            deadline = time.monotonic() + 60
            while "source vinnova: ok" not in log.read_text() and time.monotonic() < deadline:
                assert first.poll() is None, log.read_text()
                time.sleep(0.2)
            assert "source vinnova: ok" in log.read_text() and "source eu: ok" in log.read_text()
            second = subprocess.run(cmd, capture_output=True, text=True, cwd=deployment.root, timeout=60)
            assert second.returncode == 1
            assert "another fundbot serve is already running" in second.stderr
            assert str(first.pid) in second.stderr
            start = time.monotonic()
            first.send_signal(signal.SIGTERM)
            assert first.wait(15) == 0
            assert time.monotonic() - start < 10
        finally:
            if first.poll() is None:
                first.kill()
    assert "stopping" in log.read_text()
    # the lock went with the process: a new instance starts
    again = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=deployment.root)
    try:
        time.sleep(3)
        assert again.poll() is None
        again.send_signal(signal.SIGINT)
        assert again.wait(15) == 0
    finally:
        if again.poll() is None:
            again.kill()
        again.stderr.close()


def test_status_shows_the_next_run_of_each_job(deployment):
    import datetime as dt
    import json

    from matcher.suggest import schedule

    dep = deployment.load()
    saturday = dt.datetime(2026, 11, 28, 12, tzinfo=dt.timezone.utc)
    jobs = schedule(dep, saturday)
    # every channel is weekly: no daily job; the instant one always matches
    assert set(jobs) == {"source:eu", "source:vinnova", "digests:instant", "digests:weekly", "reminders"}
    assert jobs["source:eu"] == "2026-11-29T06:00:00+01:00"  # the default schedule "0 6 * * *", Stockholm time
    assert jobs["digests:weekly"] == "2026-11-30T08:00:00+01:00"  # Monday morning
    assert jobs["reminders"] == "2026-11-29T07:30:00+01:00"
    status = json.loads(deployment.cli("status", "--json", check=True).stdout)
    assert set(status["schedule"]) == set(jobs)
    text = deployment.cli("status", check=True).stdout
    assert "schedule (fundbot serve):" in text and "digests:weekly" in text
    assert "norrby:console:-" in text and "nothing sent yet" in text  # channel health, before any run
    assert status["channels"]["norrby:console:-"]["state"] == "idle"


def test_serve_runs_the_web_view_when_enabled(deployment, monkeypatch):
    """[web] enabled: `serve` answers on its port beside the scheduler, from the same store."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = deployment.config.read_text() + (f'\n[web]\nenabled = true\nport = {port}\n'
                                              'secret_env = "FUNDBOT_TEST_WEB_SECRET"\n')
    deployment.config.write_text(config)
    monkeypatch.setenv("FUNDBOT_TEST_WEB_SECRET", "w" * 40)
    deployment.cli("run", "--once", "--offline", check=True)
    link = deployment.cli("link", "--city", "norrby", check=True).stdout.split()[0]
    assert link.startswith(f"http://127.0.0.1:{port}/c/")
    cmd = [sys.executable, "-m", "matcher.cli", "serve", "--offline", "--config", str(deployment.config)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=deployment.root)
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            assert proc.poll() is None
            try:
                with urllib.request.urlopen(link, timeout=5) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.3)
        assert body and "Finansieringsförslag för Norrby kommun" in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
