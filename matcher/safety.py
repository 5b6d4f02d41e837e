"""Nothing a funder's page says becomes active content.

Everything read from a feed is hostile.  Three things make text dangerous
once it is shown: a link that is not a web address (``javascript:``,
``data:``, ``vbscript:`` run code when clicked), characters that drive a
terminal or reorder what a reader sees (ESC sequences, C0/C1 controls, bidi
overrides, zero-width characters), and a cell that a spreadsheet reads as a
formula.  Feed text is cleaned once, where every adapter's records pass
(:func:`clean_record`, called by the cycle before storing); links are checked
again wherever one is written out (a store or an old ``report.json`` from an
earlier version may hold anything), and every CSV cell goes through
:func:`csv_cell`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from urllib.parse import urlsplit

from .models import CallRecord

# ESC-introduced sequences: CSI (ESC [ … final byte), OSC (ESC ] … BEL or ESC \), and two-byte escapes
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
# controls other than tab and line feed (C0, DEL, C1), bidi embeddings/overrides/isolates and marks, zero-width
# characters and the BOM; U+2028/2029 (line/paragraph separators) become line feeds
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                        "\u2066-\u206f\ufeff\ufff9-\ufffb]")
_TEXT_FIELDS = ("source", "native_id", "funder", "title", "text", "identifier", "programme", "budget", "eligibility")


def clean_text(value: str | None) -> str | None:
    """``value`` without escape sequences, control, bidi and zero-width
    characters (tabs become spaces; CR, CRLF and U+2028/9 become line feeds)."""
    if value is None:
        return None
    value = unicodedata.normalize("NFC", str(value))
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    value = value.replace("\t", " ")
    return _INVISIBLE.sub("", _ESCAPES.sub("", value))


def safe_url(value: str | None) -> str | None:
    """``value`` if it is an absolute http(s) address with a host and nothing
    that could break out of a link (whitespace, controls, quotes, angle
    brackets, a Slack ``|``); else None."""
    if not value or not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > 4000 or any(c.isspace() or unicodedata.category(c)[0] == "C" for c in url):
        return None
    if any(c in url for c in "<>\"'`|\\"):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def clean_record(record: CallRecord) -> tuple[CallRecord, bool]:
    """The record with its text cleaned (:func:`clean_text`) and a link that
    is not a safe web address (:func:`safe_url`) dropped; and whether one was."""
    changes = {name: clean_text(getattr(record, name)) for name in _TEXT_FIELDS}  # None stays None
    url = safe_url(record.url)
    dropped = bool(record.url) and url is None
    changes["url"] = url
    return dataclasses.replace(record, **changes), dropped


def csv_cell(value):
    """A CSV cell a spreadsheet will not read as a formula (OWASP: a text
    starting with =, +, -, @, tab or CR gets a leading apostrophe)."""
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        try:
            float(value)  # a plain negative number is not a formula
        except ValueError:
            return "'" + value
    return value


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through :func:`csv_cell`."""

    def __init__(self, fh):
        import csv

        self._writer = csv.writer(fh)

    def writerow(self, row) -> None:
        self._writer.writerow([csv_cell(v) for v in row])


# --- secrets never shown ------------------------------------------------------------------------

_SECRETS: set[str] = set()
_SECRET_PATTERNS = [
    # a URL's query values that carry credentials (a Teams Workflows URL's sig=, an API key …)
    (re.compile(r"(?i)([?&;](?:sig|signature|token|access_token|key|apikey|api[-_]key|code|password|passwd|pwd|"
                r"secret|client_secret)=)[^&#\s'\"<>]+"), r"\1***"),
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), "xox*-***"),  # Slack tokens
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), "xapp-***"),
    (re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s'\"<>]+"), r"\1***"),
    (re.compile(r"(?i)(://[^/\s:@]*:)[^@\s]+@"), r"\1***@"),  # user:password@host
    (re.compile(r"(?i)(\bpassword\s*=\s*)[^\s&;'\"]+"), r"\1***"),
]


def remember_secret(value: str | None) -> None:
    """A value that must never be shown (a token, a webhook URL, a password):
    :func:`redact` removes it wherever it appears."""
    if value and len(value.strip()) >= 6:
        _SECRETS.add(value.strip())


def remember_environment_secrets(dep) -> None:
    """Every secret the deployment's files name by environment variable:
    Slack tokens, the e-mail password, webhook URLs, PGPASSWORD."""
    import os

    s = dep.settings
    names = {s.slack.token_env, s.slack.app_token_env, getattr(s.email, "password_env", None), "PGPASSWORD"}
    for profile in dep.profiles:
        for channel in profile.channels:
            if channel.kind in ("teams", "slack-webhook", "webhook") and channel.target:
                names.add(channel.target)
    for source in dep.sources:
        names.add(source.options.get("key_env"))
    for name in names:
        if name:
            remember_secret(os.environ.get(name))


def redact(text: str | None) -> str | None:
    """``text`` with every remembered secret and anything shaped like one
    (credential query values, Slack tokens and webhook paths, URL passwords) replaced by ***."""
    if not text:
        return text
    text = str(text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Every log line as written — third-party loggers' and tracebacks included — redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
