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


def test_a_labelled_call_is_scored_by_the_fold_that_left_it_out():
    """The shipped model knows the calls it was fitted on (by title and text):
    each is scored by heads fitted without its fold; any other call by the
    heads fitted on everything."""
    import json
    from pathlib import Path

    from matcher.rank import FEATURES, CallDoc, RankerModel, call_key

    model = RankerModel.load()
    folds = model.data["folds"]
    assert len(folds) == 5 and all(f["calls"] for f in folds)
    assert not set(folds[0]["calls"]) & set(folds[1]["calls"])  # a call is in one fold only
    row = json.loads(Path(__file__).parent.joinpath("data/eval-dev/calls.jsonl").read_text().splitlines()[0])
    known = CallDoc(0, row["title"], row["text"], "en", ())
    unknown = CallDoc(1, "A call nobody labelled", "Its text.", "en", ())
    fold_of = model.folds_for([known, unknown])
    assert fold_of[1] == -1 and call_key(row["title"], row["text"]) in folds[fold_of[0]]["calls"]
    X = np.ones((2, len(FEATURES)), dtype=np.float32)
    p_folded, _ = model.predict(X, folds=fold_of)
    p_all, _ = model.predict(X)
    assert p_folded[1] == p_all[1]  # the unknown call: the heads fitted on everything
    assert p_folded[0] != p_all[0]  # the labelled call: its fold's heads, which never saw it


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


# --- the vectorised pieces against their plain definitions ---------------------------------------


def test_best_top3_label_and_segment_argmax_match_plain_numpy():
    from matcher.rank import _best_and_top3, _best_by_weight, _segment_argmax

    rng = np.random.default_rng(3)
    for n_rows in (1, 2, 3, 7):
        values = rng.standard_normal((n_rows, 500)).astype(np.float32)
        best, top3 = _best_and_top3(values)
        k = min(3, n_rows)
        assert np.allclose(best, values.max(axis=0))
        assert np.allclose(top3, np.sort(values, axis=0)[-k:].mean(axis=0), atol=1e-6)
        weights = rng.integers(1, 4, n_rows).astype(np.float32)
        comb_best, label, high = _best_by_weight(values, weights)
        assert np.allclose(comb_best, values.max(axis=0))
        assert np.array_equal(label, weights[values.argmax(axis=0)])  # no ties in random floats
        expected_high = values[weights >= 2].max(axis=0) if (weights >= 2).any() else np.full(500, -3.0)
        assert np.allclose(high, expected_high)
    sizes = np.array([1, 4, 2, 5])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = rng.standard_normal(sizes.sum()).astype(np.float32)
    expected = [int(flat[a:a + n].argmax()) for a, n in zip(starts, sizes)]
    assert _segment_argmax(flat, starts, sizes).tolist() == expected


def test_fused_features_equal_centred_standardised_scores():
    """``features`` folds centring and standardisation into two passes; it must
    give what the plain steps give."""
    from matcher.rank import FEATURES, LEXICAL_WEIGHT, SEMANTIC_WEIGHT, _standardise

    emb = FakeEmbedder()
    docs = [make_doc(i, f"t{i}", f"text {i}", "sv" if i % 3 else "en") for i in range(40)]
    ranker = Ranker(docs, [emb.encode(list(d.chunks)) for d in docs])
    rng = np.random.default_rng(5)
    sims = rng.uniform(0.6, 0.95, (4, 40)).astype(np.float32)
    lex = rng.uniform(0.0, 0.3, (4, 40)).astype(np.float32)
    profile = PROFILE.model_copy(update={"needs": [PROFILE.needs[0].model_copy(update={"id": f"n{k}", "weight": 1 + k % 3})
                                                   for k in range(4)]})
    X, comb = ranker.features(profile, sims, lex, np.zeros(40, bool), np.zeros(40, np.int32))
    sem_z = _standardise(ranker.centre_by_language(sims))
    expected = SEMANTIC_WEIGHT * sem_z + LEXICAL_WEIGHT * _standardise(lex)
    assert np.allclose(comb, expected, atol=1e-5)
    assert np.allclose(X[:, FEATURES.index("sem_top3")], np.sort(sem_z, axis=0)[-3:].mean(axis=0), atol=1e-5)
    weights = np.array([n.weight for n in profile.needs])
    assert np.allclose(X[:, FEATURES.index("comb_w23")], expected[weights >= 2].max(axis=0), atol=1e-5)


def test_pruned_lexical_index_keeps_each_words_heaviest_calls():
    from matcher.lexical import LexicalIndex, hashed_counts

    texts = [("cykel " * (1 + i % 7)) + f"ord{i} annat{i % 3}" for i in range(60)]
    counts = hashed_counts(texts)
    full, pruned = LexicalIndex(counts), LexicalIndex(counts, max_postings=5)
    assert np.diff(pruned.matrix_t.indptr).max() == 5
    for row in np.flatnonzero(np.diff(full.matrix_t.indptr)):
        a, b = full.matrix_t.indptr[row], full.matrix_t.indptr[row + 1]
        kept = pruned.matrix_t[row].toarray().ravel()
        weights = full.matrix_t[row].toarray().ravel()
        if b - a <= 5:
            assert np.array_equal(kept, weights)
        else:  # the five largest survive, nothing else
            assert np.count_nonzero(kept) == 5 and kept.max() == weights.max()
            assert np.sort(weights[kept > 0]).tolist() == np.sort(weights)[-5:].tolist()


def test_weighed_rows_are_unit_length_and_empty_queries_stay_empty():
    from matcher.lexical import LexicalIndex, hashed_counts

    index = LexicalIndex(hashed_counts(["cykelbana i staden", "solceller på taket", "värmepump och solceller"]))
    rows = index.weigh(hashed_counts(["och att det", "solceller", "", "cykelbana solceller taket"]))
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    assert np.allclose(norms, [0.0, 1.0, 0.0, 1.0], atol=1e-6)  # stop words only / nothing: a zero row
    scores = index.similarity_weighed(rows)
    assert scores.shape == (4, 3) and not scores[0].any() and not scores[2].any()
    assert scores[1].argmin() == 0 and scores[3].argmax() == 1


def test_ranking_is_the_same_on_threads_and_from_stacked_vectors(monkeypatch):
    """rank_many on several threads, and from one stacked array (as the vector
    cache returns it), gives exactly the single-threaded result."""
    import matcher.rank as rank_module
    from matcher.rank import RankerModel

    monkeypatch.setattr(rank_module, "EXACT_LIMIT", 20)  # the two-stage path, on a small pool
    monkeypatch.setattr(rank_module, "CANDIDATES", 5)
    monkeypatch.setattr(rank_module, "CITY_BLOCK", 3)
    rng = np.random.default_rng(11)
    words = "cykel buss energi värme skola hamn flyg sol vind vatten skog bostad".split()
    emb = FakeEmbedder()
    docs = [make_doc(i, f"Call {i}", " ".join(rng.choice(words, 80)) + ".", "sv" if i % 2 else "en",
                     eligibility="Kommuner." if i % 4 else "Företag.") for i in range(60)]
    per_call = [emb.encode(list(d.chunks)) for d in docs]
    profiles = [PROFILE.model_copy(update={"city": PROFILE.city.model_copy(update={"id": f"c{k}"}),
                                           "needs": [n.model_copy(update={"text": " ".join(rng.choice(words, 4))})
                                                     for n in PROFILE.needs]}) for k in range(7)]
    needs = [emb.encode(need_texts(p)) for p in profiles]
    anchor = emb.encode(["kommun klimat"])[0]
    one = Ranker(docs, per_call, anchor_vector=anchor, model=RankerModel.load()).rank_many(profiles, needs, limit=15, workers=1)
    stacked = Ranker(docs, np.vstack(per_call), anchor_vector=anchor, model=RankerModel.load())
    many = stacked.rank_many(profiles, needs, limit=15, workers=3)
    assert list(one) == [p.city.id for p in profiles] == list(many)
    assert one == many
    # and each city alone, with its own products (summed in another order: the last digits may differ)
    for p, v in zip(profiles, needs):
        alone = stacked.rank(p, v, limit=15)
        shown = [(m.call_id, m.need_id, m.passage) for m in one[p.city.id]]
        assert [(m.call_id, m.need_id, m.passage) for m in alone] == shown
        assert np.allclose([m.rank_key for m in alone], [m.rank_key for m in one[p.city.id]], atol=1e-5)
        assert np.allclose([m.lexical for m in alone], [m.lexical for m in one[p.city.id]], atol=1e-4)
    assert all(len(v) == 15 for v in one.values())
    assert all(m.passage for v in one.values() for m in v)


def test_cities_with_the_same_facts_share_eligibility_but_not_others():
    from matcher.eligibility import EligibilityMatrix, facts_key, read_terms

    terms = [read_terms(title="Cykelvägar", text="Regionalfonden: cykelvägar.",
                        eligibility="Kommuner i Norrbotten och Västerbotten.", funder="Tillväxtverket")]
    matrix = EligibilityMatrix(terms)
    north = PROFILE.model_copy(update={"eligibility": PROFILE.eligibility.model_copy(update={"erdf_region": "Övre Norrland"})})
    north2 = north.model_copy(update={"city": PROFILE.city.model_copy(update={"id": "other"})})
    south = PROFILE.model_copy(update={"eligibility": PROFILE.eligibility.model_copy(update={"erdf_region": "Skåne-Blekinge"})})
    assert facts_key(north) == facts_key(north2) != facts_key(south)
    assert matrix.judge(north)[0] is matrix.judge(north2)[0]
    assert not matrix.judge(north)[0][0] and matrix.judge(south)[0][0]


# --- learning from clicks -------------------------------------------------------------------------


def _learning_pool():
    emb = FakeEmbedder()
    texts = {
        1: ("Cykelvägar i staden", "Investeringar i cykelvägar, cykelparkering och cykelinfrastruktur i tätorten."),
        2: ("Cykelbanor och cykelparkering", "Stöd till cykelbanor, cykelparkering och cykelinfrastruktur i kommunen."),
        3: ("Värmeböljor och skugga", "Klimatanpassning: skuggande träd, gröna tak och kylning vid värmeböljor."),
        4: ("Gröna tak mot värme", "Klimatanpassning med gröna tak, träd och skugga mot värmeböljor i staden."),
        5: ("Arkiv och manuskript", "Digitalisering av medeltida manuskript och kyrkoarkiv."),
        6: ("Kvantdatorer", "Forskning om kvantdatorer och halvledare."),
    }
    docs = [make_doc(i, t, x, "sv", eligibility="Kommuner.") for i, (t, x) in texts.items()]
    ranker = Ranker(docs, [emb.encode(list(d.chunks)) for d in docs], anchor_vector=emb.encode(["kommun klimat"])[0])
    profile = PROFILE.model_copy(update={"needs": [PROFILE.needs[0].model_copy(update={
        "text": "Hållbar stad för alla", "keywords": []})]})
    return ranker, profile, emb.encode(need_texts(profile))


def test_a_relevant_click_lifts_similar_calls_and_a_not_relevant_one_lowers_them():
    from matcher.rank import Feedback

    ranker, profile, needs = _learning_pool()
    index = {d.id: k for k, d in enumerate(ranker.docs)}
    plain = {m.call_id: m for m in ranker.rank(profile, needs)}
    liked = Feedback(ranker.centroids[[index[1]]], np.zeros((0, ranker.centroids.shape[1]), np.float32))
    learned = {m.call_id: m for m in ranker.rank(profile, needs, feedback=liked)}
    assert learned[2].learned > 0 and learned[2].score > plain[2].score  # like the clicked one
    assert learned[6].learned == 0 and learned[6].score == plain[6].score  # unlike it: untouched
    assert all(m.learned == 0 for m in plain.values())
    disliked = Feedback(np.zeros((0, ranker.centroids.shape[1]), np.float32), ranker.centroids[[index[3]]])
    lowered = {m.call_id: m for m in ranker.rank(profile, needs, feedback=disliked)}
    assert lowered[4].learned < 0 and lowered[4].score < plain[4].score
    assert lowered[2].score == plain[2].score


def test_learning_works_without_a_fitted_model_and_keeps_scores_in_range():
    from matcher.rank import Feedback, RankerModel

    ranker, profile, needs = _learning_pool()
    index = {d.id: k for k, d in enumerate(ranker.docs)}
    fb = Feedback(ranker.centroids[[index[1], index[3]]], ranker.centroids[[index[5]]])
    for model in (None, RankerModel.load()):
        ranker.model = model
        matches = ranker.rank(profile, needs, feedback=fb)
        assert all(0.0 <= m.score <= 1.0 for m in matches)
        by_id = {m.call_id: m for m in matches}
        assert by_id[2].learned > 0 and by_id[4].learned > 0 and by_id[6].learned <= 0


def test_matches_are_built_field_by_field_in_order():
    """``Ranker.rank`` builds matches positionally (fast); every field lands where it belongs."""
    from dataclasses import fields

    from matcher.models import Match

    assert [f.name for f in fields(Match)] == ["city", "call_id", "score", "need_id", "need_text", "passage",
                                               "similarity", "lexical", "needs", "eligibility", "reasons",
                                               "caveats", "rank_key", "learned"]
    top = rank()[0]
    assert (top.city, top.call_id, top.need_id, top.need_text) == ("x", 2, "bike", PROFILE.needs[0].text)
    assert isinstance(top.similarity, float) and isinstance(top.lexical, float) and top.eligibility in (
        "eligible", "unknown") and isinstance(top.reasons, tuple) and isinstance(top.caveats, tuple)
    assert top.rank_key >= rank()[1].rank_key and top.learned == 0.0


# --- which need a match names, and the passage that shows it ---------------------------------------

CITY = Profile.model_validate({
    "city": {"id": "norrby", "name": "Norrby kommun"},
    "needs": [
        {"id": "together", "text": "Samverkan med företag, skolor och invånare i klimatomställningen.", "weight": 3,
         "keywords": ["collaboration", "citizens", "schools"]},
        {"id": "buildings", "text": "Energieffektivisering av kommunens lokaler och fastigheter.", "weight": 2,
         "keywords": ["energy efficiency", "renovation", "municipal buildings"]},
        {"id": "cycling", "text": "Fler resor med cykel och kollektivtrafik.", "weight": 3,
         "keywords": ["cycling", "public transport"]},
    ],
})


def ranked_with_model(calls, profile=CITY):
    from matcher.rank import RankerModel

    emb = FakeEmbedder()
    model = RankerModel.load()
    assert model.has_need_model  # the shipped model chooses needs
    docs = [make_doc(i, t, x, lang) for i, t, x, lang in calls]
    ranker = Ranker(docs, [emb.encode(list(d.chunks)) for d in docs], anchor_vector=emb.encode(["klimat"])[0],
                    model=model)
    return {m.call_id: m for m in ranker.rank(profile, emb.encode(need_texts(profile)))}


def test_the_need_named_is_the_one_the_call_pays_for_not_the_heaviest():
    calls = [
        (0, "Energieffektiv renovering av kommunala lokaler",
         "Bidrag till energieffektivisering och renovering av kommunala lokaler, skolor och fastigheter. "
         "Kommuner söker. Projekten ska samverka med skolor.\nGranskad: den 1 juni 2024", "sv"),
        (1, "Cykelvägar och kollektivtrafik", "Stöd till cykelinfrastruktur och kollektivtrafik i tätorter.", "sv"),
        (2, "Medeltida handskrifter", "Digitalisering av medeltida handskrifter.", "sv"),
    ]
    matches = ranked_with_model(calls)
    # "samverkan … skolor" weighs 3 and shares words with the call, but the call pays for the buildings
    assert matches[0].need_id == "buildings"
    assert matches[0].needs[0][0] == "buildings" and len(matches[0].needs) == 3
    assert matches[1].need_id == "cycling"
    # each need's shown score is the model's probability that the call pays for it, best first
    scores = [score for _, score in matches[0].needs]
    assert scores == sorted(scores, reverse=True) and 0.0 < scores[0] <= 1.0
    # the passage is the call's own text, never its page furniture
    assert "renovering" in matches[0].passage and "Granskad" not in matches[0].passage


def test_page_furniture_is_never_a_passage_nor_embedded():
    from matcher.rank import strip_furniture

    text = ("Stöd till laddinfrastruktur för kommuner.\nGranskad: den 16 juli 2024\nSenast uppdaterad 2024-01-02\n"
            "Dela sidan")
    assert strip_furniture(text).split() == "Stöd till laddinfrastruktur för kommuner.".split()
    doc = make_doc(0, "Laddinfrastruktur", text, "sv")
    assert all("Granskad" not in c and "Dela sidan" not in c for c in doc.chunks)
    assert doc.text == text  # the call itself is unchanged (it is what the model recognises a call by)


def test_a_call_no_municipality_can_use_goes_last_with_its_reason():
    calls = [
        (0, "Call for URBACT IV Experts", "The call for experts is open. Join the pool of experts on cycling and "
         "public transport.", "en"),
        (1, "Cykelvägar och kollektivtrafik", "Stöd till cykelinfrastruktur och kollektivtrafik i tätorter.", "sv"),
    ]
    matches = ranked_with_model(calls)
    assert matches[0].eligibility == "ineligible" and matches[0].score == 0.0
    assert matches[0].reasons == ("rekryterar experter eller granskare, finansierar inga projekt",)
    assert matches[0].rank_key < matches[1].rank_key
