"""Delivery channels, one module per kind, registered explicitly (``KINDS``).

A channel is opened for one ``[[channels]]`` entry (its constructor says
``NotConfigured`` when it cannot run here), receives finished data — a
:class:`Digest` (what to say, already ranked) or a :class:`Notice` — and
renders and escapes it itself; it knows nothing of feeds or the store.  What
each kind can do and carry it declares as class attributes (:class:`Channel`),
and the delivery code reads them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Callable, ClassVar, Protocol

from ..config import ChannelSpec
from ..errors import ChannelBlocked, ChannelError, NotConfigured
from .text import FIELD_LIMITS, cut


@dataclass(frozen=True)
class DigestItem:
    delivery_id: int
    title: str
    funder: str
    url: str | None
    deadline: dt.datetime | None
    status: str
    score: float
    need_id: str
    need_text: str
    passage: str
    programme: str | None = None
    budget: str | None = None
    caveats: tuple[str, ...] = ()  # eligibility conditions the profile does not answer
    stage: str = ""  # what ``deadline`` is (models.STAGES)
    seen_on: dt.date | None = None  # the day the funder's source last listed the call (its evidence)
    # signed web links (relevant / not-relevant / applying → address), when [web] base_url is set
    actions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Digest:
    city_id: str
    city_name: str
    language: str
    items: tuple[DigestItem, ...]
    timezone: str = "Europe/Stockholm"
    page_url: str | None = None  # the city's signed web page, when [web] base_url is set

    def within_limits(self, title: int | None = None, text: int | None = None) -> "Digest":
        """The digest with every item's text fields cut to ``FIELD_LIMITS``
        (a title to ``title``, a passage to ``text``, where a channel says)."""
        limits = dict(FIELD_LIMITS, **({"title": title} if title else {}), **({"passage": text} if text else {}))
        return replace(self, city_name=cut(self.city_name, 150), items=tuple(
            replace(i, **{k: cut(getattr(i, k), n) for k, n in limits.items()},
                    caveats=tuple(cut(c, 200) for c in i.caveats[:10])) for i in self.items))


@dataclass(frozen=True)
class Notice:
    """A follow-up on a call already suggested: it changed, or its deadline nears."""

    delivery_id: int
    kind: str  # "change" | "reminder"
    city_id: str
    language: str
    title: str
    url: str | None
    deadline: dt.datetime | None
    status: str
    budget: str | None
    fields: tuple[str, ...] = ()  # what changed
    thread: str | None = None  # the message that suggested the call (Slack ts)
    timezone: str = "Europe/Stockholm"
    stage: str = ""  # what ``deadline`` is (models.STAGES)


@dataclass(frozen=True)
class SendResult:
    sent: tuple[int, ...] = ()  # delivery ids
    failed: tuple[int, ...] = ()
    error: str | None = None


Confirm = Callable[[list[int], "str | None"], None]


class Channel(Protocol):
    """What every channel kind is and does.  Raise :class:`ChannelBlocked`
    for a refusal that retrying cannot fix; any other error (or a
    ``SendResult`` with ``failed`` rows) leaves the rows pending."""

    kind: ClassVar[str]
    reads_back: ClassVar[bool]  # can say which outbox rows already arrived (then: exactly once)
    max_items: ClassVar[int]  # suggestions in one message (a longer digest is split)
    max_title: ClassVar[int]  # characters of a call's title
    max_text: ClassVar[int]  # characters of a passage or a follow-up

    def send(self, digest: Digest, confirm: Confirm) -> SendResult:
        """Deliver; call ``confirm(delivery_ids, message_ref)`` as soon as
        each part is accepted, so the outbox records it at once."""
        ...

    def notify(self, notice: Notice) -> str:
        """Post one follow-up; returns a reference to the message."""
        ...

    def delivered(self, city: str, since: dt.datetime) -> set[int]:
        """(Only where ``reads_back``.) Outbox rows of ``city`` already in the channel."""
        ...


class Channels:
    """The channels of a deployment: each ``[[channels]]`` entry opened once,
    by its kind's constructor; why one cannot run here is kept and said once."""

    def __init__(self, stream, settings=None, environ=None, *, kinds: dict[str, type] | None = None,
                 full: bool = True):
        import os

        self.stream, self.settings, self.full = stream, settings, full  # full: whole digests on the console
        self.environ = os.environ if environ is None else environ
        self.kinds = kinds  # None: every kind this version has (a test may bring its own)
        self._open: dict[str, Channel | NotConfigured] = {}

    def open(self, spec: ChannelSpec) -> Channel:
        """The channel for ``spec``; raises :class:`NotConfigured` with the reason."""
        if spec.key not in self._open:
            kind = (self.kinds if self.kinds is not None else kinds()).get(spec.kind)
            try:
                if kind is None:
                    raise NotConfigured(f"channel kind {spec.kind!r} is not available in this version")
                self._open[spec.key] = kind(spec, self)
            except NotConfigured as exc:
                self._open[spec.key] = exc
        found = self._open[spec.key]
        if isinstance(found, NotConfigured):
            raise found
        return found

    def problems(self, specs) -> list[str]:
        """Why each of ``specs`` that cannot run here cannot (each reason once)."""
        out: list[str] = []
        for spec in specs:
            try:
                self.open(spec)
            except NotConfigured as exc:
                if str(exc) not in out:
                    out.append(str(exc))
        return out

    def slack_client(self):
        """A Slack WebClient for Socket Mode, or None when Slack is not configured."""
        from .slack import web_client

        return web_client(self.settings, self.environ) if self.settings is not None else None


def kinds() -> dict[str, type]:
    """Every channel kind, by the name a profile gives it."""
    from .console import ConsoleChannel
    from .email import EmailChannel
    from .slack import SlackChannel
    from .teams import TeamsChannel
    from .webhook import SlackWebhookChannel

    return {c.kind: c for c in (ConsoleChannel, SlackChannel, SlackWebhookChannel, TeamsChannel, EmailChannel)}


def build_channels(stream, settings=None, environ=None, *, full: bool = True) -> Channels:
    return Channels(stream, settings, environ, full=full)


__all__ = ["Channel", "ChannelBlocked", "ChannelError", "Channels", "Confirm", "Digest", "DigestItem", "NotConfigured",
           "Notice", "SendResult", "build_channels", "cut", "field"]
