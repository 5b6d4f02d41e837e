"""The console channel: a readable digest on a terminal (or in a log)."""

from __future__ import annotations

import textwrap
from zoneinfo import ZoneInfo

from ..config import ChannelSpec
from . import Digest, SendResult, seen_note, stage_note

LABELS = {
    "sv": {"header": "Finansieringsförslag för {name}", "deadline": "Sista dag", "none": "löpande / ej angiven",
           "score": "Relevans", "need": "Behov", "why": "Varför", "funder": "Finansiär",
           "forthcoming": "öppnar snart", "caveats": "Att kontrollera"},
    "en": {"header": "Funding suggestions for {name}", "deadline": "Deadline", "none": "rolling / not stated",
           "score": "Relevance", "need": "Need", "why": "Why", "funder": "Funder",
           "forthcoming": "opens soon", "caveats": "To check"},
}


def format_digest(digest: Digest, width: int = 100) -> str:
    t = LABELS.get(digest.language, LABELS["en"])
    zone = ZoneInfo(digest.timezone)
    head = t["header"].format(name=digest.city_name)
    lines = [head, "=" * len(head)]
    for n, item in enumerate(digest.items, 1):
        deadline = item.deadline.astimezone(zone).strftime("%Y-%m-%d %H:%M") if item.deadline else t["none"]
        status = stage_note(item.stage, item.status, digest.language)
        if item.seen_on:
            status += f" · {seen_note(item.seen_on, digest.language)}"
        lines.append(f"{n}. {item.title}")
        lines.append(f"   {t['funder']}: {item.funder}" + (f" · {item.programme}" if item.programme else ""))
        lines.append(f"   {t['deadline']}: {deadline}{status} · {t['score']}: {item.score:.2f}"
                     + (f" · {item.budget}" if item.budget else ""))
        lines.append(f"   {t['need']} {item.need_id}: {item.need_text}")
        why = textwrap.shorten(item.passage, width=280, placeholder=" …")
        lines.extend(textwrap.wrap(f"{t['why']}: “{why}”", width=width, initial_indent="   ",
                                   subsequent_indent="   "))
        if item.caveats:
            lines.append(f"   {t['caveats']}: " + "; ".join(item.caveats))
        if item.url:
            lines.append(f"   {item.url}")
    return "\n".join(lines) + "\n"


class ConsoleChannel:
    kind = "console"

    def __init__(self, stream):
        self.stream = stream

    def send(self, spec: ChannelSpec, digest: Digest, confirm) -> SendResult:
        self.stream.write(format_digest(digest) + "\n")
        self.stream.flush()
        ids = [i.delivery_id for i in digest.items]
        confirm(ids, None)
        return SendResult(sent=tuple(ids))

    def notify(self, spec: ChannelSpec, notice) -> str:
        from .blocks import notice_text

        self.stream.write(notice_text(notice).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") + "\n")
        self.stream.flush()
        return "console"
