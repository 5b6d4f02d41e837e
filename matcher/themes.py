"""What a text is about, in the terms a climate strategist sorts funding by.

A fixed, bilingual (Swedish / English) vocabulary of the themes that city
climate needs and funding calls share.  It answers one question the
embedding answers badly: of a city's needs — all of them about climate, all
close to one another — which one does this call pay for?  Each need gets the
themes its text and keywords name; each call a profile of how strongly its
title and text name each theme; a need is served where the two meet.  Pure,
generic: no call, funder or city is named here.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

# theme -> word stems (matched at a word start, case-insensitive; Swedish compounds are caught by their first part
# where the stem is a prefix, e.g. "kollektivtrafik" in "kollektivtrafikanläggningar")
THEMES: dict[str, tuple[str, ...]] = {
    "mobility": ("kollektivtrafik", "public transport", "cykel", "cykl", "cycling", "cycle", "bicycl", "gång- och", "gångtrafik", "gående", "walking",
                 "pedestrian", "resande", "resor", "mobility", "mobilitet", "tram", "spårväg", "buss", "bus ",
                 "modal shift", "commut", "pendl", "hållbart resande", "multimodal", "hubs",
                 "street space", "gatu", "bilpool", "car sharing", "parkering", "parking"),
    "vehicles": ("elfordon", "electric vehicle", "ev ", "laddinfrastruktur", "laddstation", "laddning", "laddpunkt",
                 "charging", "snabbladd", "fossilfri", "fossil-free", "fordon", "vehicle", "drivmedel", "fuel",
                 "biogas", "vätgas", "hydrogen", "lastbil", "truck", "tunga transporter", "heavy-duty", "arbetsmaskin",
                 "work machine", "elektrifiering", "electrification", "fleet", "fordonsflott", "elbil", "ellastbil"),
    "freight": ("gods", "freight", "logistik", "logistics", "city logistics", "leverans", "delivery"),
    "energy_supply": ("förnybar energi", "förnybar el", "renewable", "solenergi", "solcell", "solar", "vindkraft",
                      "wind", "fjärrvärme", "district heating", "fjärrkyla", "district cooling", "energisystem",
                      "energy system", "elnät", "grid", "flexibilit", "energilagr", "storage", "lagring", "effektbrist",
                      "elproduktion", "värmeproduktion", "heat pump", "värmepump", "restvärme", "waste heat",
                      "smarta nät", "smart grid", "energy communit", "energigemenskap", "positive energy",
                      "low-temperature", "lågtempererad", "heating", "heating and cooling", "kraftvärme"),
    "efficiency": ("energieffektiv", "energy efficien", "renovering", "renovation", "energy renovation",
                   "fastighet", "lokaler", "byggnader", "buildings", "bostäder", "housing", "homes", "energianvändning",
                   "energy use", "energy consumption", "retrofit", "energirådgivning", "energy advice",
                   "energy performance", "energikartläggning"),
    "construction": ("byggande", "byggsektor", "construction", "byggmaterial", "building material", "material",
                     "trä", "timber", "wood", "lca", "livscykel", "life cycle", "life-cycle", "cement", "betong",
                     "concrete", "klimatsmart byggande", "nybyggnation", "built environment", "bebyggd miljö"),
    "circular": ("cirkulär", "circular", "återbruk", "reuse", "återvinn", "recycl", "avfall", "waste",
                 "resurseffektiv", "resource efficien", "delningsekonomi", "sharing economy", "restprodukt",
                 "by-product", "secondary raw"),
    "consumption": ("konsumtion", "consumption", "livsmedel", "food", "måltid", "meals", "mat ", "matsvinn",
                    "food waste", "livsstil", "lifestyle"),
    "adaptation": ("klimatanpassning", "klimatanpass", "adaptation", "adapt", "skyfall", "cloudburst", "översvämning",
                   "flood", "resilien", "havsnivå", "sea level", "sea-level", "värmebölj", "heatwave", "heat wave",
                   "dagvatten", "stormwater", "storm water", "torka", "drought", "skred", "landslide",
                   "erosion", "kust", "coastal", "klimatrisk", "climate risk", "beredskap", "preparedness",
                   "disaster"),
    "nature": ("kolsänk", "kolinlagring", "carbon sink", "carbon removal", "carbon storage", "biologisk mångfald",
               "biodiversit", "ekosystem", "ecosystem", "naturbaserade", "nature-based", "grönområd", "green space",
               "grönstruktur", "green infrastructure", "urban nature", "skog", "forest", "jordbruk", "agricultur",
               "våtmark", "wetland", "naturvård", "nature conservation", "restoration", "restaurering", "träd",
               "tree", "mark och vegetation", "soil", "vatten", "water"),
    "governance": ("styrning", "governance", "koldioxidbudget", "carbon budget", "klimatbudget", "investeringsplan",
                   "investment plan", "klimatinvestering", "climate investment", "uppföljning", "kunskapsunderlag",
                   "energy transition plan", "klimathandlingsplan", "climate action plan", "action plan", "monitoring",
                   "ledarskap", "leadership", "klimatledarskap", "färdplan",
                   "roadmap", "klimatkontrakt", "climate city contract", "förändringsled",
                   "capacity building", "förstudie", "feasibility",
                   "project development", "projektutveckling", "transition team", "klimatneutral", "climate neutral",
                   "climate-neutral"),
    "engagement": ("samverkan", "medborgar", "citizen", "invånare", "residents", "civilsamhälle", "civil society",
                   "engag", "participat", "delaktig", "samskap", "co-creat", "co-design", "näringsliv",
                   "nätverk", "network", "skolor", "schools", "dialog",
                   "klimatprotokoll", "alliance", "beteende", "behaviour", "behavior", "kommunikation",
                   "communication", "lärande", "learning", "exchange", "utbyte", "twinning"),
    "procurement": ("upphandling", "procurement", "inköp", "purchas", "innovationsupphandling", "pcp",
                    "pre-commercial", "tender", "klimatkrav", "green public"),
    "industry": ("industri", "industry", "industrial", "tillverkning", "manufactur", "utsläpp från industri",
                 "ccs", "koldioxidinfångning", "carbon capture", "battery", "batteri"),
    "planning": ("stadsplanering", "samhällsplanering", "samhällsbyggnad", "urban planning", "fysisk planering", "spatial planning", "översiktsplan",
                 "detaljplan", "stadsutveckling", "urban development", "urban regeneration", "stadsomvandling",
                 "public space", "offentliga rum", "neighbourhood", "stadsdel", "täthet", "densif", "bebyggelse",
                 "urban design", "new european bauhaus", "bauhaus", "landsbygd", "rural"),
    "digital": ("digital", "data", "ai ", "artificial intelligence", "verktyg", "tool", "digital twin", "sensor",
                "scenario", "modelling", "modellering", "plattform", "platform"),
}
NAMES = tuple(THEMES)
# themes that say how a call is to be carried out rather than what it pays for
METHODS = ("governance", "engagement", "digital")

def _stem(stem: str) -> str:
    """A stem is a word start; one written with a trailing space is a whole word."""
    return re.escape(stem.strip()) + (r"(?![\wåäö])" if stem.endswith(" ") else "")


_PATTERNS = {name: re.compile(r"(?<![\wåäö])(?:" + "|".join(_stem(s) for s in stems) + ")", re.IGNORECASE)
             for name, stems in THEMES.items()}


@lru_cache(maxsize=8192)
def counts(text: str) -> tuple[int, ...]:
    """How often each theme's words occur in ``text``."""
    return tuple(len(p.findall(text or "")) for p in _PATTERNS.values())


def need_profile(text: str, keywords: "list[str] | tuple[str, ...]" = ()) -> np.ndarray:
    """A need's themes: the share of its theme words that fall in each theme
    (its text and its keywords, the keywords counted twice: they name the
    need's subject, the text also its goals)."""
    c = np.array(counts(text), dtype=np.float32) + 2 * np.array(counts(", ".join(keywords)), dtype=np.float32)
    total = c.sum()
    return c / total if total else c


def call_profile(title: str, text: str) -> np.ndarray:
    """A call's themes: how strongly each is named, the title counting as much
    as a long text (what the call is *for*), on a log scale so that a theme
    named everywhere does not drown one named in the title."""
    head = np.array(counts(title), dtype=np.float32)
    body = np.array(counts(text), dtype=np.float32)
    words = max(len((text or "").split()), 1)
    density = body / np.float32(max(words / 100.0, 1.0))  # per 100 words
    return np.log1p(3.0 * head + density)


def need_call_scores(need_profiles: np.ndarray, call_profiles: np.ndarray) -> np.ndarray:
    """(needs × calls): how much of each need's themes each call names."""
    return need_profiles @ call_profiles.T
