"""What every channel says, before any channel's markup: the words in the
city's language, dates in Swedish time, the stage and evidence notes, and a
follow-up notice as data.  Nothing here escapes or formats for a platform —
each channel renders and escapes its own (Slack mrkdwn, an Adaptive Card,
HTML, a terminal).  The report and ``suggest`` use the same words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

WORDS = {
    "sv": {
        "header": "Finansieringsförslag för {name}",
        "header_more": "Finansieringsförslag för {name} ({part}/{parts})",
        "deadline": "Sista dag", "rolling": "löpande / ej angiven",
        "relevance": "Relevans", "need": "Behov", "funder": "Finansiär", "caveats": "Att kontrollera",
        "why": "Varför", "n_suggestions": "{n} förslag",
        "more": "Hela förklaringen (behovet, citatet, villkor att kontrollera): fundbot suggest --city {city}, "
                "eller fundbot run -v",
        "more_all": "Hela förklaringen: fundbot run -v",
        "relevant": "Relevant", "not_relevant": "Inte relevant", "apply": "Vi söker",
        "page": "Er sida i fundbot (filtrera, sök, markera, ansvarig och anteckning)",
        "actions": {"relevant": "Relevant", "not-relevant": "Inte relevant", "applying": "Vi söker"},
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
        "why": "Why", "n_suggestions": "{n} suggestions",
        "more": "The full explanation (the need, the quote, conditions to check): fundbot suggest --city {city}, "
                "or fundbot run -v",
        "more_all": "The full explanation: fundbot run -v",
        "relevant": "Relevant", "not_relevant": "Not relevant", "apply": "We apply",
        "page": "Your page in fundbot (filter, search, mark, owner and note)",
        "actions": {"relevant": "Relevant", "not-relevant": "Not relevant", "applying": "We apply"},
        "footer": "Change the channel, cadence or threshold in your profile (profiles/{city}.toml, [[channels]]) "
                  "or ask whoever runs fundbot.",
        "months": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                   "October", "November", "December"],
    },
}


def labels(language: str) -> dict:
    return WORDS.get(language, WORDS["en"])


def format_date(value: dt.datetime, language: str, zone: str = "Europe/Stockholm") -> str:
    """"7 oktober 2027 kl. 17.00" / "7 October 2027, 17:00", in ``zone``."""
    local = value.astimezone(ZoneInfo(zone))
    month = labels(language)["months"][local.month - 1]
    if language == "sv":
        return f"{local.day} {month} {local.year} kl. {local:%H.%M}"
    return f"{local.day} {month} {local.year}, {local:%H:%M}"


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


# --- follow-ups ------------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class NoticeText:
    """A follow-up in words, not yet in any markup: ``head`` holds one
    ``{title}`` for the channel to fill (a link where it can make one)."""

    head: str  # "Ändrat: {title}"
    title: str
    url: str | None
    details: str  # "ny sista dag 7 oktober 2027 kl. 17.00; budget: EUR 27 000 000"

    def line(self, title: str | None = None) -> str:
        """The notice as one line of plain text (``title`` as the channel rendered it)."""
        return self.head.format(title=self.title if title is None else title) + " — " + self.details


def notice_text(notice) -> NoticeText:
    """What a follow-up says, in the city's language, within every platform's limits."""
    t = NOTICE.get(notice.language, NOTICE["en"])
    deadline = format_date(notice.deadline, notice.language, notice.timezone) if notice.deadline else "–"
    if notice.kind == "reminder":  # an applicant past stage 1 is reminded of stage 2
        parts = [t["due"].format(deadline=deadline) + stage_note(notice.stage, "", notice.language)]
    else:
        parts = [t[f].format(deadline=deadline, status=t["statuses"].get(notice.status, notice.status),
                             budget=cut(notice.budget, 200) or "–") for f in notice.fields if f in t]
    return NoticeText(head=t[notice.kind], title=cut(notice.title, 300) or "", url=notice.url, details="; ".join(parts))


__all__ = ["FIELD_LIMITS", "LIFECYCLE", "NOTICE", "NoticeText", "WORDS", "cut", "format_date", "labels",
           "lifecycle_words", "notice_text", "seen_note", "stage_note"]
