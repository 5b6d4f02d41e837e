"""Slack through slack-sdk's WebClient — exactly once.

Every post carries message metadata naming the city and the outbox rows it
delivers.  Before posting, pending rows are reconciled against the channel's
``conversations.history``: a row whose message is already there (the process
died between "posted" and "recorded") is marked sent, not posted again.
Each message is recorded as sent as soon as Slack confirms it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Callable

from ..config import ChannelSpec
from . import Digest, NotConfigured, SendResult
from .blocks import digest_messages

log = logging.getLogger(__name__)

EVENT_TYPE = "fundbot_suggestion"
# errors that retrying cannot fix: the channel stops until someone acts
PERMANENT = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
             "channel_not_found", "not_in_channel", "is_archived", "missing_scope", "no_permission"}


class ChannelBlocked(Exception):
    """A permanent error: stop retrying this channel; show it in status."""


class SlackChannel:
    kind = "slack"
    min_interval = 1.0  # at most one message per second per channel

    def __init__(self, token: str, base_url: str, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, timeout: int = 30):
        from slack_sdk import WebClient
        from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

        self.client = WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)])
        self.sleep, self.clock = sleep, clock
        self._last_post: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings, environ) -> "SlackChannel":
        token = environ.get(settings.slack.token_env)
        if not token:
            raise NotConfigured(f"Slack is off: set the environment variable {settings.slack.token_env} "
                                "to the bot token (xoxb-…)")
        return cls(token, settings.slack.base_url)

    # --- exactly once: what is already in the channel ------------------------------

    def delivered(self, spec: ChannelSpec, city: str, since: dt.datetime) -> set[int]:
        """Outbox rows of ``city`` that messages in the channel already carry."""
        from slack_sdk.errors import SlackApiError

        found: set[int] = set()
        cursor = None
        try:
            while True:
                resp = self.client.conversations_history(channel=spec.target, oldest=str(since.timestamp() - 60),
                                                         include_all_metadata=True, limit=200, cursor=cursor)
                for message in resp.get("messages", []):
                    meta = message.get("metadata") or {}
                    payload = meta.get("event_payload") or {}
                    if meta.get("event_type") == EVENT_TYPE and payload.get("city") == city:
                        found.update(int(d) for d in payload.get("deliveries", []))
                cursor = (resp.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return found
        except SlackApiError as exc:
            self._raise_permanent(exc)
            raise

    # --- follow-ups, threaded under the suggestion ----------------------------------------

    def notify(self, spec: ChannelSpec, notice) -> str:
        """Post a follow-up as a reply in the suggestion's thread — once: the
        thread is read first, and a reply carrying this row is not repeated."""
        from slack_sdk.errors import SlackApiError

        from .blocks import notice_text

        try:
            if notice.thread:
                replies = self.client.conversations_replies(channel=spec.target, ts=notice.thread,
                                                            include_all_metadata=True)
                for message in replies.get("messages", []):
                    payload = (message.get("metadata") or {}).get("event_payload") or {}
                    if notice.delivery_id in [int(d) for d in payload.get("deliveries", [])]:
                        return str(message.get("ts"))
            self._pace(spec.target)
            resp = self.client.chat_postMessage(
                channel=spec.target, thread_ts=notice.thread, text=notice_text(notice), unfurl_links=False,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"city": notice.city_id,
                                                                      "deliveries": [notice.delivery_id]}})
        except SlackApiError as exc:
            self._raise_permanent(exc)
            raise
        return str(resp.get("ts"))

    # --- posting ----------------------------------------------------------------------

    def send(self, spec: ChannelSpec, digest: Digest, confirm: Callable[[list[int], str], None]) -> SendResult:
        """Post the digest (one message, or several if it is long); ``confirm``
        records each message's rows as soon as Slack accepts it."""
        from slack_sdk.errors import SlackApiError

        sent: list[int] = []
        for items, blocks, fallback in digest_messages(digest):
            ids = [i.delivery_id for i in items]
            self._pace(spec.target)
            try:
                resp = self.client.chat_postMessage(
                    channel=spec.target, text=fallback, blocks=blocks, unfurl_links=False, unfurl_media=False,
                    metadata={"event_type": EVENT_TYPE, "event_payload": {"city": digest.city_id, "deliveries": ids}})
            except SlackApiError as exc:
                self._raise_permanent(exc)
                error = exc.response.get("error") if exc.response is not None else str(exc)
                return SendResult(sent=tuple(sent), failed=tuple(i.delivery_id for i in digest.items
                                                                  if i.delivery_id not in sent),
                                  error=f"Slack: {error}")
            except Exception as exc:  # noqa: BLE001 - network: transient, retried next cycle
                return SendResult(sent=tuple(sent), failed=tuple(i.delivery_id for i in digest.items
                                                                  if i.delivery_id not in sent),
                                  error=f"Slack unreachable: {type(exc).__name__}: {exc}")
            confirm(ids, str(resp.get("ts")))
            sent.extend(ids)
        return SendResult(sent=tuple(sent))

    def _pace(self, channel: str) -> None:
        last = self._last_post.get(channel)
        if last is not None:
            wait = self.min_interval - (self.clock() - last)
            if wait > 0:
                self.sleep(wait)
        self._last_post[channel] = self.clock()

    @staticmethod
    def _raise_permanent(exc) -> None:
        error = exc.response.get("error") if getattr(exc, "response", None) is not None else None
        if error in PERMANENT:
            raise ChannelBlocked(f"Slack refused: {error}") from exc
