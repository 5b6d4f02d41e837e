"""Microsoft Teams through a Workflows webhook (the Office 365 connectors are
retired): an Adaptive Card in a plain HTTPS POST.  The URL comes from the
environment variable the channel's ``target`` names.  At least once, as for
any webhook that cannot be read back."""

from __future__ import annotations

import re

from . import ChannelBlocked, Digest, DigestItem, NotConfigured, Notice, SendResult
from .text import cut, format_date, labels, notice_text, seen_note, stage_note

MAX_ITEMS = 20  # per card; longer digests are split
# Teams refuses a payload over about 28 KB: a card is kept under this many bytes (JSON as sent), and each
# field of an item is cut to a length no funder's text needs
MAX_BYTES = 24_000
LIMITS = {"title": 300, "funder": 150, "need": 300, "passage": 600, "caveats": 400, "notice": 2000}


def plain(text: str | None) -> str:
    """Feed text for a card: markdown and link syntax neutralised."""
    return re.sub(r"([\\[\]()*_`~<>#|])", r"\\\1", text or "")


def item_blocks(digest: Digest, item: DigestItem) -> list[dict]:
    """One suggestion's part of a card, every field within LIMITS."""
    t = labels(digest.language)
    deadline = format_date(item.deadline, digest.language, digest.timezone) if item.deadline else t["rolling"]
    deadline += stage_note(item.stage, item.status, digest.language)
    if item.seen_on:
        deadline += f" · {seen_note(item.seen_on, digest.language)}"
    body = [
        {"type": "TextBlock", "weight": "Bolder", "wrap": True, "separator": True,
         "text": plain(cut(item.title, LIMITS["title"]))},
        {"type": "FactSet", "facts": [
            {"title": t["funder"], "value": plain(cut(item.funder, LIMITS["funder"]))},
            {"title": t["deadline"], "value": deadline},
            {"title": t["relevance"], "value": f"{round(item.score * 100)} %"},
            {"title": t["need"], "value": plain(cut(item.need_text, LIMITS["need"]))},
        ]},
        {"type": "TextBlock", "wrap": True, "isSubtle": True, "text": plain(cut(item.passage, LIMITS["passage"]))},
    ]
    if item.caveats:
        body.append({"type": "TextBlock", "wrap": True, "color": "Warning",
                     "text": plain(cut(f"{t['caveats']}: " + "; ".join(item.caveats), LIMITS["caveats"]))})
    actions = [{"type": "Action.OpenUrl", "title": "↗", "url": item.url}] if item.url else []
    # the web view's action links open a confirmation page (a GET there changes nothing)
    actions += [{"type": "Action.OpenUrl", "title": t["actions"][a], "url": url} for a, url in item.actions]
    if actions:
        body.append({"type": "ActionSet", "actions": actions})
    return body


def size(payload: dict) -> int:
    """Bytes of the payload as it is posted."""
    import json

    return len(json.dumps(payload).encode("utf-8"))


def batches(digest: Digest) -> list[list[DigestItem]]:
    """The digest's items in cards of at most MAX_ITEMS items and MAX_BYTES bytes."""
    out: list[list[DigestItem]] = []
    current: list[DigestItem] = []
    for item in digest.items:
        if current and (len(current) >= MAX_ITEMS or size(card(digest, current + [item])) > MAX_BYTES):
            out.append(current)
            current = []
        current.append(item)
    if current:
        out.append(current)
    return out


def card(digest: Digest, items: list[DigestItem]) -> dict:
    t = labels(digest.language)
    body: list[dict] = [{"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True,
                         "text": plain(t["header"].format(name=digest.city_name))}]
    for item in items:
        body += item_blocks(digest, item)
    if digest.page_url:
        body.append({"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": t["page"],
                                                       "url": digest.page_url}]})
    body.append({"type": "TextBlock", "wrap": True, "isSubtle": True, "size": "Small",
                 "text": plain(t["footer"].format(city=digest.city_id))})
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.4", "body": body}}]}


def notice_card(notice: Notice) -> dict:
    """A follow-up as a small card: its line, and a button to the call."""
    text = notice_text(notice)
    body: list[dict] = [{"type": "TextBlock", "wrap": True, "text": plain(cut(text.line(), LIMITS["notice"]))}]
    if text.url:
        body.append({"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": "↗", "url": text.url}]})
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.4", "body": body}}]}


# what a Workflows webhook answers once its flow is deleted or its URL's signature no longer holds
GONE = {401, 403, 404, 410}


class TeamsChannel:
    kind = "teams"
    reads_back = False
    max_items = MAX_ITEMS
    max_title = LIMITS["title"]
    max_text = LIMITS["passage"]

    def __init__(self, spec, channels, timeout: float = 30.0):
        self.url = channels.environ.get(spec.target or "")
        if not self.url:
            raise NotConfigured(f"teams: set the environment variable {spec.target} to the Workflows webhook URL")
        self.timeout = timeout

    def _post(self, payload: dict) -> None:
        import requests

        resp = requests.post(self.url, json=payload, timeout=(10, self.timeout))
        if resp.status_code in GONE:
            raise ChannelBlocked(f"Teams answered HTTP {resp.status_code}: the workflow was removed or its URL "
                                 "is no longer valid")
        if resp.status_code >= 300:
            raise RuntimeError(f"Teams answered HTTP {resp.status_code}")

    def send(self, digest: Digest, confirm) -> SendResult:
        sent: list[int] = []
        for items in batches(digest):
            try:
                self._post(card(digest, items))
            except ChannelBlocked:
                raise
            except Exception as exc:  # noqa: BLE001 - transient: retried next cycle
                return SendResult(tuple(sent), tuple(i.delivery_id for i in digest.items if i.delivery_id not in sent),
                                  f"{type(exc).__name__}: {exc}")
            ids = [i.delivery_id for i in items]
            confirm(ids, "teams")
            sent.extend(ids)
        return SendResult(tuple(sent))

    def notify(self, notice: Notice) -> str:
        self._post(notice_card(notice))
        return "teams"
