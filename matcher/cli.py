"""``fundbot``: a thin command line over the functions the scheduler calls.

Exit codes: 0 success, 1 the work could not be done, 2 bad usage or invalid
configuration.  Errors are one line (``--debug`` adds the traceback).  With
``--json`` standard output holds only the JSON document.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys

from .errors import ConfigError, FundbotError

log = logging.getLogger("fundbot")


def _positive(value: str) -> int:
    """A count of at least 1 (argparse type)."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return n


class UsageError(FundbotError):
    """Bad usage: exit code 2."""


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config.toml", metavar="PATH", help="config file (default ./config.toml)")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging (repeatable)")
    common.add_argument("--debug", action="store_true", help="show tracebacks")

    parser = argparse.ArgumentParser(
        prog="fundbot",
        description="Funding-call matcher and notification bot for Klimatkontrakt 2030 cities.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run one cycle: fetch → store → match → deliver")
    run.add_argument("--once", action="store_true", required=True, help="run a single cycle and exit")
    run.add_argument("--offline", action="store_true", help="read recorded snapshots instead of the network")
    run.add_argument("--as-of", type=_date, metavar="DATE", help="take 'today' to be DATE (YYYY-MM-DD)")
    run.add_argument("--json", action="store_true", help="print the cycle summary as JSON")

    srv = sub.add_parser("serve", parents=[common], help="the scheduler daemon (until SIGTERM/SIGINT)")
    srv.add_argument("--offline", action="store_true", help="fetch from the recorded snapshots (demo, tests)")

    suggest = sub.add_parser("suggest", parents=[common], help="ranked calls for one city")
    suggest.add_argument("--city", required=True, metavar="ID")
    suggest.add_argument("--top", type=_positive, default=10, metavar="N")
    suggest.add_argument("--json", action="store_true")

    status = sub.add_parser("status", parents=[common], help="source health and pending deliveries")
    status.add_argument("--json", action="store_true")

    sub.add_parser("check", parents=[common], help="validate config, feeds and profiles")

    src = sub.add_parser("source", parents=[common], help="the funders' sources")
    srcsub = src.add_subparsers(dest="source_command", metavar="ACTION", required=True)
    show = srcsub.add_parser("show", parents=[common],
                             help="fetch one source and print what fundbot reads in it (never writes the store)")
    show.add_argument("id", metavar="ID", help="the source's id (its file name in the feeds folder)")
    show.add_argument("--offline", action="store_true", help="read its recorded snapshot instead of the network")
    show.add_argument("--json", action="store_true")

    profile = sub.add_parser("profile", parents=[common], help="city profiles")
    psub = profile.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    imp = psub.add_parser("import", parents=[common], help="draft a profile from a climate contract (PDF or text)")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--city", required=True, metavar="ID")
    imp.add_argument("--out", metavar="PATH", help="where to write (default: <profiles>/<ID>.toml)")
    imp.add_argument("--force", action="store_true", help="overwrite an existing profile")

    rep = sub.add_parser("report", parents=[common], help="the combined view as static files")
    rep.add_argument("--out", required=True, metavar="DIR")
    rep.add_argument("--force", action="store_true", help="write into a folder that holds other files")
    rep.add_argument("--lang", choices=["sv", "en"], default="sv")

    mark = sub.add_parser("mark", parents=[common], help="record a city's decision on a call")
    mark.add_argument("--city", required=True, metavar="ID")
    mark.add_argument("call", metavar="CALL", help="call id, source:native_id, or official identifier")
    mark.add_argument("decision", choices=["applying", "relevant", "not-relevant"])
    mark.add_argument("--who", default=None, help="who decided (default: the login name)")

    web = sub.add_parser("web", parents=[common], help="the live web view (city pages, feedback, coordinators)")
    web.add_argument("--host", default=None, help="bind address (default [web] host, 127.0.0.1)")
    web.add_argument("--port", type=_positive, default=None, help="port (default [web] port, 8080)")

    link = sub.add_parser("link", parents=[common], help="a city's signed web link (to hand out)")
    link.add_argument("--city", required=True, metavar="ID")
    link.add_argument("--rotate", action="store_true", help="withdraw every earlier link of this city first")

    forget = sub.add_parser("forget", parents=[common], help="erase one person's names and notes from the pipeline")
    forget.add_argument("--who", required=True, metavar="NAME", help="the name as typed (owner or who changed)")

    st = sub.add_parser("store", parents=[common], help="the database")
    ssub = st.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    cp = ssub.add_parser("copy", parents=[common], help="copy this deployment's store to another database")
    cp.add_argument("--to", required=True, metavar="URL", help="e.g. postgresql://fundbot@db.example/fundbot")
    cp.add_argument("--json", action="store_true")

    ev = sub.add_parser("eval", parents=[common], help="ranking quality on a labelled set")
    ev.add_argument("--calls", required=True, metavar="F", help="calls.jsonl")
    ev.add_argument("--profiles", required=True, metavar="DIR", help="folder of city profiles")
    ev.add_argument("--qrels", required=True, metavar="F", help="qrels.tsv")
    ev.add_argument("--method", default="hybrid", choices=["hybrid", "embed", "tfidf", "bm25"])
    ev.add_argument("--json", action="store_true")
    return parser


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    from .safety import RedactingFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))  # no secret in any log line
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _progress(message: str) -> None:
    print(f"fundbot: {message}", file=sys.stderr, flush=True)


def _load(args):
    from . import config

    from .safety import remember_environment_secrets

    dep = config.load(args.config)
    remember_environment_secrets(dep)  # what the environment holds for the deployment is never shown
    for warning in dep.warnings:
        log.warning("%s", warning)
    return dep


def _embedder(settings, cache_dir, progress):
    from .embed import make_embedder

    m = settings.matcher
    return make_embedder(m.model, cache_dir, batch_size=m.batch_size, backend=m.backend, progress=progress)


def _open_store(dep):
    from .store import Store

    store = Store(dep.store_url)
    store.migrate()
    return store


def cmd_check(args) -> int:
    dep = _load(args)
    w = dep.settings.web
    if w.enabled or w.base_url:
        from .web.links import load_secret

        try:
            load_secret(os.environ, w.secret_env)
        except FundbotError as exc:
            print(f"warning: {args.config}: [web]: {exc}", file=sys.stderr)
    print(f"ok: {args.config}: {len(dep.sources)} sources, {len(dep.profiles)} profiles, "
          f"{sum(len(p.needs) for p in dep.profiles)} needs")
    return 0


def cmd_run(args) -> int:
    from .channels import build_channels
    from .cycle import make_clock, run_cycle
    from .safety import redact

    dep = _load(args)
    store = _open_store(dep)
    out = sys.stderr if args.json else sys.stdout
    # a terminal gets a few lines per call and where the rest is; -v the whole explanation
    channels = build_channels(out, dep.settings, full=args.verbose > 0)
    embedder = _embedder(dep.settings, dep.resolve(dep.settings.matcher.cache_dir), _progress)
    # one cycle at a time on a store: a second `run` (or a `serve` job) waits, then gives up with the reason
    with store.cycle_lock(dep.settings.store.lock_wait_seconds, notify=lambda m: print(f"fundbot: {m}", file=sys.stderr)):
        clock = make_clock(dep, offline=args.offline, as_of=args.as_of)
        report = run_cycle(dep, store, embedder, channels, clock, offline=args.offline, progress=_progress)
    for notice in report.notices:
        print(f"fundbot: {redact(notice)}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        failed = [f"{sid} ({o['error']})" for sid, o in report.sources.items() if not o["ok"]]
        c, d = report.calls, report.deliveries
        print(f"fundbot: {report.today}: {c['total']} calls ({c['new']} new, {c['changed']} changed, "
              f"{c['gone']} gone), {report.matches} matches, {d['sent']} suggestions sent, "
              f"{d['pending']} pending, {d['failed']} failed"
              + (f"; failed sources: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 0


def cmd_serve(args) -> int:
    from .channels import build_channels
    from .serve import serve

    if args.verbose == 0:
        logging.getLogger().setLevel(logging.INFO)  # a daemon logs one line per event
    dep = _load(args)
    store = _open_store(dep)
    channels = build_channels(sys.stdout, dep.settings)
    for reason in channels.problems([c for p in dep.profiles for c in p.channels]
                                    + list(dep.settings.coordination.channels)):
        log.warning("%s", reason)
    embedder = _embedder(dep.settings, dep.resolve(dep.settings.matcher.cache_dir), lambda m: log.info("%s", m))
    return serve(dep, store, embedder, channels, offline=args.offline)


def cmd_web(args) -> int:
    from .web.run import build, run

    dep = _load(args)
    store = _open_store(dep)
    cache = dep.resolve(dep.settings.matcher.cache_dir)
    app = build(dep, store, lambda: _embedder(dep.settings, cache, lambda m: log.info("%s", m)))
    w = dep.settings.web
    host, port = args.host or w.host, args.port or w.port
    print(f"fundbot web: http://{host}:{port}/ (a city's link: fundbot link --city ID)", file=sys.stderr, flush=True)
    run(app, host, port, access_log=args.verbose > 0)
    return 0


def cmd_link(args) -> int:
    from .web.links import DigestLinks, rotate
    from .web.run import signer

    dep = _load(args)
    profile = dep.profile(args.city)
    store = _open_store(dep)
    sign = signer(dep, store)
    if args.rotate:
        gen = rotate(store, profile.city.id)
        print(f"{profile.city.name}: every earlier link withdrawn (generation {gen})", file=sys.stderr)
    import datetime as dt

    w = dep.settings.web
    now = dt.datetime.now(dt.timezone.utc)
    base = w.base_url or f"http://{w.host}:{w.port}/"
    links = DigestLinks(sign, base, w.link_days, w.action_days, now)
    print(links.page(profile.city.id))
    print(links.calendar(profile.city.id))
    print(f"valid {w.link_days} days", file=sys.stderr)
    return 0


def cmd_forget(args) -> int:
    dep = _load(args)
    store = _open_store(dep)
    n = store.forget(args.who)
    print(f"{n} pipeline entries no longer name {args.who!r} (statuses kept)")
    return 0


def cmd_suggest(args) -> int:
    from .suggest import suggestions

    dep = _load(args)
    profile = dep.profile(args.city)
    store = _open_store(dep)
    items = suggestions(store, profile, top=args.top, timezone=dep.settings.timezone)
    if items is None:
        raise FundbotError(f"no matches for {args.city!r} yet: run `fundbot run --once` first")
    if args.json:
        print(json.dumps({"city": profile.city.id, "suggestions": items}, ensure_ascii=False, indent=1))
        return 0
    import datetime as dt

    from .channels.text import format_date

    lang = profile.city.language
    t = SUGGEST_TEXT.get(lang, SUGGEST_TEXT["en"])
    print(t["header"].format(name=profile.city.name, n=len(items)))
    for n, s in enumerate(items, 1):
        deadline = (format_date(dt.datetime.fromisoformat(s["deadline"]), lang, dep.settings.timezone)
                    if s["deadline"] else t["rolling"])
        print(f"{n:2}. [{s['score']:.2f}] {s['title']} — {s['funder']} — {t[s['status']]}, "
              f"{t['deadline']} {deadline}")
        print(f"    {t['need']} {s['need_id']}: {s['need_text']}")
        print(f"    {t['why']}: {' '.join(s['passage'].split())[:240]}")
        elig = s["eligibility"]
        if elig["reasons"]:
            print(f"    {t['ineligible']}: {'; '.join(elig['reasons'])}")
        if elig["caveats"]:
            print(f"    {t['caveats']}: {'; '.join(elig['caveats'])}")
        if s["url"]:
            print(f"    {s['url']}")
    return 0


# `fundbot suggest` in the city's language
SUGGEST_TEXT = {
    "sv": {"header": "{name}: {n} förslag", "rolling": "löpande / ej angiven", "deadline": "sista dag",
           "open": "öppen", "forthcoming": "öppnar snart", "closed": "stängd", "need": "behov", "why": "varför",
           "ineligible": "kan inte söka", "caveats": "att kontrollera"},
    "en": {"header": "{name}: {n} suggestions", "rolling": "rolling / not stated", "deadline": "deadline",
           "open": "open", "forthcoming": "opens soon", "closed": "closed", "need": "need", "why": "why",
           "ineligible": "cannot apply", "caveats": "to check"},
}


def cmd_status(args) -> int:
    from .suggest import status_report

    dep = _load(args)
    store = _open_store(dep)
    report = status_report(dep, store)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    run = report["last_run"]
    print(f"last run: {run['finished_at'] if run else 'never'}" + (f" (as of {run['today']})" if run else ""))
    e = report["embedding"]
    if e["backend"] == "hashing":
        print("embedding: hashing (no model: tests and dry runs)")
    else:
        built = {True: f"built in {e['folder']}", False: f"not built yet (the next cycle with new text builds it "
                 f"into {e['folder']})", None: "loaded by sentence-transformers"}[e["built"]]
        print(f"embedding: {e['model']} on {e['backend']}, {built}")
    print("sources:")
    for sid, s in report["sources"].items():
        state = "never fetched" if s["last_attempt"] is None else (
            "ok" if s["ok"] else f"FAILED ({s['failures']}× in a row, last success {s['last_success'] or 'never'}): "
                                 f"{s['error']}")
        warn = f" — warning: {s['warning']}" if s.get("warning") else ""
        warn += f" — warning: {s['stale']}" if s.get("stale") else ""
        print(f"  {sid:28} {state}, {s['items'] or 0} items, last attempt {s['last_attempt'] or '-'}{warn}")
    if report["unverified"]:
        print(f"unverified (not suggested; no future deadline and not seen for over "
              f"{dep.settings.matcher.stale_after_days} days):")
        for c in report["unverified"]:
            print(f"  [{c['source']}] {c['title'][:80]} — {c['note']}")
    if report["invitation_only"]:
        print("past the first stage (not suggested):")
        for c in report["invitation_only"]:
            print(f"  [{c['source']}] {c['title'][:80]} — {c['note']}")
    d = report["deliveries"]
    print(f"deliveries: {d['sent']} sent, {d['pending']} pending, {d['failed']} failed")
    print("channels:")
    for key, h in report["channels"].items():
        detail = {"stopped": f"STOPPED: {h['stopped']}", "failing": f"FAILING, retrying: {h['last_error']}",
                  "ok": f"ok, last sent {h['last_sent']}", "idle": "nothing sent yet"}[h["state"]]
        print(f"  {key:34} {h['cadence']:7} {detail}; {h['sent']} sent, {h['pending']} pending, {h['failed']} failing")
    for key, state in report["stopped_channels"].items():
        print(f"  channel {key} STOPPED since {state['blocked_at']}: {state['error']}")
    print("schedule (fundbot serve):")
    for job, when in report["schedule"].items():
        print(f"  {job:30} next {when}")
    return 0


def cmd_source(args) -> int:
    from .sources.show import format_show, show_source

    dep = _load(args)
    source = next((s for s in dep.sources if s.id == args.id), None)
    if source is None:
        raise UsageError(f"no source {args.id!r}; the sources are: {', '.join(s.id for s in dep.sources)}")
    data = show_source(dep, source, offline=args.offline)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        print(format_show(data), end="")
    return 0


def cmd_eval(args) -> int:
    from pathlib import Path

    from . import evaluate
    from .config import Settings
    from .embed import embed_cached
    from .store import Store

    for name in ("calls", "profiles", "qrels"):
        if not Path(getattr(args, name)).exists():
            raise UsageError(f"--{name}: no such file or folder {getattr(args, name)!r}")
    calls = evaluate.load_calls(Path(args.calls))
    profiles = evaluate.load_profiles(Path(args.profiles))
    qrels = evaluate.load_qrels(Path(args.qrels))
    vectors = None
    if args.method in ("hybrid", "embed"):
        # vectors are cached in the deployment's store when there is one, else next to the model
        if Path(args.config).exists():
            from .config import load_settings, resolve_store_url

            settings = load_settings(args.config)
            root = Path(args.config).resolve().parent
            cache = root / settings.matcher.cache_dir
            store = Store(resolve_store_url(settings.store.url, root))
            store.migrate()
        else:
            settings = Settings()
            cache = Path(settings.matcher.cache_dir)
            cache.mkdir(parents=True, exist_ok=True)
            store = Store(f"sqlite:///{cache / 'vectors.db'}")
            store.migrate()
        embedder = _embedder(settings, cache, _progress)

        def vectors(texts):
            return embed_cached(store, embedder, texts)[0]

    model = None
    if args.method == "hybrid":
        from .rank import RankerModel

        model = RankerModel.for_embedder(embedder.name)
    result = evaluate.evaluate(calls, profiles, qrels, args.method, vectors, model,
                               need_ids=evaluate.load_need_ids(Path(args.qrels)))
    if args.json:
        print(json.dumps(result))
    else:
        needs = "".join(f"  {k} {result[k]:.4f}" for k in ("need@1", "need@3") if result[k] is not None)
        blind = evaluate.scored_out_of_fold(calls, model)
        print(f"{result['method']}: nDCG@10 {result['ndcg@10']:.4f}  P@5 {result['p@5']:.4f}  "
              f"R@20 {result['r@20']:.4f}  MRR {result['mrr']:.4f}{needs}  ({result['cities']} cities, "
              f"{result['calls']} calls" + (f"; {blind} the ranking model was fitted on, each scored by the fold "
                                             "that left it out" if blind else "") + ")")
    return 0


def cmd_profile(args) -> int:
    import re
    import tomllib
    from pathlib import Path

    from .config import Profile
    from .profile_import import import_profile

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", args.city):
        raise UsageError(f"--city: {args.city!r} is not a valid id (lower-case letters, digits, - and _)")
    if args.out:
        out = Path(args.out)
    else:
        from .config import load_settings

        settings = load_settings(args.config)
        out = Path(args.config).resolve().parent / settings.profiles / f"{args.city}.toml"
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists: pass --force to overwrite it")
    text, draft, review = import_profile(Path(args.file), args.city)
    Profile.model_validate(tomllib.loads(text))  # the draft is a valid profile
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    needs = text.count("[[needs]]")
    print(f"wrote {out}: {draft.name}, {needs} needs from {len({b.section for b in draft.blocks})} sections"
          f"{', county ' + draft.county if draft.county else ''}")
    if draft.goals:
        print(f"goals: {draft.goals}")
    print("review before use:")
    for point in review + ["weights follow the text's emphasis: check them against the city's priorities"]:
        print(f"  - {point}")
    return 0


def cmd_report(args) -> int:
    from pathlib import Path

    from .report import write_report

    from .report import MARKER

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {args.out} is a file, not a folder")
    if out.is_dir() and not args.force and any(out.iterdir()) and not (out / MARKER).exists() \
            and not ((out / "report.json").exists() and (out / "index.html").exists()):
        raise UsageError(f"--out: {args.out} holds files fundbot did not write; give an empty or new folder, "
                         "or pass --force")
    dep = _load(args)
    store = _open_store(dep)
    embedder = _embedder(dep.settings, dep.resolve(dep.settings.matcher.cache_dir), _progress)
    try:
        doc = write_report(dep, store, embedder, out, args.lang)
    except ValueError as exc:
        raise FundbotError(str(exc)) from exc
    print(f"wrote {args.out}: {len(doc['calls'])} calls, {len(doc['cities'])} cities, "
          f"{len(doc['joint_opportunities'])} joint opportunities, {len(doc['gaps'])} gaps")
    return 0


def cmd_mark(args) -> int:
    import datetime as dt
    import getpass

    dep = _load(args)
    profile = dep.profile(args.city)
    store = _open_store(dep)
    call = store.find_call(args.call)
    if call is None:
        raise FundbotError(f"no call {args.call!r} in the store (use an id from `fundbot suggest --json`)")
    store.add_mark(profile.city.id, call.id, args.decision, args.who or getpass.getuser(), dt.datetime.now(dt.timezone.utc))
    print(f"{profile.city.name}: {call.record.title} marked {args.decision}")
    return 0


def cmd_store(args) -> int:
    from .store import Store
    from .store.copy import copy_store

    dep = _load(args)
    source = _open_store(dep)
    target = Store(args.to)
    if target.safe_url == source.safe_url:
        raise UsageError("--to is this deployment's own store")
    report = copy_store(source, target, progress=_progress)
    if args.json:
        print(json.dumps(dict(report.as_dict(), source=source.safe_url, target=target.safe_url)))
    else:
        for table, n in report.rows.items():
            print(f"  {table:14} {n} rows")
        print(f"copied {source.safe_url} → {target.safe_url}: "
              + ("consistent (every table has the same rows and values on both sides)" if report.consistent
                 else "NOT consistent: " + "; ".join(report.mismatches)))
    return 0 if report.consistent else 1


COMMANDS = {"web": cmd_web, "link": cmd_link, "forget": cmd_forget, "store": cmd_store, "serve": cmd_serve, "report": cmd_report, "profile": cmd_profile, "mark": cmd_mark, "run": cmd_run, "suggest": cmd_suggest, "status": cmd_status, "check": cmd_check, "eval": cmd_eval,
            "source": cmd_source}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    _setup_logging(args.verbose)
    from .safety import redact

    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"fundbot: error: {redact(line)}", file=sys.stderr)
        if args.debug:
            raise
        return 2
    except UsageError as exc:
        print(f"fundbot: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except FundbotError as exc:
        print(f"fundbot: error: {redact(str(exc))}", file=sys.stderr)
        if args.debug:
            raise
        return 1
    except KeyboardInterrupt:
        print("fundbot: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a person sees one line; --debug shows the rest
        if args.debug:
            raise
        print(f"fundbot: error: unexpected {type(exc).__name__}: {redact(str(exc))} (run with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

