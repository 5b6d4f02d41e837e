"""The demo day through every channel kind, recorded as text: the golden copy
that guards the delivery move (issue 17).

The shipped feeds and profiles are replayed on their recorded day with the
dependency-free hashing embedder; every city gets one channel of each kind
(console, Slack on a local Slack-compatible server, a Slack incoming webhook
and a Teams Workflows webhook on a local HTTP sink, e-mail through a local
SMTP server), and the coordination channel posts to the console and Slack.
A second cycle, after one call's budget changed in its snapshot, sends the
change notices.  Then ``fundbot report`` writes the pages.

Everything is normalised so that only what a person reads (and the links and
structure around it) is compared: Slack timestamps, SMTP boundaries, the ICS
stamp and whitespace between HTML tags are not.

    python tests/golden.py --write     # take a new golden copy (tests/data/golden)
    python tests/golden.py             # show what differs from it
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from email import policy
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "data" / "golden"
sys.path.insert(0, str(HERE))

from fakeslack import FakeSlack  # noqa: E402
from localserver import LocalServer, Reply  # noqa: E402

KINDS = ("console", "slack", "slack-webhook", "teams", "email")
# the cities the copy was taken with (the shipped profiles of the time): a new profile changes no golden output
CITIES = ("boras", "enkoping", "goteborg", "haninge", "lund", "malmo", "skelleftea", "umea", "uppsala", "vaxjo")
# the call whose budget changes between the two cycles (any call several cities were suggested would do)
CHANGED = ("feeds/snapshots/eu-funding-tenders/page-0001.json", "26823812", "27000000")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _channels(city: str) -> str:
    return "".join([
        '\n[[channels]]\nkind = "console"\n',
        f'\n[[channels]]\nkind = "slack"\ntarget = "C0{city.upper()}"\n',
        '\n[[channels]]\nkind = "slack-webhook"\ntarget = "GOLDEN_SLACK_HOOK"\n',
        '\n[[channels]]\nkind = "teams"\ntarget = "GOLDEN_TEAMS_HOOK"\n',
        f'\n[[channels]]\nkind = "email"\ntarget = "klimat@{city}.example"\n',
    ])


def _deployment(root: Path, slack: FakeSlack, smtp_port: int) -> list[str]:
    shutil.copytree(ROOT / "feeds", root / "feeds")
    (root / "profiles").mkdir()
    for city in CITIES:
        shutil.copy(ROOT / "profiles" / f"{city}.toml", root / "profiles")
    cities = []
    for path in sorted((root / "profiles").glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        head = text.split("\n[[channels]]", 1)[0]  # the shipped profiles end with their channels
        city = re.search(r'^id = "([^"]+)"', text, re.M).group(1)
        path.write_text(head.rstrip() + "\n" + _channels(city), encoding="utf-8")
        slack.add_channel(f"C0{city.upper()}")
        cities.append(city)
    slack.add_channel("C0COORD")
    (root / "config.toml").write_text(f"""\
feeds = "feeds"
profiles = "profiles"

[store]
url = "sqlite:///fundbot.db"

[matcher]
model = "hashing"
min_score = 0.0
top = 3

[slack]
token_env = "GOLDEN_SLACK_TOKEN"
base_url = "{slack.base_url}"

[email]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from_addr = "fundbot@example.org"

[coordination]
channels = [{{ kind = "console" }}, {{ kind = "slack", target = "C0COORD" }}]
""", encoding="utf-8")
    return cities


def _cli(root: Path, env: dict, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "matcher.cli", *args, "--config", str(root / "config.toml")],
                          capture_output=True, text=True, cwd=root, env=env, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"fundbot {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


# --- normalising ------------------------------------------------------------------------------------


def _html(text: str) -> str:
    """HTML with whitespace between and inside tags collapsed: one tag or text run per line, each line's
    character references read (``&#x27;`` and ``&#39;`` are one apostrophe; a ``<`` that is not escaped
    still splits a line where an escaped one does not, so missing escaping shows)."""
    import html

    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s*(<[^>]+>)\s*", r"\n\1\n", text)
    return "\n".join(html.unescape(line) for line in text.split("\n") if line.strip()) + "\n"


def _ics(text: str) -> str:
    """An ICS file unfolded, each component's properties in name order (their order means nothing in
    iCalendar), with the stamp of when it was written left out."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    lines = [line for line in unfolded.splitlines() if line and not line.startswith("DTSTAMP:")]

    def component(at: int) -> tuple[list[str], int]:
        head, props, subs, i = lines[at], [], [], at + 1
        while not lines[i].startswith("END:"):
            if lines[i].startswith("BEGIN:"):
                sub, i = component(i)
                subs.extend(sub)
            else:
                props.append(lines[i])
                i += 1
        return [head, *sorted(props), *subs, lines[i]], i + 1

    out, i = [], 0
    while i < len(lines):
        part, i = component(i)
        out.extend(part)
    return "\n".join(out) + "\n"


def _email(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=policy.default)
    out = [f"To: {msg['To']}", f"Subject: {msg['Subject']}"]
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        body = part.get_content()
        out.append(f"--- {part.get_content_type()}")
        out.append(_html(body) if part.get_content_type() == "text/html" else body.rstrip("\n") + "\n")
    return "\n".join(out).replace("\r\n", "\n")


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def record(work: Path | None = None) -> dict[str, str]:
    """Replay the demo day in ``work`` (a temporary folder when None) and
    return every output, normalised, by name."""
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope.content)
            return "250 OK"

    own = work is None
    work = Path(tempfile.mkdtemp(prefix="fundbot-golden-")) if own else work
    inbox, port = Inbox(), _free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with FakeSlack() as slack, LocalServer() as hooks:
            hooks.routes["/slack"] = Reply(200, b"ok", {"Content-Type": "text/plain"})
            hooks.routes["/teams"] = Reply(202, b"", {"Content-Type": "text/plain"})
            _deployment(work, slack, port)
            env = dict(os.environ, GOLDEN_SLACK_TOKEN=slack.token, GOLDEN_SLACK_HOOK=f"{hooks.url}/slack",
                       GOLDEN_TEAMS_HOOK=f"{hooks.url}/teams", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
            out: dict[str, str] = {}
            out["console/cycle-1.txt"] = _cli(work, env, "run", "--once", "--offline", "-v")  # the whole digests
            page = work / CHANGED[0]
            page.write_text(page.read_text(encoding="utf-8").replace(CHANGED[1], CHANGED[2]), encoding="utf-8")
            out["console/cycle-2.txt"] = _cli(work, env, "run", "--once", "--offline", "-v")
            out["slack/messages.json"] = _json({channel: [
                {k: m[k] for k in ("text", "blocks", "metadata")} | {"threaded": bool(m.get("thread_ts"))}
                for m in messages] for channel, messages in sorted(slack.messages.items())})
            for kind, path in (("slack-webhook", "/slack"), ("teams", "/teams")):
                out[f"{kind}/posts.json"] = _json([json.loads(body) for p, body in hooks.bodies if p == path])
            out["email/messages.txt"] = "\n=====\n".join(_email(m) for m in inbox.messages)
            _cli(work, env, "report", "--out", "out")
        for path in sorted((work / "out").rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            name = "report/" + path.relative_to(work / "out").as_posix()
            text = path.read_text(encoding="utf-8")
            out[name] = _html(text) if path.suffix == ".html" else _ics(text) if path.suffix == ".ics" else text
        return out
    finally:
        smtp.stop()
        if own:
            shutil.rmtree(work, ignore_errors=True)


def compare(got: dict[str, str], golden: Path = GOLDEN) -> list[str]:
    """What differs from the golden copy, as unified diffs (empty when nothing)."""
    import difflib

    want = {p.relative_to(golden).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(golden.rglob("*")) if p.is_file() and p.name != "README.md"}
    problems = [f"missing from this run: {n}" for n in sorted(set(want) - set(got))]
    problems += [f"new in this run (not in the golden copy): {n}" for n in sorted(set(got) - set(want))]
    for name in sorted(set(want) & set(got)):
        if want[name] != got[name]:
            diff = difflib.unified_diff(want[name].splitlines(), got[name].splitlines(), f"golden/{name}",
                                        f"now/{name}", lineterm="", n=1)
            problems.append("\n".join(list(diff)[:60]) or f"{name}: differs in line endings or spaces only")
    return problems


def main() -> int:
    got = record()
    if "--write" in sys.argv:
        for name in list(GOLDEN.rglob("*")):
            if name.is_file() and name.name != "README.md":
                name.unlink()
        for name, text in got.items():
            path = GOLDEN / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        print(f"wrote {len(got)} files to {GOLDEN}")
        return 0
    problems = compare(got)
    print("\n\n".join(problems) if problems else f"the same as the golden copy ({len(got)} files)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
