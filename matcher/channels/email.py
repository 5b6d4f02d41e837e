"""E-mail over SMTP (STARTTLS unless turned off), a text and an HTML part.
Settings in ``[email]``; the password only from the environment variable
``password_env`` names.  At least once: a message accepted by the server is
recorded at once; a crash between the two re-sends that one message."""

from __future__ import annotations

import html
import os
import smtplib
from email.message import EmailMessage

from ..config import ChannelSpec
from . import Digest, NotConfigured, SendResult, cut, seen_note, stage_note
from .blocks import format_date, labels
from .console import format_digest


def html_digest(digest: Digest) -> str:
    t = labels(digest.language)
    e = html.escape
    parts = [f"<h2>{e(t['header'].format(name=digest.city_name))}</h2>", "<ol>"]
    for item in digest.items:
        deadline = format_date(item.deadline, digest.language, digest.timezone) if item.deadline else t["rolling"]
        deadline += stage_note(item.stage, item.status, digest.language)
        if item.seen_on:
            deadline += f" · {seen_note(item.seen_on, digest.language)}"
        title = f'<a href="{e(item.url)}">{e(item.title)}</a>' if item.url else e(item.title)
        parts.append(
            f"<li><p><strong>{title}</strong><br>{e(t['funder'])}: {e(item.funder)}<br>"
            f"{e(t['deadline'])}: {e(deadline)} · {e(t['relevance'])}: {round(item.score * 100)} %<br>"
            f"{e(t['need'])}: {e(item.need_text)}</p><blockquote>{e(item.passage)}</blockquote>"
            + (f"<p><em>{e(t['caveats'])}: {e('; '.join(item.caveats))}</em></p>" if item.caveats else "")
            + "</li>")
    parts += ["</ol>", f"<p><small>{e(t['footer'].format(city=digest.city_id))}</small></p>"]
    return "\n".join(parts)


class EmailChannel:
    kind = "email"

    def __init__(self, settings, environ=None):
        self.settings = settings
        self.environ = os.environ if environ is None else environ

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if not s.host or not s.from_addr:
            raise NotConfigured("email: set [email] host and from_addr in config.toml")
        smtp = smtplib.SMTP(s.host, s.port, timeout=30)
        if s.starttls:
            smtp.starttls()
        if s.user:
            password = self.environ.get(s.password_env or "")
            if not password:
                smtp.quit()
                raise NotConfigured(f"email: set the environment variable {s.password_env} to the SMTP password")
            smtp.login(s.user, password)
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

    def send(self, spec: ChannelSpec, digest: Digest, confirm) -> SendResult:
        digest = digest.within_limits()
        t = labels(digest.language)
        msg = self._message(spec.target or "", t["header"].format(name=digest.city_name),
                            format_digest(digest), html_digest(digest))
        ids = [i.delivery_id for i in digest.items]
        try:
            smtp = self._connect()
            try:
                smtp.send_message(msg)
            finally:
                smtp.quit()
        except NotConfigured:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult((), tuple(ids), f"SMTP: {type(exc).__name__}: {exc}")
        confirm(ids, "email")
        return SendResult(tuple(ids))

    def notify(self, spec: ChannelSpec, notice) -> str:
        from .blocks import notice_text

        text = notice_text(notice).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        smtp = self._connect()
        try:
            smtp.send_message(self._message(spec.target or "", cut(" ".join(text.split()), 120), text))
        finally:
            smtp.quit()
        return "email"
