"""The combined view: joint-application opportunities (calls that fit several
cities' alike needs) and financing gaps (prioritised needs no open call
covers).  Pure: matches, profiles, calls and need vectors in; data out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from .config import Profile
from .models import StoredCall
from .safety import safe_url

# two needs are alike when their vectors are closer than ALIKE_QUANTILE of all
# pairs of needs in the deployment (models differ in how high cosines run)
ALIKE_QUANTILE = 0.9
CONSORTIUM_FUNDERS = ("urbact", "interreg", "driving urban transitions", "dut", "european commission")


@dataclass
class Opportunity:
    call_id: int
    title: str
    funder: str
    deadline: dt.datetime | None
    cities: list[str]
    needs: dict[str, str]  # city → its matched need's text
    total_relevance: float
    consortium: bool
    url: str | None = None

    def as_dict(self) -> dict:
        return {"call_id": self.call_id, "title": self.title, "funder": self.funder, "url": self.url,
                "deadline": self.deadline.isoformat() if self.deadline else None, "cities": self.cities,
                "needs": self.needs, "total_relevance": round(self.total_relevance, 4),
                "consortium": self.consortium}


@dataclass
class Gap:
    city: str
    need_id: str
    need_text: str
    weight: int
    best_call_id: int | None
    best_relevance: float
    theme: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"city": self.city, "need_id": self.need_id, "need_text": self.need_text, "weight": self.weight,
                "best_call_id": self.best_call_id, "best_relevance": round(self.best_relevance, 4),
                "theme": self.theme}


def rewards_consortia(call: StoredCall) -> bool:
    """EU calls with several partners, URBACT networks, DUT, Interreg."""
    text = f"{call.record.funder} {call.record.programme or ''} {call.record.eligibility or ''}".lower()
    if any(word in text for word in CONSORTIUM_FUNDERS):
        return True
    terms = call.terms
    return bool(terms is not None and getattr(terms, "applicant", "") == "partner")


def joint_opportunities(matches: dict[str, list[dict]], calls: dict[int, StoredCall],
                        need_vectors: dict[tuple[str, str], np.ndarray], need_texts: dict[tuple[str, str], str],
                        threshold: float, at: dt.datetime) -> list[Opportunity]:
    """Open calls above ``threshold`` for two or more eligible cities, one
    entry per group of cities whose matched needs are alike."""
    alike = alike_threshold(need_vectors)
    by_call: dict[int, list[tuple[str, str, float]]] = {}
    for city, rows in matches.items():
        for m in rows:
            if m["score"] >= threshold and m.get("eligibility") != "ineligible":
                by_call.setdefault(m["call_id"], []).append((city, m["need_id"], m["score"]))
    out: list[Opportunity] = []
    for call_id, entries in by_call.items():
        call = calls.get(call_id)
        if call is None or call.status(at) == "closed" or len(entries) < 2:
            continue
        groups: list[list[tuple[str, str, float]]] = []
        for entry in sorted(entries, key=lambda e: -e[2]):
            vec = need_vectors.get((entry[0], entry[1]))
            for group in groups:
                ref = need_vectors.get((group[0][0], group[0][1]))
                if vec is not None and ref is not None and float(vec @ ref) >= alike:
                    group.append(entry)
                    break
            else:
                groups.append([entry])
        for group in groups:
            if len(group) < 2:
                continue
            out.append(Opportunity(
                call_id=call_id, title=call.record.title, funder=call.record.funder, url=safe_url(call.record.url),
                deadline=call.next_deadline(at), cities=sorted(c for c, _, _ in group),
                needs={c: need_texts.get((c, n), n) for c, n, _ in group},
                total_relevance=sum(s for _, _, s in group), consortium=rewards_consortia(call)))
    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    out.sort(key=lambda o: (-len(o.cities), -o.total_relevance, o.deadline or far, o.call_id))
    return out


def need_coverage(profiles: list[Profile], matches: dict[str, list[dict]], threshold: float) -> list[Gap]:
    """Every need of weight ≥ 2 with the best open call that serves it (the
    call's best-fitting need) and that call's relevance, in profile order."""
    out: list[Gap] = []
    for profile in profiles:
        best: dict[str, tuple[float, int | None]] = {}
        for m in matches.get(profile.city.id, []):
            if m.get("eligibility") == "ineligible":
                continue
            current = best.get(m["need_id"], (0.0, None))
            if m["score"] > current[0]:
                best[m["need_id"]] = (m["score"], m["call_id"])
        for need in profile.needs:
            if need.weight < 2:
                continue
            score, call_id = best.get(need.id, (0.0, None))
            out.append(Gap(profile.city.id, need.id, need.text, need.weight, call_id, score,
                           list(need.keywords[:3])))
    return out


def financing_gaps(profiles: list[Profile], matches: dict[str, list[dict]], threshold: float) -> list[Gap]:
    """The needs of weight ≥ 2 that no open call serves above ``threshold``."""
    return [g for g in need_coverage(profiles, matches, threshold) if g.best_relevance < threshold]


def alike_threshold(need_vectors: dict[tuple[str, str], np.ndarray]) -> float:
    """The cosine above which two needs count as alike: the ALIKE_QUANTILE of
    all pairs of needs in the deployment (models differ in how high cosines run)."""
    keys = list(need_vectors)
    if len(keys) < 2:
        return 1.0
    mat = np.vstack([need_vectors[k] for k in keys])
    return float(np.quantile((mat @ mat.T)[np.triu_indices(len(keys), 1)], ALIKE_QUANTILE))


def gaps_by_theme(gaps: list[Gap], need_vectors: dict[tuple[str, str], np.ndarray] | None = None,
                  alike: float | None = None) -> dict[str, list[str]]:
    """Across cities: each theme and the cities lacking cover for it.  With
    need vectors, a theme is a group of alike needs in any city (each alike
    to the group's first, most important need), named by the keyword its
    needs share most; without, a need's first keyword.  Largest themes first."""
    def own_theme(g: Gap) -> str:
        return g.theme[0] if g.theme else g.need_text.split(":")[0][:40]

    groups: list[list[Gap]] = []
    if need_vectors:
        alike = alike_threshold(need_vectors) if alike is None else alike
        for g in sorted(gaps, key=lambda g: (-g.weight, g.city, g.need_id)):
            vec = need_vectors.get((g.city, g.need_id))
            for group in groups:  # joins the first group whose first need it is alike (no chaining)
                seed = need_vectors.get((group[0].city, group[0].need_id))
                if vec is not None and seed is not None and float(vec @ seed) >= alike:
                    group.append(g)
                    break
            else:
                groups.append([g])
    else:
        by_name: dict[str, list[Gap]] = {}
        for g in gaps:
            by_name.setdefault(own_theme(g), []).append(g)
        groups = list(by_name.values())
    themes: dict[str, set[str]] = {}
    for group in groups:
        counts: dict[str, int] = {}
        for g in group:
            for word in g.theme or [own_theme(g)]:
                counts[word] = counts.get(word, 0) + 1
        name = min(counts, key=lambda w: (-counts[w], w))
        while name in themes and not themes[name] >= {g.city for g in group}:
            name += " "  # a second group that happens to share the name stays apart
        themes.setdefault(name, set()).update(g.city for g in group)
    return {t.strip(): sorted(c) for t, c in sorted(themes.items(), key=lambda kv: (-len(kv[1]), kv[0]))}
