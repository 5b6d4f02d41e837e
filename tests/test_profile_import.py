"""`fundbot profile import`: the Skellefteå contract, and a PDF made here."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from matcher.config import Profile
from matcher.profile_import import ERDF_BY_COUNTY, import_profile, municipalities

CONTRACT = Path(__file__).resolve().parent / "data/contracts/skelleftea.txt"

# the priorities the contract names (issue 8), each as words a need's text or keywords must carry
PRIORITIES = {
    "public transport and cycling": [("kollektivtrafik", "public transport"), ("cykel", "cycling")],
    "port and sustainable freight": [("hamn", "port"), ("godstransport", "sustainable freight")],
    "electric aviation and drones": [("flyg", "electric aviation"), ("drön", "drones")],
    "EV charging and rural mobility": [("laddinfrastruktur", "ev charging"), ("glesbygd", "landsbygd", "rural")],
    "fossil-free fleet and work machines": [("fossilfri", "fossil-free"), ("arbetsmaskin", "non-road")],
    "circular construction and reuse": [("återbruk", "reuse")],
    "energy efficiency in buildings": [("energieffektiv", "energy efficiency")],
    "procurement with climate requirements": [("upphandling", "procurement"), ("klimatkrav", "climate requirements")],
    "citizen engagement (SE26)": [("se26",), ("medborgar", "citizen engagement")],
    "climate investment plan and financing gaps": [("klimatinvesteringsplan",), ("finansieringsgap", "financing gap")],
    "governance and portfolio steering": [("styrning", "governance"), ("portfölj", "portfolio")],
    "emissions data and climate calculations": [("klimatberäkning", "ghg accounting"), ("datainsamling", "emissions data")],
    "just transition and social sustainability": [("rättvis", "just transition"), ("social hållbarhet",)],
    "adaptation and preparedness": [("klimatanpassning", "climate adaptation"), ("beredskap", "preparedness")],
    "industry": [("industri", "industry")],
}


@pytest.fixture(scope="module")
def skelleftea():
    text, draft, review = import_profile(CONTRACT, "skelleftea")
    return Profile.model_validate(tomllib.loads(text)), draft, review


def test_municipality_table_is_complete():
    rows = municipalities()
    assert len(rows) == 290 and len({r["kommunkod"] for r in rows}) == 290
    assert {r["lan"] for r in rows} == set(ERDF_BY_COUNTY)


def test_skelleftea_draft_is_a_valid_profile_with_its_facts(skelleftea):
    profile, draft, review = skelleftea
    assert profile.city.name == "Skellefteå kommun"
    assert "klimatneutral" in profile.city.goals and "2030" in profile.city.goals and "2040" in profile.city.goals
    e = profile.eligibility
    assert (e.county, e.erdf_region, e.just_transition_area, e.eu_mission_city) == (
        "Västerbottens län", "Övre Norrland", True, False)
    assert e.interreg_areas is None and e.assets is None  # left for a person
    assert any("interreg_areas" in r for r in review)
    assert all(n.source and n.source[0] == "5" for n in profile.needs)  # only the city's own section
    assert all(1 <= n.weight <= 3 for n in profile.needs) and {2, 3} <= {n.weight for n in profile.needs}


@pytest.mark.parametrize("priority", list(PRIORITIES))
def test_skelleftea_draft_covers_the_priority(skelleftea, priority):
    profile, _, _ = skelleftea
    haystack = " ".join((n.text + " " + " ".join(n.keywords)).lower() for n in profile.needs)
    for alternatives in PRIORITIES[priority]:
        assert any(word in haystack for word in alternatives), (priority, alternatives)


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF with these lines of text (Helvetica, WinAnsi)."""
    def esc(s: str) -> str:
        out = s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return "".join(c if ord(c) < 128 else "\\%03o" % c.encode("cp1252")[0] for c in out)

    content = "BT /F1 10 Tf 14 TL 40 800 Td " + " ".join(f"({esc(line)}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        f"<< /Length {len(content.encode('latin-1'))} >>\nstream\n{content}\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_pdf_contract_of_another_city(tmp_path, deployment):
    pdf = tmp_path / "kontrakt.pdf"
    pdf.write_bytes(_pdf([
        "Klimatkontrakt 2030 Umeå", "1. Klimatkontrakt 2030", "Text om missionen och Viable Cities.",
        "5. Kommunens åtaganden", "Umeå kommun väljer att ingå i partnerskapet.",
        "5.1. Klimatmål 2030", "Umeå kommun ska vara klimatneutral som geografiskt område till 2030.",
        "5.2. Klimatfärdplan 2030", "Våra nyckelområden är: transporter, energi och byggande.",
        "- Hållbara transporter: utbyggd kollektivtrafik och cykelvägar i hela kommunen.",
        "- Energi: förnybar energi och energieffektivisering i kommunens lokaler.",
        "- Klimatanpassning: skydd mot skyfall och översvämning längs älven.",
        "5.3. Klimatinvesteringsplan", "Åtagande 3 - Vi åtar oss att ta fram en klimatinvesteringsplan",
        "med prioriterade investeringar och synliggjorda finansieringsgap.",
        "6. Myndigheternas åtaganden", "- Myndigheterna stödjer kommunerna med vägledning och samordning.",
    ] + ["Utfyllnad om arbetet i kommunen och samverkan med andra aktörer."] * 4))
    profiles = deployment.root / "profiles"
    proc = subprocess.run([sys.executable, "-m", "matcher.cli", "profile", "import", str(pdf), "--city", "umea",
                           "--config", str(deployment.config)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "umea.toml" in proc.stdout and "review before use" in proc.stdout
    profile = Profile.model_validate(tomllib.loads((profiles / "umea.toml").read_text()))
    assert profile.city.name == "Umeå kommun" and profile.eligibility.county == "Västerbottens län"
    assert profile.eligibility.eu_mission_city is True
    texts = " ".join(n.text.lower() for n in profile.needs)
    assert "kollektivtrafik" in texts and "skyfall" in texts and "klimatinvesteringsplan" in texts
    assert "myndigheterna" not in texts  # the agencies' section is not the city's
    assert any("public transport" in n.keywords for n in profile.needs)
    assert deployment.cli("check").returncode == 0  # the draft passes fundbot check
    again = subprocess.run([sys.executable, "-m", "matcher.cli", "profile", "import", str(pdf), "--city", "umea",
                            "--config", str(deployment.config)], capture_output=True, text=True)
    assert again.returncode == 2 and "--force" in again.stderr
    forced = subprocess.run([sys.executable, "-m", "matcher.cli", "profile", "import", str(pdf), "--city", "umea",
                             "--force", "--config", str(deployment.config)], capture_output=True, text=True)
    assert forced.returncode == 0


def test_not_a_contract_is_a_clear_error(tmp_path, deployment):
    junk = tmp_path / "junk.txt"
    junk.write_text("Detta är inget klimatkontrakt. " * 30)
    proc = subprocess.run([sys.executable, "-m", "matcher.cli", "profile", "import", str(junk), "--city", "umea",
                           "--config", str(deployment.config)], capture_output=True, text=True)
    assert proc.returncode == 1 and "cannot find the city's own commitments" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- any contract layout of 2020–2025 (issue 18): made-up layouts with the furniture real ones carry ---------

FILLER = "Arbetet bedrivs i nära samverkan med näringsliv, akademi och civilsamhälle i hela kommunen."


def _contract(pages: list[list[str]], header: str, footer: str) -> str:
    """A text contract with page breaks (form feeds, as pdftotext writes them), a running header and a
    numbered footer on every page."""
    return "\f".join("\n".join([header, *page, footer.format(n=n, of=len(pages))]) for n, page in enumerate(pages, 1))


def test_a_2023_layout_with_a_genitive_heading_toc_running_headers_and_hyphenation(tmp_path):
    text = _contract([
        ["Klimatkontrakt 2030", "Innehåll", "1. Inledning ........ 2", "2. Gemensamma utgångspunkter ........ 3",
         "3. Nordby kommuns åtaganden ........ 4", "4. Myndigheternas åtaganden ........ 6",
         "5. Viable Cities åtaganden ........ 7"],
        ["1. Inledning", FILLER, FILLER, "2. Gemensamma utgångspunkter", FILLER, FILLER],
        ["3. Nordby kommuns åtaganden", "Nordby kommun ska vara klimatneutralt som geografiskt område senast år 2030.",
         "3.1 Klimatfärdplan", "Våra prioriterade områden är: transporter och byggande.",
         "- Bygga ut gång- och cykelvägar mellan tätorterna och stationen i Nordby centrum.",
         "- Ställa om kommunens fordonsflotta till fossilfria drivmedel och el under mandatperioden, med klimat-",
         "neutrala transporter som mål för alla kommunens verksamheter.", FILLER],
        ["3.2 Klimatinvesteringsplan", "- Ta fram en klimatinvesteringsplan med synliggjorda finansieringsgap för "
         "kommunkoncernens största investeringar.", FILLER,
         "4. Myndigheternas åtaganden", "- Myndigheterna erbjuder vägledning om statliga stöd och samordnar sina "
         "utlysningar med kommunerna i satsningen."],
        ["5. Viable Cities åtaganden", "- Viable Cities driver ett nationellt lärande mellan kommunerna och "
         "stödjer med processledning och metodutveckling.", FILLER],
    ], header="Klimatkontrakt 2030 – Nordby kommun", footer="Sida {n} av {of}")
    path = tmp_path / "nordby.txt"
    path.write_text(text, encoding="utf-8")
    _, draft, _ = import_profile(path, "nordby")
    texts = [b.text for b in draft.blocks]
    joined = " ".join(texts)
    assert any("gång- och cykelvägar" in t for t in texts)  # a real hyphen kept
    assert "klimatneutrala transporter" in joined  # a word broken across lines joined again
    assert "klimatinvesteringsplan" in joined.lower()  # the section runs over the page break
    assert "Myndigheterna" not in joined and "Viable Cities driver" not in joined  # others' commitments are not needs
    assert "Sida" not in joined and "Klimatkontrakt 2030 –" not in joined  # no page furniture
    assert draft.goals and "senast år 2030" in draft.goals
    assert {b.section.split()[0] for b in draft.blocks} <= {"3", "3.1", "3.2"}


def test_an_unnumbered_region_layout_ends_where_the_agencies_begin(tmp_path):
    text = "\n".join([
        "Klimatkontrakt 2030 mellan Region Gotland, Viable Cities och myndigheterna", FILLER, FILLER,
        "Region Gotlands åtaganden", "Region Gotland ska vara klimatneutral till år 2030 som geografiskt område.",
        "- Förnybar energi: vindkraft och solenergi ska täcka öns elbehov och ersätta fossila bränslen i industrin.",
        "- Hållbara resor: utbyggd kollektivtrafik och laddinfrastruktur för besöksnäringens resor till och på ön.",
        FILLER,
        "Myndigheternas åtaganden", "- Myndigheterna ska samordna sina stöd och utlysningar för kommunernas behov.",
        "Viable Cities åtaganden", "- Viable Cities ska stödja med processledning och nationellt lärande.",
    ] + [FILLER] * 3)
    path = tmp_path / "gotland.txt"
    path.write_text(text, encoding="utf-8")
    _, draft, _ = import_profile(path, "gotland")
    joined = " ".join(b.text for b in draft.blocks)
    assert "vindkraft" in joined and "laddinfrastruktur" in joined
    assert "Myndigheterna ska" not in joined and "processledning" not in joined
    assert draft.blocks[0].section == "Region Gotlands åtaganden"


@pytest.mark.parametrize("heading", ["6 Stockholms stads åtaganden", "Stadens åtaganden", "4. Kommunens åtaganden"])
def test_the_own_section_is_found_by_its_shape_whatever_the_city_calls_itself(tmp_path, heading):
    text = "\n".join(["Inledning", FILLER, FILLER, heading,
                      "- Energieffektivisera stadens lokaler och bostäder med minst trettio procent till år 2030.",
                      "- Införa klimatkrav i all upphandling av bygg- och anläggningsentreprenader.", FILLER,
                      "Myndigheternas åtaganden", "- Myndigheterna ger vägledning."] + [FILLER] * 3)
    path = tmp_path / "k.txt"
    path.write_text(text, encoding="utf-8")
    _, draft, _ = import_profile(path, "stockholm")
    joined = " ".join(b.text for b in draft.blocks)
    assert "Energieffektivisera" in joined and "klimatkrav" in joined and "vägledning" not in joined


def test_a_wheel_install_imports_a_contract(tmp_path, deployment):
    """Every data file the importer reads is package data: the wheel, installed on its own (not editable),
    drafts a profile from a contract."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    source, wheels, site = tmp_path / "source", tmp_path / "wheels", tmp_path / "site"
    # a clean copy of the source: a build/ folder left in the checkout would hide a file missing from package data
    shutil.copytree(root, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", ".cache",
                                                                "__pycache__", "*.db", "feeds", "profiles", "bench"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True,
                   cwd=tmp_path, capture_output=True, timeout=300)
    wheel = next(wheels.glob("fundbot-*.whl"))
    subprocess.run(pip + ["install", "--no-deps", "--target", str(site), str(wheel)], check=True, capture_output=True,
                   timeout=300)
    env = dict(__import__("os").environ, PYTHONPATH=str(site))
    where = subprocess.run([sys.executable, "-c", "import matcher; print(matcher.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site))  # the installed wheel, not the checkout
    assert (site / "matcher/data/municipalities.csv").is_file() and (site / "matcher/templates/base.html").is_file()
    proc = subprocess.run([sys.executable, "-m", "matcher.cli", "profile", "import", str(CONTRACT), "--city",
                           "skelleftea", "--force", "--config", str(deployment.config)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    profile = Profile.model_validate(tomllib.loads((deployment.root / "profiles/skelleftea.toml").read_text()))
    assert profile.eligibility.county == "Västerbottens län" and len(profile.needs) >= 10
