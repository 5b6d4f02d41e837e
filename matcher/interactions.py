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


SLASH = {"sv": {"usage": "Skriv vad ni söker finansiering för, t.ex. `/fundbot laddinfrastruktur på landsbygden`.",
                "no_city": "Den här kanalen hör inte till någon stad i fundbot.",
                "head": "Bästa öppna utlysningar för {name}: ”{q}”", "none": "Inga öppna utlysningar passar.",
                "home": "Aktuella förslag för {name}", "no_home": "Du är inte med i någon stads fundbot-kanal.",
                "empty": "Inga förslag just nu."},
         "en": {"usage": "Type what you seek funding for, e.g. `/fundbot EV charging in rural areas`.",
                "no_city": "This channel belongs to no city in fundbot.",
                "head": "Best open calls for {name}: “{q}”", "none": "No open call fits.",
                "home": "Current suggestions for {name}", "no_home": "You are in no city's fundbot channel.",
                "empty": "No suggestions right now."}}
MAX_HOME_CITIES = 10


def slack_cities(dep) -> dict[str, str]:
    """Slack channel id → the city whose channel it is."""
    return {c.target: p.city.id for p in dep.profiles for c in p.channels if c.kind == "slack" and c.target}


def _line(title: str, url: str | None, funder: str, deadline, score: float, status: str, stage: str,
          language: str, zone: str) -> str:
    from .channels.blocks import escape
    from .channels.text import format_date, labels, stage_note

    t = labels(language)
    link = f"<{escape(url)}|{escape(title)}>" if url else escape(title)
    when = (format_date(deadline, language, zone) + stage_note(stage, status, language)) if deadline else t["rolling"]
    return f"*{link}*\n{escape(funder)} · {t['deadline']}: {when} · {t['relevance']}: {round(score * 100)} %"


def slash_command(payload: dict, dep, store, embedder, now: dt.datetime | None = None) -> dict:
    """The answer to ``/fundbot <text>`` (only the person who asked sees it):
    the best open calls for that text for the channel's city (:mod:`matcher.search`)."""
    from .channels.blocks import escape
    from .search import search_calls

    now = now or dt.datetime.now(dt.timezone.utc)
    city = slack_cities(dep).get(payload.get("channel_id") or "")
    profile = next((p for p in dep.profiles if p.city.id == city), None)
    lang = profile.city.language if profile else "sv"
    w = SLASH.get(lang, SLASH["sv"])
    text = " ".join(str(payload.get("text") or "").split())[:300]
    if profile is None:
        return {"response_type": "ephemeral", "text": w["no_city"]}
    if len(text) < 2:
        return {"response_type": "ephemeral", "text": w["usage"]}
    hits = search_calls(dep, store, embedder, profile, text, top=min(dep.settings.web.search_top, 10), now=now)
    head = w["head"].format(name=profile.city.name, q=text)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": escape(head)[:3000]}}]
    for h in hits:
        c, m = h.call, h.match
        from .safety import safe_url

        line = _line(c.record.title, safe_url(c.record.url), c.record.funder, h.deadline, m.score, c.status(h.at),
                     c.stage(h.deadline), lang, dep.settings.timezone)
        quote = "> " + escape(" ".join(m.passage.split()))[:600]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": (line + "\n" + quote)[:3000]}})
    if not hits:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": w["none"]}})
    return {"response_type": "ephemeral", "text": escape(head)[:3000], "blocks": blocks[:50]}


def home_view(user_id: str, client, dep, store) -> dict:
    """The App Home tab: the current list of each city whose fundbot channel the user is in."""
    from .channels.blocks import escape
    from .suggest import suggestions

    channels = slack_cities(dep)
    mine: list[str] = []
    cursor = None
    while True:
        page = client.users_conversations(user=user_id, types="public_channel,private_channel", limit=200,
                                          **({"cursor": cursor} if cursor else {}))
        mine += [c["id"] for c in page.get("channels") or [] if c.get("id") in channels]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    cities = list(dict.fromkeys(channels[c] for c in mine))[:MAX_HOME_CITIES]
    blocks: list[dict] = []
    for city in cities:
        profile = dep.profile(city)
        lang = profile.city.language
        w = SLASH.get(lang, SLASH["sv"])
        blocks.append({"type": "header", "text": {"type": "plain_text",
                                                  "text": w["home"].format(name=profile.city.name)[:150]}})
        rows = suggestions(store, profile, top=5, timezone=dep.settings.timezone) or []
        for r in rows:
            deadline = dt.datetime.fromisoformat(r["deadline"]) if r["deadline"] else None
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _line(
                r["title"], r["url"], r["funder"], deadline, r["score"], r["status"], r["stage"] or "", lang,
                dep.settings.timezone)[:3000]}})
        if not rows:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": w["empty"]}})
    if not blocks:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": escape(SLASH["sv"]["no_home"])}}]
    return {"type": "home", "blocks": blocks[:100]}


def make_listener(store, web_client, language_of=None, *, dep=None, embedder=None):
    """The Socket Mode listener: acknowledge every request at once (Slack
    wants it within 3 s), then record the clicks of interactive ones.  With
    ``dep`` (and ``embedder``), also ``/fundbot <text>`` (the answer goes
    with the acknowledgement) and the App Home tab."""
    from slack_sdk.socket_mode.response import SocketModeResponse

    def listener(client, req) -> None:
        if req.type == "slash_commands" and dep is not None:
            try:
                answer = slash_command(req.payload, dep, store, embedder)
            except Exception:  # noqa: BLE001 - the command fails alone; Slack still gets its acknowledgement
                log.exception("/fundbot could not be answered")
                answer = {"response_type": "ephemeral", "text": "fundbot: error"}
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=answer))
            return
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        if req.type == "events_api" and dep is not None:
            event = (req.payload or {}).get("event") or {}
            if event.get("type") == "app_home_opened" and event.get("tab", "home") == "home" and event.get("user"):
                try:
                    web_client.views_publish(user_id=event["user"], view=home_view(event["user"], web_client, dep,
                                                                                    store))
                except Exception:  # noqa: BLE001
                    log.exception("the App Home tab could not be published")
            return
        if req.type != "interactive":
            return
        try:
            for city, call_id, mark in handle_block_actions(req.payload, store, client=web_client,
                                                            language_of=language_of):
                log.info("button: %s marked call %s %s", city, call_id, mark)
        except Exception:  # noqa: BLE001 - one bad click never stops the listener
            log.exception("button click could not be recorded")

    return listener


def start_socket_mode(app_token: str, web_client, store, language_of=None, *, dep=None, embedder=None) -> object:
    """Listen for button clicks over Socket Mode (no public endpoint needed);
    returns the running client.  ``language_of(city)`` picks the reply language."""
    from slack_sdk.socket_mode import SocketModeClient

    sm = SocketModeClient(app_token=app_token, web_client=web_client)
    sm.socket_mode_request_listeners.append(make_listener(store, web_client, language_of, dep=dep, embedder=embedder))
    sm.connect()
    return sm
