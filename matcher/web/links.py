"""Signed links: what a person reaches the web view with.

A token names what it opens — a city's page (``page``), its calendar
(``ics``), or one action on one call (``act``) — the city, the city's link
generation, and when it expires, signed with HMAC-SHA256 under the secret
from the environment.  ``fundbot link --city ID --rotate`` raises the
city's generation, which makes every earlier link of that city fail.

    v1.<kind>.<city>.<generation>.<expires>.<call>.<action>.<signature>

Everything but the signature is plain (nothing secret is in it); the
signature covers all of it, so no part can be changed.  A token is
refused — with the same answer, whatever the reason — when it is malformed,
forged, expired, rotated, or for another city than the page asked for.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass

from ..errors import FundbotError

KINDS = ("page", "ics", "act")
ACTIONS = ("relevant", "not-relevant", "applying")
MIN_SECRET = 32
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class LinkError(FundbotError):
    """A token that opens nothing (the web view answers 403)."""


@dataclass(frozen=True)
class Grant:
    """What a valid token allows."""

    kind: str
    city: str
    expires: dt.datetime
    call_id: int | None = None
    action: str | None = None


def load_secret(environ, name: str) -> bytes:
    """The signing secret from the environment variable ``name`` (never from a file)."""
    value = (environ.get(name) or "").strip()
    if len(value) < MIN_SECRET:
        raise FundbotError(f"the web view needs a link-signing secret of at least {MIN_SECRET} characters in the "
                           f"environment variable {name} (for example: export {name}=$(openssl rand -hex 32))")
    return value.encode("utf-8")


def _sign(secret: bytes, body: str) -> str:
    digest = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generation(store, city: str) -> int:
    try:
        return int(store.meta(f"link_generation:{city}") or 0)
    except ValueError:
        return 0


def rotate(store, city: str) -> int:
    """Invalidate every earlier link of ``city``; returns the new generation."""
    new = generation(store, city) + 1
    store.set_meta(f"link_generation:{city}", str(new))
    return new


class Signer:
    def __init__(self, secret: bytes, store):
        self.secret, self.store = secret, store

    def make(self, kind: str, city: str, *, now: dt.datetime, days: int, call_id: int | None = None,
             action: str | None = None, gen: int | None = None) -> str:
        """A token; ``gen``: the city's link generation when the caller has read it already."""
        if kind not in KINDS or not _ID.match(city):
            raise ValueError(f"cannot sign a {kind!r} link for {city!r}")
        if (kind == "act") != (call_id is not None and action in ACTIONS):
            raise ValueError("an action link names one call and one action; other links neither")
        expires = int((now + dt.timedelta(days=days)).timestamp())
        body = ".".join(["v1", kind, city, str(generation(self.store, city) if gen is None else gen), str(expires),
                         str(call_id) if call_id is not None else "-", action or "-"])
        return f"{body}.{_sign(self.secret, body)}"

    def check(self, token: str, *, kind: str, now: dt.datetime, city: str | None = None) -> Grant:
        """The grant of a valid token of ``kind`` (and ``city``, when the
        address names one), else :class:`LinkError`."""
        parts = (token or "").split(".")
        if len(parts) != 8 or parts[0] != "v1":
            raise LinkError("malformed link")
        body, signature = ".".join(parts[:7]), parts[7]
        if not hmac.compare_digest(_sign(self.secret, body), signature):
            raise LinkError("forged link")
        _, got_kind, got_city, gen, expires, call, action = parts[:7]
        if got_kind != kind or (city is not None and got_city != city):
            raise LinkError("link for something else")
        if gen != str(generation(self.store, got_city)):
            raise LinkError("link withdrawn")
        try:
            until = dt.datetime.fromtimestamp(int(expires), dt.timezone.utc)
            call_id = None if call == "-" else int(call)
        except (ValueError, OverflowError, OSError):
            raise LinkError("malformed link") from None
        if now >= until:
            raise LinkError("link expired")
        return Grant(got_kind, got_city, until, call_id, None if action == "-" else action)


class DigestLinks:
    """The signed links a digest carries: the city's page and, per call, the
    three actions (each opens a confirmation page)."""

    def __init__(self, signer: Signer, base_url: str, link_days: int, action_days: int, now: dt.datetime):
        self.signer, self.base = signer, base_url
        self.link_days, self.action_days, self.now = link_days, action_days, now
        self._gens: dict[str, int] = {}  # each city's generation, read once for the digests of a run

    def _make(self, kind: str, city: str, days: int, **kw) -> str:
        if city not in self._gens:
            self._gens[city] = generation(self.signer.store, city)
        return self.signer.make(kind, city, now=self.now, days=days, gen=self._gens[city], **kw)

    def page(self, city: str) -> str:
        return f"{self.base}c/{self._make('page', city, self.link_days)}"

    def calendar(self, city: str) -> str:
        return f"{self.base}ics/{self._make('ics', city, self.link_days)}/fundbot.ics"

    def actions(self, city: str, call_id: int) -> tuple[tuple[str, str], ...]:
        return tuple((a, f"{self.base}a/{self._make('act', city, self.action_days, call_id=call_id, action=a)}")
                     for a in ACTIONS)


def digest_links(settings, store, environ, now: dt.datetime) -> DigestLinks | None:
    """The digests' links when ``[web] base_url`` is set (None otherwise);
    a missing secret is an error the delivery reports — links are never sent unsigned."""
    w = settings.web
    if not w.base_url:
        return None
    return DigestLinks(Signer(load_secret(environ, w.secret_env), store), w.base_url, w.link_days, w.action_days, now)
