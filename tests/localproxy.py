"""A forwarding HTTP proxy on 127.0.0.1, written for these tests: it records
every request it is asked to carry (``GET http://host/…`` and ``CONNECT
host:443``), forwards plain HTTP to servers on 127.0.0.1 only, and refuses
everything else (HTTP 403), so no test traffic ever leaves this machine."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade"}


class LocalProxy:
    def __init__(self):
        self.log: list[tuple[str, str]] = []  # (method, target as asked: an absolute URL or host:port)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _refuse(self):
                self.send_response(403, "not forwarded by the test proxy")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_CONNECT(self):
                with proxy.lock:
                    proxy.log.append(("CONNECT", self.path))
                self._refuse()  # a tunnel would need a TLS server; the request reaching here is what counts
                self.close_connection = True

            def _forward(self):
                with proxy.lock:
                    proxy.log.append((self.command, self.path))
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else None
                if parts.scheme != "http" or parts.hostname != "127.0.0.1":
                    return self._refuse()
                upstream = http.client.HTTPConnection("127.0.0.1", parts.port or 80, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, parts.path + (f"?{parts.query}" if parts.query else ""),
                                 body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status, answer.reason)
                for k, v in answer.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_HEAD = _forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def carried(self, fragment: str) -> list[tuple[str, str]]:
        with self.lock:
            return [entry for entry in self.log if fragment in entry[1]]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
