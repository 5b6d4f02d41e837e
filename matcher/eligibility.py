"""Can this city take part in this call?  Read from the call's eligibility and
text, held against the profile's ``[eligibility]``.  Pure.

Three answers, never guessed: ``ineligible`` (with the reason), ``eligible``,
or ``unknown`` — a condition the call sets but the profile does not state,
shown as a caveat.  Applicant types (municipalities lead / municipalities as
partners / companies or researchers only) are read as well: they decide
whether the call *funds* the city or only involves it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from .config import Profile

# ERUF/ERDF regional programmes in Sweden, and the county words that name them
ERDF_REGIONS = {
    "Övre Norrland": ["övre norrland", "norrbotten", "västerbotten"],
    "Mellersta Norrland": ["mellersta norrland", "jämtland", "västernorrland"],
    "Norra Mellansverige": ["norra mellansverige", "dalarna", "gävleborg", "värmland"],
    "Östra Mellansverige": ["östra mellansverige", "östergötland", "sörmland", "södermanland", "västmanland",
                            "örebro", "uppsala län"],
    "Stockholm": ["stockholmsregionen", "stockholms län", "region stockholm"],
    "Västsverige": ["västsverige", "västra götaland", "halland"],
    "Småland och öarna": ["småland och öarna", "jönköping", "kronoberg", "kalmar", "gotland"],
    "Skåne-Blekinge": ["skåne-blekinge", "skåne och blekinge", "skåne", "blekinge"],
}
INTERREG_PROGRAMMES = {
    "Aurora": ["interreg aurora", "aurora"],
    "Baltic Sea Region": ["baltic sea region", "interreg baltic", "östersjöprogrammet"],
    "Central Baltic": ["central baltic"],
    "South Baltic": ["south baltic"],
    "North Sea": ["north sea", "nordsjöprogrammet"],
    "Öresund-Kattegat-Skagerrak": ["öresund-kattegat-skagerrak", "öks"],
    "Sverige-Norge": ["sverige-norge", "sweden-norway"],
    "Northern Periphery and Arctic": ["northern periphery", "npa"],
}
ASSETS = {
    "airport": ["flygplats", "airport", "flygplatshavare"],
    "port": ["hamn", "port authority", "ports", "seaport"],
}

_NOT_MISSION = re.compile(r"\b(not|inte|ej)\b[^.;]{0,30}\bmission cit", re.I)
_MISSION_ONLY = re.compile(r"(only|endast|enbart)[^.;]{0,40}mission cit|mission cities only|"
                           r"selected (?:for|by) the (?:eu )?(?:cities )?mission|invit\w* (?:the )?(?:eu )?mission cities",
                           re.I)
_AUDIENCE_MISSION = re.compile(r"\s*(?:eu )?(?:cities )?mission cit(?:y|ies)(?: only)?\.?\s*", re.I)
_NOT_PILOT = re.compile(r"\b(not|inte|ej)\b[^.;]{0,40}\b(pilot|twin)", re.I)
_CLOSED = re.compile(
    r"partners of (?:at least )?\w+ (?:mature |ongoing |funded )?(?:h2020|horizon)[^.;]*projects|"
    r"(?:national|regional) (?:research )?funders|funding (?:and|/) research organisations|"
    r"programme owners|consortium (?:is )?(?:fixed|pre-?defined|already selected)|"
    r"already selected (?:pilot|cities)|by invitation only|endast inbjudna", re.I)

# applicant types, Swedish and English; matched on the eligibility text first
_MUNI = (r"(kommun(?:er|en|al)?|kommunförbund|municipalit(?:y|ies)|local (?:and regional )?authorit(?:y|ies)|"
         r"urban authorit(?:y|ies)|cities|city|städer|public authorit(?:y|ies)|offentlig sektor|"
         r"offentliga (?:aktörer|organisationer)|public bodies|upphandlande organisationer|fastighetsägare|regioner|"
         r"alla (?:typer av )?organisationer|all (?:types of )?organisations|public and private|"
         r"offentliga och privata|alla utom privatpersoner)")
_MUNI_RE = re.compile(r"\b" + _MUNI + r"\b", re.I)
_MUNI_LEAD = re.compile(
    r"(koordinator|huvudsökande|sökande|lead)[^.;]{0,30}\b(ska vara|must be|is|är)\b[^.;]{0,25}" + _MUNI + r"|"
    r"^\s*" + _MUNI + r"|(only|endast)[^.;]{0,20}" + _MUNI, re.I)
_MUNI_PARTNER = re.compile(
    r"(demonstration|demo|replicat\w*|follower|target|pilot) (?:partners?|sites?|users?|groups?)|"
    r"as (?:demonstration |demo )?(?:partners?|participants?|target)|can (?:join|participate)|"
    r"kan delta|target users|target group|audience|cities are only|supporting partners|"
    r"consortia with (?:participating )?(?:cities|local|coastal|lead)", re.I)
_RESEARCH_ONLY = re.compile(
    r"principal investigator|postdoctoral|postdoktor|forskare vid|disputerad forskare|"
    r"^\s*(?:främst )?(?:universitet|forskningsutförare|researchers?)\b|"
    r"(?:led|ledda) (?:by|av) (?:svenskt )?(?:lärosäte|universit)", re.I)
_COMPANIES_ONLY = re.compile(
    r"^\s*(?:små- eller mikroföretag|småföretag|sme|företag(?! och| eller|, )|industriföretag|"
    r"startups?|companies only)|(?:only|endast) (?:companies|företag|smes?)|sme-driven|"
    r"^\s*(?:bransch|yrkes)[- ]?(?:eller yrkes)?organisationer|^\s*aktörer inom", re.I)


_TRANSNATIONAL = re.compile(
    r"transnational|gränsöverskridande|cross-border|from (?:at least )?(?:\d|two|three|four) (?:different )?"
    r"(?:eu )?(?:member states|countries)|\d+ (?:different )?(?:ms|countries|länder)|partners from \d|"
    r"från (?:minst )?(?:\d|två|tre) länder|(?:eu|bsr|programme) countries|member states/ac", re.I)
_COORD_OTHER = re.compile(
    r"(?:koordinator|huvudsökande|lead partner|coordinator)[^.;]{0,25}\b(?:ska vara|must be)\b[^.;]{0,15}"
    r"(?:en |an? )?(?:civilsamhälles|vård|lärosäte|universitet|forsk|research|företag|compan|disputerad)|"
    r"^\s*civilsamhällesorganisation som koordinator|(?:ledda|led) (?:av|by) (?:svenskt )?(?:lärosäte|universit|research)",
    re.I)
_RESEARCH_WORDS = re.compile(r"universit|högskol|lärosäte|forskningsutförare|research|institut", re.I)
_OTHER_APPLICANTS = re.compile(r"universit|högskol|lärosäte|forsk|research|institut|företag|compan|industr|"
                               r"sme|ngo|civilsamhälle|idéburen|organisationer inom|bransch", re.I)


def applicant_details(eligibility: str) -> dict[str, bool]:
    """Finer signals for telling direct funding from partial fit."""
    e = _norm(eligibility)
    muni = _MUNI_RE.search(e)
    research = _RESEARCH_WORDS.search(e)
    return {
        "transnational": bool(_TRANSNATIONAL.search(e)),
        "coord_other": bool(_COORD_OTHER.search(e)),
        "muni_first": bool(muni and not _OTHER_APPLICANTS.search(e[:muni.start()])),
        "research_first": bool(research and (not muni or research.start() < muni.start())),
    }


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text or "").lower()


@dataclass(frozen=True)
class Verdict:
    status: str  # "eligible" | "ineligible" | "unknown"
    reasons: tuple[str, ...] = ()  # why ineligible
    caveats: tuple[str, ...] = ()  # conditions the profile does not answer
    applicant: str = "unknown"  # "lead" | "partner" | "excluded" | "unknown"
    notes: tuple[str, ...] = field(default=())

    @property
    def ineligible(self) -> bool:
        return self.status == "ineligible"


def _mentions(text: str, words: list[str]) -> bool:
    return any(re.search(r"(?<![\wåäö])" + re.escape(w) + r"(?![\wåäö])", text) for w in words)


def applicant_type(eligibility: str, text: str) -> str:
    """lead: municipalities may apply / coordinate; partner: only inside a
    consortium led by others, or as target users; excluded: companies,
    researchers or funders only; unknown otherwise."""
    e = _norm(eligibility)
    body = e or _norm(text)
    if _CLOSED.search(body):
        return "excluded"
    if _RESEARCH_ONLY.search(e) and not _MUNI_RE.search(e.split(";")[0]):
        return "excluded" if not _MUNI_RE.search(e) else "partner"
    if _COMPANIES_ONLY.search(e) and not _MUNI_RE.search(e):
        return "excluded"
    if _MUNI_PARTNER.search(body):
        return "partner"
    if _MUNI_LEAD.search(body) or _MUNI_RE.search(body):
        return "lead"
    return "unknown"


def assess(profile: Profile, *, title: str, text: str, eligibility: str | None, funder: str | None) -> Verdict:
    """Hold one call against one city's eligibility facts."""
    facts = profile.eligibility
    elig = _norm(eligibility or "")
    whole = _norm(f"{funder or ''}\n{title}\n{eligibility or ''}\n{text}")
    head = _norm(f"{funder or ''}\n{title}\n{eligibility or ''}")
    reasons: list[str] = []
    caveats: list[str] = []

    # regional programmes: ERDF (Tillväxtverket) and the Just Transition Fund
    just_transition = "rättvis omställning" in whole or "just transition fund" in whole
    erdf_like = just_transition or "tillväxtverket" in head or "erdf" in head or "eruf" in head or \
        "regionala utvecklingsfonden" in whole or "regional development fund" in whole
    if just_transition:
        if facts.just_transition_area is False:
            reasons.append("Just Transition Fund: only the counties it covers; the city is outside them")
        elif facts.just_transition_area is None:
            caveats.append("Just Transition Fund area: the profile does not say whether the city is inside")
    elif erdf_like:
        named = [region for region, words in ERDF_REGIONS.items() if _mentions(head, words)]
        if named:
            if facts.erdf_region is None:
                caveats.append(f"regional programme {', '.join(named)}: the profile states no ERDF region")
            elif facts.erdf_region not in named:
                county = _norm(facts.county or "")
                if not (county and any(county.split(" län")[0] in _norm(w) for r in named for w in ERDF_REGIONS[r])):
                    reasons.append(f"regional programme for {', '.join(named)}; the city is in {facts.erdf_region}")

    # Interreg programme areas
    if "interreg" in head or "interreg" in _norm(title):
        named = [p for p, words in INTERREG_PROGRAMMES.items() if _mentions(head, words)]
        if named:
            areas = facts.interreg_areas
            if areas is None:
                caveats.append(f"Interreg {', '.join(named)}: the profile states no Interreg areas")
            elif not set(named) & set(areas):
                reasons.append(f"Interreg {', '.join(named)}: the city is outside the programme area")

    # EU Mission cities and NetZeroCities pilots
    if _NOT_MISSION.search(whole):
        if facts.eu_mission_city:
            reasons.append("open only to cities that are not EU Mission cities")
        elif facts.eu_mission_city is None:
            caveats.append("excludes EU Mission cities: the profile does not say whether the city is one")
    elif _MISSION_ONLY.search(whole) or _AUDIENCE_MISSION.fullmatch(elig):
        if facts.eu_mission_city is False:
            reasons.append("open only to EU Mission cities")
        elif facts.eu_mission_city is None:
            caveats.append("open only to EU Mission cities: the profile does not say whether the city is one")
    if _NOT_PILOT.search(whole) and ("netzerocities" in whole or "pilot cit" in whole):
        if facts.netzerocities_pilot:
            reasons.append("excludes cities already selected as NetZeroCities pilots or twins")
        elif facts.netzerocities_pilot is None:
            caveats.append("excludes existing NetZeroCities pilots: the profile does not say")

    # required assets (an airport operator, a port)
    for asset, words in ASSETS.items():
        if elig and _mentions(elig, words) and re.search(r"(must|ska|required|krävs|kräver)", elig):
            if facts.assets is None:
                caveats.append(f"requires a {asset}: the profile lists no assets")
            elif asset not in facts.assets:
                reasons.append(f"requires a {asset}, which the city does not have")

    applicant = applicant_type(eligibility or "", text)
    if applicant == "excluded":
        reasons.append("applicants are companies, researchers or funders, not municipalities")
    elif applicant == "unknown":
        caveats.append("the call does not say whether municipalities may apply")
    status = "ineligible" if reasons else ("unknown" if caveats else "eligible")
    return Verdict(status, tuple(reasons), tuple(caveats), applicant)
