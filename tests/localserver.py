"""A real HTTP server on 127.0.0.1 whose answers a test scripts per path."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class Reply:
    def __init__(self, status=200, body=b"", headers=None, delay=0.0, trickle=0.0):
        """``delay``: seconds before answering; ``trickle``: seconds between two bytes of the body."""
        self.status, self.body, self.headers, self.delay = status, body, headers or {}, delay
        self.trickle = trickle


class LocalServer:
    """``routes[path_prefix]`` is a Reply, or a list of Replies served in turn
    (the last one repeats), or a callable(handler) -> Reply."""

    def __init__(self):
        self.routes: dict[str, object] = {}
        self.log: list[tuple[float, str, str, dict]] = []  # (time, method, path, headers)
        self.bodies: list[tuple[str, bytes]] = []  # (path, request body)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else b""
                server.log.append((time.monotonic(), self.command, self.path, dict(self.headers)))
                server.bodies.append((self.path, body))
                reply = server.reply_for(self)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if self.command != "HEAD" and reply.status != 304:
                        if reply.trickle:
                            for i in range(len(reply.body)):
                                self.wfile.write(reply.body[i:i + 1])
                                self.wfile.flush()
                                time.sleep(reply.trickle)
                        else:
                            self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reply_for(self, handler) -> Reply:
        path = handler.path.split("?")[0]
        for prefix in sorted(self.routes, key=len, reverse=True):
            if path.startswith(prefix):
                route = self.routes[prefix]
                if isinstance(route, list):
                    return route.pop(0) if len(route) > 1 else route[0]
                if callable(route) and not isinstance(route, Reply):
                    return route(handler)
                return route
        return Reply(404, b"not found", {"Content-Type": "text/plain"})

    def hits(self, prefix: str) -> list[tuple[float, str, str, dict]]:
        return [entry for entry in self.log if entry[2].startswith(prefix)]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def json_reply(body: bytes, **headers) -> Reply:
    return Reply(200, body, {"Content-Type": "application/json", **headers})


__all__ = ["LocalServer", "Reply", "json_reply", "Callable"]
