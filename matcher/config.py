"""Configuration, source files and city profiles: typed and validated.

Everything is validated up front and *every* error is reported at once, each
prefixed with the file and the key it concerns (``profiles/lund.toml:
needs[2].weight: must be between 1 and 3``).  Nothing here does I/O beyond
reading the files named; secrets are never read from files, only the *names*
of environment variables that hold them.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

SOURCE_KINDS = ("sedia", "vinnova", "gdp", "rss", "html")  # adapters registered in matcher.sources
CHANNEL_KINDS = ("slack", "slack-webhook", "teams", "email", "console")
CADENCES = ("instant", "daily", "weekly")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- config.toml -----------------------------------------------------------


def _has_password(url: str) -> bool:
    """Whether a store URL carries a password in any of the forms a driver reads."""
    import re
    from urllib.parse import parse_qs, urlsplit

    if not re.match(r"^postgres(?:ql)?(?:\+\w+)?://", url):
        return False
    rest = url.split("://", 1)[1]
    authority = rest.rsplit("@", 1)[0] if "@" in rest.split("?", 1)[0] else ""
    if ":" in authority:  # user:password@ (the password may hold '/', '@' or ':')
        return True
    query = urlsplit(url).query
    return any(k.lower() in ("password", "passwd", "pwd") for k in parse_qs(query, keep_blank_values=True))


class StoreSettings(_Strict):
    url: str = "sqlite:///fundbot.db"
    # a cycle waits this long for another cycle on the same store to finish, then exits 1
    lock_wait_seconds: float = Field(600.0, ge=0.0, le=86400.0)

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str) -> str:
        import re

        if _has_password(value):  # user:password@, a password with '/' or '@' in it, or ?password=
            raise ValueError("holds a password: give it in the environment (PGPASSWORD) or ~/.pgpass, "
                             "never in a file")
        if not re.match(r"^(sqlite|postgres(?:ql)?)(\+\w+)?://", value):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value


class MatcherSettings(_Strict):
    model: str = "multilingual-e5-small"
    backend: Literal["auto", "onnx-int8", "torch"] = "auto"
    cache_dir: str = ".cache/fundbot"
    batch_size: int = Field(32, ge=1, le=1024)
    min_score: float = Field(0.5, ge=0.0, le=1.0)
    top: int = Field(10, ge=1, le=100)
    stale_after_days: int = Field(183, ge=1, le=3650)

    @model_validator(mode="after")
    def _backend_fits_model(self):
        if self.backend == "onnx-int8" and self.model != "multilingual-e5-small":
            raise ValueError(f"backend = \"onnx-int8\" is built for the multilingual-e5-small model only, "
                             f"not {self.model!r}: use \"torch\" or \"auto\"")
        return self


class HttpSettings(_Strict):
    contact_url: str = "https://github.com/fundbot/fundbot"
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    max_bytes: int = Field(20_000_000, gt=0)
    retries: int = Field(3, ge=0, le=10)
    min_interval: float = Field(1.0, ge=0)
    source_budget: float = Field(90.0, gt=0)


class ChannelSpec(_Strict):
    kind: Literal["slack", "slack-webhook", "teams", "email", "console"]
    target: str | None = None
    cadence: Literal["instant", "daily", "weekly"] = "weekly"
    min_score: float | None = Field(None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _target_needed(self) -> "ChannelSpec":
        if self.kind != "console" and not (self.target or "").strip():
            raise ValueError(f"a {self.kind} channel needs a target (console is the only kind without one)")
        return self

    @property
    def key(self) -> str:
        """A stable name for this channel, used to remember what it was sent."""
        return f"{self.kind}:{self.target or '-'}"


def _five_fields(value: str) -> str:
    if len(value.split()) != 5:
        raise ValueError("must be a five-field cron expression, e.g. '0 6 * * *'")
    from apscheduler.triggers.cron import CronTrigger

    try:  # the scheduler's own parser: what it refuses, `check` refuses
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"not a valid cron expression ({exc})") from None
    return value


class ServeSettings(_Strict):
    deliver_every_minutes: int = Field(15, ge=1, le=1440)
    daily_digest: str = "0 8 * * 1-5"
    weekly_digest: str = "0 8 * * 1"
    reminders: str = "30 7 * * *"
    misfire_grace_seconds: int = Field(600, ge=1)
    run_at_start: bool = True

    @field_validator("daily_digest", "weekly_digest", "reminders")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _five_fields(value)


class DeliverySettings(_Strict):
    reminder_days: int = Field(7, ge=0, le=90)


class EmailSettings(_Strict):
    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    user: str | None = None
    password_env: str = "FUNDBOT_SMTP_PASSWORD"
    from_addr: str | None = None


class SlackSettings(_Strict):
    token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    base_url: str = "https://slack.com/api/"


class CoordinationSettings(_Strict):
    channels: list[ChannelSpec] = []


class WebSettings(_Strict):
    """`fundbot web` (and the web view inside `serve`): where it listens, the
    address people reach it at (digests carry signed links only when it is
    set), and the names of the environment variables holding its secrets."""

    enabled: bool = False                     # serve runs the web view too
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    base_url: str | None = None               # e.g. "https://fundbot.kommun.se/" behind the reverse proxy
    secret_env: str = "FUNDBOT_WEB_SECRET"    # signs every link (HMAC-SHA256); at least 32 characters
    coordinator_token_env: str = "FUNDBOT_WEB_COORDINATOR_TOKEN"  # the coordinators' credential
    link_days: int = Field(120, ge=1, le=3650)    # a city's page link lives this long
    action_days: int = Field(60, ge=1, le=3650)   # an action link (relevant, not relevant, we apply)
    retention_months: int = Field(24, ge=1, le=240)  # owners, notes and names kept after a call's last deadline
    search_top: int = Field(10, ge=1, le=50)

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # "" in the shipped config: no links in digests
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be an absolute http(s) address without query or fragment, "
                             "e.g. \"https://fundbot.kommun.se/\"")
        return value if value.endswith("/") else value + "/"


class Settings(_Strict):
    feeds: str = "feeds"
    profiles: str = "profiles"
    timezone: str = "Europe/Stockholm"
    store: StoreSettings = StoreSettings()
    matcher: MatcherSettings = MatcherSettings()
    http: HttpSettings = HttpSettings()
    delivery: DeliverySettings = DeliverySettings()
    serve: ServeSettings = ServeSettings()
    slack: SlackSettings = SlackSettings()
    email: EmailSettings = EmailSettings()
    coordination: CoordinationSettings = CoordinationSettings()
    web: WebSettings = WebSettings()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


# --- feeds/<id>.toml ---------------------------------------------------------


class SourceSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    funder: str
    kind: str
    url: str
    snapshot: str | None = None
    recorded_at: dt.date | None = None
    schedule: str = "0 6 * * *"
    language: Literal["sv", "en", "no"] = "sv"
    enabled: bool = True
    options: dict[str, Any] = {}

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in SOURCE_KINDS:
            raise ValueError(f"unknown kind {value!r} (known: {', '.join(SOURCE_KINDS)})")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _five_fields(value)


# --- profiles/<id>.toml ------------------------------------------------------


class CityInfo(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    language: Literal["sv", "en"] = "sv"
    goals: str | None = None
    # a "twin" of the 2025/26 round names the older contract city it works with (its profile id)
    twin_of: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]*$")

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        from .models import COORDINATION

        if value == COORDINATION:  # the outbox's addressee for the [coordination] channels
            raise ValueError(f"{COORDINATION!r} is reserved for the [coordination] channels; choose another id")
        return value


class Eligibility(_Strict):
    county: str | None = None
    erdf_region: str | None = None
    just_transition_area: bool | None = None
    interreg_areas: list[str] | None = None
    eu_mission_city: bool | None = None
    netzerocities_pilot: bool | None = None
    assets: list[str] | None = None


class Need(_Strict):
    id: str = Field(min_length=1)
    text: str = Field(min_length=3)
    weight: int
    keywords: list[str] = []
    source: str | None = None

    @field_validator("weight")
    @classmethod
    def _weight(cls, value: int) -> int:
        if not 1 <= value <= 3:
            raise ValueError(f"must be between 1 and 3, got {value}")
        return value

    @property
    def query(self) -> str:
        """What the need is matched with: its text plus its keywords."""
        return " ".join([self.text, *self.keywords])


class Profile(_Strict):
    city: CityInfo
    eligibility: Eligibility = Eligibility()
    needs: list[Need] = Field(min_length=1)
    channels: list[ChannelSpec] = []

    @field_validator("needs")
    @classmethod
    def _unique_needs(cls, needs: list[Need]) -> list[Need]:
        duplicate = duplicate_need_ids([n.id for n in needs])
        if duplicate:
            raise ValueError(f"duplicate need id {duplicate[0]!r}")
        return needs


def duplicate_need_ids(ids: list[Any]) -> list[str]:
    seen: set[Any] = set()
    dupes = []
    for nid in ids:
        if nid in seen and isinstance(nid, str):
            dupes.append(nid)
        seen.add(nid)
    return dupes


# --- loading ----------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """Everything a run needs, loaded and validated."""

    path: Path  # the config file
    settings: Settings
    sources: tuple[SourceSpec, ...]
    profiles: tuple[Profile, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the config file."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @property
    def feeds_dir(self) -> Path:
        return self.resolve(self.settings.feeds)

    @property
    def profiles_dir(self) -> Path:
        return self.resolve(self.settings.profiles)

    @property
    def store_url(self) -> str:
        return resolve_store_url(self.settings.store.url, self.root)

    def snapshot_path(self, source: SourceSpec) -> Path | None:
        if not source.snapshot:
            return None
        p = Path(source.snapshot)
        return p if p.is_absolute() else self.feeds_dir / p

    def profile(self, city_id: str) -> Profile:
        for p in self.profiles:
            if p.city.id == city_id:
                return p
        known = ", ".join(p.city.id for p in self.profiles) or "none"
        raise ConfigError([f"no profile for city {city_id!r} (known: {known})"])


def resolve_store_url(url: str, root: Path) -> str:
    """A relative SQLite path is relative to the config file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(root / url[len(prefix):])
    return url


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _pydantic_errors(label: str, exc: ValidationError, within: tuple[str, ...] = ()) -> list[str]:
    errors = []
    for err in exc.errors():
        loc = within + tuple(err["loc"])
        # pydantic appends the literal/union branch to the location; drop it
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        errors.append(f"{label}: {_loc(loc)}: {msg}")
    return errors


def _read_toml(path: Path, label: str, errors: list[str]) -> dict[str, Any] | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        errors.append(f"{label}: cannot read: {exc.strerror or exc}")
        return None
    text = decode_utf8(raw, label, errors)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        errors.append(f"{label}: invalid TOML: {exc}")
    return None


def read_utf8(path: Path) -> str:
    """An operator's text file, or a ConfigError naming it (missing, unreadable, not UTF-8)."""
    errors: list[str] = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    text = decode_utf8(raw, str(path), errors)
    if text is None:
        raise ConfigError(errors)
    return text


def decode_utf8(raw: bytes, label: str, errors: list[str]) -> str | None:
    """A file's text, which must be UTF-8 (a UTF-8 byte-order mark, as Windows
    editors write, is allowed); anything else is named in ``errors``."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        errors.append(f"{label}: the file is UTF-16; save it as UTF-8")
        return None
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        errors.append(f"{label}: not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}; "
                      f"Latin-1 or Windows-1252?); save it as UTF-8")
        return None


def _validate(model: type[BaseModel], data: dict[str, Any], label: str, errors: list[str]):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(label, exc))
        return None


def _label(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def load_settings(config_path: str | Path = "config.toml") -> Settings:
    """Only ``config.toml`` itself (for commands that need no feeds or profiles)."""
    if not Path(config_path).exists():
        raise ConfigError([f"{config_path}: no such config file"])
    errors: list[str] = []
    settings = _settings(Path(config_path), errors)
    if errors:
        raise ConfigError(errors)
    return settings


def _settings(path: Path, errors: list[str]) -> Settings:
    """The settings, with their problems added to ``errors``; when they are
    invalid, the defaults (and the folders, where those can be read) stand in
    so that the feeds and profiles are still checked."""
    data = _read_toml(path, path.name, errors)
    settings = _validate(Settings, data, path.name, errors) if data is not None else None
    if settings is None:
        folders = {k: v for k, v in (data or {}).items() if k in ("feeds", "profiles") and isinstance(v, str)}
        settings = Settings(**folders)
    return settings


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (links followed) lies inside ``folder``."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def manifest_problems(snapshot: Path) -> list[str]:
    """What is wrong with a snapshot folder's ``manifest.json``: every entry
    must name a file inside the folder (no ``..``, no absolute path, no link out)."""
    import json

    manifest = snapshot / "manifest.json"
    if not snapshot.is_dir() or not manifest.exists():
        return []
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))["responses"]
        items = list(entries.items())
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        return [f"{manifest.name}: not a manifest ({type(exc).__name__}: {exc})"]
    problems = []
    for url, entry in items:
        name, day = manifest_entry(entry)
        if isinstance(entry, dict) and set(entry) - {"file", "recorded_at"}:
            problems.append(f"{manifest.name}: responses[{url!r}]: unknown key(s) "
                            f"{', '.join(sorted(set(entry) - {'file', 'recorded_at'}))} (known: file, recorded_at)")
        if day is False:
            problems.append(f"{manifest.name}: responses[{url!r}].recorded_at: "
                            f"{entry.get('recorded_at')!r} is not a date (YYYY-MM-DD)")
        if not isinstance(name, str) or not _inside(snapshot / name, snapshot):
            problems.append(f"{manifest.name}: responses[{url!r}]: {name!r} is outside the snapshot folder")
    return problems


def manifest_entry(entry) -> tuple[object, "dt.date | None | bool"]:
    """A manifest entry — ``"file.html"`` or ``{"file": …, "recorded_at":
    "YYYY-MM-DD"}`` (a page recorded on a day of its own) — as (file name,
    its day or None; False when the day is not a date)."""
    if not isinstance(entry, dict):
        return entry, None
    day = entry.get("recorded_at")
    if day is None:
        return entry.get("file"), None
    try:
        return entry.get("file"), dt.date.fromisoformat(str(day))
    except ValueError:
        return entry.get("file"), False


def _options_problems(spec: SourceSpec, label: str) -> list[str]:
    """What the source's kind refuses in its ``[options]`` (matcher.sources.options)."""
    from .sources.options import OPTIONS

    try:
        OPTIONS[spec.kind].model_validate(spec.options)
    except ValidationError as exc:
        return _pydantic_errors(label, exc, within=("options",))
    return []


def load(config_path: str | Path = "config.toml") -> Deployment:
    """Load and validate the config, every source file and every profile.

    Raises :class:`ConfigError` listing every problem found.
    """
    path = Path(config_path).resolve()
    root = path.parent
    errors: list[str] = []
    if not path.exists():
        raise ConfigError([f"{config_path}: no such config file"])
    settings = _settings(path, errors)  # its errors come with every other file's

    def under(rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else root / p

    sources: list[SourceSpec] = []
    feeds_dir = under(settings.feeds)
    if not feeds_dir.is_dir():
        errors.append(f"{path.name}: feeds: no such folder {settings.feeds!r}")
    else:
        for file in sorted(feeds_dir.glob("*.toml")):
            label = _label(file, root)
            raw = _read_toml(file, label, errors)
            if raw is None:
                continue
            spec = _validate(SourceSpec, raw, label, errors)
            if spec is None:
                continue
            if spec.id != file.stem:
                errors.append(f"{label}: id: {spec.id!r} differs from the file name {file.stem!r}")
            errors.extend(_options_problems(spec, label))
            if spec.snapshot:
                snap = Path(spec.snapshot)
                snap = snap if snap.is_absolute() else feeds_dir / snap
                if not _inside(snap, feeds_dir):
                    errors.append(f"{label}: snapshot: {spec.snapshot!r} is outside the feeds folder")
                elif not snap.exists():
                    errors.append(f"{label}: snapshot: no such file or folder {spec.snapshot!r}")
                else:
                    errors.extend(f"{label}: snapshot: {problem}" for problem in manifest_problems(snap))
            sources.append(spec)

    profiles: list[Profile] = []
    profiles_dir = under(settings.profiles)
    if not profiles_dir.is_dir():
        errors.append(f"{path.name}: profiles: no such folder {settings.profiles!r}")
    elif not any(profiles_dir.glob("*.toml")):
        errors.append(f"{path.name}: profiles: the folder {settings.profiles!r} holds no city profile (*.toml)")
    else:
        for file in sorted(profiles_dir.glob("*.toml")):
            label = _label(file, root)
            raw = _read_toml(file, label, errors)
            if raw is None:
                continue
            profile = _validate(Profile, raw, label, errors)
            if profile is None:
                # other errors stop pydantic before the duplicate check: run it on the raw tables
                needs = raw.get("needs") if isinstance(raw.get("needs"), list) else []
                ids = [n.get("id") for n in needs if isinstance(n, dict)]
                errors.extend(f"{label}: needs: duplicate need id {d!r}" for d in duplicate_need_ids(ids))
                continue
            if profile.city.id != file.stem:
                errors.append(
                    f"{label}: city.id: {profile.city.id!r} differs from the file name {file.stem!r}"
                )
            profiles.append(profile)

    if errors:
        raise ConfigError(errors)
    warnings = []
    if not sources:
        warnings.append(f"{settings.feeds}: no source files (*.toml)")
    if not profiles:
        warnings.append(f"{settings.profiles}: no city profiles (*.toml)")
    known = {p.city.id for p in profiles}
    for p in profiles:
        if p.city.twin_of and p.city.twin_of not in known:
            warnings.append(f"{settings.profiles}/{p.city.id}.toml: city.twin_of names {p.city.twin_of!r}, "
                            "which has no profile here")
    return Deployment(path, settings, tuple(sources), tuple(profiles), tuple(warnings))
