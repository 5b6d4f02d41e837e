"""What each kind of source accepts in its ``[options]`` table: `check`
refuses an unknown key, a regular expression or CSS selector that does not
compile and a time zone that does not exist, naming the file and key, so
such a mistake is found when the file is written, not on the first fetch."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Options(BaseModel):
    """Options every kind accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lookback_days: int = Field(365, ge=1, le=3650)  # how far back a first fetch asks (cycle.LOOKBACK_DAYS)


def _regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value, re.I)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
    return value


def _css(value: str | None) -> str | None:
    if value is not None:
        from selectolax.lexbor import LexborHTMLParser

        try:
            LexborHTMLParser("<p></p>").css_first(value)
        except Exception as exc:  # noqa: BLE001 - lexbor's own error for a selector it cannot read
            raise ValueError(f"not a valid CSS selector ({exc})") from None
    return value


def _zone(value: str | None) -> str | None:
    if value is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
    return value


Labels = str | list[str]


class ProseOptions(Options):
    """Sources whose dates and budget are read from prose by labels (rss, html)."""

    deadline_labels: Labels = []
    opening_labels: Labels = []
    budget_labels: Labels = []
    include: str | None = None  # a regular expression a call's title must match
    timezone: str | None = None
    programme: str | None = None
    language: Literal["sv", "en", "no"] | None = None

    _include = field_validator("include")(_regex)
    _timezone = field_validator("timezone")(_zone)


class RssOptions(ProseOptions):
    pass


class HtmlOptions(ProseOptions):
    item: str  # the CSS selector of one call on the listing page
    link: str | None = None
    title: str | None = None
    eligibility: str | None = None
    next_page: str | None = None
    detail_title: str | None = None
    detail_text: str | None = None
    detail_eligibility: str | None = None
    max_pages: int = Field(5, ge=1, le=100)

    _selectors = field_validator("item", "link", "title", "eligibility", "next_page", "detail_title",
                                 "detail_text", "detail_eligibility")(_css)


class SediaOptions(Options):
    query: str | dict[str, Any] | None = None  # the search API's query, JSON
    languages: list[str] = ["en"]
    page_size: int = Field(100, ge=1, le=1000)
    max_pages: int = Field(50, ge=1, le=1000)
    text: str = "***"
    api_key: str = "SEDIA"  # the portal's public key for anonymous search, not a secret

    @field_validator("query")
    @classmethod
    def _json(cls, value):
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError as exc:
                raise ValueError(f"not valid JSON ({exc})") from None
        return value


class VinnovaOptions(Options):
    language: Literal["sv", "en"] | None = None


class GdpOptions(Options):
    key_env: str | None = None  # the environment variable that holds the API key
    language: Literal["sv", "en"] | None = None


OPTIONS: dict[str, type[Options]] = {"rss": RssOptions, "html": HtmlOptions, "sedia": SediaOptions,
                                     "vinnova": VinnovaOptions, "gdp": GdpOptions}
