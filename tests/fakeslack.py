"""A Slack-compatible Web API server on 127.0.0.1 for slack-sdk, written for
these tests (no maintained fake exists): chat.postMessage, chat.update,
conversations.history with message metadata, a bot token check, and faults
a test can inject per method: HTTP 429 with Retry-After, HTTP 500,
``ok: false`` errors, dropped connections and slow answers."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeSlack:
    def __init__(self, token: str = "xoxb-test-token"):
        self.token = token
        self.messages: dict[str, list[dict]] = {}  # channel → messages (oldest first)
        self.faults: dict[str, list[str]] = {}  # method → queued faults ("429", "500", "drop", "error:x", "slow:s")
        self.calls: list[tuple[str, dict]] = []
        self.members: dict[str, set[str]] = {}  # channel → user ids (users.conversations)
        self.homes: dict[str, dict] = {}  # user → the App Home view published (views.publish)
        self.posted = threading.Event()  # set whenever a message is stored
        self.lock = threading.Lock()
        self._ts = 0.0  # message timestamps are real time, as Slack's are
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _params(self) -> dict:
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else b""
                ctype = self.headers.get("Content-Type", "")
                if body and "json" in ctype:
                    params.update(json.loads(body))
                elif body:
                    params.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
                return params

            def _reply(self, status: int, payload: dict | None, headers: dict | None = None):
                body = json.dumps(payload or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self):
                method = urlsplit(self.path).path.rsplit("/", 1)[-1]
                params = self._params()
                server.calls.append((method, params))
                fault = None
                with server.lock:
                    queue = server.faults.get(method)
                    if queue:
                        fault = queue.pop(0)
                if fault == "429":
                    return self._reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
                if fault == "500":
                    return self._reply(500, {"ok": False, "error": "internal_error"})
                if fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return None
                if fault and fault.startswith("error:"):
                    return self._reply(200, {"ok": False, "error": fault[6:]})
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    return self._reply(200, {"ok": False, "error": "invalid_auth"})
                handler = getattr(server, "api_" + method.replace(".", "_"), None)
                if handler is None:
                    return self._reply(200, {"ok": False, "error": "unknown_method"})
                result = handler(params)
                if fault and fault.startswith("slow:"):  # stored, but the answer comes late
                    time.sleep(float(fault[5:]))
                return self._reply(200, result)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/"

    # --- the API -------------------------------------------------------------------

    def api_chat_postMessage(self, p: dict) -> dict:
        channel = p.get("channel")
        if channel not in self.messages:
            return {"ok": False, "error": "channel_not_found"}
        blocks = p.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        metadata = p.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if blocks is not None and len(blocks) > 50:
            return {"ok": False, "error": "invalid_blocks"}
        with self.lock:
            self._ts = max(time.time(), self._ts + 0.000001)
            message = {"ts": f"{self._ts:.6f}", "text": p.get("text"), "blocks": blocks, "metadata": metadata,
                       "thread_ts": p.get("thread_ts")}
            self.messages[channel].append(message)
        self.posted.set()
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def api_chat_update(self, p: dict) -> dict:
        for message in self.messages.get(p.get("channel"), []):
            if message["ts"] == p.get("ts"):
                message.update({k: p[k] for k in ("text", "blocks") if k in p})
                return {"ok": True, "channel": p["channel"], "ts": p["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def api_conversations_replies(self, p: dict) -> dict:
        channel = p.get("channel")
        if channel not in self.messages:
            return {"ok": False, "error": "channel_not_found"}
        include = str(p.get("include_all_metadata", "")).lower() in {"1", "true"}
        thread = [dict(m, metadata=m["metadata"] if include else None) for m in self.messages[channel]
                  if m["ts"] == p.get("ts") or m.get("thread_ts") == p.get("ts")]
        return {"ok": True, "messages": thread, "has_more": False}

    def api_conversations_history(self, p: dict) -> dict:
        channel = p.get("channel")
        if channel not in self.messages:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(p.get("oldest") or 0)
        include = str(p.get("include_all_metadata", "")).lower() in {"1", "true"}
        found = [dict(m, metadata=m["metadata"] if include else None) for m in reversed(self.messages[channel])
                 if float(m["ts"]) > oldest and not m.get("thread_ts")]
        return {"ok": True, "messages": found, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def api_users_conversations(self, p: dict) -> dict:
        """One page per call (limit), with a cursor, as Slack pages it."""
        user = p.get("user")
        ids = sorted(c for c, users in self.members.items() if user in users)
        start = int(p.get("cursor") or 0)
        size = int(p.get("limit") or 100)
        page = ids[start:start + size]
        nxt = str(start + size) if start + size < len(ids) else ""
        return {"ok": True, "channels": [{"id": c} for c in page], "response_metadata": {"next_cursor": nxt}}

    def api_views_publish(self, p: dict) -> dict:
        view = p.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not p.get("user_id") or (view or {}).get("type") != "home" or len(view.get("blocks") or []) > 100:
            return {"ok": False, "error": "invalid_arguments"}
        self.homes[p["user_id"]] = view
        return {"ok": True, "view": view}

    # --- for tests ----------------------------------------------------------------------

    def add_channel(self, channel: str) -> None:
        self.messages.setdefault(channel, [])

    def delivered(self, channel: str) -> list[int]:
        """Every outbox row id carried by the channel's messages (duplicates kept)."""
        out = []
        for m in self.messages.get(channel, []):
            payload = (m.get("metadata") or {}).get("event_payload") or {}
            out.extend(int(d) for d in payload.get("deliveries", []))
        return out

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
