"""Getting bytes: from the network (politely) or from a recorded snapshot.

Adapters only see a :class:`Fetcher`; which one they get decides online or
offline.  Both return :class:`Response` objects, so an adapter cannot tell a
recorded day from a live one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..errors import FetchError


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
    """

    SUFFIXES = {".json": "application/json", ".xml": "application/xml", ".html": "text/html",
                ".htm": "text/html", ".rss": "application/rss+xml"}

    def __init__(self, path: Path):
        self.manifest: dict[str, Path] | None = None
        if path.is_dir():
            manifest = path / "manifest.json"
            if manifest.exists():
                import json

                try:
                    entries = json.loads(manifest.read_text(encoding="utf-8"))["responses"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise FetchError(f"snapshot manifest {manifest} is invalid: {exc}") from exc
                from ..config import manifest_problems

                problems = manifest_problems(path)
                if problems:  # a recorded response is only ever read from inside its own folder
                    raise FetchError(f"snapshot {path}: " + "; ".join(problems))
                self.manifest = {_normal_url(u): path / f for u, f in entries.items()}
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


def _normal_url(url: str) -> str:
    return url.split("#")[0].rstrip("/")


class HttpFetcher:
    """requests with explicit timeouts, retries honouring Retry-After, a byte
    cap, at most one request per second per host and a descriptive
    User-Agent."""

    def __init__(
        self,
        *,
        user_agent: str,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_bytes: int = 20_000_000,
        retries: int = 3,
        min_interval: float = 1.0,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.session = requests.Session()
        retry = Retry(
            total=retries,
            backoff_factor=1.0,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,  # SEDIA search is a POST that is safe to repeat
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = user_agent
        self.timeout = (connect_timeout, read_timeout)
        self.max_bytes = max_bytes
        self.min_interval = min_interval
        self._last: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep
        # conditional GET: validators sent with the first request (the listing or
        # the API call); the new ones are kept for the store
        self.validators: dict[str, str] = {}
        self.new_validators: dict[str, str] = {}
        self._first = True

    def _pace(self, url: str) -> None:
        host = urlsplit(url).netloc
        last = self._last.get(host)
        if last is not None:
            wait = self.min_interval - (self._clock() - last)
            if wait > 0:
                self._sleep(wait)
        self._last[host] = self._clock()

    def request(self, method, url, *, params=None, files=None, headers=None) -> Response:
        import requests

        self._pace(url)
        first, self._first = self._first, False
        headers = dict(headers or {})
        if first and method == "GET":
            if self.validators.get("etag"):
                headers["If-None-Match"] = self.validators["etag"]
            if self.validators.get("last_modified"):
                headers["If-Modified-Since"] = self.validators["last_modified"]
        try:
            with self.session.request(
                method, url, params=params, files=files, headers=headers,
                timeout=self.timeout, stream=True,
            ) as resp:
                chunks, size = [], 0
                for chunk in resp.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(f"{url}: response larger than {self.max_bytes} bytes")
                    chunks.append(chunk)
                body = b"".join(chunks)
                status, final_url = resp.status_code, resp.url
                hdrs = {k.lower(): v for k, v in resp.headers.items()}
        except requests.RequestException as exc:
            raise FetchError(f"{urlsplit(url).netloc}: {type(exc).__name__}: {exc}") from exc
        if status == 304 and first:
            raise NotModified(url)
        if status >= 400:
            raise FetchError(f"{urlsplit(url).netloc}: HTTP {status}")
        if first:
            self.new_validators = {k: hdrs[h] for k, h in (("etag", "etag"), ("last_modified", "last-modified"))
                                   if hdrs.get(h)}
        return Response(status, body, final_url, hdrs)
