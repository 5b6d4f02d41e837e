"""Normalisation: every string of ../shared/samples/date_strings.json, with its
prose `expected` written out as explicit values; budgets; language; HTML."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from matcher.normalize.dates import BRUSSELS, STOCKHOLM, UTC, find_dates, labelled_dates, parse_epoch_ms, parse_iso
from matcher.normalize.html import html_to_text
from matcher.normalize.text import Budget, detect_language, parse_budget

D = dt.date
T = dt.time
# raw string → (reference date for a missing year, [(date, time or None, precision), ...])
PROSE = {
    "Stängd 19 mars 2024": (None, [(D(2024, 3, 19), None, "day")]),
    "Öppnar 12 augusti 2024": (None, [(D(2024, 8, 12), None, "day")]),
    "Utlysning uppdaterad 2023-12-15, öppningsdatum ändrat till 13 februari.":
        (D(2023, 12, 15), [(D(2023, 12, 15), None, "day"), (D(2024, 2, 13), None, "day")]),
    "Sista ansökningsdag: 26 september 2018": (None, [(D(2018, 9, 26), None, "day")]),
    "Utlysningen planeras öppna den: 1 oktober 2018": (None, [(D(2018, 10, 1), None, "day")]),
    "Kommande: Öppnar för ansökningar: 2024-09-04 14:00": (None, [(D(2024, 9, 4), T(14), "day")]),
    "Sista ansökningsdatum: 2024-10-16 14:00": (None, [(D(2024, 10, 16), T(14), "day")]),
    "Beslutad: 2024-03-26 14:00": (None, [(D(2024, 3, 26), T(14), "day")]),
    "Sista ansökningsdatum: 2016-04-05": (None, [(D(2016, 4, 5), None, "day")]),
    "Sista dag för ansökan 2021-10-20 17:00": (None, [(D(2021, 10, 20), T(17), "day")]),
    "Ansökningsperioden sträcker sig till 20 oktober.": (D(2021, 9, 1), [(D(2021, 10, 20), None, "day")]),
    "Utlysta medel 10 miljoner": (None, []),
    "Sista datum för att ansöka om stöd för en energikartläggning är 30 april 2019 kl. 12.00.":
        (None, [(D(2019, 4, 30), T(12), "day")]),
    "Från och med 2 mars till och med 30 april 2020": (None, [(D(2020, 3, 2), None, "day"), (D(2020, 4, 30), None, "day")]),
    "Klimatklivet är öppet för ansökningar 18–29 september 2023.":
        (None, [(D(2023, 9, 18), None, "day"), (D(2023, 9, 29), None, "day")]),
    "Ansökan är öppen 7 augusti – 11 september": (D(2017, 7, 1), [(D(2017, 8, 7), None, "day"), (D(2017, 9, 11), None, "day")]),
    "Mellan 15 augusti och 28 augusti går det på nytt att söka":
        (D(2019, 8, 1), [(D(2019, 8, 15), None, "day"), (D(2019, 8, 28), None, "day")]),
    "Ingen ny ansökningsperiod är planerad under 2023.": (None, []),
    "Två parallella utlysningar öppnar 18 oktober 2021": (None, [(D(2021, 10, 18), None, "day")]),
    "En för ordinarie ansökan av stadsmiljöavtalen som stänger 28 januari 2022 och en riktad ansökan ... som stänger den 30 november 2021.":
        (None, [(D(2022, 1, 28), None, "day"), (D(2021, 11, 30), None, "day")]),
    "Den sjätte ansökningsomgången för stadsmiljöavtal är öppen är 29 oktober 2018 till 1 mars 2019.":
        (None, [(D(2018, 10, 29), None, "day"), (D(2019, 3, 1), None, "day")]),
    "28 februari 2020 | 30 april 2020 | 30 augusti 2020 | 31 oktober 2020":
        (None, [(D(2020, 2, 28), None, "day"), (D(2020, 4, 30), None, "day"), (D(2020, 8, 30), None, "day"),
                (D(2020, 10, 31), None, "day")]),
    "Deadline date : 31/12/2028": (None, [(D(2028, 12, 31), None, "day")]),
    "1 Sep 2026 Stage 1 opens for pre-proposal submission": (None, [(D(2026, 9, 1), None, "day")]),
    "Feb 2027 Stage 2 opens": (None, [(D(2027, 2, 1), None, "month")]),
    "15 April 2027 Stage 2 closes": (None, [(D(2027, 4, 15), None, "day")]),
    "The first URBACT IV call for Action Planning Networks is open until 31 March 2023 at 15:00 CEST!":
        (None, [(D(2023, 3, 31), T(15), "day")]),
    "The deadline for submission of proposals is 22 June 2016 at 03.00 pm CET.": (None, [(D(2016, 6, 22), T(15), "day")]),
    "The deadline for preparing complete applications and submitting them is 9 April 2018 [16:00 CEST (UTC+2)].":
        (None, [(D(2018, 4, 9), T(16), "day")]),
    "14 February 2023 Deadline for submitting Project Idea Forms (PIFs) | 14 March 2023 Deadline for submitting applications":
        (None, [(D(2023, 2, 14), None, "day"), (D(2023, 3, 14), None, "day")]),
    "Åpne 7. sep.–7. okt. 2026, frist kl. 16.00 CET": (None, [(D(2026, 9, 7), None, "day"), (D(2026, 10, 7), T(16), "day")]),
    "Opening 17.02.2025 | Deadline 17.03.2025 23:59": (None, [(D(2025, 2, 17), None, "day"), (D(2025, 3, 17), T(23, 59), "day")]),
    "Start submission calls: 10/10/2022 | End submission calls: 19/01/2023":
        (None, [(D(2022, 10, 10), None, "day"), (D(2023, 1, 19), None, "day")]),
    "19 May 2020 | 11 June 2020": (None, [(D(2020, 5, 19), None, "day"), (D(2020, 6, 11), None, "day")]),
    "31 mars 2026": (None, [(D(2026, 3, 31), None, "day")]),
}
# read with the machine parsers instead (API fields), raw → UTC ISO or None
API = {
    "2024-04-18T19:00:00.000+0200": (BRUSSELS, "2024-04-18T17:00:00+00:00"),
    "2026-12-08T00:00:00.000+0000": (BRUSSELS, "2026-12-08T00:00:00+00:00"),
    "2024-09-27+02:00 Europe/Brussels": (BRUSSELS, "2024-09-27T21:59:59+00:00"),
    "2026-10-13T14:00:00": (STOCKHOLM, "2026-10-13T12:00:00+00:00"),
    "1900-01-01T00:00:00": (STOCKHOLM, None),
}
SPECIAL = {"Deadline date :</div><div>14/02/2025", "Søknader vil bli akseptert frem til kl. 24:00 (CET) den 7. oktober.",
           "1797465600000"}


def test_the_table_covers_every_sample_string():
    samples = json.loads((Path(__file__).resolve().parent / "data/date_strings.json").read_text())
    raws = {s["raw"] for s in samples}
    assert raws == set(PROSE) | set(API) | SPECIAL


@pytest.mark.parametrize("raw", list(PROSE))
def test_prose_dates(raw):
    reference, expected = PROSE[raw]
    got = [(f.date, f.time, f.precision) for f in find_dates(raw, reference=reference or D(2000, 1, 1))]
    assert got == expected


@pytest.mark.parametrize("raw", list(API))
def test_api_dates(raw):
    zone, expected = API[raw]
    value = parse_iso(raw, zone, end_of_day=True)
    assert (value.astimezone(UTC).isoformat() if value else None) == expected


def test_label_and_value_split_across_elements():
    text = html_to_text("<div>Deadline date :</div><div>14/02/2025</div>")
    (found,) = labelled_dates(text, ["Deadline date"])
    assert found.date == D(2025, 2, 14)


def test_norwegian_midnight_with_year_from_context():
    (found,) = find_dates("Søknader vil bli akseptert frem til kl. 24:00 (CET) den 7. oktober.", reference=D(2024, 9, 10))
    assert found.year_inferred and found.date == D(2024, 10, 7) and found.next_day
    # 24:00 on 7 October = 00:00 on 8 October, CEST in force (though "CET" is written)
    assert found.at(STOCKHOLM, end_of_day=True).isoformat() == "2024-10-08T00:00:00+02:00"


def test_epoch_milliseconds():
    assert parse_epoch_ms("1797465600000") == dt.datetime(2026, 12, 17, tzinfo=UTC)
    assert parse_epoch_ms("") is None


def test_time_zones_and_summer_time():
    (formas,) = find_dates("Sista ansökningsdatum: 2024-10-16 14:00")
    assert formas.at(STOCKHOLM, end_of_day=True).isoformat() == "2024-10-16T14:00:00+02:00"
    (winter,) = find_dates("Beslutad: 2024-03-26 14:00")
    assert winter.at(STOCKHOLM, end_of_day=True).isoformat() == "2024-03-26T14:00:00+01:00"
    (day_only,) = find_dates("Stängd 19 mars 2024")
    assert day_only.at(STOCKHOLM, end_of_day=True).isoformat() == "2024-03-19T23:59:59+01:00"
    (month,) = find_dates("Feb 2027 Stage 2 opens")
    assert month.at(BRUSSELS, end_of_day=True).date() == D(2027, 2, 28)


def test_labels_pick_deadlines_not_other_dates():
    text = "Öppnar 12 augusti 2024\nSista dag för ansökan 2024-10-16 14:00\nBeslut 2024-12-01"
    got = labelled_dates(text, ["Sista dag för ansökan"])
    assert [f.date for f in got] == [D(2024, 10, 16)]
    multi = labelled_dates("Deadlines: 28 februari 2020 | 30 april 2020 | 30 augusti 2020", ["Deadlines"])
    assert [f.date.month for f in multi] == [2, 4, 8]


@pytest.mark.parametrize("text,amount,currency", [
    ("Utlysta medel 10 miljoner", 10_000_000, None),
    ("cirka 25 miljoner kronor", 25_000_000, "SEK"),
    ("Total indicative budget EUR 85.5 million", 85_500_000, "EUR"),
    ("Det går att söka upp till 2 mkr i bidrag", 2_000_000, "SEK"),
    ("upp till 700 000 kronor per projekt", 700_000, "SEK"),
    ("€1.4 million", 1_400_000, "EUR"),
])
def test_budgets(text, amount, currency):
    assert parse_budget(text) == Budget(amount, currency)


def test_no_budget_in_plain_numbers():
    assert parse_budget("Projektet pågår i 24 månader från 2026") is None
    assert parse_budget("ca 5 m lång") is None
    assert str(parse_budget("Utlysta medel 10 miljoner", default_currency="SEK")) == "SEK 10 000 000"


@pytest.mark.parametrize("text,lang", [
    ("Utlysningen riktar sig till kommuner som vill ställa om.", "sv"),
    ("The call supports cities in their transition to climate neutrality.", "en"),
    ("Søknader vil bli akseptert frem til fristen, og prosjekter skal ha partnere.", "no"),
])
def test_language(text, lang):
    assert detect_language(text) == lang


def test_html_to_text_keeps_paragraphs_and_drops_scripts():
    text = html_to_text("<h2>Vem kan söka?</h2><p>Kommuner &amp; regioner</p><script>alert(1)</script><ul><li>A</li><li>B</li></ul>")
    assert text.split("\n") == ["Vem kan söka?", "Kommuner & regioner", "• A", "• B"]
