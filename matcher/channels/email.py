"""E-mail over SMTP (STARTTLS unless turned off), a text and an HTML part.
Settings in ``[email]``; the password only from the environment variable
``password_env`` names.  At least once: a message accepted by the server is
recorded at once; a crash between the two re-sends that one message."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from . import Digest, NotConfigured, Notice, SendResult
from .console import format_digest, format_notice
from .text import FIELD_LIMITS, cut, format_date, labels, notice_text, seen_note, stage_note


def html_digest(digest: Digest) -> str:
    """The digest as the e-mail's HTML part (templates/email.html, autoescaped)."""
    from ..templates import environment

    items = []
    for item in digest.items:
        deadline = (format_date(item.deadline, digest.language, digest.timezone) if item.deadline
                    else labels(digest.language)["rolling"]) + stage_note(item.stage, item.status, digest.language)
        if item.seen_on:
            deadline += f" · {seen_note(item.seen_on, digest.language)}"
        items.append({"url": item.url, "title": item.title, "funder": item.funder, "deadline": deadline,
                      "relevance": round(item.score * 100), "need": item.need_text, "passage": item.passage,
                      "caveats": "; ".join(item.caveats),
                      "actions": [(labels(digest.language)["actions"][a], url) for a, url in item.actions]})
    return environment().get_template("email.html").render(t=labels(digest.language), digest=digest, items=items)


class EmailChannel:
    kind = "email"
    reads_back = False
    max_items = 1000  # one message holds the whole digest
    max_title = FIELD_LIMITS["title"]
    max_text = FIELD_LIMITS["passage"]
    max_subject = 120

    def __init__(self, spec, channels):
        s = channels.settings.email if channels.settings is not None else None
        if s is None or not s.host or not s.from_addr:
            raise NotConfigured("email: set [email] host and from_addr in config.toml")
        self.password = None
        if s.user:
            self.password = channels.environ.get(s.password_env or "")
            if not self.password:
                raise NotConfigured(f"email: set the environment variable {s.password_env} to the SMTP password")
        self.settings, self.to = s, spec.target or ""

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=30)
        if s.starttls:
            smtp.starttls()
        if s.user:
            smtp.login(s.user, self.password)
        return smtp

    def _message(self, to: str, subject: str, text: str, html_body: str | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.from_addr
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(text)
        if html_body:
            msg.add_alternative(html_body, subtype="html")
        return msg

    def send(self, digest: Digest, confirm) -> SendResult:
        t = labels(digest.language)
        msg = self._message(self.to, t["header"].format(name=digest.city_name),
                            format_digest(digest), html_digest(digest))
        ids = [i.delivery_id for i in digest.items]
        try:
            smtp = self._connect()
            try:
                smtp.send_message(msg)
            finally:
                smtp.quit()
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult((), tuple(ids), f"SMTP: {type(exc).__name__}: {exc}")
        confirm(ids, "email")
        return SendResult(tuple(ids))

    def notify(self, notice: Notice) -> str:
        subject = cut(" ".join(notice_text(notice).line().split()), self.max_subject)
        smtp = self._connect()
        try:
            smtp.send_message(self._message(self.to, subject, format_notice(notice)))
        finally:
            smtp.quit()
        return "email"
