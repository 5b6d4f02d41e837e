"""Eligibility and applicant types: table-driven, Swedish and English."""

from __future__ import annotations

import pytest

from matcher.config import Profile
from matcher.eligibility import applicant_details, applicant_type, assess


def city(**eligibility) -> Profile:
    return Profile.model_validate({"city": {"id": "c", "name": "C"}, "eligibility": eligibility,
                                   "needs": [{"id": "n", "text": "Klimatomställning", "weight": 3}]})


PROFILES = {}
NORTH = "north"
SOUTH = "south"
BLANK = "blank"
PROFILES[NORTH] = city(county="Västerbottens län", erdf_region="Övre Norrland", just_transition_area=True,
             interreg_areas=["Aurora", "Baltic Sea Region"], eu_mission_city=False, netzerocities_pilot=False,
             assets=["airport"])
PROFILES[SOUTH] = city(county="Skåne län", erdf_region="Skåne-Blekinge", just_transition_area=False,
             interreg_areas=["Öresund-Kattegat-Skagerrak", "Baltic Sea Region"], eu_mission_city=True,
             netzerocities_pilot=True, assets=[])
PROFILES[BLANK] = city()

CASES = [
    # (call title, eligibility, funder, {profile: expected status}, fragment of the reason or caveat)
    ("Insatser för förbättrad infrastruktur inom Övre Norrland", "Offentliga aktörer i Norrbotten och Västerbotten.",
     "Tillväxtverket", {NORTH: "eligible", SOUTH: "ineligible", BLANK: "unknown"}, "Övre Norrland"),
    ("Främja förnybar energi i Skåne och Blekinge", "Kommuner och offentliga organisationer i Skåne och Blekinge.",
     "Tillväxtverket", {NORTH: "ineligible", SOUTH: "eligible"}, "Skåne-Blekinge"),
    ("Fonden för en rättvis omställning – stöd till industrins omställning", "Kommuner och regioner i berörda län.",
     "Tillväxtverket", {NORTH: "eligible", SOUTH: "ineligible", BLANK: "unknown"}, "Just Transition"),
    ("Interreg Aurora – utlysning för gränsöverskridande projekt", "Alla organisationer inom programområdet.",
     "Interreg Aurora", {NORTH: "eligible", SOUTH: "ineligible", BLANK: "unknown"}, "Aurora"),
    ("Twinning Learning Programme", "Local authorities that are NOT Mission Cities and not already Pilot/Twin Cities.",
     "NetZeroCities", {NORTH: "eligible", SOUTH: "ineligible", BLANK: "unknown"}, "Mission"),
    ("Mission Cities: Twinning", "Only EU Cities Mission cities.", "NetZeroCities",
     {NORTH: "ineligible", SOUTH: "eligible", BLANK: "unknown"}, "Mission"),
    ("Enabling City Transformation 2", "Mission Cities", "NetZeroCities", {NORTH: "ineligible", SOUTH: "eligible"},
     "Mission"),
    ("Elektrifierad regional luftfart", "Kommunal flygplatshavare ska vara koordinator; krävs en flygplats.", "Vinnova",
     {NORTH: "eligible", SOUTH: "ineligible", BLANK: "unknown"}, "airport"),
    ("Deployment of R&I results", "Consortia built from partners of at least 3 mature H2020 projects.", "European Commission",
     {NORTH: "ineligible", SOUTH: "ineligible", BLANK: "ineligible"}, "fixed in advance"),
    ("Stadsmiljöavtal", "Kommuner och regioner; anläggningen ska ägas av sökande.", "Trafikverket",
     {NORTH: "eligible", SOUTH: "eligible", BLANK: "eligible"}, None),
]


@pytest.mark.parametrize("title,elig,funder,expected,fragment", CASES, ids=[c[0][:30] for c in CASES])
def test_eligibility_rules(title, elig, funder, expected, fragment):
    for name, status in expected.items():
        profile = PROFILES[name]
        verdict = assess(profile, title=title, text="", eligibility=elig, funder=funder, lang="en")
        assert verdict.status == status, (profile.eligibility, verdict)
        if fragment and status == "ineligible":
            assert any(fragment in r for r in verdict.reasons), verdict.reasons
        if fragment and status == "unknown":
            assert any(fragment in c for c in verdict.caveats), verdict.caveats


def test_unknown_is_never_counted_as_eligible_or_ineligible():
    verdict = assess(PROFILES[BLANK], title="Insatser inom Övre Norrland", text="", eligibility="Aktörer i Norrbotten.",
                     funder="Tillväxtverket")
    assert verdict.status == "unknown" and not verdict.reasons and verdict.caveats


@pytest.mark.parametrize("elig,kind", [
    ("Koordinator ska vara en kommun; minst fyra parter.", "lead"),
    ("Kommuner och regioner som huvudsökande tillsammans med forskningsutförare.", "lead"),
    ("Urban authorities in EU Member States.", "lead"),
    ("Horizon Europe consortia; local authorities/cities as demonstration partners.", "partner"),
    ("Små- eller mikroföretag (<50 anställda).", "excluded"),
    ("Forskare vid svenska universitet, högskolor och forskningsinstitut.", "excluded"),
    ("Individual Principal Investigator with a host institution.", "excluded"),
    ("National/regional research funders and programme owners.", "excluded"),
    ("Horizon Europe RIA consortia (climate research).", "unknown"),
])
def test_applicant_types(elig, kind):
    assert applicant_type(elig, "") == kind


def test_applicant_details():
    d = applicant_details("Civilsamhällesorganisation som koordinator med minst en part från offentlig sektor.")
    assert d["coord_other"] and not d["transnational"]
    d = applicant_details("Universities, companies, public authorities (incl. municipalities); ≥3 partners from 3 countries.")
    assert d["transnational"] and d["research_first"] and not d["muni_first"]
    d = applicant_details("Kommuner och regioner.")
    assert d["muni_first"] and not d["research_first"]
