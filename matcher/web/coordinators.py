"""The coordinators' view (agencies, Viable Cities), behind its own
credential: the pipeline across cities — who prepares what, whom to
contact — and the report's joint opportunities and gaps, live.

Sign-in is a form (POST, CSRF-checked) taking the access key from
``[web] coordinator_token_env``; the session cookie holds an HMAC of the
key, never the key, and is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .words import words

log = logging.getLogger("fundbot.web")

ACTIVE = ("interesting", "preparing", "submitted", "granted", "rejected")


def coordinator_routes(web) -> list[Route]:
    from .app import COORD_COOKIE, HEADERS, MAX_FORM, _form

    def session_value() -> str | None:
        if not web.coordinator_token:
            return None
        return hmac.new(web.secret, f"coord.{web.coordinator_token}".encode(), hashlib.sha256).hexdigest()

    def signed_in(request: Request) -> bool:
        want = session_value()
        got = request.cookies.get(COORD_COOKIE)
        return bool(want and got) and hmac.compare_digest(want, got)

    def lang_of(request: Request) -> str:
        return "en" if request.query_params.get("lang") == "en" else "sv"

    async def login_form(request: Request, error: str | None = None, status: int = 200) -> Response:
        lang = lang_of(request)
        t = words(lang)
        form, nonce = web.with_csrf(request, "coord-login")
        return web.set_nonce(web.page("web_login.html", lang, status, title=t["coordinators"], csrf=form,
                                      error=error), nonce)

    async def login(request: Request) -> Response:
        lang = lang_of(request)
        t = words(lang)
        body = await request.body()
        fields = _form(body[:MAX_FORM]) if len(body) <= MAX_FORM else {}
        if not web.csrf_ok(request, "coord-login", fields.get("csrf")):
            return web.page("web_message.html", lang, 403, title=t["denied_title"], text=t["bad_form"], back=None)
        key = fields.get("credential") or ""
        if not web.coordinator_token or not hmac.compare_digest(key.encode(), web.coordinator_token.encode()):
            log.info("coordinators: a sign-in was refused")
            return await login_form(request, error=t["denied_text"], status=403)
        response = RedirectResponse("/coord", status_code=303, headers=HEADERS)
        response.set_cookie(COORD_COOKIE, session_value(), httponly=True, samesite="strict", secure=web.secure,
                            path="/coord", max_age=8 * 3600)
        return response

    cache: dict = {}

    def combined(names: dict) -> tuple[list, list]:
        """The report's joint opportunities and gaps, worked out once per cycle (the last run's id)."""
        last = web.store.last_run()
        if web.embedder_factory is None or last is None or web.store.reference_at(web.dep.settings.timezone) is None:
            return [], [], {}
        if cache.get("run") != last["id"]:
            from ..report import collect

            data = collect(web.dep, web.store, web.embedder())
            joint = [{"title": data["calls"][o.call_id].record.title, "funder": o.funder,
                      "cities": ", ".join(names.get(x, x) for x in o.cities)} for o in data["joint"]]
            gaps = [{"city": names.get(g.city, g.city), "need": g.need_text, "weight": g.weight,
                     "relevance": g.best_relevance} for g in data["gaps"]]
            at, threshold = data["at"], data["threshold"]
            counts = {city: sum(1 for m in rows if m["score"] >= threshold and m["eligibility"] != "ineligible")
                      for city, rows in data["matches"].items()}
            numbers = {"open": sum(1 for c in data["calls"].values() if c.status(at) != "closed"),
                       "funders": len({c.record.funder for c in data["calls"].values() if c.status(at) != "closed"}),
                       "counts": counts}
            cache.update(run=last["id"], joint=joint, gaps=gaps, numbers=numbers)
        return cache["joint"], cache["gaps"], cache["numbers"]

    def overview(lang: str) -> dict:
        from ..suggest import reference_at

        names = {cid: p.city.name for cid, p in web.profiles.items()}
        entries = web.store.pipeline()
        per_call: dict[int, list] = {}
        for city, rows in entries.items():
            if city not in names:
                continue
            for call_id, e in rows.items():
                if e.status in ACTIVE:
                    per_call.setdefault(call_id, []).append(e)
        calls = {c.id: c for c in web.store.calls(include_gone=True, ids=list(per_call))}
        t = words(lang)
        pipeline = []
        for call_id, es in per_call.items():
            c = calls.get(call_id)
            if c is None:
                continue
            preparing = sum(1 for e in es if e.status == "preparing")
            pipeline.append({"title": c.record.title, "funder": c.record.funder, "preparing": preparing,
                             "headline": t["cities_preparing"].format(n=preparing) if preparing > 1 else "",
                             "cities": [{"name": names[e.city], "status": t["statuses"][e.status],
                                         "contact": e.owner or e.who or ""} for e in sorted(es, key=lambda e: e.city)]})
        pipeline.sort(key=lambda r: (-r["preparing"], -len(r["cities"]), r["title"]))
        joint, gaps, numbers = combined(names)
        preparing_by_city: dict[str, int] = {}
        for city, rows in entries.items():
            preparing_by_city[city] = sum(1 for e in rows.values() if e.status == "preparing")
        cities = [{"name": names[c], "suggested": (numbers.get("counts") or {}).get(c, 0),
                   "preparing": preparing_by_city.get(c, 0)} for c in sorted(names, key=names.get)]
        at = reference_at(web.dep, web.store).date().isoformat()
        return {"pipeline": pipeline, "joint": joint, "gaps": gaps, "at": at, "cities": cities,
                "numbers": [(numbers.get("open", 0), t["open_calls"].format(n=numbers.get("funders", 0))),
                            (len(names), t["cities"].lower()), (len(joint), t["joint"].lower()),
                            (len(gaps), t["gaps_n"])]}

    async def view(request: Request) -> Response:
        if not signed_in(request):
            return RedirectResponse("/coord/login", status_code=303, headers=HEADERS)
        lang = lang_of(request)
        t = words(lang)
        data = await run_in_threadpool(overview, lang)
        return web.page("web_coord.html", lang, title=t["coordinators"], **data)

    return [Route("/coord", view, methods=["GET"]), Route("/coord/login", login_form, methods=["GET"]),
            Route("/coord/login", login, methods=["POST"])]
