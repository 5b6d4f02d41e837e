"""Slack incoming webhooks: the URL comes from the environment variable the
channel's ``target`` names.  A webhook answers only "ok" — it cannot be read
back — so delivery is at least once: a row is recorded the moment Slack
accepts its message; a crash between the two re-sends that one message."""

from __future__ import annotations

import os

from ..config import ChannelSpec
from . import Digest, NotConfigured, SendResult
from .blocks import digest_messages, notice_text


class SlackWebhookChannel:
    kind = "slack-webhook"

    def __init__(self, environ=None, timeout: int = 30):
        self.environ = os.environ if environ is None else environ
        self.timeout = timeout

    def _client(self, spec: ChannelSpec):
        from slack_sdk.webhook import WebhookClient

        url = self.environ.get(spec.target or "")
        if not url:
            raise NotConfigured(f"slack-webhook: set the environment variable {spec.target} to the webhook URL")
        return WebhookClient(url, timeout=self.timeout)

    def send(self, spec: ChannelSpec, digest: Digest, confirm) -> SendResult:
        client = self._client(spec)
        sent: list[int] = []
        for items, blocks, fallback in digest_messages(digest):
            ids = [i.delivery_id for i in items]
            try:
                resp = client.send(text=fallback, blocks=blocks)
            except Exception as exc:  # noqa: BLE001 - transient: retried next cycle
                return SendResult(tuple(sent), tuple(i.delivery_id for i in digest.items if i.delivery_id not in sent),
                                  f"webhook unreachable: {type(exc).__name__}")
            if resp.status_code != 200:
                return SendResult(tuple(sent), tuple(i.delivery_id for i in digest.items if i.delivery_id not in sent),
                                  f"webhook answered HTTP {resp.status_code}: {resp.body[:100]}")
            confirm(ids, "webhook")
            sent.extend(ids)
        return SendResult(tuple(sent))

    def notify(self, spec: ChannelSpec, notice) -> str:
        resp = self._client(spec).send(text=notice_text(notice))
        if resp.status_code != 200:
            raise RuntimeError(f"webhook answered HTTP {resp.status_code}")
        return "webhook"
