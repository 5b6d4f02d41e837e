"""The console channel: a readable digest on a terminal (or in a log)."""

from __future__ import annotations

import textwrap
from zoneinfo import ZoneInfo

from ..models import COORDINATION
from . import Digest, Notice, SendResult
from .text import labels, notice_text, seen_note, stage_note


def _when(item, digest: Digest, t: dict, zone: ZoneInfo) -> str:
    """The deadline with its stage, and the day the source last listed the call."""
    deadline = item.deadline.astimezone(zone).strftime("%Y-%m-%d %H:%M") if item.deadline else t["rolling"]
    seen = f" · {seen_note(item.seen_on, digest.language)}" if item.seen_on else ""
    return deadline + stage_note(item.stage, item.status, digest.language) + seen


def format_digest(digest: Digest, width: int = 100) -> str:
    """The digest as plain text (also the text part of an e-mail)."""
    t = labels(digest.language)
    zone = ZoneInfo(digest.timezone)
    head = t["header"].format(name=digest.city_name)
    lines = [head, "=" * len(head)]
    for n, item in enumerate(digest.items, 1):
        lines.append(f"{n}. {item.title}")
        lines.append(f"   {t['funder']}: {item.funder}" + (f" · {item.programme}" if item.programme else ""))
        lines.append(f"   {t['deadline']}: {_when(item, digest, t, zone)} · {t['relevance']}: {item.score:.2f}"
                     + (f" · {item.budget}" if item.budget else ""))
        lines.append(f"   {t['need']} {item.need_id}: {item.need_text}")
        why = textwrap.shorten(item.passage, width=280, placeholder=" …")
        lines.extend(textwrap.wrap(f"{t['why']}: “{why}”", width=width, initial_indent="   ",
                                   subsequent_indent="   "))
        if item.caveats:
            lines.append(f"   {t['caveats']}: " + "; ".join(item.caveats))
        if item.url:
            lines.append(f"   {item.url}")
        for action, url in item.actions:
            lines.append(f"   {t['actions'][action]}: {url}")
    if digest.page_url:
        lines.append(f"{t['page']}: {digest.page_url}")
    return "\n".join(lines) + "\n"


def format_brief(digest: Digest) -> str:
    """The digest in a few lines per call — title; funder, deadline, relevance
    and need; link — and where the full explanation is: what a terminal shows
    of a run with many cities (``-v`` shows :func:`format_digest`)."""
    t = labels(digest.language)
    zone = ZoneInfo(digest.timezone)
    head = t["header"].format(name=digest.city_name) + " — " + t["n_suggestions"].format(n=len(digest.items))
    lines = [head]
    joint = digest.city_id == COORDINATION  # an item names the cities it fits, not one need
    for n, item in enumerate(digest.items, 1):
        lines.append(f"  {n}. {item.title}")
        lines.append(f"     {item.funder} · {t['deadline']}: {_when(item, digest, t, zone)} · {t['relevance']}: "
                     f"{item.score:.2f}" + ("" if joint else f" · {t['need']} {item.need_id}"))
        if joint:
            lines.append(f"     {item.need_text}")
        if item.url:
            lines.append(f"     {item.url}")
    lines.append("  " + (f"{t['page']}: {digest.page_url}" if digest.page_url else
                         t["more_all"] if joint else t["more"].format(city=digest.city_id)))
    return "\n".join(lines) + "\n"


def format_notice(notice: Notice) -> str:
    """A follow-up as plain text: its line, and the call's address below it."""
    text = notice_text(notice)
    return text.line() + (f"\n   {text.url}" if text.url else "")


class ConsoleChannel:
    kind = "console"
    reads_back = False
    max_items = 1000
    max_title = 300
    max_text = 600

    def __init__(self, spec, channels):
        self.stream = channels.stream
        self.full = channels.full  # the whole explanation, or a few lines per call (`run` without -v)

    def send(self, digest: Digest, confirm) -> SendResult:
        self.stream.write((format_digest(digest) if self.full else format_brief(digest)) + "\n")
        self.stream.flush()
        ids = [i.delivery_id for i in digest.items]
        confirm(ids, None)
        return SendResult(sent=tuple(ids))

    def notify(self, notice: Notice) -> str:
        self.stream.write(format_notice(notice) + "\n")
        self.stream.flush()
        return "console"
