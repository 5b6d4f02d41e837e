"""Building and running the web view: on its own (`fundbot web`) or in a
thread of `fundbot serve` (``[web] enabled``)."""

from __future__ import annotations

import logging
import os
import threading

from ..errors import FundbotError
from .links import Signer, load_secret

log = logging.getLogger("fundbot.web")


def build(dep, store, embedder_factory, environ=None):
    """The ASGI app for this deployment, its secrets from the environment."""
    from .app import WebApp, create_app

    environ = os.environ if environ is None else environ
    w = dep.settings.web
    secret = load_secret(environ, w.secret_env)
    token = (environ.get(w.coordinator_token_env) or "").strip() or None
    if token is not None and len(token) < 16:
        raise FundbotError(f"the coordinators' access key in {w.coordinator_token_env} must be at least 16 characters")
    web = WebApp(dep, store, secret, embedder_factory=embedder_factory, coordinator_token=token)
    return create_app(web)


def signer(dep, store, environ=None) -> Signer:
    environ = os.environ if environ is None else environ
    return Signer(load_secret(environ, dep.settings.web.secret_env), store)


def run(app, host: str, port: int, *, access_log: bool = False) -> None:
    import uvicorn

    if host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("the web view listens on %s: put it behind the municipality's reverse proxy (TLS)", host)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=access_log, proxy_headers=False,
                server_header=False)


def run_in_thread(app, host: str, port: int) -> threading.Thread:
    """The web view beside `serve`'s scheduler (a daemon thread: it ends with the process)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                           server_header=False))
    thread = threading.Thread(target=server.run, name="fundbot-web", daemon=True)
    thread.start()
    log.info("web view on http://%s:%d/", host, port)
    return thread
