"""The templates of every page and e-mail fundbot writes (Jinja2).  Every
variable is escaped for HTML and SVG (autoescape): feed text can never
become markup, whoever writes the next template."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("matcher", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "svg"]))
    env.filters["pct"] = lambda value: f"{value:.0%}"
    return env


__all__ = ["environment"]
