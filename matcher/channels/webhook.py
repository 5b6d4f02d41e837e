"""Slack incoming webhooks: the URL comes from the environment variable the
channel's ``target`` names.  A webhook answers only "ok" — it cannot be read
back — so delivery is at least once: a row is recorded the moment Slack
accepts its message; a crash between the two re-sends that one message."""

from __future__ import annotations

from . import ChannelBlocked, Digest, NotConfigured, Notice, SendResult
from .blocks import MAX_SECTION, PER_MESSAGE, digest_messages, notice_mrkdwn

# what a webhook answers once it is removed or its channel archived: retrying cannot help
GONE = {403, 404, 410}


class SlackWebhookChannel:
    kind = "slack-webhook"
    reads_back = False
    max_items = PER_MESSAGE
    max_title = 500
    max_text = MAX_SECTION

    def __init__(self, spec, channels, timeout: int = 30):
        from slack_sdk.webhook import WebhookClient

        url = channels.environ.get(spec.target or "")
        if not url:
            raise NotConfigured(f"slack-webhook: set the environment variable {spec.target} to the webhook URL")
        self.client = WebhookClient(url, timeout=timeout)

    def _refused(self, resp) -> str | None:
        if resp.status_code in GONE:
            raise ChannelBlocked(f"the Slack webhook answered HTTP {resp.status_code} ({resp.body[:60]}): "
                                 "it was removed or its channel archived")
        return None if resp.status_code == 200 else f"webhook answered HTTP {resp.status_code}: {resp.body[:100]}"

    def send(self, digest: Digest, confirm) -> SendResult:
        sent: list[int] = []
        for items, blocks, fallback in digest_messages(digest, url_buttons=True):
            ids = [i.delivery_id for i in items]
            rest = tuple(i.delivery_id for i in digest.items if i.delivery_id not in sent)
            try:
                resp = self.client.send(text=fallback, blocks=blocks)
            except Exception as exc:  # noqa: BLE001 - transient: retried next cycle
                return SendResult(tuple(sent), rest, f"webhook unreachable: {type(exc).__name__}")
            error = self._refused(resp)
            if error:
                return SendResult(tuple(sent), rest, error)
            confirm(ids, "webhook")
            sent.extend(ids)
        return SendResult(tuple(sent))

    def notify(self, notice: Notice) -> str:
        error = self._refused(self.client.send(text=notice_mrkdwn(notice)))
        if error:
            raise RuntimeError(error)
        return "webhook"
