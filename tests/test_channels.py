"""The other channels, each against a real local peer: an SMTP server
(aiosmtpd), and an HTTP sink standing in for a Slack incoming webhook and a
Teams Workflows webhook."""

from __future__ import annotations

import email
import json
from email import policy

import pytest

from localserver import LocalServer, Reply

HOSTILE = "Call for <!channel> [click](https://evil.example) & *bold*"


def use_channel(deployment, kind: str, target: str) -> None:
    for city in ("norrby", "sunnana"):
        path = deployment.root / f"profiles/{city}.toml"
        path.write_text(path.read_text().replace('kind = "console"', f'kind = "{kind}"\ntarget = "{target}"'))


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    import socket

    with socket.socket() as probe:  # a free port on 127.0.0.1
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_email_digest_with_text_and_html_parts(deployment, smtp):
    inbox, port = smtp
    deployment.retitle_vinnova_round(HOSTILE)
    (deployment.root / "config.toml").write_text((deployment.root / "config.toml").read_text() + f"""
[email]
host = "127.0.0.1"
port = {port}
starttls = false
from_addr = "fundbot@example.org"
""")
    use_channel(deployment, "email", "klimat@norrby.example")
    summary = json.loads(deployment.cli("run", "--once", "--offline", "--json", check=True).stdout)
    assert summary["deliveries"]["sent"] > 0 and summary["deliveries"]["pending"] == 0
    assert len(inbox.messages) == 2  # one digest per city
    hostile_seen = 0
    for rcpts, raw in inbox.messages:
        assert rcpts == ["klimat@norrby.example"]
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert msg["Subject"].startswith("Finansieringsförslag för")
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Sista dag" in text and "<ol>" in html
        if HOSTILE in text:  # the hostile title, escaped in the HTML part
            hostile_seen += 1
            assert "&lt;!channel&gt;" in html and "<!channel>" not in html
    assert hostile_seen
    again = json.loads(deployment.cli("run", "--once", "--offline", "--json", check=True).stdout)
    assert again["deliveries"]["sent"] == 0 and len(inbox.messages) == 2


def test_email_server_down_keeps_everything_pending(deployment):
    (deployment.root / "config.toml").write_text((deployment.root / "config.toml").read_text() + """
[email]
host = "127.0.0.1"
port = 9
starttls = false
from_addr = "fundbot@example.org"
""")
    use_channel(deployment, "email", "klimat@norrby.example")
    summary = json.loads(deployment.cli("run", "--once", "--offline", "--json", check=True).stdout)
    assert summary["deliveries"]["sent"] == 0 and summary["deliveries"]["pending"] > 0


@pytest.mark.parametrize("kind", ["slack-webhook", "teams"])
def test_webhooks_post_once_and_escape(deployment, monkeypatch, kind):
    deployment.retitle_vinnova_round(HOSTILE)
    with LocalServer() as server:
        bodies = []

        def sink(handler):
            return Reply(200, b"ok", {"Content-Type": "text/plain"})

        server.routes["/hook"] = sink
        monkeypatch.setenv("NORRBY_HOOK", f"{server.url}/hook")
        use_channel(deployment, kind, "NORRBY_HOOK")
        summary = json.loads(deployment.cli("run", "--once", "--offline", "--json", check=True).stdout)
        posts = server.hits("/hook")
        assert summary["deliveries"]["sent"] > 0 and len(posts) == 2
        again = json.loads(deployment.cli("run", "--once", "--offline", "--json", check=True).stdout)
        assert again["deliveries"]["sent"] == 0 and len(server.hits("/hook")) == 2
        del bodies


def test_webhook_without_its_url_says_so_and_keeps_rows(deployment, monkeypatch):
    monkeypatch.delenv("NORRBY_HOOK", raising=False)
    use_channel(deployment, "teams", "NORRBY_HOOK")
    proc = deployment.cli("run", "--once", "--offline", "--json")
    assert proc.returncode == 0 and "set the environment variable NORRBY_HOOK" in proc.stderr
    assert json.loads(proc.stdout)["deliveries"]["pending"] > 0


def test_teams_card_neutralises_markdown():
    import datetime as dt

    from matcher.channels import Digest, DigestItem
    from matcher.channels.teams import card

    item = DigestItem(1, HOSTILE, "F", "https://example.org", dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc),
                      "open", 0.5, "n", "need", "passage")
    body = json.dumps(card(Digest("c", "C", "en", (item,)), [item]))
    assert "[click](https://evil.example)" not in body
    assert "\\\\[click\\\\]" in body


# --- a follow-up is data; each channel renders and escapes its own (issue 17) -----------------------

NOTICE_TITLE = "A & B <x> | *bold* [click](https://evil.example)"
NOTICE_URL = "https://ex.org/c?a=1&b=2"


@pytest.mark.parametrize("kind", ["console", "slack", "slack-webhook", "teams", "email"])
def test_a_change_notice_reaches_every_channel_kind_in_its_own_markup(kind, smtp, monkeypatch):
    """No Slack link syntax outside Slack; on Slack, the title escaped and the link whole."""
    import datetime as dt
    import io

    from fakeslack import FakeSlack

    from matcher.channels import Channels, Notice
    from matcher.config import ChannelSpec
    from matcher.safety import safe_url

    inbox, port = smtp
    notice = Notice(delivery_id=7, kind="change", city_id="norrby", language="sv", title=NOTICE_TITLE,
                    url=safe_url(NOTICE_URL), deadline=dt.datetime(2027, 3, 1, 13, tzinfo=dt.timezone.utc),
                    status="open", budget="SEK <5> & more", fields=("deadlines", "budget"))
    with FakeSlack() as slack, LocalServer() as hooks:
        hooks.routes["/hook"] = Reply(200, b"ok", {"Content-Type": "text/plain"})
        slack.add_channel("C0NORRBY")
        from matcher.config import Settings

        settings = Settings.model_validate({"slack": {"base_url": slack.base_url, "token_env": "T"},
                                            "email": {"host": "127.0.0.1", "port": port, "starttls": False,
                                                      "from_addr": "fundbot@example.org"}})
        out = io.StringIO()
        channels = Channels(out, settings, {"T": slack.token, "HOOK": f"{hooks.url}/hook"})
        target = {"console": None, "slack": "C0NORRBY", "email": "klimat@norrby.example"}.get(kind, "HOOK")
        channels.open(ChannelSpec(kind=kind, target=target)).notify(notice)
        if kind == "console":
            text = out.getvalue()
        elif kind == "slack":
            text = slack.messages["C0NORRBY"][0]["text"]
        elif kind == "email":
            import email as mail
            from email import policy

            msg = mail.message_from_bytes(inbox.messages[0][1], policy=policy.default)
            text = msg["Subject"] + "\n" + msg.get_content()
        else:
            text = json.loads(hooks.bodies[0][1])
    if kind in ("slack", "slack-webhook"):
        body = text if kind == "slack" else text["text"]
        assert body.startswith("Ändrat: <https://ex.org/c?a=1&amp;b=2|A &amp; B &lt;x&gt; | *bold* ")
        assert body.count("<") == 1 and "SEK &lt;5&gt; &amp; more" in body
        return
    if kind == "teams":
        blocks = text["attachments"][0]["content"]["body"]
        line = blocks[0]["text"]
        assert blocks[1]["actions"][0] == {"type": "Action.OpenUrl", "title": "↗", "url": NOTICE_URL}
        assert "\\[click\\]" in line and "\\<x\\>" in line and "<https" not in line and "&amp;" not in line
        return
    assert "<https" not in text and "&amp;" not in text and "&lt;" not in text
    assert NOTICE_TITLE in text and "SEK <5> & more" in text and "ny sista dag 1 mars 2027 kl. 14.00" in text
    assert f"\n   {NOTICE_URL}" in text  # the address whole, on a line of its own
