"""Draft a city profile from its Klimatkontrakt 2030 (PDF or text).

Works from the contract's structure, not from one city's words: the city's
own commitments (section 5 "Kommunens åtaganden" in 2024– contracts,
section 3 in 2020–2023 ones, headings may use the city's name), their
subsections (klimatmål, klimatfärdplan, klimatinvesteringsplan, åtaganden
med andra kommuner), the bullets and numbered commitments in them, and the
emphasis the text gives ("nyckelområden", "prioriterade", "fokus"). English
keywords come from a general Swedish–English glossary of climate and
funding terms. Eligibility facts come from public tables (municipality →
county → ERUF programme); the rest are left as commented placeholders.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FundbotError
from .safety import clean_text

DATA = Path(__file__).parent / "data"

# the 21 counties → the 8 ERUF regional programmes (fixed by the programme period 2021–2027)
ERDF_BY_COUNTY = {
    "Norrbottens län": "Övre Norrland", "Västerbottens län": "Övre Norrland",
    "Jämtlands län": "Mellersta Norrland", "Västernorrlands län": "Mellersta Norrland",
    "Dalarnas län": "Norra Mellansverige", "Gävleborgs län": "Norra Mellansverige", "Värmlands län": "Norra Mellansverige",
    "Uppsala län": "Östra Mellansverige", "Södermanlands län": "Östra Mellansverige",
    "Östergötlands län": "Östra Mellansverige", "Örebro län": "Östra Mellansverige",
    "Västmanlands län": "Östra Mellansverige",
    "Stockholms län": "Stockholm",
    "Västra Götalands län": "Västsverige", "Hallands län": "Västsverige",
    "Jönköpings län": "Småland och öarna", "Kronobergs län": "Småland och öarna", "Kalmar län": "Småland och öarna",
    "Gotlands län": "Småland och öarna",
    "Skåne län": "Skåne-Blekinge", "Blekinge län": "Skåne-Blekinge",
}
# the Swedish Just Transition Fund programme's counties
JTF_COUNTIES = {"Norrbottens län", "Västerbottens län", "Gotlands län"}
# the Swedish cities selected for the EU Mission on climate-neutral and smart cities (2022)
EU_MISSION_CITIES = {"Gävle", "Göteborg", "Helsingborg", "Lund", "Malmö", "Stockholm", "Umeå"}

# A general Swedish → English glossary of climate and funding terms (word stems).
GLOSSARY = {
    "kollektivtrafik": "public transport", "cykel": "cycling", "gång": "walking", "mobilitet": "sustainable mobility",
    "godstransport": "sustainable freight", "hamn": "port", "flyg": "electric aviation", "drönar": "drones",
    "laddinfrastruktur": "EV charging", "laddstation": "EV charging", "elektrifiering": "electrification",
    "fordonsflotta": "fossil-free fleet", "fossilfri": "fossil-free", "arbetsmaskin": "non-road mobile machinery",
    "drivmedel": "renewable fuels", "biogas": "biogas", "landsbygd": "rural areas",
    "cirkulär": "circular economy", "återbruk": "reuse", "avfall": "waste management", "återvinning": "recycling",
    "byggmaterial": "building materials", "byggande": "construction", "byggprojekt": "construction", "bygg- och": "construction",
    "anläggning": "civil works",
    "energieffektiv": "energy efficiency", "renovering": "renovation", "byggnad": "buildings",
    "förnybar": "renewable energy", "solenergi": "solar energy", "fjärrvärme": "district heating",
    "energi": "energy transition", "upphandling": "public procurement", "innovationsupphandling": "innovation procurement",
    "klimatkrav": "climate requirements", "medborgar": "citizen engagement", "dialog": "public participation",
    "delaktighet": "participation", "lärande": "learning", "utbildning": "education", "beteende": "behaviour change",
    "konsumtion": "sustainable consumption", "måltid": "sustainable food", "livsmedel": "food systems",
    "jordbruk": "agriculture", "skog": "forestry", "kolsänk": "carbon sinks", "natur": "nature-based solutions",
    "grönska": "urban greening", "klimatanpassning": "climate adaptation", "beredskap": "preparedness",
    "resiliens": "resilience", "skyfall": "cloudburst management", "översvämning": "flood risk",
    "investeringsplan": "climate investment plan", "finansiering": "climate finance", "finansieringsgap": "financing gap",
    "investering": "investment", "styrning": "governance", "ledning": "leadership", "portfölj": "portfolio management",
    "samverkan": "collaboration", "partnerskap": "partnerships", "näringsliv": "business engagement",
    "data": "emissions data", "uppföljning": "monitoring", "klimatberäkning": "GHG accounting",
    "utsläpp": "emissions reduction", "industri": "industry decarbonisation", "social hållbarhet": "social sustainability",
    "rättvis": "just transition", "folkhälsa": "public health", "stadsutveckling": "urban development",
    "planering": "urban planning", "livsmiljö": "liveable environments", "digital": "digitalisation",
    "innovation": "innovation", "test": "testbeds", "vätgas": "hydrogen", "elnät": "electricity grids",
}

_BULLET = re.compile(r"^\s*[▪•●\-–*]\s*")
_SECTION = re.compile(r"^\s*(\d{1,2})(?:\.(\d{1,2}))?\.?\s+(.{3,120})$")
# the heading of a party's commitments: "5. Kommunens åtaganden", "3 Nordby kommuns åtaganden", "Region Gotlands
# åtaganden", "Stockholms stads åtaganden" — numbered or not
_COMMITMENTS = re.compile(r"^(?:\d|[A-ZÅÄÖ]).*\båtaganden(?:\s+\S+){0,4}$")  # a heading ends near the word
_OWN = re.compile(r"(?:\b(?:kommunens|stadens|regionens)|[\w-]+\s+(?:kommuns|stads)|\bregion\s+[\w-]+s|"
                  r"^(?:\d{1,2}(?:\.\d{1,2})?\.?\s+)?[A-ZÅÄÖ][\w-]+s)\s+åtaganden\b", re.I)
# the other parties of a contract: their commitments are never the city's needs
_OTHERS = re.compile(r"myndighet|viable\s+cities|gemensamma|parternas|aktörernas|näringsliv|regeringen|staten", re.I)
_PAGE_NUMBER = re.compile(r"(?:sida\s+)?\d{1,3}(?:\s*(?:av|/|\(|of)\s*\d{1,3}\)?)?|[-–]\s*\d{1,3}\s*[-–]", re.I)
# words hyphenated across a line break are joined again — not "gång- och cykelvägar"
_HYPHENATED = re.compile(r"(\w)-[ \t]*\n[ \t]*(?!(?:och|eller|samt|respektive|som)\b)([a-zåäöé])")
_COMMITMENT = re.compile(r"^\s*Åtagande\s+(\d+)\s*[-–:]\s*(.+)$", re.I)
_EMPHASIS = re.compile(r"nyckelområden|prioriterade|prioriterar|fokusområden|största|fokus", re.I)
# "Våra nyckelområden är: transporter, energi och byggande." — bounded on both sides, so that a text full of
# "fokus" with no colon costs one pass, not one pass per occurrence
_KEY_AREAS = re.compile(r"(?:nyckelområden|fokusområden|fokusera på)[^:.]{0,200}:\s*([^.]{1,400})", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
MAX_KEY_AREAS = 40  # a contract names a handful; more is not a list of key areas

# Real contracts are a few MB as PDF and well under a million characters of text.
MAX_BYTES = 25_000_000
MAX_CHARS = 2_000_000


def fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def read_contract(path: Path) -> str:
    """The contract's text: a PDF through pypdf, otherwise the file as text
    (UTF-8; undecodable bytes replaced), without control characters. Refuses
    files over ``MAX_BYTES`` before reading them and texts over ``MAX_CHARS``."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FundbotError(f"{path}: no such file") from None
    except OSError as exc:
        raise FundbotError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if not path.is_file():
        raise FundbotError(f"{path}: not a file")
    if size > MAX_BYTES:
        raise FundbotError(f"{path}: the file is {size / 1e6:.0f} MB; a contract is at most {MAX_BYTES // 1_000_000} MB "
                           "(real ones are a few MB): is this the right file?")
    with path.open("rb") as fh:
        head = fh.read(5)
    too_long = (f"{path}: more than {MAX_CHARS:,} characters of text; a contract has far fewer "
                "(real ones under a million): is this the right file?")
    if path.suffix.lower() == ".pdf" or head == b"%PDF-":
        try:
            from pypdf import PdfReader

            parts, length = [], 0
            for page in PdfReader(str(path)).pages:
                parts.append(page.extract_text() or "")
                length += len(parts[-1]) + 1
                if length > MAX_CHARS:
                    raise FundbotError(too_long)
            text = "\f".join(parts)  # page breaks: where running headers and footers are found
        except FundbotError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line for a person
            raise FundbotError(f"{path}: cannot read the PDF: {type(exc).__name__}: {exc}") from exc
    else:
        text = path.read_bytes().decode("utf-8", errors="replace")
    if len(text) > MAX_CHARS:
        raise FundbotError(too_long)
    text = "\f".join(clean_text(page) for page in text.split("\f"))  # page breaks stay; other controls go
    if len(text.split()) < 50:
        raise FundbotError(f"{path}: too little text to read a contract from (a scanned PDF?)")
    return text


def _page_reference(line: str, *, leaders_only: bool = False) -> bool:
    """Whether ``line`` ends as a table-of-contents entry does: a page number
    of 1–3 digits after dot leaders ("....", "……") or, unless
    ``leaders_only``, after a space.  Read from the end, in one pass: a line
    is feed-like text of any length (a run of dots made a pattern quadratic)."""
    head = line.rstrip("0123456789")
    if not 1 <= len(line) - len(head) <= 3:
        return False
    body = head.rstrip()
    if leaders_only:
        return body.endswith(("....", "……"))
    return body != head or body.endswith(("...", "…"))


def _furniture(pages: list[list[str]]) -> set[str]:
    """Running headers and footers: lines that open or close at least three
    pages (digits aside, so "Sida 3" and "Sida 4" are one), or — in a text
    without page breaks — short lines repeated four times or more."""
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line.lower())

    counts: dict[str, int] = {}
    if len(pages) >= 3:
        for page in pages:
            body = [line for line in page if line]
            for line in {*body[:2], *body[-2:]}:
                counts[key(line)] = counts.get(key(line), 0) + 1
        return {k for k, n in counts.items() if n >= 3}
    for line in (line for page in pages for line in page):
        if 8 <= len(line) <= 100 and not _BULLET.match(line) and not line.endswith((":", ".")):
            counts[key(line)] = counts.get(key(line), 0) + 1
    return {k for k, n in counts.items() if n >= 4}


def _lines(text: str) -> list[str]:
    """Lines with PDF glitches mended: hyphenation rejoined, page numbers,
    running headers and footers and table-of-contents entries left out,
    spacing collapsed."""
    text = text.replace("\r", "\n").replace("\u00ad", "")
    text = _HYPHENATED.sub(r"\1\2", text)
    pages = [[re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in page.split("\n")] for page in text.split("\f")]
    furniture = _furniture(pages)
    out = []
    for page in pages:
        for line in page:
            if _PAGE_NUMBER.fullmatch(line) or (line and re.sub(r"\d+", "#", line.lower()) in furniture):
                continue
            if _page_reference(line, leaders_only=True):  # "3. Nordby kommuns åtaganden ........ 12"
                continue
            out.append(line)
        out.append("")
    return out


@dataclass
class Block:
    section: str  # e.g. "5.2 Klimatfärdplan 2030"
    heading: str  # the nearest sub-heading line above, if any
    text: str
    kind: str  # "bullet" | "commitment" | "paragraph"
    emphasis: bool = False


@dataclass
class Draft:
    city_id: str
    name: str
    goals: str | None
    blocks: list[Block] = field(default_factory=list)
    county: str | None = None
    kommun: str | None = None


def municipalities() -> list[dict]:
    path = DATA / "municipalities.csv"
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def find_municipality(city_id: str, text: str) -> dict | None:
    rows = municipalities()
    key = fold(city_id).replace("-", " ").replace("_", " ")
    for row in rows:
        if fold(row["kommun"]).replace("-", " ") == key:
            return row
    # else: the municipality the text names most often — one pass over the words, not one per municipality
    by_first: dict[str, list[str]] = {}
    for row in rows:
        by_first.setdefault(re.match(r"\w+", row["kommun"]).group(), []).append(row["kommun"])
    counts: dict[str, int] = {}
    for m in re.finditer(r"\w+", text):
        for name in by_first.get(m.group(), ()):
            end = m.start() + len(name)
            if text.startswith(name, m.start()) and not (end < len(text) and (text[end].isalnum() or text[end] == "_")):
                counts[name] = counts.get(name, 0) + 1
    if not counts:
        return None
    best = max(counts, key=counts.get)
    return next(r for r in rows if r["kommun"] == best) if counts[best] >= 3 else None


def _own_heading(lines: list[str], kommun: str | None) -> int | None:
    """The line that opens the city's own commitments, found by structure:
    a heading (short, no full stop) that names a party's "åtaganden" in the
    genitive — the municipality's, not the agencies' or Viable Cities' — and
    is followed by text, not by more headings (a table of contents)."""
    def toc_like(i: int) -> bool:
        if _page_reference(lines[i]) and not _COMMITMENT.match(lines[i]):
            return True
        following = [line for line in lines[i + 1:i + 12] if line][:4]
        return len(following) >= 3 and sum(1 for line in following if _page_reference(line)) >= 3

    for i, line in enumerate(lines):
        if not line or len(line) > 120 or line.endswith(".") or not _COMMITMENTS.search(line):
            continue
        if _OTHERS.search(line):
            continue
        named = kommun and re.search(re.escape(kommun) + r"s?\b", line, re.I)
        if (_OWN.search(line) or named) and not toc_like(i):
            return i
    return None


def own_sections(lines: list[str], kommun: str | None = None) -> tuple[str, list[tuple[str, list[str]]]]:
    """The number of the section holding the city's own commitments ("5.
    Kommunens åtaganden", "3 Nordby kommuns åtaganden", or an unnumbered
    "Region Gotlands åtaganden"; "" when unnumbered) and its subsections
    with their lines.  The section ends where the next top-level section or
    another party's commitments begin."""
    start = _own_heading(lines, kommun)
    if start is None:
        raise FundbotError("cannot find the city's own commitments (a section like '5. Kommunens åtaganden' "
                           "or 'Nordby kommuns åtaganden')")
    m = _SECTION.match(lines[start])
    top = m.group(1) if m and not m.group(2) else ""
    title = (m.group(3) if m and not m.group(2) else lines[start]).strip()
    subsections: list[tuple[str, list[str]]] = [(f"{top} {title}".strip(), [])]
    current = subsections[-1][1]
    for line in lines[start + 1:]:
        m = _SECTION.match(line)
        if m and top and m.group(1) == top and m.group(2):
            subsections.append((f"{top}.{m.group(2)} {m.group(3).strip()}", []))
            current = subsections[-1][1]
            continue
        if m and not m.group(2) and m.group(1) != top and not line.endswith(".") and len(line) < 120:
            break  # the next top-level section
        if line and len(line) < 120 and not line.endswith(".") and _COMMITMENTS.search(line) and (
                _OTHERS.search(line) or _OWN.search(line)) and not _COMMITMENT.match(line):
            break  # another party's commitments
        current.append(line)
    return top, subsections


def _paragraphs(lines: list[str]) -> list[tuple[str, str]]:
    """(kind, text) units: bullets, numbered commitments, plain paragraphs."""
    units: list[tuple[str, list[str]]] = []
    for line in lines:
        if not line:
            if units and units[-1][0] == "paragraph":
                units.append(("gap", []))
            continue
        if _BULLET.match(line):
            units.append(("bullet", [_BULLET.sub("", line)]))
        elif _COMMITMENT.match(line):
            units.append(("commitment", [line]))
        elif units and units[-1][0] in {"bullet", "commitment", "paragraph"} and not line[:1].isupper():
            units[-1][1].append(line)
        elif units and units[-1][0] in {"bullet", "commitment"} and not line.endswith(":") and len(line) > 60:
            units[-1][1].append(line)
        else:
            units.append(("paragraph", [line]))
    return [(kind, " ".join(parts)) for kind, parts in units if kind != "gap" and parts]


def _first_sentences(text: str, limit: int = 320) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    out = ""
    for s in sentences:
        if out and len(out) + len(s) > limit:
            break
        out = f"{out} {s}".strip()
    out = re.sub(r"\s+genom att[.:]?$", ".", out)
    if len(out) > limit:  # one long sentence: cut at a word, say so
        return out[:limit].rsplit(" ", 1)[0].rstrip(" ,;:–-") + " …"
    return out.rstrip(" ,;:") + ("" if out.endswith((".", "!", "?")) else ".")


def analyse(text: str, city_id: str) -> Draft:
    lines = _lines(text)
    row = find_municipality(city_id, text)
    kommun = row["kommun"] if row else None
    name = None
    if kommun:
        m = re.search(re.escape(kommun) + r"s? (kommun|stad|Stad)\b", text)
        name = f"{kommun} {m.group(1).lower()}" if m else f"{kommun} kommun"
    top, subsections = own_sections(lines, kommun)
    goals = None
    key_areas: set[str] = set()
    draft = Draft(city_id, name or city_id, None, county=row["lan"] if row else None, kommun=kommun)
    for section, body in subsections:
        heading = ""
        for kind, unit in _paragraphs(body):
            low = unit.lower()
            if kind == "paragraph":
                if goals is None:
                    for sentence in _SENTENCE.split(unit):
                        if re.search(r"klimatneutral(?!a städer)\w*[^.]{0,80}(?:till|senast|år)\s+20[2-5]\d", sentence,
                                     re.I):
                            goals = sentence.strip()
                            break
                m = _KEY_AREAS.search(unit)
                if m and len(key_areas) < MAX_KEY_AREAS:
                    key_areas |= {w.strip().lower() for w in re.split(r",| och ", m.group(1)) if w.strip()}
                if len(unit) < 90 and not unit.endswith("."):
                    heading = unit  # a sub-heading such as "Prioriterade insatser i omställningsportföljen"
                continue
            draft.blocks.append(Block(section, heading, unit, kind, bool(_EMPHASIS.search(heading))))
    draft.goals = goals
    key_areas = set(sorted(key_areas)[:MAX_KEY_AREAS])
    lowered = [b.text.lower() for b in draft.blocks]
    for b, low in zip(draft.blocks, lowered):
        if any(area and area[:5] in low for area in key_areas):
            b.emphasis = True
    # a key area the text names but no bullet or commitment takes up becomes a need of its own
    sentences = None
    for area in sorted(key_areas):
        stem = area[:5]
        if len(stem) < 4 or any(stem in low for low in lowered):
            continue
        if sentences is None:  # split once, only when needed
            sentences = [(s, s.lower()) for s in _SENTENCE.split(" ".join(lines)) if len(s) > 40]
        sentence = next((s for s, low in sentences if stem in low), None)
        text = f"{area.capitalize()}: nyckelområde för klimatomställningen." + (f" {sentence}" if sentence else "")
        draft.blocks.append(Block(subsections[0][0], "nyckelområden", text, "key-area", True))
    return draft


def keywords(text: str, limit: int = 8) -> list[str]:
    low = text.lower()
    found = []
    for stem, english in GLOSSARY.items():
        if stem in low and english not in found:
            found.append(english)
    return found[:limit]


def need_text(block: Block) -> str:
    text = block.text
    if block.kind == "commitment":
        text = _COMMITMENT.match(text).group(2)
        text = re.sub(r"^Vi åtar oss att\s*", "", text, flags=re.I)
        text = text[:1].upper() + text[1:]
    else:
        text = re.sub(r"^([^:]{3,60}):\s*", lambda m: m.group(1).strip().capitalize() + ": ", text)
    return _first_sentences(text)


def weight(block: Block) -> int:
    if block.kind == "commitment":
        return 2
    return 3 if block.emphasis else 2


def _toml_str(value: str) -> str:
    """A TOML basic string: backslash, quote and every control character
    escaped (line breaks become spaces), so no text can end the string."""
    value = re.sub(r"[\r\n\u2028\u2029]+", " ", value)
    return '"' + re.sub(r'["\\\x00-\x1f\x7f]',
                        lambda m: {'"': '\\"', "\\": "\\\\"}.get(m.group(), f"\\u{ord(m.group()):04x}"), value) + '"'


def _comment(value: str) -> str:
    """``value`` fit for one TOML comment line: controls and line breaks gone."""
    return " ".join((clean_text(value) or "").split())


def render(draft: Draft, source_name: str) -> tuple[str, list[str]]:
    """The profile as TOML text, and the points a person should review."""
    review: list[str] = []
    lines = [f"# Draft profile imported from {_comment(source_name)} by `fundbot profile import`.",
             "# Review every need (text, weight 1–3, keywords) and the eligibility facts before use.", "",
             "[city]", f"id = {_toml_str(draft.city_id)}", f"name = {_toml_str(draft.name)}", 'language = "sv"']
    if draft.goals:
        lines.append(f"goals = {_toml_str(draft.goals)}")
    else:
        review.append("no climate goal sentence found: add [city] goals")
    lines += ["", "[eligibility]"]
    county = draft.county
    if county:
        lines.append(f"county = {_toml_str(county)}                # from matcher/data/municipalities.csv")
        lines.append(f"erdf_region = {_toml_str(ERDF_BY_COUNTY[county])}")
        lines.append(f"just_transition_area = {'true' if county in JTF_COUNTIES else 'false'}")
    else:
        lines += ["# county = \"…\"", "# erdf_region = \"…\"", "# just_transition_area = false"]
        review.append("municipality not recognised: fill in county, erdf_region, just_transition_area")
    lines.append(f"eu_mission_city = {'true' if draft.kommun in EU_MISSION_CITIES else 'false'}")
    lines += ["# netzerocities_pilot = false   # is the city a NetZeroCities pilot or twin city?",
              "# interreg_areas = []           # e.g. \"Baltic Sea Region\", \"Aurora\", \"North Sea\"",
              "# assets = []                   # e.g. \"airport\", \"port\""]
    review.append("eligibility: state netzerocities_pilot, interreg_areas and assets")
    seen: set[str] = set()
    n = 0
    for block in draft.blocks:
        text = need_text(block)
        key = fold(text)[:60]
        if len(text) < 25 or key in seen:
            continue
        seen.add(key)
        n += 1
        kws = keywords(block.text)
        if not kws:
            review.append(f"need {n:02d} has no English keywords: add some")
        lines += ["", "[[needs]]", f"id = {_toml_str(f'{draft.city_id}-N{n:02d}')}", f"text = {_toml_str(text)}",
                  f"weight = {weight(block)}",
                  "keywords = [" + ", ".join(_toml_str(k) for k in kws) + "]",
                  f"source = {_toml_str(block.section + (' – ' + block.heading if block.heading else ''))}"]
    if n == 0:
        raise FundbotError("no commitments or priorities found in the city's own section")
    lines += ["", "[[channels]]", 'kind = "console"', ""]
    return "\n".join(lines), review


def import_profile(source: Path, city_id: str) -> tuple[str, Draft, list[str]]:
    text = read_contract(source)
    draft = analyse(text, city_id)
    toml_text, review = render(draft, source.name)
    return toml_text, draft, review
