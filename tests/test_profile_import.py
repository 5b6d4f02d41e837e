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
