"""The pure ranking core, with the deterministic hashing embedder."""

from __future__ import annotations

import numpy as np

from matcher.config import Profile
from matcher.embed import FakeEmbedder
from matcher.rank import Ranker, make_doc, need_texts, split_passages

PROFILE = Profile.model_validate({
    "city": {"id": "x", "name": "X"},
    "needs": [
        {"id": "bike", "text": "Cykelinfrastruktur och cykelvägar i staden", "weight": 3,
         "keywords": ["cycling infrastructure", "bike lanes"]},
        {"id": "heat", "text": "Klimatanpassning mot värmeböljor", "weight": 1, "keywords": ["heatwaves"]},
    ],
})

CALLS = [
    (1, "Medieval manuscripts", "Digitisation of medieval manuscripts and church archives. Palaeography training.", "en"),
    (2, "Safe cycling infrastructure for cities",
     "This call funds cycling infrastructure. Bike lanes and cycling infrastructure in dense cities are in scope. "
     "Unrelated admin sentence about reporting obligations and templates.", "en"),
    (3, "Urban heatwaves", "Adaptation of cities to heatwaves with green roofs and shade.", "en"),
]


def rank(profile=PROFILE, calls=CALLS):
    emb = FakeEmbedder()
    docs = [make_doc(i, t, x, lang) for i, t, x, lang in calls]
    vectors = [emb.encode(list(d.chunks)) for d in docs]
    return Ranker(docs, vectors).rank(profile, emb.encode(need_texts(profile)))


def test_fitting_call_ranks_first_and_explains_itself():
    matches = rank()
    assert [m.call_id for m in matches][0] == 2
    top = matches[0]
    assert top.need_id == "bike"
    assert "cycling infrastructure" in top.passage.lower()
    assert 0.0 <= matches[-1].score < top.score <= 1.0
    assert dict(top.needs)["bike"] == top.score


def test_heat_call_is_matched_to_the_heat_need():
    matches = {m.call_id: m for m in rank()}
    assert matches[3].need_id == "heat"
    assert matches[1].score < matches[3].score


def test_need_weight_raises_the_score():
    low = PROFILE.model_copy(update={"needs": [PROFILE.needs[0].model_copy(update={"weight": 1}), PROFILE.needs[1]]})
    assert {m.call_id: m.score for m in rank()}[2] > {m.call_id: m.score for m in rank(low)}[2]


def test_empty_pool():
    assert Ranker([], []).rank(PROFILE, np.zeros((2, 4), np.float32)) == []


def test_long_text_is_chunked_so_a_late_paragraph_counts():
    filler = " ".join(f"Administrative paragraph {i} explains reporting templates, audits and annexes." for i in range(330))
    relevant = "This topic funds cycling infrastructure and bike lanes in dense cities."
    long_call = (10, "Work programme topic", filler + " " + relevant, "en")
    doc = make_doc(*long_call)
    assert len(filler.split()) > 2900 and len(doc.chunks) > 40
    assert len(doc.chunks) <= 64
    assert relevant in doc.chunks[-1]  # the last paragraph of a ~3,000-word text is embedded
    decoy = (11, "Work programme topic", filler, "en")
    matches = rank(calls=[long_call, decoy] + CALLS[:1])
    by_id = {m.call_id: m for m in matches}
    assert by_id[10].similarity > by_id[11].similarity
    assert relevant in by_id[10].passage  # and it is what the explanation quotes


def test_vectorised_eligibility_agrees_with_the_rules():
    import json
    import tomllib
    from pathlib import Path

    from matcher.eligibility import EligibilityMatrix, judge, read_terms

    dev = Path(__file__).resolve().parent / "data/eval-dev"
    calls = [json.loads(line) for line in (dev / "calls.jsonl").read_text().splitlines() if line.strip()]
    terms = [read_terms(title=c["title"], text=c["text"], eligibility=c.get("eligibility"), funder=c["funder"])
             for c in calls]
    matrix = EligibilityMatrix(terms)
    profiles = [Profile.model_validate(tomllib.loads(p.read_text())) for p in sorted((dev / "profiles").glob("*.toml"))]
    profiles.append(PROFILE)  # a profile that states no eligibility facts at all
    flagged = 0
    for profile in profiles:
        inel, cav = matrix.judge(profile)
        for j, t in enumerate(terms):
            verdict = judge(profile, t)
            assert bool(inel[j]) == verdict.ineligible, (profile.city.id, calls[j]["id"], verdict)
            assert int(cav[j]) == len(verdict.caveats), (profile.city.id, calls[j]["id"], verdict)
            flagged += verdict.ineligible
    assert flagged > 50  # the rules do fire on the dev set


def test_language_centring_lets_languages_compete():
    emb = FakeEmbedder()
    docs = [make_doc(i, f"t{i}", "x", "sv" if i < 3 else "en") for i in range(6)]
    ranker = Ranker(docs, [emb.encode(list(d.chunks)) for d in docs])
    sims = np.array([[0.9, 0.8, 0.85, 0.5, 0.4, 0.45]], dtype=np.float32)
    centred = ranker.centre_by_language(sims)
    assert abs(centred[0, :3].mean()) < 1e-6 and abs(centred[0, 3:].mean()) < 1e-6
    assert abs(centred[0, 0] - centred[0, 3]) < 1e-6  # each language's best is now level


def test_shipped_model_never_puts_an_ineligible_call_on_top():
    from matcher.rank import RankerModel

    model = RankerModel.load()
    south = PROFILE.model_copy(update={"eligibility": PROFILE.eligibility.model_copy(update={"erdf_region": "Skåne-Blekinge"})})
    calls = CALLS + [(4, "Cykelinfrastruktur och cykelvägar i Övre Norrland",
                      "Regionalfonden: cykelinfrastruktur och cykelvägar för kommuner i Norrbotten och Västerbotten.", "sv")]
    emb = FakeEmbedder()
    docs = [make_doc(i, t, x, lang, eligibility="Kommuner i Norrbotten och Västerbotten." if i == 4 else "Kommuner.",
                     funder="Tillväxtverket" if i == 4 else "X") for i, t, x, lang in calls]
    ranker = Ranker(docs, [emb.encode(list(d.chunks)) for d in docs], anchor_vector=emb.encode(["kommuner klimat"])[0],
                    model=model)
    matches = ranker.rank(south, emb.encode(need_texts(south)))
    assert matches[-1].call_id == 4 and matches[-1].score == 0.0
    assert matches[-1].eligibility == "ineligible" and "Övre Norrland" in matches[-1].reasons[0]
    assert matches[0].call_id != 4 and 0.0 <= matches[0].score <= 1.0


def test_a_training_city_is_scored_by_the_model_fitted_without_it():
    from matcher.rank import FEATURES, RankerModel

    model = RankerModel.load()
    city = model.data["trained_on"][0]
    X = np.zeros((1, len(FEATURES)), dtype=np.float32)
    assert model.heads(city) is model.data["without"][city]
    assert model.heads("a-city-never-seen") is model.data["all"]
    p_loco, _ = model.predict(city, X)
    p_all, _ = model.predict("a-city-never-seen", X)
    assert p_loco[0] != p_all[0]


def test_model_refuses_other_features():
    import pytest

    from matcher.rank import RankerModel

    data = dict(RankerModel.load().data, features=["something", "else"])
    with pytest.raises(ValueError, match="other features"):
        RankerModel(data)


def test_large_pools_are_ranked_in_two_stages_with_the_same_top(monkeypatch):
    """Past EXACT_LIMIT calls only each city's nearest calls are read chunk by
    chunk and scored in full: the calls that clearly fit must still top the list."""
    import random

    import matcher.rank as rank_module
    from matcher.rank import RankerModel

    rng = random.Random(7)
    vocab = ("opera teater museum dans litteratur film musik arkiv bibliotek konst design mode spel "
             "rymd satellit kvant halvledare läkemedel cancer diabetes vaccin fiske skeppsbyggnad").split()
    calls = [(i, f"Call {i}", " ".join(rng.choice(vocab) for _ in range(150)) + ".", "sv" if i % 2 else "en")
             for i in range(2600)]
    fitting = set(rng.sample(range(2600), 8))
    for i in fitting:  # a long call whose fitting paragraph comes last
        _, title, text, lang = calls[i]
        calls[i] = (i, title, text + " Cykelinfrastruktur och cykelvägar i staden, bike lanes.", lang)
    emb = FakeEmbedder()
    docs = [make_doc(i, t, x, lang, eligibility="Kommuner.") for i, t, x, lang in calls]
    vectors = [emb.encode(list(d.chunks)) for d in docs]
    ranker = Ranker(docs, vectors, anchor_vector=emb.encode(["kommun klimat"])[0], model=RankerModel.load())
    needs = emb.encode(need_texts(PROFILE))
    two_stage = [m.call_id for m in ranker.rank_many([PROFILE], [needs], limit=10)["x"]]
    monkeypatch.setattr(rank_module, "EXACT_LIMIT", 10 ** 9)
    exact = [m.call_id for m in ranker.rank_many([PROFILE], [needs], limit=10)["x"]]
    assert set(exact[:8]) == fitting
    assert set(two_stage[:8]) == fitting
