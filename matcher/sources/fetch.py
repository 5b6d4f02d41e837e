"""Getting bytes: from the network (politely) or from a recorded snapshot.

Adapters only see a :class:`Fetcher`; which one they get decides online or
offline.  Both return :class:`Response` objects, so an adapter cannot tell a
recorded day from a live one.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..errors import FetchError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class Fetcher(Protocol):
    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response: ...


class NotModified(Exception):
    """The server answered 304: nothing changed since the last fetch."""


class SnapshotFetcher:
    """Replays recorded responses.

    A folder with ``manifest.json`` (``{"responses": {url: file}}``) answers
    by URL; otherwise the n-th request gets the n-th file in name order
    (paged APIs record one file a page).  A single file answers every request.

    ``recorded_at`` is the day the snapshot shows; a manifest entry may give
    a page a day of its own (``{"file": …, "recorded_at": "YYYY-MM-DD"}``)
    where one source's pages were recorded on different days.
    :meth:`evidence_day` says which day vouches for a URL.
    """

    SUFFIXES = {".json": "application/json", ".xml": "application/xml", ".html": "text/html",
                ".htm": "text/html", ".rss": "application/rss+xml"}

    def __init__(self, path: Path, recorded_at: "dt.date | None" = None):
        self.manifest: dict[str, Path] | None = None
        self.recorded_at = recorded_at
        self.days: dict[str, dt.date] = {}
        if path.is_dir():
            manifest = path / "manifest.json"
            if manifest.exists():
                import json

                try:
                    entries = json.loads(manifest.read_text(encoding="utf-8"))["responses"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise FetchError(f"snapshot manifest {manifest} is invalid: {exc}") from exc
                from ..config import manifest_entry, manifest_problems

                problems = manifest_problems(path)
                if problems:  # a recorded response is only ever read from inside its own folder
                    raise FetchError(f"snapshot {path}: " + "; ".join(problems))
                self.manifest = {}
                for u, entry in entries.items():
                    name, day = manifest_entry(entry)
                    self.manifest[_normal_url(u)] = path / name
                    if day:
                        self.days[_normal_url(u)] = day
                files = list(self.manifest.values())
            else:
                files = sorted(p for p in path.iterdir() if p.suffix in self.SUFFIXES)
        elif path.exists():
            files = [path]
        else:
            raise FetchError(f"snapshot {path} does not exist")
        if not files:
            raise FetchError(f"snapshot folder {path} holds no recorded responses")
        self.single = path.is_file()
        self.files = files
        self.served = 0

    def request(self, method, url, *, params=None, files=None, headers=None) -> Response:
        if self.manifest is not None:
            file = self.manifest.get(_normal_url(url))
            if file is None:
                raise FetchError(f"{url} was not recorded in the snapshot")
        elif self.single:
            file = self.files[0]
        else:
            if self.served >= len(self.files):
                raise FetchError(f"snapshot has {len(self.files)} recorded response(s); "
                                 f"request {self.served + 1} was not recorded")
            file = self.files[self.served]
        self.served += 1
        if not file.exists():
            raise FetchError(f"recorded response {file.name} is missing")
        ctype = self.SUFFIXES.get(file.suffix, "application/octet-stream")
        return Response(200, file.read_bytes(), url, {"content-type": ctype})

    def evidence_day(self, url: str | None) -> "dt.date | None":
        """The day the recorded page of ``url`` shows (its own, else the snapshot's)."""
        return (self.days.get(_normal_url(url)) if url else None) or self.recorded_at


def _normal_url(url: str) -> str:
    return url.split("#")[0].rstrip("/")


class HostPacer:
    """One request at a time per host, the starts at least ``min_interval``
    apart: shared by every fetcher of a cycle, so sources fetched side by
    side never press one funder's server harder than one after another."""

    def __init__(self, min_interval: float = 1.0, *, clock=time.monotonic, sleep=time.sleep):
        self.min_interval = min_interval
        self._clock, self._sleep = clock, sleep
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._last: dict[str, float] = {}

    @contextmanager
    def turn(self, host: str, wait: float | None = None):
        """Hold ``host`` for one request; wait at most ``wait`` seconds for it."""
        with self._guard:
            lock = self._locks.setdefault(host, threading.Lock())
        if not lock.acquire(timeout=-1 if wait is None else max(wait, 0.0)):
            raise FetchError(f"{host}: still busy with another source's request when this source's time ran out")
        try:
            last = self._last.get(host)
            if last is not None:
                pause = self.min_interval - (self._clock() - last)
                if pause > 0:
                    self._sleep(pause)
            self._last[host] = self._clock()
            yield
        finally:
            lock.release()


# statuses worth asking again (Retry-After honoured); everything else >= 400 fails at once
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
REASONS = {429: "too many requests", 500: "server error", 502: "bad gateway", 503: "service unavailable",
           504: "gateway time-out"}


class _Overrun(Exception):
    """The source's wall-clock budget ran out while a response was read."""


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 or value == int(value) else f"{value:.1f} s"


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def plain_reason(exc: BaseException, timeout: tuple[float, float]) -> str:
    """What went wrong, as a person would say it (never a urllib3 repr)."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {_seconds(timeout[0])}"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"no answer within {_seconds(timeout[1])}"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the secure connection (TLS) could not be set up: is the certificate valid and trusted?"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy refused or failed the connection"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return "the address is not a valid http(s) URL"
    text = repr(exc)
    for needle, said in (("NameResolution", "the host name could not be resolved"),
                         ("getaddrinfo", "the host name could not be resolved"),
                         ("Connection refused", "the connection was refused"),
                         ("RemoteDisconnected", "the server closed the connection without answering"),
                         ("Connection reset", "the server reset the connection"),
                         ("IncompleteRead", "the server closed the connection in the middle of its answer"),
                         ("Network is unreachable", "the network is unreachable")):
        if needle in text:
            return said
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer broke off in the middle"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "the connection failed"
    return f"the request failed ({type(exc).__name__})"


def _local_address(host: str, port: int) -> str | None:
    """The first address of ``host`` that is not on the public internet (loopback, private, link-local — a
    cloud's metadata service —, reserved), or None. A name that does not resolve here is left to the proxy or
    to fail on its own."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not address.is_global:
            return str(address)
    return None


def _session(guard):
    """A requests session that asks ``guard`` before following each redirect."""
    import requests

    class GuardedSession(requests.Session):
        def get_redirect_target(self, resp):
            target = super().get_redirect_target(resp)
            if target:
                from urllib.parse import urljoin

                guard(urljoin(resp.url, target))
            return target

    return GuardedSession()


class HttpFetcher:
    """requests with explicit time-outs, a wall-clock budget for all of one
    source's requests together (connect, reads, retries and waits), retries
    honouring Retry-After, a byte cap, one request at a time per host (a
    shared :class:`HostPacer`) and a descriptive User-Agent."""

    def __init__(
        self,
        *,
        user_agent: str,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_bytes: int = 20_000_000,
        retries: int = 3,
        min_interval: float = 1.0,
        budget: float = 90.0,
        home: str | None = None,
        pacer: HostPacer | None = None,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        self.session = _session(self.guard)  # no urllib3 retries: every retry is counted against the budget below
        self.session.headers["User-Agent"] = user_agent
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.max_bytes, self.retries, self.budget = max_bytes, retries, budget
        self.pacer = pacer or HostPacer(min_interval, clock=clock, sleep=sleep)
        self._clock = clock
        self._sleep = sleep
        self._deadline: float | None = None  # set by the first request
        self.cancelled = threading.Event()  # set when the cycle stopped waiting for this source
        # conditional GET: validators sent with the first request (the listing or
        # the API call); the new ones are kept for the store
        self.validators: dict[str, str] = {}
        self.new_validators: dict[str, str] = {}
        self._first = True
        # the host the operator configured (the source's url) may be anywhere, an intranet too; a page, link or
        # redirect it hands us may lead elsewhere only on the public internet
        self.home = (urlsplit(home).hostname or "").lower() if home else None

    def guard(self, url: str) -> None:
        """Refuse a link from a funder's answer (detail page, next page, redirect) that leads to a local or
        private address: a hostile page must not make fundbot read an intranet or a cloud's metadata service
        and post what it found. Raised before any byte is sent there."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{url[:200]!r}: not an http(s) address")
        host = parts.hostname.lower()
        if self.home is None:
            self.home = host
        if host == self.home:
            return
        local = _local_address(host, parts.port or (443 if parts.scheme == "https" else 80))
        if local is not None:
            log.warning("not asked: %s leads to the local or private address %s (only the source's own host, "
                        "%s, may be one)", parts.netloc, local, self.home)
            raise FetchError(f"{parts.netloc}: not asked — a link from the funder's answer leads to the local or "
                             f"private address {local}; only the source's own host ({self.home}) may be one")

    def remaining(self) -> float:
        if self._deadline is None:
            self._deadline = self._clock() + self.budget
        return self._deadline - self._clock()

    def _out_of_time(self, host: str, tried: int, last: str | None) -> FetchError:
        said = f"{host}: no complete answer within this source's {_seconds(self.budget)} budget"
        if last:
            said += f" (last: {last}" + (f", tried {_times(tried)}" if tried > 1 else "") + ")"
        return FetchError(said)

    def request(self, method, url, *, params=None, files=None, headers=None) -> Response:
        import requests

        self.guard(url)
        host = urlsplit(url).netloc
        first, self._first = self._first, False
        headers = dict(headers or {})
        if first and method == "GET":
            if self.validators.get("etag"):
                headers["If-None-Match"] = self.validators["etag"]
            if self.validators.get("last_modified"):
                headers["If-Modified-Since"] = self.validators["last_modified"]
        tried, read_timeouts, last = 0, 0, None
        while True:
            if self.cancelled.is_set():
                raise FetchError(f"{host}: stopped, the cycle no longer waits for this source")
            remaining = self.remaining()
            if remaining <= 0:
                raise self._out_of_time(host, tried, last)
            timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
            tried += 1
            try:
                with self.pacer.turn(host, wait=remaining):
                    with self.session.request(method, url, params=params, files=files, headers=headers,
                                              timeout=timeout, stream=True) as resp:
                        body = self._read(resp, url)
                        status, final_url = resp.status_code, resp.url
                        hdrs = {k.lower(): v for k, v in resp.headers.items()}
            except _Overrun:
                raise self._out_of_time(host, tried, last or "the answer was still arriving") from None
            except requests.RequestException as exc:
                last = plain_reason(exc, timeout)
                read_timeout = isinstance(exc, requests.exceptions.ReadTimeout)
                read_timeouts += read_timeout
                retryable = isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)) \
                    and not isinstance(exc, requests.exceptions.SSLError)
                # a read time-out is asked again at most once: a server that hangs once mostly hangs again
                if not retryable or tried > self.retries or (read_timeout and read_timeouts > 1):
                    raise FetchError(f"{host}: {last}" + (f", tried {_times(tried)}" if tried > 1 else "")) from None
                self._wait(host, self._backoff(tried), tried, last)
                continue
            if status in RETRY_STATUS and tried <= self.retries:
                last = f"HTTP {status} ({REASONS[status]})"
                self._wait(host, _retry_after(hdrs.get("retry-after")) or self._backoff(tried), tried, last)
                continue
            break
        if status == 304 and first:
            raise NotModified(url)
        if status >= 400:
            reason = f" ({REASONS[status]})" if status in REASONS else ""
            raise FetchError(f"{host}: HTTP {status}{reason}" + (f", tried {_times(tried)}" if tried > 1 else ""))
        if first:
            self.new_validators = {k: hdrs[h] for k, h in (("etag", "etag"), ("last_modified", "last-modified"))
                                   if hdrs.get(h)}
        return Response(status, body, final_url, hdrs)

    @staticmethod
    def _backoff(tried: int) -> float:
        return min(2.0 ** (tried - 1), 30.0)

    def _wait(self, host: str, seconds: float, tried: int, last: str) -> None:
        """Sleep before asking again, unless that would outlast the budget."""
        if seconds >= self.remaining():
            raise FetchError(f"{host}: {last}, tried {_times(tried)}; waiting {_seconds(seconds)} to ask again "
                             f"would pass this source's {_seconds(self.budget)} budget")
        self._sleep(seconds)

    def _read(self, resp, url: str) -> bytes:
        """The body, a piece at a time, so a server that trickles cannot hold
        the source past its budget (each socket wait is cut to what is left)."""
        raw = resp.raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        chunks, size = [], 0
        while True:
            remaining = self.remaining()
            if remaining <= 0 or self.cancelled.is_set():
                raise _Overrun()
            cut = sock is not None and remaining < self.read_timeout
            if sock is not None:
                try:
                    sock.settimeout(min(self.read_timeout, remaining))
                except OSError:
                    cut = False
            try:
                chunk = raw.read1(64 * 1024, decode_content=True)
            except Exception as exc:  # urllib3's own errors while streaming, said as requests would
                import requests

                timed_out = "Timeout" in type(exc).__name__ or isinstance(exc, TimeoutError)
                if timed_out and cut:  # the budget, not the server's silence, ended the wait
                    raise _Overrun() from exc
                raise (requests.exceptions.ReadTimeout if timed_out else requests.exceptions.ConnectionError)(
                    exc) from exc
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(f"{urlsplit(url).netloc}: the answer is larger than {self.max_bytes:,} bytes "
                                 "(the [http] max_bytes limit)")
            chunks.append(chunk)
        return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime as dt

    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
