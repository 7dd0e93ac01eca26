"""Start-up precomputation: every state reachable from the standard profiles is answered from
the solved cohort models, and those answers equal the on-demand answers solved from the
patient's own state (a second, independent route through the model: its own reachability
build and backward induction per draw)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sequencer.api.app import create_app
from sequencer.model.build import build_model, cohort_roots
from sequencer.model.states import State
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.recommend import DEFAULT_OPTIONS, STANDARD_OBJECTIVES, Query, Recommender
from tests.api.conftest import KEY

DRAWS = 3
STATE_L1 = State(line=1, her2="positive", cps=">=10")


@pytest.fixture(scope="module")
def precomputed(sources):
    rec = Recommender(sources, draws=DRAWS)
    rec.precompute()
    return rec


def test_every_state_reachable_from_the_standard_profiles_is_answered(precomputed, sources):
    inputs = sources.inputs(discount_rate=0.0, max_lines=4)  # the request's default options
    reference = build_model(inputs, cohort_roots(inputs))  # reachability from the profiles
    assert precomputed.precomputed == reference.n_states * len(STANDARD_OBJECTIVES)
    some = reference.states[:: max(1, reference.n_states // 12)]
    for state in some:
        for objective in STANDARD_OBJECTIVES:
            precomputed.recommend(Query(state, objective, Budget(), *DEFAULT_OPTIONS))
    assert len(precomputed._answers) == 0  # all served from the precomputed answers


@pytest.mark.parametrize("objective", [Objective("qaly"), Objective("nmb", 30_000.0),
                                       Objective("nmb", 41_234.5)])
def test_cohort_answers_equal_answers_solved_from_the_state(precomputed, sources, objective):
    """Precomputed (the standard objectives), or, for a willingness to pay of the patient's
    own, swept over the cohort's states reachable from the patient's only: both equal the
    answer from the model built from the patient's state."""
    fresh = Recommender(sources, draws=DRAWS)  # same seeded draws, nothing precomputed
    cohort = precomputed._cohorts[DEFAULT_OPTIONS]
    states = cohort.mean.states[:: max(1, cohort.n_states // 25)]
    for state in states:
        query = Query(state, objective, Budget(), *DEFAULT_OPTIONS)
        assert state in cohort
        assert precomputed.answered(query) is (objective in STANDARD_OBJECTIVES)
        assert fresh.model_set(query).n_states < cohort.n_states  # solved from the state
        a, b = precomputed.recommend(query), fresh.recommend(query)
        assert a.model_states == cohort.n_states > b.model_states
        assert a.recommended == b.recommended, state.label()
        assert [x.regimen for x in a.alternatives] == \
            [x.regimen for x in b.alternatives]
        for x, y in zip(a.alternatives, b.alternatives):
            for name in ("life_years", "qalys", "median_months_on_line",
                         "probability_grade3_ae"):
                for part in ("estimate", "lower", "upper"):
                    assert getattr(getattr(x, name), part) == pytest.approx(
                        getattr(getattr(y, name), part), rel=1e-9, abs=1e-12)
                assert getattr(x, name).draws == getattr(y, name).draws == DRAWS
            assert x.objective_value == pytest.approx(y.objective_value, rel=1e-9)
        assert a.plan == b.plan


def test_budget_answers_from_the_cut_cohort_equal_answers_from_the_built_state(precomputed,
                                                                              sources):
    """A budget is solved on the patient's own model: cut out of the cohort's arrays when the
    state is in it (the alternatives' values and intervals then come from the cohort's
    sweeps), built by reachability otherwise (the reference: no cohort in ``fresh``). Binding
    budgets (the search runs) and loose ones both occur."""
    fresh = Recommender(sources, draws=DRAWS)
    cohort = precomputed._cohorts[DEFAULT_OPTIONS]
    statuses = set()
    for k, state in enumerate(cohort.mean.states[:: max(1, cohort.n_states // 15)]):
        budget = Budget(toxicity=1.2) if k % 2 else Budget(toxicity=0.9, cost=70_000)
        query = Query(state, Objective("qaly"), budget, *DEFAULT_OPTIONS)
        a, b = precomputed.recommend(query), fresh.recommend(query)
        statuses.add(a.budget_status)
        assert a.model_states == b.model_states < cohort.n_states
        assert a.budget_status == b.budget_status is not None
        assert a.recommended == b.recommended and a.plan == b.plan
        for x, y in zip(a.alternatives, b.alternatives, strict=True):
            assert x.regimen == y.regimen
            assert x.qalys.estimate == pytest.approx(y.qalys.estimate, rel=1e-12)
            assert x.qalys.lower == pytest.approx(y.qalys.lower, rel=1e-12)
    assert {"optimal", "optimal (budgets not binding)"} <= statuses, statuses


def test_the_service_precomputes_at_start_up_and_answers_the_same(settings, sources):
    body = {"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 1, "ecog": 1}
    answers = []
    for precompute in (True, False):
        app = create_app(settings.model_copy(update={"precompute": precompute}),
                         sources=sources)
        app.state.recommender = Recommender(sources, draws=DRAWS)
        with TestClient(app) as client:
            client.headers["X-API-Key"] = KEY
            assert (app.state.recommender.precomputed > 0) is precompute
            first = client.post("/v1/recommendations", json=body)
            again = client.post("/v1/recommendations", json=body)  # the serialised answer
            assert first.status_code == again.status_code == 200, first.text
            assert first.content == again.content
            assert len(app.state.recommender._answers) == (0 if precompute else 1)
            answers.append(first.json())
    assert answers[0] == answers[1]
    assert answers[0]["recommended"] == "pembrolizumab_trastuzumab_chemo"  # KEYNOTE-811


def test_large_models_use_fewer_interval_draws_and_say_so(settings, sources, monkeypatch):
    """Investigational regimens with ctDNA or re-biopsy build about 70,000 states from a
    first-line state; the draw budget keeps such answers to seconds. Shrunk here so that an
    ordinary state is 'large': used draws = max(MIN_DRAWS, budget // states - 1)."""
    from sequencer.solve import family as modelsets

    rec = Recommender(sources, draws=6)
    query = Query(build_model(sources.inputs(discount_rate=0.0, max_lines=4),
                              {STATE_L1: 1.0}).states[0], Objective("qaly"), Budget(),
                  *DEFAULT_OPTIONS)
    states = rec.model_set(query).n_states  # the full set (budget not yet shrunk)
    monkeypatch.setattr(modelsets, "DRAW_STATE_BUDGET", 5 * states)
    monkeypatch.setattr(modelsets, "MIN_DRAWS", 2)
    fresh = Recommender(sources, draws=6)
    answer = fresh.recommend(query)
    assert answer.interval_draws == 4  # 5 * states // states - 1
    assert {a.qalys.draws for a in answer.alternatives} == {4}
    app = create_app(settings, sources=sources)
    app.state.recommender = fresh
    with TestClient(app) as client:
        client.headers["X-API-Key"] = KEY
        r = client.post("/v1/recommendations", json={"her2_ihc": "3+", "pdl1_cps": 15,
                                                     "current_line": 1, "ecog": 1})
    assert r.status_code == 200, r.text
    assert r.json()["model"]["posterior_draws_for_intervals"] == 4
    assert any("use 4 of 6 posterior draws" in c for c in r.json()["caveats"])


def test_precompute_keeps_the_lines_of_every_first_line_patient(precomputed, sources):
    """States outside the standard (HER2-positive) cohort are solved on demand; their lines
    were computed at start-up for every draw (each draw's inputs own their line cache)."""
    from sequencer.model.line import template_key

    options = precomputed.option_set(DEFAULT_OPTIONS)
    for state in (State(line=1, her2="low", cps="<1"),
                  State(line=1, her2="negative", cps="1-9", msi_high=True,
                        contraindications=frozenset({"ild", "cardiac"}))):
        regimens = [r for r in options.mean.eligible(state) if r != options.mean.supportive_id]
        assert regimens
        for inputs in options.draws:
            cache = inputs.line_cache.templates
            assert all(template_key(inputs, state, r) in cache for r in regimens)
