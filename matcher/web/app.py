"""`fundbot web`: the live view (Starlette, served by uvicorn).

Pages are rendered on the server from the Jinja2 templates in
``matcher/templates`` (autoescaped) and work without JavaScript.  Every
page is reached through a signed link (:mod:`.links`): a city's page, its
calendar, or one action on one call.  A GET never changes anything — link
scanners (Outlook Safe Links, Teams previews) fetch every link in a message
— so an action link opens a confirmation page, and the change is a POST
carrying a CSRF token bound to a cookie set by that page.

Headers on every answer: ``Referrer-Policy: no-referrer`` (tokens are in
addresses), a Content-Security-Policy that allows no script at all and
styles only from this server, no framing, no sniffing, no caching of pages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import threading
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..channels.text import format_date, seen_note, stage_note
from ..store.pipeline import STATUSES
from ..templates import environment
from .links import LinkError, Signer
from .words import ACTION_STATUS, words

log = logging.getLogger("fundbot.web")

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {"Referrer-Policy": "no-referrer", "Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
           "Cross-Origin-Opener-Policy": "same-origin"}
CSRF_COOKIE = "fundbot_csrf"
COORD_COOKIE = "fundbot_coord"
WITHIN = (30, 60, 90, 180)
MAX_FORM = 16_384  # bytes: a status form is a few hundred


class WebApp:
    """The state behind the routes: the deployment, the store, a signer and
    (loaded on the first search) the embedder."""

    def __init__(self, dep, store, secret: bytes, *, embedder_factory=None, coordinator_token: str | None = None,
                 clock=None, secure_cookies: bool | None = None):
        self.dep, self.store = dep, store
        self.secret = secret
        self.signer = Signer(secret, store)
        self.embedder_factory = embedder_factory
        self._embedder = None
        self._embed_lock = threading.Lock()
        self.coordinator_token = coordinator_token
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        base = dep.settings.web.base_url or ""
        self.secure = base.startswith("https://") if secure_cookies is None else secure_cookies
        self.profiles = {p.city.id: p for p in dep.profiles}
        self.env = environment()
        from ..search import Searcher

        self.searcher = Searcher(dep, store, self.embedder)

    # --- helpers --------------------------------------------------------------------

    def embedder(self):
        with self._embed_lock:
            if self._embedder is None:
                self._embedder = self.embedder_factory()
            return self._embedder

    def page(self, template: str, lang: str, code: int = 200, **values) -> HTMLResponse:
        body = self.env.get_template(template).render(t=words(lang), lang=words(lang)["lang"], **values)
        return HTMLResponse(body, status_code=code, headers=HEADERS)

    def denied(self, lang: str = "sv") -> HTMLResponse:
        t = words(lang)
        return self.page("web_message.html", lang, 403, title=t["denied_title"], text=t["denied_text"], back=None)

    def csrf_for(self, nonce: str, token: str) -> str:
        return hmac.new(self.secret, f"csrf.{nonce}.{token}".encode(), hashlib.sha256).hexdigest()

    def with_csrf(self, request: Request, token: str) -> tuple[str, str | None]:
        """(the form's token, a new cookie nonce to set or None)."""
        nonce = request.cookies.get(CSRF_COOKIE)
        fresh = None
        if not nonce or len(nonce) != 64:
            nonce = fresh = secrets.token_hex(32)
        return self.csrf_for(nonce, token), fresh

    def set_nonce(self, response: Response, nonce: str | None) -> Response:
        if nonce:
            response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=self.secure, path="/")
        return response

    def csrf_ok(self, request: Request, token: str, sent: str | None) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE)
        return bool(nonce and sent) and hmac.compare_digest(self.csrf_for(nonce, token), sent)

    def link(self, kind: str, city: str, **kw) -> str:
        days = self.dep.settings.web.action_days if kind == "act" else self.dep.settings.web.link_days
        return self.signer.make(kind, city, now=self.clock(), days=days, **kw)

    # --- the city's page --------------------------------------------------------------

    def city_view(self, city: str, token: str, query: dict) -> dict:
        from ..suggest import reference_at, suggestions

        profile = self.profiles[city]
        lang = profile.city.language
        t = words(lang)
        zone = self.dep.settings.timezone
        at = reference_at(self.dep, self.store)
        pipeline = self.store.pipeline(city).get(city, {})
        rows = suggestions(self.store, profile, top=100, timezone=zone, hidden=True, pipeline=pipeline) or []
        threshold = self.dep.settings.matcher.min_score
        rows = [r for r in rows if r["score"] >= threshold]
        funders = sorted({r["funder"] for r in rows})
        needs = [(n.id, n.text) for n in profile.needs]
        want = {k: (query.get(k) or [""])[0] for k in ("funder", "within", "need", "status")}
        status_of = {r["call_id"]: (pipeline[r["call_id"]].status if r["call_id"] in pipeline else "new")
                     for r in rows}
        hidden = sum(1 for s in status_of.values() if s == "not-relevant")
        items = []
        for r in rows:
            st = status_of[r["call_id"]]
            if want["status"] in STATUSES:
                if st != want["status"]:
                    continue
            elif st == "not-relevant":
                continue
            if want["funder"] and r["funder"] != want["funder"]:
                continue
            if want["need"] and r["need_id"] != want["need"]:
                continue
            deadline = dt.datetime.fromisoformat(r["deadline"]) if r["deadline"] else None
            if want["within"].isdigit():
                if deadline is None or deadline > at + dt.timedelta(days=int(want["within"])):
                    continue
            items.append(self.item(r, deadline, pipeline.get(r["call_id"]), lang, zone, token, city))
        return {"profile": profile, "items": items, "funders": funders, "needs": needs, "want": want,
                "within": WITHIN, "statuses": STATUSES, "hidden": hidden if want["status"] != "not-relevant" else 0,
                "at": at.date().isoformat(), "token": token,
                "ics": self.link("ics", city)}

    def item(self, r: dict, deadline, entry, lang: str, zone: str, token: str, city: str) -> dict:
        t = words(lang)
        when = (format_date(deadline, lang, zone) + stage_note(r["stage"] or "", r["status"], lang)
                if deadline else t["rolling"])
        seen = seen_note(dt.date.fromisoformat(r["seen_on"]) if r["seen_on"] else None, lang)
        elig = r["eligibility"]
        return {"id": r["call_id"], "title": r["title"], "url": r["url"], "funder": r["funder"], "when": when,
                "seen": seen, "score": r["score"], "need": r["need_text"] or r["need_id"], "passage": r["passage"][:400],
                "ineligible": "; ".join(elig["reasons"]) if elig["status"] == "ineligible" else "",
                "caveats": "; ".join(elig["caveats"]),
                "status": entry.status if entry else "new", "owner": (entry.owner if entry else None) or "",
                "note": (entry.note if entry else None) or "",
                "changed": t["changed_by"].format(who=entry.who or t["unknown_who"],
                                                  at=format_date(entry.at, lang, zone)) if entry else ""}

    def search(self, city: str, q: str) -> list[dict]:
        """Free text ranked against the open calls for the city (:mod:`matcher.search`)."""
        from ..safety import safe_url

        profile = self.profiles[city]
        hits = self.searcher.search(profile, q, top=self.dep.settings.web.search_top, now=self.clock())
        lang, zone = profile.city.language, self.dep.settings.timezone
        pipeline = self.store.pipeline(city).get(city, {})
        out = []
        for h in hits:
            c, m = h.call, h.match
            r = {"call_id": c.id, "title": c.record.title, "url": safe_url(c.record.url), "funder": c.record.funder,
                 "stage": c.stage(h.deadline) or None, "status": c.status(h.at),
                 "seen_on": c.seen_on.isoformat() if c.seen_on else None, "score": m.score, "need_text": q,
                 "need_id": "", "passage": m.passage,
                 "eligibility": {"status": m.eligibility, "reasons": list(m.reasons), "caveats": list(m.caveats)}}
            out.append(self.item(r, h.deadline, pipeline.get(c.id), lang, zone, "", city))
        return out


def _form(body: bytes) -> dict[str, str]:
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    return {k: v[0] for k, v in fields.items()}


def create_app(web: WebApp) -> Starlette:
    """The routes.  Every token page answers 403 — the same page, naming no
    city — for a token that is malformed, forged, expired, withdrawn or not
    for what the address asks."""

    async def home(request: Request) -> Response:
        t = words("sv")
        return web.page("web_message.html", "sv", title=t["home"], text=t["home_text"], back=None)

    async def css(request: Request) -> Response:
        body = web.env.get_template("report.css").render() + web.env.get_template("web.css").render()
        return Response(body, media_type="text/css", headers=dict(HEADERS, **{"Cache-Control": "max-age=3600"}))

    def grant(token: str, kind: str):
        try:
            g = web.signer.check(token, kind=kind, now=web.clock())
        except LinkError as exc:
            log.info("refused a %s link: %s", kind, exc)
            return None
        return g if g.city in web.profiles else None

    async def city_page(request: Request) -> Response:
        token = request.path_params["token"]
        g = grant(token, "page")
        if g is None:
            return web.denied()
        query = parse_qs(request.url.query, max_num_fields=20)
        q = ((query.get("q") or [""])[0]).strip()[:300]
        view = await run_in_threadpool(web.city_view, g.city, token, query)
        results = await run_in_threadpool(web.search, g.city, q) if q else None
        form, nonce = web.with_csrf(request, token)
        profile = web.profiles[g.city]
        response = web.page("web_city.html", profile.city.language, title=words(profile.city.language)["title"].format(
            name=profile.city.name), q=q, results=results, csrf=form, **view)
        return web.set_nonce(response, nonce)

    async def city_status(request: Request) -> Response:
        token = request.path_params["token"]
        g = grant(token, "page")
        if g is None:
            return web.denied()
        body = await request.body()
        lang = web.profiles[g.city].city.language
        t = words(lang)
        fields = _form(body[:MAX_FORM]) if len(body) <= MAX_FORM else {}
        if not web.csrf_ok(request, token, fields.get("csrf")):
            return web.page("web_message.html", lang, 403, title=t["denied_title"], text=t["bad_form"],
                            back=f"/c/{token}")
        who = (fields.get("who") or "").strip()
        status = fields.get("status")
        try:
            call_id = int(fields.get("call", ""))
        except ValueError:
            call_id = -1
        offered = {m.call_id for m in web.store.saved_matches(g.city).get(g.city, [])}
        if call_id not in offered or status not in STATUSES:
            return web.page("web_message.html", lang, 400, title=t["denied_title"], text=t["bad_form"],
                            back=f"/c/{token}")
        if len(who) < 2:
            return web.page("web_message.html", lang, 400, title=t["save"], text=t["need_name"], back=f"/c/{token}")
        await run_in_threadpool(web.store.set_status, g.city, call_id, status=status,
                                owner=fields.get("owner", ""), note=fields.get("note", ""), who=who,
                                now=web.clock(), via="web")
        log.info("web: %s set call %s to %s", g.city, call_id, status)
        return RedirectResponse(f"/c/{token}#call-{call_id}", status_code=303, headers=HEADERS)

    async def calendar(request: Request) -> Response:
        token = request.path_params["token"]
        g = grant(token, "ics")
        if g is None:
            return web.denied()
        from ..report import city_data, ics_bytes

        data = await run_in_threadpool(city_data, web.dep, web.store, g.city)
        body, _ = ics_bytes(g.city, data, web.dep.settings.delivery.reminder_days,
                            web.profiles[g.city].city.language)
        return Response(body, media_type="text/calendar; charset=utf-8",
                        headers=dict(HEADERS, **{"Content-Disposition": f'inline; filename="fundbot-{g.city}.ics"'}))

    def action_view(g) -> dict | None:
        call = web.store.call(g.call_id) if g.call_id is not None else None
        if call is None:
            return None
        profile = web.profiles[g.city]
        t = words(profile.city.language)
        status = ACTION_STATUS[g.action]
        return {"call": call, "profile": profile, "status": status, "status_word": t["statuses"][status],
                "page": f"/c/{web.link('page', g.city)}"}

    async def action_of(request: Request):
        """(token, grant, view) of an action link; view None when it opens nothing."""
        token = request.path_params["token"]
        g = grant(token, "act")
        return token, g, (g and await run_in_threadpool(action_view, g))

    def confirm_page(request: Request, token: str, view: dict, code: int = 200, error: str | None = None):
        lang = view["profile"].city.language
        form, nonce = web.with_csrf(request, token)
        title = words(lang)["confirm_title"].format(action=view["status_word"])
        return web.set_nonce(web.page("web_confirm.html", lang, code, title=title, token=token, csrf=form,
                                      error=error, **view), nonce)

    async def action_confirm(request: Request) -> Response:
        token, _, view = await action_of(request)
        return confirm_page(request, token, view) if view else web.denied()

    async def action_do(request: Request) -> Response:
        token, g, view = await action_of(request)
        if not view:
            return web.denied()
        lang = view["profile"].city.language
        t = words(lang)
        body = await request.body()
        fields = _form(body[:MAX_FORM]) if len(body) <= MAX_FORM else {}
        if not web.csrf_ok(request, token, fields.get("csrf")):
            return web.page("web_message.html", lang, 403, title=t["denied_title"], text=t["bad_form"], back=None)
        who = (fields.get("who") or "").strip()
        if len(who) < 2:
            return confirm_page(request, token, view, 400, t["need_name"])
        await run_in_threadpool(web.store.set_status, g.city, g.call_id, status=view["status"], who=who,
                                now=web.clock(), via="web")
        log.info("web: %s set call %s to %s (action link)", g.city, g.call_id, view["status"])
        return web.page("web_message.html", lang, title=t["done_title"],
                        text=t["done_text"].format(title=view["call"].record.title, status=view["status_word"],
                                                   name=view["profile"].city.name), back=view["page"])

    async def not_found(request: Request, exc) -> Response:
        t = words("sv")
        return web.page("web_message.html", "sv", 404, title=t["not_found"], text=t["home_text"], back=None)

    routes = [
        Route("/", home),
        Route("/static/fundbot.css", css),
        Route("/favicon.ico", lambda request: Response(status_code=204, headers=HEADERS)),
        Route("/c/{token}", city_page, methods=["GET"]),
        Route("/c/{token}/status", city_status, methods=["POST"]),
        Route("/ics/{token}/fundbot.ics", calendar, methods=["GET"]),
        Route("/a/{token}", action_confirm, methods=["GET"]),
        Route("/a/{token}", action_do, methods=["POST"]),
    ]
    from .coordinators import coordinator_routes

    routes += coordinator_routes(web)
    return Starlette(routes=routes, exception_handlers={404: not_found})
