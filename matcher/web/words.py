"""What the web view says, in the city's language (sv default, en)."""

from __future__ import annotations

STATUS_WORDS = {
    "sv": {"new": "ny", "interesting": "intressant", "preparing": "förbereder ansökan", "submitted": "inskickad",
           "granted": "beviljad", "rejected": "avslag", "not-relevant": "inte relevant"},
    "en": {"new": "new", "interesting": "interesting", "preparing": "preparing an application",
           "submitted": "submitted", "granted": "granted", "rejected": "rejected", "not-relevant": "not relevant"},
}

# the three actions a digest links to, as statuses
ACTION_STATUS = {"relevant": "interesting", "not-relevant": "not-relevant", "applying": "preparing"}

WORDS = {
    "sv": {
        "title": "Finansieringsförslag för {name}", "as_of": "Läget {day}", "filters": "Filtrera",
        "funder": "Finansiär", "any": "alla", "within": "Sista dag inom", "days": "{n} dagar",
        "need": "Behov", "status": "Status", "show": "Visa", "search": "Sök efter behov",
        "search_hint": "t.ex. laddinfrastruktur på landsbygden", "search_button": "Sök",
        "results_for": "Öppna utlysningar för ”{q}”", "relevance": "Relevans", "deadline": "Sista dag",
        "rolling": "löpande / ej angiven", "why": "Varför", "caveats": "Att kontrollera",
        "ineligible": "Kan inte söka", "none": "Inga förslag med dessa filter.",
        "owner": "Ansvarig", "note": "Anteckning", "who": "Ditt namn", "save": "Spara",
        "changed_by": "ändrat av {who} {at}", "unknown_who": "okänd",
        "calendar": "Kalender (prenumerera i Outlook)", "hidden": "{n} markerade som inte relevanta döljs.",
        "confirm_title": "Bekräfta: {action}", "confirm_text": "Markera ”{title}” som {status} för {name}?",
        "confirm_button": "Bekräfta", "done_title": "Sparat", "done_text": "”{title}” är nu {status} för {name}.",
        "back": "Till stadens sida", "denied_title": "Länken gäller inte",
        "denied_text": "Länken är ogiltig, har gått ut eller har dragits tillbaka. Be den som driver fundbot om en ny.",
        "bad_form": "Formuläret kunde inte tas emot (det har gått ut eller kom från en annan sida). Ladda om sidan och "
                    "försök igen.",
        "need_name": "Skriv ditt namn, så att andra ser vem som ändrade.",
        "not_found": "Sidan finns inte.", "home": "fundbot — finansieringsförslag för Klimatkontrakt 2030",
        "home_text": "Varje stad når sin sida genom länken i sina utskick.",
        "pipeline": "Ansökningar på gång", "coordinators": "Samordnarnas vy", "login": "Logga in",
        "credential": "Åtkomstnyckel", "cities_preparing": "{n} städer förbereder ansökan",
        "contact": "Kontakt", "joint": "Gemensamma möjligheter", "gaps": "Finansieringsgap",
        "cities": "Städer", "calls": "Utlysningar", "overview": "Översikt", "seen": "senast sedd {day}",
        "history": "Historik", "skip": "Hoppa till innehållet",
        "open_calls": "öppna utlysningar från {n} finansiärer", "gaps_n": "behov utan täckning",
        "suggested": "Förslag", "preparing_n": "Förbereder ansökan",
    },
    "en": {
        "title": "Funding suggestions for {name}", "as_of": "As of {day}", "filters": "Filter",
        "funder": "Funder", "any": "any", "within": "Deadline within", "days": "{n} days",
        "need": "Need", "status": "Status", "show": "Show", "search": "Search by need",
        "search_hint": "e.g. EV charging in rural areas", "search_button": "Search",
        "results_for": "Open calls for “{q}”", "relevance": "Relevance", "deadline": "Deadline",
        "rolling": "rolling / not stated", "why": "Why", "caveats": "To check",
        "ineligible": "Cannot apply", "none": "No suggestions with these filters.",
        "owner": "Owner", "note": "Note", "who": "Your name", "save": "Save",
        "changed_by": "changed by {who} {at}", "unknown_who": "unknown",
        "calendar": "Calendar (subscribe in Outlook)", "hidden": "{n} marked not relevant are hidden.",
        "confirm_title": "Confirm: {action}", "confirm_text": "Mark “{title}” as {status} for {name}?",
        "confirm_button": "Confirm", "done_title": "Saved", "done_text": "“{title}” is now {status} for {name}.",
        "back": "To the city's page", "denied_title": "This link is not valid",
        "denied_text": "The link is invalid, has expired or was withdrawn. Ask whoever runs fundbot for a new one.",
        "bad_form": "The form could not be accepted (it expired or came from another page). Reload the page and "
                    "try again.",
        "need_name": "Type your name, so that others see who changed it.",
        "not_found": "No such page.", "home": "fundbot — funding suggestions for Klimatkontrakt 2030",
        "home_text": "Each city reaches its page through the link in its digests.",
        "pipeline": "Applications under way", "coordinators": "Coordinators' view", "login": "Sign in",
        "credential": "Access key", "cities_preparing": "{n} cities preparing an application",
        "contact": "Contact", "joint": "Joint opportunities", "gaps": "Financing gaps",
        "cities": "Cities", "calls": "Calls", "overview": "Overview", "seen": "last seen {day}",
        "history": "History", "skip": "Skip to content",
        "open_calls": "open calls from {n} funders", "gaps_n": "needs without cover",
        "suggested": "Suggestions", "preparing_n": "Preparing an application",
    },
}


def words(language: str) -> dict:
    lang = language if language in WORDS else "sv"
    return dict(WORDS[lang], statuses=STATUS_WORDS[lang], lang=lang)
