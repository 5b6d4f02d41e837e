"""Budgets and languages, read from the text funders write."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCALE = {
    "miljarder": 1e9, "miljard": 1e9, "mdkr": 1e9, "billion": 1e9, "bn": 1e9,
    "miljoner": 1e6, "miljon": 1e6, "million": 1e6, "millions": 1e6, "mkr": 1e6, "msek": 1e6, "meur": 1e6,
    "mn": 1e6, "m": 1e6, "millioner": 1e6,
    "tusen": 1e3, "tkr": 1e3, "thousand": 1e3,
}
_CURRENCY = {"kr": "SEK", "kronor": "SEK", "sek": "SEK", "mkr": "SEK", "msek": "SEK", "tkr": "SEK", "mdkr": "SEK",
             "eur": "EUR", "euro": "EUR", "euros": "EUR", "€": "EUR", "meur": "EUR", "nok": "NOK"}
_NUMBER = r"(?:\d+(?:[.,]\d+)?\s*[–-]\s*)?(?P<num>\d{1,3}(?:[ \u00a0.,]\d{3})+|\d+(?:[.,]\d+)?)"
_BUDGET = re.compile(
    r"(?P<pre>€|EUR|SEK|NOK)?\s*" + _NUMBER + r"\s*(?P<scale>miljarder|miljard|miljoner|miljon|millioner|millions|million"
    r"|billion|mdkr|mkr|msek|meur|tkr|tusen|thousand|bn|mn|m)?\b\.?\s*(?P<cur>kronor|kr|SEK|EUR|euros?|€|NOK)?",
    re.I,
)


@dataclass(frozen=True)
class Budget:
    amount: float
    currency: str | None  # None when the text does not say

    def __str__(self) -> str:
        return f"{self.currency or ''} {self.amount:,.0f}".replace(",", " ").strip()


def _number(raw: str) -> float | None:
    raw = raw.replace("\u00a0", " ")
    if re.fullmatch(r"\d{1,3}(?:[ .,]\d{3})+", raw):
        return float(re.sub(r"[ .,]", "", raw))
    try:
        return float(raw.replace(",", "."))
    except ValueError:
        return None


def parse_budget(text: str | None, *, default_currency: str | None = None) -> Budget | None:
    """The first amount of money in ``text`` ("Utlysta medel 10 miljoner",
    "cirka 25 miljoner kronor", "EUR 85.5 million", "2 mkr", "700 000 kronor")."""
    if not text:
        return None
    for m in _BUDGET.finditer(text):
        scale_word = (m["scale"] or "").lower()
        currency = (m["pre"] or m["cur"] or "").lower()
        if not scale_word and not currency:
            continue  # a bare number is not money
        if scale_word == "m" and not currency:
            continue  # "5 m" could be metres
        value = _number(m["num"])
        if value is None:
            continue
        value *= _SCALE.get(scale_word, 1.0)
        cur = _CURRENCY.get(currency) or _CURRENCY.get(scale_word) or default_currency
        return Budget(value, cur)
    return None


_STOPWORDS = {
    "sv": {"och", "att", "för", "som", "med", "av", "på", "är", "till", "det", "en", "de", "om", "ska", "kan",
           "inom", "från", "eller", "vi", "ni", "har", "inte", "utlysningen", "projekt", "stöd", "kommuner", "också"},
    "en": {"the", "and", "of", "to", "in", "for", "is", "on", "with", "by", "be", "are", "this", "that", "will",
           "from", "or", "as", "an", "at", "projects", "call", "should", "which"},
    "no": {"og", "å", "for", "som", "med", "av", "på", "er", "til", "det", "en", "de", "om", "skal", "kan",
           "ikke", "fra", "eller", "vil", "har", "søknader", "prosjekter", "også", "frist", "bli"},
}
_ONLY = {"sv": set("äö"), "no": set("øæ")}


def detect_language(text: str, default: str = "sv") -> str:
    """sv / en / no by stop words (and the letters only one of them uses)."""
    words = re.findall(r"[a-zåäöøæ]+", text.lower())
    if not words:
        return default
    scores = {lang: sum(w in stops for w in words) for lang, stops in _STOPWORDS.items()}
    letters = set(text.lower())
    for lang, chars in _ONLY.items():
        if letters & chars:
            scores[lang] += 3
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else default
