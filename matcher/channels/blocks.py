"""A digest as Slack Block Kit messages: in the city's language, every piece
of feed text escaped, within Slack's limits (≤ 50 blocks a message, ≤ 3,000
characters a section, ≤ 150 a header)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from . import Digest, DigestItem, cut, seen_note, stage_note

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
BLOCKS_PER_ITEM = 3  # section, context, actions

TEXT = {
    "sv": {
        "header": "Finansieringsförslag för {name}",
        "header_more": "Finansieringsförslag för {name} ({part}/{parts})",
        "deadline": "Sista dag", "rolling": "löpande / ej angiven",
        "relevance": "Relevans", "need": "Behov", "funder": "Finansiär", "caveats": "Att kontrollera",
        "relevant": "Relevant", "not_relevant": "Inte relevant", "apply": "Vi söker",
        "footer": "Ändra kanal, takt eller tröskel i er profil (profiles/{city}.toml, [[channels]]) "
                  "eller kontakta den som driver fundbot.",
        "months": ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
                   "oktober", "november", "december"],
    },
    "en": {
        "header": "Funding suggestions for {name}",
        "header_more": "Funding suggestions for {name} ({part}/{parts})",
        "deadline": "Deadline", "rolling": "rolling / not stated",
        "relevance": "Relevance", "need": "Need", "funder": "Funder", "caveats": "To check",
        "relevant": "Relevant", "not_relevant": "Not relevant", "apply": "We apply",
        "footer": "Change the channel, cadence or threshold in your profile (profiles/{city}.toml, [[channels]]) "
                  "or ask whoever runs fundbot.",
        "months": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                   "October", "November", "December"],
    },
}


def labels(language: str) -> dict:
    return TEXT.get(language, TEXT["en"])


def escape(text: str | None) -> str:
    """Slack mrkdwn control characters as entities: feed text can never
    mention, link or format."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_date(value: dt.datetime, language: str, zone: str = "Europe/Stockholm") -> str:
    local = value.astimezone(ZoneInfo(zone))
    t = labels(language)
    month = t["months"][local.month - 1]
    if language == "sv":
        return f"{local.day} {month} {local.year} kl. {local:%H.%M}"
    return f"{local.day} {month} {local.year}, {local:%H:%M}"


def item_blocks(item: DigestItem, digest: Digest) -> list[dict]:
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
    blocks.append({"type": "actions", "block_id": f"fundbot-{item.delivery_id}", "elements": [
        {"type": "button", "action_id": "fundbot_relevant", "value": value,
         "text": {"type": "plain_text", "text": t["relevant"]}},
        {"type": "button", "action_id": "fundbot_not_relevant", "value": value,
         "text": {"type": "plain_text", "text": t["not_relevant"]}},
        {"type": "button", "action_id": "fundbot_apply", "value": value, "style": "primary",
         "text": {"type": "plain_text", "text": t["apply"]}},
    ]})
    return blocks


def digest_messages(digest: Digest) -> list[tuple[list[DigestItem], list[dict], str]]:
    """The digest as one or more messages: (items, blocks, fallback text).
    A digest too long for one message is split between items, never inside one."""
    t = labels(digest.language)
    per_message = (MAX_BLOCKS - 3) // (BLOCKS_PER_ITEM + 1)  # header, footer divider+context; a divider each
    groups = [list(digest.items[i:i + per_message]) for i in range(0, len(digest.items), per_message)] or [[]]
    out = []
    for n, items in enumerate(groups, 1):
        name = escape(digest.city_name)
        header = (t["header"] if len(groups) == 1 else t["header_more"]).format(name=name, part=n, parts=len(groups))
        blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": cut(header, MAX_HEADER)}}]
        for item in items:
            blocks.append({"type": "divider"})
            blocks.extend(item_blocks(item, digest))
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": escape(t["footer"].format(city=digest.city_id))}]})
        fallback = cut(header + ": " + "; ".join(escape(i.title) for i in items), 3000)
        assert len(blocks) <= MAX_BLOCKS
        out.append((items, blocks, fallback))
    return out


NOTICE = {
    "sv": {"change": "Ändrat: {title}", "reminder": "Påminnelse: {title}", "deadlines": "ny sista dag {deadline}",
           "status": "status: {status}", "budget": "budget: {budget}", "due": "sista dag {deadline}",
           "statuses": {"open": "öppen", "forthcoming": "öppnar snart", "closed": "stängd",
                        "invitation": "steg 2 endast för inbjudna"}},
    "en": {"change": "Changed: {title}", "reminder": "Reminder: {title}", "deadlines": "new deadline {deadline}",
           "status": "status: {status}", "budget": "budget: {budget}", "due": "deadline {deadline}",
           "statuses": {"open": "open", "forthcoming": "opens soon", "closed": "closed",
                        "invitation": "stage 2 by invitation only"}},
}


def notice_text(notice) -> str:
    """One escaped line for a follow-up, in the city's language."""
    t = NOTICE.get(notice.language, NOTICE["en"])
    deadline = format_date(notice.deadline, notice.language, notice.timezone) if notice.deadline else "–"
    title = escape(cut(notice.title, 300))  # a notice is one line, within every platform's limits
    head = t[notice.kind].format(title=f"<{escape(notice.url)}|{title}>" if notice.url else title)
    if notice.kind == "reminder":  # an applicant past stage 1 is reminded of stage 2
        parts = [t["due"].format(deadline=deadline) + stage_note(notice.stage, "", notice.language)]
    else:
        parts = [t[f].format(deadline=deadline, status=t["statuses"].get(notice.status, notice.status),
                             budget=escape(cut(notice.budget, 200) or "–")) for f in notice.fields if f in t]
    return head + " — " + "; ".join(parts)
