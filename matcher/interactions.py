"""Button clicks from Slack (Socket Mode `block_actions` payloads): each click
is a city's decision on a call, recorded with who clicked — the same as
`fundbot mark`.  "Not relevant" also updates the message so the channel sees
it was handled."""

from __future__ import annotations

import datetime as dt
import logging

log = logging.getLogger(__name__)

ACTIONS = {"fundbot_relevant": "relevant", "fundbot_not_relevant": "not-relevant", "fundbot_apply": "applying"}
DONE = {"sv": {"relevant": "Markerad som relevant", "not-relevant": "Markerad som inte relevant",
               "applying": "Ni söker – påminnelse före sista dag"},
        "en": {"relevant": "Marked relevant", "not-relevant": "Marked not relevant",
               "applying": "You apply – reminder before the deadline"}}


def handle_block_actions(payload: dict, store, *, client=None, language: str = "sv", language_of=None,
                         now: dt.datetime | None = None) -> list[tuple[str, int, str]]:
    """Record every fundbot button in the payload; returns (city, call id, mark).
    The message is updated in ``language_of(city)`` (else ``language``)."""
    if payload.get("type") != "block_actions":
        return []
    now = now or dt.datetime.now(dt.timezone.utc)
    user = payload.get("user") or {}
    who = user.get("username") or user.get("name") or user.get("id")
    done = []
    blocks = list((payload.get("message") or {}).get("blocks") or [])
    changed = False
    for action in payload.get("actions") or []:
        mark = ACTIONS.get(action.get("action_id"))
        if mark is None:
            continue
        try:
            delivery = store.delivery(int(action.get("value")))
        except (TypeError, ValueError):
            delivery = None
        if delivery is None:
            log.warning("button for an unknown suggestion %r ignored", action.get("value"))
            continue
        store.add_mark(delivery.city, delivery.call_id, mark, who, now, via="slack")
        done.append((delivery.city, delivery.call_id, mark))
        lang = (language_of(delivery.city) if language_of else None) or language
        text = DONE.get(lang, DONE["en"])[mark] + (f" (<@{user['id']}>)" if user.get("id") else "")
        for k, block in enumerate(blocks):
            if block.get("block_id") == f"fundbot-{delivery.id}":
                blocks[k] = {"type": "context", "block_id": block["block_id"],
                             "elements": [{"type": "mrkdwn", "text": text}]}
                changed = True
    if changed and client is not None and payload.get("channel") and payload.get("message"):
        client.chat_update(channel=payload["channel"]["id"], ts=payload["message"]["ts"], blocks=blocks,
                           text=(payload["message"].get("text") or "fundbot"))
    return done


def make_listener(store, web_client, language_of=None):
    """The Socket Mode listener: acknowledge every request at once (Slack
    wants it within 3 s), then record the clicks of interactive ones."""
    from slack_sdk.socket_mode.response import SocketModeResponse

    def listener(client, req) -> None:
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        if req.type != "interactive":
            return
        try:
            for city, call_id, mark in handle_block_actions(req.payload, store, client=web_client,
                                                            language_of=language_of):
                log.info("button: %s marked call %s %s", city, call_id, mark)
        except Exception:  # noqa: BLE001 - one bad click never stops the listener
            log.exception("button click could not be recorded")

    return listener


def start_socket_mode(app_token: str, web_client, store, language_of=None) -> object:
    """Listen for button clicks over Socket Mode (no public endpoint needed);
    returns the running client.  ``language_of(city)`` picks the reply language."""
    from slack_sdk.socket_mode import SocketModeClient

    sm = SocketModeClient(app_token=app_token, web_client=web_client)
    sm.socket_mode_request_listeners.append(make_listener(store, web_client, language_of))
    sm.connect()
    return sm
