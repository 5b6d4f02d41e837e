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

from . import ChannelBlocked, Digest, NotConfigured, Notice, SendResult
from .blocks import MAX_SECTION, PER_MESSAGE, digest_messages, notice_mrkdwn

log = logging.getLogger(__name__)

EVENT_TYPE = "fundbot_suggestion"
# errors that retrying cannot fix: the channel stops until someone acts
PERMANENT = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
             "channel_not_found", "not_in_channel", "is_archived", "missing_scope", "no_permission"}


def web_client(settings, environ, timeout: int = 30):
    """slack-sdk's WebClient for the bot token in the environment (retrying
    dropped connections and rate limits); None when the token is not set."""
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

    token = environ.get(settings.slack.token_env)
    if not token:
        return None
    return WebClient(token=token, base_url=settings.slack.base_url, timeout=timeout, retry_handlers=[
        ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)])


class SlackChannel:
    kind = "slack"
    reads_back = True  # conversations.history carries each message's outbox rows
    max_items = PER_MESSAGE
    max_title = 500
    max_text = MAX_SECTION
    min_interval = 1.0  # at most one message per second per channel

    def __init__(self, spec, channels, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.client = web_client(channels.settings, channels.environ) if channels.settings is not None else None
        if self.client is None:
            env = channels.settings.slack.token_env if channels.settings is not None else "SLACK_BOT_TOKEN"
            raise NotConfigured(f"Slack is off: set the environment variable {env} to the bot token (xoxb-…)")
        self.target = spec.target
        self.sleep, self.clock = sleep, clock
        self._last_post: float | None = None

    # --- exactly once: what is already in the channel ------------------------------

    def delivered(self, city: str, since: dt.datetime) -> set[int]:
        """Outbox rows of ``city`` that messages in the channel already carry."""
        from slack_sdk.errors import SlackApiError

        found: set[int] = set()
        cursor = None
        try:
            while True:
                resp = self.client.conversations_history(channel=self.target, oldest=str(since.timestamp() - 60),
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

    def notify(self, notice: Notice) -> str:
        """Post a follow-up as a reply in the suggestion's thread — once: the
        thread is read first, and a reply carrying this row is not repeated."""
        from slack_sdk.errors import SlackApiError

        try:
            if notice.thread:
                replies = self.client.conversations_replies(channel=self.target, ts=notice.thread,
                                                            include_all_metadata=True)
                for message in replies.get("messages", []):
                    payload = (message.get("metadata") or {}).get("event_payload") or {}
                    if notice.delivery_id in [int(d) for d in payload.get("deliveries", [])]:
                        return str(message.get("ts"))
            self._pace()
            resp = self.client.chat_postMessage(
                channel=self.target, thread_ts=notice.thread, text=notice_mrkdwn(notice), unfurl_links=False,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"city": notice.city_id,
                                                                      "deliveries": [notice.delivery_id]}})
        except SlackApiError as exc:
            self._raise_permanent(exc)
            raise
        return str(resp.get("ts"))

    # --- posting ----------------------------------------------------------------------

    def send(self, digest: Digest, confirm: Callable[[list[int], str], None]) -> SendResult:
        """Post the digest (one message, or several if it is long); ``confirm``
        records each message's rows as soon as Slack accepts it."""
        from slack_sdk.errors import SlackApiError

        sent: list[int] = []
        for items, blocks, fallback in digest_messages(digest):
            ids = [i.delivery_id for i in items]
            self._pace()
            try:
                resp = self.client.chat_postMessage(
                    channel=self.target, text=fallback, blocks=blocks, unfurl_links=False, unfurl_media=False,
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

    def _pace(self) -> None:
        if self._last_post is not None:
            wait = self.min_interval - (self.clock() - self._last_post)
            if wait > 0:
                self.sleep(wait)
        self._last_post = self.clock()

    @staticmethod
    def _raise_permanent(exc) -> None:
        error = exc.response.get("error") if getattr(exc, "response", None) is not None else None
        if error in PERMANENT:
            raise ChannelBlocked(f"Slack refused: {error}") from exc
