"""A digest as Slack Block Kit messages: in the city's language, every piece
of feed text escaped, within Slack's limits (≤ 50 blocks a message, ≤ 3,000
characters a section, ≤ 150 a header)."""

from __future__ import annotations

from . import Digest, DigestItem
from .text import cut, format_date, labels, notice_text, seen_note, stage_note

MAX_BLOCKS = 50  # Slack's limits
MAX_SECTION = 3000
MAX_HEADER = 150
BLOCKS_PER_ITEM = 3  # section, context, actions
# suggestions in one message: besides a divider each, a header and the footer's divider and context
PER_MESSAGE = (MAX_BLOCKS - 3) // (BLOCKS_PER_ITEM + 1)


def escape(text: str | None) -> str:
    """Slack mrkdwn control characters as entities: feed text can never
    mention, link or format."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def item_blocks(item: DigestItem, digest: Digest, url_buttons: bool = False) -> list[dict]:
    """One suggestion's blocks.  ``url_buttons``: where the item carries the
    web view's action links, the buttons open them (an incoming webhook may
    belong to no app that receives clicks)."""
    t = labels(digest.language)
    title = escape(item.title)
    link = f"<{escape(item.url)}|{cut(title, 500)}>" if item.url else f"*{cut(title, 500)}*"
    deadline = format_date(item.deadline, digest.language, digest.timezone) if item.deadline else t["rolling"]
    deadline += stage_note(item.stage, item.status, digest.language)
    seen = seen_note(item.seen_on, digest.language)
    lines = [
        f"*{link}*" if item.url else link,
        f"{t['funder']}: {escape(item.funder)}" + (f" · {escape(item.programme)}" if item.programme else ""),
        f"{t['deadline']}: {deadline}" + (f" · {seen}" if seen else "")
        + f" · {t['relevance']}: {round(item.score * 100)} %"
        + (f" · {escape(item.budget)}" if item.budget else ""),
        f"{t['need']}: {escape(item.need_text)}",
    ]
    head = "\n".join(lines)
    quote = "> " + escape(item.passage).replace("\n", " ")
    section = head + "\n" + cut(quote, MAX_SECTION - len(head) - 1)
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": section[:MAX_SECTION]}}]
    if item.caveats:
        caveats = f"{t['caveats']}: " + escape("; ".join(item.caveats))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(caveats, MAX_SECTION)}]})
    value = str(item.delivery_id)
    if url_buttons and item.actions:
        blocks.append({"type": "actions", "block_id": f"fundbot-{item.delivery_id}", "elements": [
            {"type": "button", "action_id": f"fundbot_link_{a.replace('-', '_')}", "url": url,
             "text": {"type": "plain_text", "text": t["actions"][a]}} for a, url in item.actions]})
        return blocks
    blocks.append({"type": "actions", "block_id": f"fundbot-{item.delivery_id}", "elements": [
        {"type": "button", "action_id": "fundbot_relevant", "value": value,
         "text": {"type": "plain_text", "text": t["relevant"]}},
        {"type": "button", "action_id": "fundbot_not_relevant", "value": value,
         "text": {"type": "plain_text", "text": t["not_relevant"]}},
        {"type": "button", "action_id": "fundbot_apply", "value": value, "style": "primary",
         "text": {"type": "plain_text", "text": t["apply"]}},
    ]})
    return blocks


def digest_messages(digest: Digest, url_buttons: bool = False) -> list[tuple[list[DigestItem], list[dict], str]]:
    """The digest as one or more messages: (items, blocks, fallback text).
    A digest too long for one message is split between items, never inside one."""
    t = labels(digest.language)
    groups = [list(digest.items[i:i + PER_MESSAGE]) for i in range(0, len(digest.items), PER_MESSAGE)] or [[]]
    out = []
    for n, items in enumerate(groups, 1):
        name = escape(digest.city_name)
        header = (t["header"] if len(groups) == 1 else t["header_more"]).format(name=name, part=n, parts=len(groups))
        blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": cut(header, MAX_HEADER)}}]
        for item in items:
            blocks.append({"type": "divider"})
            blocks.extend(item_blocks(item, digest, url_buttons))
        footer = escape(t["footer"].format(city=digest.city_id))
        if digest.page_url:
            footer = f"<{escape(digest.page_url)}|{escape(t['page'])}> · " + footer
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
        fallback = cut(header + ": " + "; ".join(escape(i.title) for i in items), 3000)
        assert len(blocks) <= MAX_BLOCKS
        out.append((items, blocks, fallback))
    return out


def notice_mrkdwn(notice) -> str:
    """A follow-up as one escaped mrkdwn line, the title a link to the call."""
    text = notice_text(notice)
    title = escape(text.title)
    return escape(text.head).format(title=f"<{escape(text.url)}|{title}>" if text.url else title) \
        + " — " + escape(text.details)
