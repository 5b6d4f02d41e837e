"""`fundbot serve`: the scheduler daemon (APScheduler 3.x).

Jobs are built from the config at start, with stable ids: one per source on
its own cron `schedule` (fetch into the store), and one that matches and
delivers every `[serve] deliver_every_minutes` (cadences and reminders are
decided by the outbox).  All state lives in the store, not in the scheduler.
A second `serve` on the same store is refused at once (an OS file lock that a
crashed process cannot leave behind).  SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import re
import signal
import threading
from pathlib import Path

from .errors import FundbotError

log = logging.getLogger("fundbot.serve")

_DOW = {"0": "sun", "1": "mon", "2": "tue", "3": "wed", "4": "thu", "5": "fri", "6": "sat", "7": "sun"}


def cron_trigger(expression: str, timezone: str):
    """A five-field cron expression as an APScheduler trigger.  Cron counts
    weekdays from Sunday = 0, APScheduler 3.x from Monday = 0: numbers in the
    weekday field are written as names, which both read alike."""
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, dow = expression.split()
    dow = re.sub(r"\d", lambda m: _DOW[m.group(0)], dow)
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone=timezone)


class InstanceLock:
    """One `serve` per store: an exclusive, non-blocking flock on a file next
    to the store.  The OS drops it when the process dies, however it dies."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.seek(0)
            other = self.fh.read().strip() or "another process"
            self.fh.close()
            raise FundbotError(f"another fundbot serve is already running on this store (pid {other})") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(str(os.getpid()))
        self.fh.flush()


def lock_path(dep) -> Path:
    url = dep.store_url
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") + ".serve.lock")
    return dep.resolve(dep.settings.matcher.cache_dir) / "serve.lock"


def serve(dep, store, embedder, channels, unavailable, *, offline: bool = False) -> int:
    from apscheduler.schedulers.blocking import BlockingScheduler

    from .cycle import deliver_cycle, fetch_source, make_clock

    lock = InstanceLock(lock_path(dep))
    lock.acquire()
    zone = dep.settings.timezone
    scheduler = BlockingScheduler(timezone=zone, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": dep.settings.serve.misfire_grace_seconds})
    busy = threading.Lock()  # fetching and delivering never overlap

    def fetch_job(source) -> None:
        with busy:
            clock = make_clock(dep, offline=offline, as_of=None)
            outcome = fetch_source(dep, store, source, clock, offline=offline)
            log.info("source %s: %s", source.id,
                     f"ok, {outcome['items']} calls ({outcome['new']} new, {outcome['changed']} changed)"
                     if outcome["ok"] else f"failed: {outcome['error']}")

    def deliver_job() -> None:
        with busy:
            clock = make_clock(dep, offline=offline, as_of=None)
            report = deliver_cycle(dep, store, embedder, channels, clock, unavailable=unavailable)
            d = report.deliveries
            log.info("deliver: %d matches, %d sent, %d pending, %d failed", report.matches, d["sent"], d["pending"],
                     d["failed"])

    for source in dep.sources:
        if source.enabled:
            scheduler.add_job(fetch_job, cron_trigger(source.schedule, zone), args=[source], id=f"source:{source.id}",
                              name=f"fetch {source.id}", replace_existing=True,
                              next_run_time=dt.datetime.now(dt.timezone.utc) if dep.settings.serve.run_at_start else None)
    scheduler.add_job(deliver_job, "interval", minutes=dep.settings.serve.deliver_every_minutes, id="deliver",
                      name="match and deliver", replace_existing=True)

    def stop(signum, _frame) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        # a job under way may finish; it is idempotent, so abandoning it loses nothing
        threading.Timer(9.0, lambda: os._exit(0)).start()
        scheduler.shutdown(wait=False)

    app_token = os.environ.get(dep.settings.slack.app_token_env)
    if app_token and "slack" in channels:
        from .interactions import start_socket_mode

        start_socket_mode(app_token, channels["slack"].client, store, None)
        log.info("listening for Slack button clicks (Socket Mode)")
    elif "slack" in channels:
        log.info("Slack buttons are off: set %s to an app-level token to receive clicks",
                 dep.settings.slack.app_token_env)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving %d sources and %d cities; jobs: %s", len(dep.sources), len(dep.profiles),
             ", ".join(j.id for j in scheduler.get_jobs()))
    scheduler.start()
    log.info("stopped")
    logging.shutdown()
    os._exit(0)  # do not wait for abandoned job threads
