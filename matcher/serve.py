"""`fundbot serve`: the scheduler daemon (APScheduler 3.x).

Jobs are built from the config at start, with stable ids (:func:`job_specs`):
``source:<id>`` per source on its own cron `schedule` (fetch into the store),
``digests:<cadence>`` (match, then send that cadence's digests: instant
every `[serve] deliver_every_minutes` — always, so rankings stay fresh —
daily and weekly on their cron, when some channel uses them), and
``reminders`` daily (deadline reminders, changes
that matter).  All state lives in the store, not in the scheduler: a job
that runs twice sends nothing twice.
A second `serve` on the same store is refused at once (an OS file lock next
to a SQLite store, an advisory lock in a PostgreSQL one: neither outlives the
process that holds it).  SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import re
import signal
import threading
from dataclasses import dataclass
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


class AdvisoryLock:
    """One `serve` per PostgreSQL store: a session-level advisory lock held
    on a connection of its own for the life of the process.  PostgreSQL
    releases it when that connection ends — however the process dies."""

    def __init__(self, store):
        self.store = store
        self.conn = None

    def acquire(self, wait: float = 2.0) -> None:
        """Take the lock, or raise; ``wait`` covers a holder that has just
        died (its server process ends a moment after its connection)."""
        import time

        from sqlalchemy import text

        from .store import LOCK_SERVE

        self.conn = self.store.engine.connect()
        deadline = time.monotonic() + wait
        while True:
            got = self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_SERVE}).scalar_one()
            self.conn.commit()
            if got or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if not got:
            holder = self.store.meta("serve_pid") or "another process"
            self.conn.close()
            raise FundbotError(f"another fundbot serve is already running on this store ({holder})")
        self.store.set_meta("serve_pid", f"pid {os.getpid()} on {os.uname().nodename}")


def instance_lock(dep, store):
    """The single-instance lock for this store's kind."""
    if store.dialect == "postgresql":
        return AdvisoryLock(store)
    return InstanceLock(lock_path(dep))


def lock_path(dep) -> Path:
    url = dep.store_url
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") + ".serve.lock")
    return dep.resolve(dep.settings.matcher.cache_dir) / "serve.lock"


CADENCES = ("instant", "daily", "weekly")


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: a stable id, what it does, and when."""

    id: str
    name: str
    trigger: object  # an APScheduler trigger
    action: str  # a method of :class:`Jobs`
    args: tuple = ()


def cadences_in_use(dep) -> set[str]:
    specs = [c for p in dep.profiles for c in p.channels] + list(dep.settings.coordination.channels)
    return {c.cadence for c in specs}


def job_specs(dep) -> list[JobSpec]:
    """The jobs `serve` runs, built from the config: each source on its own
    schedule, the digests of each channel cadence in use, and the daily
    reminders (deadlines of calls a city applies for, changes that matter)."""
    from apscheduler.triggers.interval import IntervalTrigger

    zone = dep.settings.timezone
    serve = dep.settings.serve
    out = [JobSpec(f"source:{s.id}", f"fetch {s.id}", cron_trigger(s.schedule, zone), "fetch", (s.id,))
           for s in dep.sources if s.enabled]
    used = cadences_in_use(dep)
    triggers = {"instant": IntervalTrigger(minutes=serve.deliver_every_minutes, timezone=zone),
                "daily": cron_trigger(serve.daily_digest, zone), "weekly": cron_trigger(serve.weekly_digest, zone)}
    # the instant job always runs: it also keeps every city's ranking (suggest, report) fresh after a fetch
    out += [JobSpec(f"digests:{c}", f"{c} digests", triggers[c], "digests", (c,))
            for c in CADENCES if c in used or c == "instant"]
    out.append(JobSpec("reminders", "reminders and change notices", cron_trigger(serve.reminders, zone), "reminders"))
    return out


class Jobs:
    """What each job does.  The clock is a function, so tests run the jobs
    at any moment without sleeping; fetching and delivering never overlap."""

    def __init__(self, dep, store, embedder, channels, *, offline: bool = False, clock=None):
        from .cycle import make_clock

        self.dep, self.store, self.embedder = dep, store, embedder
        self.channels, self.offline = channels, offline
        self.clock = clock or (lambda: make_clock(dep, offline=offline, as_of=None))
        self.busy = threading.Lock()

    def fetch(self, source_id: str) -> dict:
        from .cycle import fetch_source

        from .errors import StoreError

        source = next(s for s in self.dep.sources if s.id == source_id)
        try:
            with self.busy, self._cycle():
                outcome = fetch_source(self.dep, self.store, source, self.clock(), offline=self.offline)
        except StoreError as exc:  # another cycle held the store too long: this job runs again at its next time
            log.warning("source %s: %s", source.id, exc)
            return {"ok": False, "error": str(exc)}
        log.info("source %s: %s", source.id,
                 f"ok, {outcome['items']} calls ({outcome['new']} new, {outcome['changed']} changed)"
                 if outcome["ok"] else f"failed: {outcome['error']}")
        return outcome

    def _cycle(self):
        """The store-wide cycle lock: a `run --once` beside `serve` never interleaves with a job."""
        return self.store.cycle_lock(self.dep.settings.store.lock_wait_seconds, notify=log.warning)

    def digests(self, cadence: str):
        """Match, and send the digests of the channels with this cadence
        (follow-ups too, for instant channels)."""
        return self._deliver(f"{cadence} digests", cadences={cadence}, notices=cadence == "instant")

    def reminders(self):
        """Deadline reminders and change notices, to every channel."""
        return self._deliver("reminders", cadences=set(), notices=True)

    def _deliver(self, what: str, **kwargs):
        from .cycle import deliver_cycle

        from .errors import StoreError

        try:
            with self.busy, self._cycle():
                report = deliver_cycle(self.dep, self.store, self.embedder, self.channels, self.clock(),
                                       progress=lambda m: log.debug("%s", m), **kwargs)
        except StoreError as exc:
            log.warning("%s: %s", what, exc)
            return None
        d = report.deliveries
        log.info("%s: %d matches, %d sent, %d pending, %d failed", what, report.matches, d["sent"], d["pending"],
                 d["failed"])
        for notice in report.notices:
            log.warning("%s", notice)
        return report


def serve(dep, store, embedder, channels, *, offline: bool = False) -> int:
    from apscheduler.schedulers.blocking import BlockingScheduler

    lock = instance_lock(dep, store)
    lock.acquire()
    scheduler = BlockingScheduler(timezone=dep.settings.timezone, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": dep.settings.serve.misfire_grace_seconds})
    jobs = Jobs(dep, store, embedder, channels, offline=offline)
    now = dt.datetime.now(dt.timezone.utc)
    for spec in job_specs(dep):
        at_start = dep.settings.serve.run_at_start and spec.action == "fetch"
        scheduler.add_job(getattr(jobs, spec.action), spec.trigger, args=list(spec.args), id=spec.id, name=spec.name,
                          replace_existing=True, **({"next_run_time": now} if at_start else {}))

    def stop(signum, _frame) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        # a job under way may finish; it is idempotent, so abandoning it loses nothing
        threading.Timer(9.0, lambda: os._exit(0)).start()
        scheduler.shutdown(wait=False)

    app_token = os.environ.get(dep.settings.slack.app_token_env)
    client = channels.slack_client()
    if app_token and client is not None:
        from .interactions import start_socket_mode

        languages = {p.city.id: p.city.language for p in dep.profiles}
        start_socket_mode(app_token, client, store, languages.get, dep=dep, embedder=embedder)
        log.info("listening for Slack button clicks (Socket Mode)")
    elif client is not None:
        log.info("Slack buttons are off: set %s to an app-level token to receive clicks",
                 dep.settings.slack.app_token_env)

    if dep.settings.web.enabled:
        from .web.run import build, run_in_thread

        run_in_thread(build(dep, store, lambda: embedder), dep.settings.web.host, dep.settings.web.port)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving %d sources and %d cities; jobs: %s", len(dep.sources), len(dep.profiles),
             ", ".join(j.id for j in scheduler.get_jobs()))
    scheduler.start()
    log.info("stopped")
    logging.shutdown()
    os._exit(0)  # do not wait for abandoned job threads
