"""Slack delivery against a local Slack-compatible server: Block Kit limits,
escaping, language, exactly once across crashes and outages, permanent errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fakeslack import FakeSlack
from matcher.channels import Digest, DigestItem
from matcher.channels.blocks import MAX_BLOCKS, MAX_SECTION, digest_messages, escape
from matcher.channels.text import format_date

TOKEN_ENV = "FUNDBOT_TEST_SLACK_TOKEN"
HOSTILE = "Grant for <!channel> cities & <https://evil.example|click here> *now*"


def item(n: int, **kw) -> DigestItem:
    base = dict(delivery_id=n, title=f"Call {n}", funder="Vinnova", url=f"https://example.org/{n}",
                deadline=dt.datetime(2027, 3, 31, 12, tzinfo=dt.timezone.utc), status="open", score=0.81,
                need_id="n1", need_text="Laddinfrastruktur", passage="Stöd till laddinfrastruktur.")
    base.update(kw)
    return DigestItem(**base)


def test_feed_text_is_escaped_and_pings_no_one():
    digest = Digest("c", "Norrby <kommun>", "en", (item(1, title=HOSTILE, passage="see <@U123> & <!here>",
                                                      funder="<!everyone>", caveats=("<tricky>",)),))
    (items, blocks, fallback), = digest_messages(digest)
    dumped = json.dumps(blocks)
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<https://evil.example", "<@U123>", "<tricky>", "<kommun>"):
        assert raw not in dumped and raw not in fallback
    assert escape(HOSTILE) in dumped  # shown as text
    assert "&amp;" in dumped


def test_limits_split_long_digests_between_items():
    long_passage = "ord " * 2000
    digest = Digest("c", "Norrby", "sv", tuple(item(n, passage=long_passage, caveats=("x",)) for n in range(30)))
    messages = digest_messages(digest)
    assert len(messages) > 1
    assert sum(len(items) for items, _, _ in messages) == 30
    for items, blocks, _ in messages:
        assert len(blocks) <= MAX_BLOCKS
        for b in blocks:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= MAX_SECTION
            if b["type"] == "header":
                assert len(b["text"]["text"]) <= 150


def test_swedish_digest_reads_swedish():
    (items, blocks, _), = digest_messages(Digest("c", "Norrby", "sv", (item(1),)))
    text = json.dumps(blocks, ensure_ascii=False)
    assert "Finansieringsförslag för Norrby" in text
    assert "Inte relevant" in text and "Vi söker" in text and "Sista dag: 31 mars 2027 kl. 14.00" in text
    (items, blocks, _), = digest_messages(Digest("c", "Norrby", "en", (item(1),)))
    assert "We apply" in json.dumps(blocks) and "31 March 2027, 14:00" in json.dumps(blocks)
    assert format_date(dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.timezone.utc), "sv") == "25 oktober 2026 kl. 02.30"


@pytest.fixture
def slack(deployment, monkeypatch):
    from conftest import use_fake_slack

    with FakeSlack() as server:
        use_fake_slack(deployment, server, monkeypatch, TOKEN_ENV)
        yield deployment, server


def run(deployment, check=True) -> dict:
    proc = deployment.cli("run", "--once", "--offline", "--json")
    if check:
        assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def sent_rows(deployment) -> dict[str, list[int]]:
    from matcher.store import Store

    store = Store(deployment.load().store_url)
    out: dict[str, list[int]] = {}
    for d in store.deliveries(status="sent"):
        out.setdefault(d.channel, []).append(d.id)
    return out


def test_digest_per_city_and_nothing_twice(slack):
    deployment, server = slack
    first = run(deployment)
    assert first["deliveries"]["sent"] > 0 and first["deliveries"]["pending"] == 0
    for channel in ("C0NORRBY", "C0SUNNANA"):
        (message,) = server.messages[channel]
        assert message["metadata"]["event_type"] == "fundbot_suggestion"
        ids = server.delivered(channel)
        assert ids and len(ids) == len(set(ids))
        assert sorted(ids) == sorted(sent_rows(deployment)[f"slack:{channel}"])
    second = run(deployment)
    assert second["deliveries"] == {"sent": 0, "pending": 0, "failed": 0}
    assert all(len(server.messages[c]) == 1 for c in ("C0NORRBY", "C0SUNNANA"))


def test_slack_down_for_a_whole_cycle_then_everything_arrives_once(slack):
    deployment, server = slack
    server.faults["conversations.history"] = ["500"] * 10
    server.faults["chat.postMessage"] = ["500"] * 10
    down = run(deployment)
    assert down["deliveries"]["sent"] == 0 and down["deliveries"]["pending"] > 0
    server.faults.clear()
    up = run(deployment)
    assert up["deliveries"]["sent"] == down["deliveries"]["pending"] and up["deliveries"]["pending"] == 0
    for channel in ("C0NORRBY", "C0SUNNANA"):
        ids = server.delivered(channel)
        assert ids and len(ids) == len(set(ids))


def test_rate_limit_is_waited_out(slack):
    deployment, server = slack
    server.faults["chat.postMessage"] = ["429"]
    summary = run(deployment)
    assert summary["deliveries"]["pending"] == 0
    assert sum(len(server.delivered(c)) for c in ("C0NORRBY", "C0SUNNANA")) == summary["deliveries"]["sent"]


def test_permanent_error_stops_that_channel_only(slack):
    deployment, server = slack
    del server.messages["C0SUNNANA"]  # the bot was never invited / the channel is gone
    summary = run(deployment)
    assert summary["deliveries"]["pending"] > 0
    assert server.delivered("C0NORRBY")
    status = json.loads(deployment.cli("status", "--json", check=True).stdout)
    (key, state), = status["stopped_channels"].items()
    assert key == "sunnana:slack:C0SUNNANA" and "channel_not_found" in state["error"]
    calls_before = len(server.calls)
    run(deployment)  # stopped: not retried in the next cycle
    assert not any(p.get("channel") == "C0SUNNANA" for _, p in server.calls[calls_before:])


def test_killed_mid_digest_then_restarted_delivers_exactly_once(slack):
    deployment, server = slack
    # the first message is stored by Slack, but its answer never reaches fundbot: it is killed first
    server.faults["chat.postMessage"] = ["slow:30"]
    proc = subprocess.Popen([sys.executable, "-m", "matcher.cli", "run", "--once", "--offline", "--json",
                             "--config", str(deployment.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=deployment.root, env=os.environ.copy())
    assert server.posted.wait(120), "nothing was posted"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert sum(len(m) for m in server.messages.values()) == 1
    summary = run(deployment)  # restart: reconciles with the channel history before posting
    assert summary["deliveries"]["pending"] == 0
    for channel in ("C0NORRBY", "C0SUNNANA"):
        ids = server.delivered(channel)
        assert ids and len(ids) == len(set(ids)), (channel, ids)
        assert len(server.messages[channel]) == 1
    rows = sent_rows(deployment)
    assert sorted(rows["slack:C0NORRBY"] + rows["slack:C0SUNNANA"]) == sorted(
        server.delivered("C0NORRBY") + server.delivered("C0SUNNANA"))


def test_no_token_switches_slack_off_with_a_reason(slack, monkeypatch):
    deployment, server = slack
    monkeypatch.delenv(TOKEN_ENV)
    proc = deployment.cli("run", "--once", "--offline", "--json")
    assert proc.returncode == 0
    assert f"set the environment variable {TOKEN_ENV}" in proc.stderr
    assert not any(server.messages.values())


def _suggested(deployment, city: str) -> list[dict]:
    return json.loads(deployment.cli("suggest", "--city", city, "--top", "50", "--json", check=True).stdout)["suggestions"]


def test_a_change_that_matters_is_a_threaded_reply_once(slack):
    deployment, server = slack
    run(deployment)
    (parent,) = server.messages["C0NORRBY"]
    sent_ids = set(server.delivered("C0NORRBY"))
    from matcher.store import Store

    store = Store(deployment.load().store_url)
    eu = next(d for d in store.deliveries(city="norrby", status="sent")
              if d.id in sent_ids and store.call(d.call_id).record.source == "eu"
              and store.call(d.call_id).record.deadlines)
    identifier = store.call(eu.call_id).record.identifier
    page = deployment.root / "feeds/snapshots/eu/page-0001.json"
    data = json.loads(page.read_text())
    for row in data["results"]:
        md = row.get("metadata") or row
        if (md.get("identifier") or [None])[0] == identifier:
            md["deadlineDate"] = ["2027-11-30T17:00:00.000+0100"]
    page.write_text(json.dumps(data))
    summary = run(deployment)
    assert summary["calls"]["changed"] >= 1
    replies = [m for m in server.messages["C0NORRBY"] if m.get("thread_ts")]
    assert len(replies) >= 1 and all(m["thread_ts"] == parent["ts"] for m in replies)
    assert any("Ändrat" in m["text"] and "30 november 2027" in m["text"] for m in replies)
    again = run(deployment)
    assert again["deliveries"]["sent"] == 0
    assert len([m for m in server.messages["C0NORRBY"] if m.get("thread_ts")]) == len(replies)


def test_reminder_before_the_deadline_of_a_call_we_apply_for(slack):
    deployment, server = slack
    run(deployment)
    target = next(s for s in _suggested(deployment, "norrby") if s["identifier"] == "HORIZON-EIC-2026-ACCELERATOR-01")
    assert deployment.cli("mark", "--city", "norrby", str(target["call_id"]), "applying").returncode == 0
    early = json.loads(deployment.cli("run", "--once", "--offline", "--as-of", "2026-11-30", "--json",
                                      check=True).stdout)
    assert not [m for m in server.messages["C0NORRBY"] if m.get("thread_ts")]  # 17 days before: too early
    due = json.loads(deployment.cli("run", "--once", "--offline", "--as-of", "2026-12-12", "--json",
                                    check=True).stdout)
    reminders = [m for m in server.messages["C0NORRBY"] if m.get("thread_ts")]
    assert len(reminders) == 1 and "Påminnelse" in reminders[0]["text"] and "17 december 2026" in reminders[0]["text"]
    deployment.cli("run", "--once", "--offline", "--as-of", "2026-12-13", check=True)
    assert len([m for m in server.messages["C0NORRBY"] if m.get("thread_ts")]) == 1
    assert early["deliveries"]["failed"] == due["deliveries"]["failed"] == 0


def test_dropped_connections_back_off_then_deliver_once(slack):
    import datetime as dt

    from matcher.channels import build_channels
    from matcher.cycle import make_clock, run_cycle
    from matcher.embed import FakeEmbedder
    from matcher.store import Store

    deployment, server = slack
    dep = deployment.load()
    store = Store(dep.store_url)
    store.migrate()
    channels = build_channels(sys.stderr, dep.settings)
    emb = FakeEmbedder(name="hashing")
    server.faults["chat.postMessage"] = ["drop"] * 12  # every try of the first cycle is cut off
    t0 = dt.datetime(2026, 11, 20, 11, tzinfo=dt.timezone.utc)
    clock = make_clock(dep, offline=True, as_of=None, now=t0)
    first = run_cycle(dep, store, emb, channels, clock, offline=True)
    assert first.deliveries["sent"] == 0 and first.deliveries["pending"] > 0
    server.faults.clear()
    soon = run_cycle(dep, store, emb, channels, make_clock(dep, offline=True, as_of=None, now=t0 + dt.timedelta(seconds=30)),
                     offline=True)
    assert soon.deliveries["sent"] == 0  # backing off: not due yet
    later = run_cycle(dep, store, emb, channels, make_clock(dep, offline=True, as_of=None, now=t0 + dt.timedelta(minutes=5)),
                      offline=True)
    assert later.deliveries["sent"] == first.deliveries["pending"] and later.deliveries["pending"] == 0
    for channel in ("C0NORRBY", "C0SUNNANA"):
        ids = server.delivered(channel)
        assert ids and len(ids) == len(set(ids))


def test_button_clicks_record_decisions_and_update_the_message(slack):
    """Interaction payloads in the documented `block_actions` shape (Slack API
    docs: type, user, actions[action_id, value, block_id], channel, message),
    built here from that documentation."""
    from slack_sdk import WebClient

    from matcher.interactions import handle_block_actions
    from matcher.store import Store

    deployment, server = slack
    run(deployment)
    (message,) = server.messages["C0NORRBY"]
    first, second = server.delivered("C0NORRBY")[:2]
    store = Store(deployment.load().store_url)
    client = WebClient(token=server.token, base_url=server.base_url)

    def click(action_id: str, delivery_id: int) -> dict:
        return {"type": "block_actions", "user": {"id": "U0ANNA", "username": "anna"},
                "channel": {"id": "C0NORRBY"}, "message": {"ts": message["ts"], "text": message["text"],
                                                            "blocks": server.messages["C0NORRBY"][0]["blocks"]},
                "actions": [{"action_id": action_id, "block_id": f"fundbot-{delivery_id}", "value": str(delivery_id),
                             "type": "button"}]}

    done = handle_block_actions(click("fundbot_not_relevant", first), store, client=client)
    call_first = store.delivery(first).call_id
    assert done == [("norrby", call_first, "not-relevant")]
    assert store.marks("norrby")[call_first] == "not-relevant"
    updated = json.dumps(server.messages["C0NORRBY"][0]["blocks"], ensure_ascii=False)
    assert "Markerad som inte relevant" in updated and f"fundbot-{first}" in updated
    assert handle_block_actions(click("fundbot_apply", second), store, client=client)[0][2] == "applying"
    assert handle_block_actions({"type": "view_submission"}, store) == []
    assert handle_block_actions(click("fundbot_apply", 99999), store) == []  # unknown suggestion: ignored
    suggestions = json.loads(deployment.cli("suggest", "--city", "norrby", "--json", check=True).stdout)["suggestions"]
    assert call_first not in {s["call_id"] for s in suggestions}  # hidden for that city


def test_socket_mode_listener_acks_every_request_and_records_clicks(slack):
    """The listener `serve` registers, fed Socket Mode requests as slack-sdk
    builds them from the socket (an envelope around the payload)."""
    from slack_sdk import WebClient
    from slack_sdk.socket_mode.request import SocketModeRequest

    from matcher.interactions import make_listener
    from matcher.store import Store

    deployment, server = slack
    run(deployment)
    (message,) = server.messages["C0NORRBY"]
    first = server.delivered("C0NORRBY")[0]
    store = Store(deployment.load().store_url)
    web = WebClient(token=server.token, base_url=server.base_url)

    class Socket:  # the one method of SocketModeClient the listener uses
        acks: list = []

        def send_socket_mode_response(self, response) -> None:
            self.acks.append(response.envelope_id)

    payload = {"type": "block_actions", "user": {"id": "U0ANNA", "username": "anna"}, "channel": {"id": "C0NORRBY"},
               "message": {"ts": message["ts"], "text": message["text"], "blocks": message["blocks"]},
               "actions": [{"action_id": "fundbot_relevant", "block_id": f"fundbot-{first}", "value": str(first),
                            "type": "button"}]}
    listener = make_listener(store, web, {"norrby": "en"}.get)
    socket = Socket()
    listener(socket, SocketModeRequest.from_dict({"type": "interactive", "envelope_id": "env-1", "payload": payload}))
    listener(socket, SocketModeRequest.from_dict({"type": "events_api", "envelope_id": "env-2", "payload": {}}))
    broken = dict(payload, actions=[{"action_id": "fundbot_apply", "value": "not-a-number"}])
    listener(socket, SocketModeRequest.from_dict({"type": "interactive", "envelope_id": "env-3", "payload": broken}))
    assert socket.acks == ["env-1", "env-2", "env-3"]  # every envelope acknowledged, even the odd ones
    assert store.marks("norrby")[store.delivery(first).call_id] == "relevant"
    assert "Marked relevant" in json.dumps(server.messages["C0NORRBY"][0]["blocks"])  # in the city's language


def test_the_slash_command_answers_with_the_channels_citys_best_calls(slack):
    """`/fundbot <text>` over Socket Mode (the `slash_commands` envelope as the
    Slack docs give it: command, text, channel_id, user_id): the answer rides
    on the acknowledgement, seen only by the person who asked."""
    from slack_sdk import WebClient
    from slack_sdk.socket_mode.request import SocketModeRequest

    from matcher.embed import make_embedder
    from matcher.interactions import make_listener
    from matcher.store import Store

    deployment, server = slack
    run(deployment)
    dep = deployment.load()
    store = Store(dep.store_url)
    web = WebClient(token=server.token, base_url=server.base_url)
    listener = make_listener(store, web, dep=dep, embedder=make_embedder("hashing", deployment.root))

    class Socket:
        def __init__(self):
            self.answers = []

        def send_socket_mode_response(self, response) -> None:
            self.answers.append((response.envelope_id, response.payload))

    socket = Socket()

    def ask(text: str, channel: str = "C0NORRBY", envelope: str = "e1") -> dict:
        listener(socket, SocketModeRequest.from_dict({"type": "slash_commands", "envelope_id": envelope, "payload": {
            "command": "/fundbot", "text": text, "channel_id": channel, "user_id": "U0ANNA"}}))
        assert socket.answers[-1][0] == envelope
        return socket.answers[-1][1]

    answer = ask("innovationsupphandling klimatkrav <!channel>")
    assert answer["response_type"] == "ephemeral"
    assert "Norrby kommun" in answer["text"] and "<!channel>" not in json.dumps(answer)  # escaped
    calls = [b for b in answer["blocks"][1:] if b["type"] == "section"]
    assert calls and all("Relevans" in b["text"]["text"] for b in calls)
    assert "Skriv vad ni söker" in ask("", envelope="e2")["text"]
    assert "hör inte till någon stad" in ask("laddning", channel="C0OTHER", envelope="e3")["text"]
    store.close()


def test_the_app_home_tab_shows_the_list_of_the_users_cities(slack):
    from slack_sdk import WebClient
    from slack_sdk.socket_mode.request import SocketModeRequest

    from matcher.interactions import make_listener
    from matcher.store import Store

    deployment, server = slack
    run(deployment)
    dep = deployment.load()
    store = Store(dep.store_url)
    web = WebClient(token=server.token, base_url=server.base_url)
    server.members = {"C0NORRBY": {"U0ANNA"}, "C0SUNNANA": {"U0PER"}}
    listener = make_listener(store, web, dep=dep, embedder=None)

    class Socket:
        acks: list = []

        def send_socket_mode_response(self, response) -> None:
            self.acks.append(response.envelope_id)

    for n, user in enumerate(("U0ANNA", "U0NOBODY")):
        listener(Socket(), SocketModeRequest.from_dict({"type": "events_api", "envelope_id": f"h{n}", "payload": {
            "event": {"type": "app_home_opened", "user": user, "tab": "home"}}}))
    home = json.dumps(server.homes["U0ANNA"], ensure_ascii=False)
    assert "Aktuella förslag för Norrby kommun" in home and "Sunnanå" not in home
    title = json.loads(deployment.cli("suggest", "--city", "norrby", "--json", check=True).stdout)["suggestions"][0]
    assert title["title"][:40] in home
    assert "inte med i någon stads" in json.dumps(server.homes["U0NOBODY"], ensure_ascii=False)
    store.close()
