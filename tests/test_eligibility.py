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


# --- calls no municipality can use: read from the text, whatever the city ---------------------------

UNUSABLE_CASES = [
    # (title, eligibility, text, the kind read)
    ("Africa-EU CO-FUND action on climate", "General conditions",
     "Financial support to third parties is foreseen. Co-funding action implemented through calls that fund third "
     "parties.", "third_parties"),
    ("Accelerator for Ukraine and Moldova", "Who can apply: cities in Ukraine and Moldova; cities from the EU as "
     "mentor cities.", "A learning programme for urban reconstruction.", "third_countries"),
    ("Pioneers programme", "Who can apply: cities from Albania, Bosnia and Herzegovina and Serbia.", "", "third_countries"),
    ("Call for URBACT IV Experts", "Who can apply: individual experts (urban professionals, consultants).",
     "Join the pool of experts.", "experts"),
    ("Permanent Call for peer reviewers", "Urban practitioners of EU urban authorities",
     "Each Peer Review involves one city under review working with peer reviewers.", "experts"),
    ("Regionalt investeringsstöd", "• Region Norrbotten",
     "Stödet kan ges för investeringar i materiella tillgångar. Investeringen ska bidra till en hållbar utveckling "
     "för företaget och regionen.\nVem kan söka?\nFöretag inom stödområde 1–3.", "companies_only"),
    ("Additional activities for the partnership", "General conditions",
     "The consortium funded under HORIZON-CL6-2024-GOVERNANCE-02-01 is uniquely placed to submit the proposal.",
     "fixed_consortium"),
    ("Better understanding of land and ocean carbon sinks", "General conditions",
     "Expected Outcome: better understanding of oceanic CO2 sources and sinks under climate scenarios.",
     "research_only"),
    ("Tools and technologies to support health adaptation to climate change", "General conditions",
     "Health topic linked to the Adaptation Mission.", "health"),
    ("Innovative biotechnologies to restore soil health", "General conditions",
     "Microbial and plant-based biotechnologies for farms.", "health"),
]


@pytest.mark.parametrize("title,elig,text,kind", UNUSABLE_CASES, ids=[c[3] + ":" + c[0][:25] for c in UNUSABLE_CASES])
def test_calls_no_municipality_can_use_are_ineligible_with_the_reason(title, elig, text, kind):
    from matcher.eligibility import message, unusable_kinds

    assert kind in unusable_kinds(title=title, text=text, eligibility=elig)
    for name in (NORTH, SOUTH, BLANK):  # whatever the city's facts
        verdict = assess(PROFILES[name], title=title, text=text, eligibility=elig, funder="X")
        assert verdict.status == "ineligible"
        assert message(kind, "sv") in verdict.reasons  # said in the city's language (sv)


USABLE_CASES = [
    # what looks alike but a municipality can use: never read as unusable
    ("Circular cities", "General conditions", "Innovation Action. Financial support to third parties (follower "
     "cities) is foreseen; local authorities lead the demonstrations."),
    ("URBACT Action Networks", "Cities from the 27 EU Member States, Norway and Switzerland.", "Exchange networks."),
    ("Call for Peer Reviews", "Article 11 cities (city under review); urban authorities (peer reviewers)",
     "Applicants may apply to be a City under Review and/or a Peer Reviewer."),
    ("Stärk företags kompetensförsörjning", "• Skåne", "Vem kan söka?\nAktörer som främjar företagande, samt regioner, "
     "kommuner och universitet.\nSmå och medelstora företag är målgrupp."),
    ("Bridging the gap between disaster risk management and climate adaptation", "General conditions",
     "Expected Outcome: interaction between adaptation and DRM actors at national and regional scale, improving local "
     "resilience."),
    ("Sustainable built environment", None, "Research projects. Who can apply: higher education institutions, research "
     "institutes and public agencies with a research mission."),
    ("Healthy streets for urban climate", "Cities and municipalities.", "Greener streets for cities."),
]


@pytest.mark.parametrize("title,elig,text", USABLE_CASES, ids=[c[0][:30] for c in USABLE_CASES])
def test_alike_calls_a_city_can_use_are_not_excluded(title, elig, text):
    from matcher.eligibility import unusable_kinds

    assert unusable_kinds(title=title, text=text, eligibility=elig) == ()


def test_messages_are_in_the_citys_language():
    from matcher.config import Profile

    title, elig = "Interreg Aurora – utlysning", "Alla organisationer inom programområdet."
    sv = assess(PROFILES[BLANK], title=title, text="", eligibility=elig, funder="Interreg Aurora")
    en = assess(PROFILES[BLANK], title=title, text="", eligibility=elig, funder="Interreg Aurora", lang="en")
    assert sv.caveats == ("Interreg Aurora: profilen anger inga Interreg-områden",)
    assert en.caveats == ("Interreg Aurora: the profile states no Interreg areas",)
    # a city whose profile says English is told in English without being asked
    english = Profile.model_validate({"city": {"id": "e", "name": "E", "language": "en"},
                                      "needs": [{"id": "n", "text": "Climate", "weight": 3}]})
    unknown = assess(english, title="A call", text="Some text.", eligibility=None, funder="X")
    assert unknown.caveats == ("the call does not say whether municipalities may apply",)
    assert assess(PROFILES[BLANK], title="A call", text="Some text.", eligibility=None, funder="X").caveats == (
        "utlysningen säger inte om kommuner får söka",)


def test_terms_read_by_an_earlier_version_are_read_again():
    import json

    from matcher.eligibility import TERMS_VERSION, read_terms, terms_from_json, terms_to_json

    terms = read_terms(title="Call for URBACT IV Experts", text="Join the pool of experts.",
                       eligibility="Who can apply: individual experts.", funder="URBACT")
    assert terms.version == TERMS_VERSION and terms.unusable == ("experts",)
    assert terms_from_json(terms_to_json(terms)) == terms  # stored and read back whole
    old = json.loads(terms_to_json(terms))
    del old["version"], old["unusable"], old["themes"]  # as the previous version stored them
    assert terms_from_json(json.dumps(old)) is None  # not trusted: the caller reads the call again
