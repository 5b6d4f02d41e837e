"""Delivery channels, one module per kind, registered explicitly.

A channel receives a finished :class:`Digest` (what to say, already ranked)
and returns a :class:`SendResult`; it knows nothing of feeds or the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Protocol

from ..config import ChannelSpec


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


# the words for a call's stage and evidence, in every channel (and the report)
LIFECYCLE = {
    "sv": {"stage1": "steg 1", "stage2": "steg 2", "cutoff": "delomgång", "invitation": "steg 2 endast för inbjudna",
           "forthcoming": "öppnar snart", "seen": "senast sedd {day}",
           "check": "senast sedd {day} — kontrollera hos finansiären"},
    "en": {"stage1": "stage 1", "stage2": "stage 2", "cutoff": "cut-off", "invitation": "stage 2 by invitation only",
           "forthcoming": "opens soon", "seen": "last seen {day}", "check": "last seen {day} — check with the funder"},
}


def lifecycle_words(language: str) -> dict:
    return LIFECYCLE.get(language, LIFECYCLE["en"])


def stage_note(stage: str, status: str, language: str) -> str:
    """What to say after a deadline: " (steg 1)", " (steg 2 endast för inbjudna)",
    " (steg 1, öppnar snart)" …; "" when there is nothing to add."""
    t = lifecycle_words(language)
    notes = []
    if status == "invitation":
        notes.append(t["invitation"])
    elif stage in ("stage1", "stage2", "cutoff"):
        notes.append(t[stage])
    if status == "forthcoming":
        notes.append(t["forthcoming"])
    return f" ({', '.join(notes)})" if notes else ""


def seen_note(day: dt.date | None, language: str) -> str:
    """"senast sedd 2026-11-20": how old the evidence behind a call is ("" when unknown)."""
    return lifecycle_words(language)["seen"].format(day=day.isoformat()) if day else ""


# What a person reads of one suggestion, at most (characters); feed text is
# hostile and may be any length, and every platform has a limit on a message.
FIELD_LIMITS = {"title": 300, "funder": 150, "need_text": 300, "passage": 600, "budget": 200, "programme": 200}


def cut(text: str | None, limit: int) -> str | None:
    """``text`` at most ``limit`` characters, cut at a word and marked with "…"."""
    if text is None or len(text) <= limit:
        return text
    head = text[: limit - 1]
    return (head.rsplit(" ", 1)[0] if " " in head[limit // 2:] else head).rstrip() + "…"


@dataclass(frozen=True)
class Digest:
    city_id: str
    city_name: str
    language: str
    items: tuple[DigestItem, ...]
    timezone: str = "Europe/Stockholm"

    def within_limits(self) -> "Digest":
        """The digest with every item's text fields cut to ``FIELD_LIMITS``."""
        return replace(self, city_name=cut(self.city_name, 150), items=tuple(
            replace(i, **{k: cut(getattr(i, k), n) for k, n in FIELD_LIMITS.items()},
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


class Channel(Protocol):
    kind: str

    def send(self, spec: ChannelSpec, digest: Digest, confirm) -> SendResult:
        """Deliver; call ``confirm(delivery_ids, message_ref)`` as soon as
        each part is accepted, so the outbox records it at once."""
        ...


class NotConfigured(Exception):
    """A channel that cannot run here says why, once; the rest runs."""


def build_channels(stream, settings=None, environ=None) -> tuple[dict[str, Channel], dict[str, str]]:
    """The channels that can run here, and why each other one cannot."""
    import os

    from .console import ConsoleChannel
    from .email import EmailChannel
    from .slack import SlackChannel
    from .teams import TeamsChannel
    from .webhook import SlackWebhookChannel

    env = os.environ if environ is None else environ
    channels: dict[str, Channel] = {"console": ConsoleChannel(stream), "slack-webhook": SlackWebhookChannel(env),
                                    "teams": TeamsChannel(env)}
    unavailable: dict[str, str] = {}
    if settings is not None:
        channels["email"] = EmailChannel(settings.email, env)
        try:
            channels["slack"] = SlackChannel.from_settings(settings, env)
        except NotConfigured as exc:
            unavailable["slack"] = str(exc)
    return channels, unavailable


__all__ = ["Channel", "Digest", "DigestItem", "NotConfigured", "SendResult", "build_channels", "field"]
