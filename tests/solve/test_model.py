"""The decision model: face validity, transition probabilities, eligibility, parameters,
named strategies and value of information."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sequencer.model.build import build_model, cohort_roots
from sequencer.model.parameters import ParameterError, load_parameters
from sequencer.model.states import InformationStrategy, State, StateError
from sequencer.solve.backward import solve_backward, sweep
from sequencer.solve.lp import solve_lp
from sequencer.solve.objective import Objective
from sequencer.solve.policy import Policy
from sequencer.solve.strategies import (
    StrategyError,
    evaluate_strategy,
    load_named,
    load_strategy,
    strategy_choice,
)

QALY = Objective("qaly")


@pytest.mark.parametrize("objective", [Objective("ly"), QALY])
def test_face_validity_cps10_and_cps_below_1(standard_inputs, objective):
    """Issue 3: HER2-positive, CPS >= 10, no known alterations, phase III / guideline regimens:
    pembrolizumab + trastuzumab + chemotherapy, then trastuzumab deruxtecan; CPS < 1: trastuzumab
    + chemotherapy first (published guideline sequence, ESMO/NCCN)."""
    root = State(line=1, cps=">=10")
    model = build_model(standard_inputs, {root: 1.0})
    policy = Policy.from_sweep(model, objective, solve_backward(model, objective.weights()))
    assert policy.regimen(root) == "pembrolizumab_trastuzumab_chemo"
    second = State(line=2, cps=">=10", received=frozenset({"pembrolizumab_trastuzumab_chemo"}),
                   progressed_on_her2=True)
    assert policy.regimen(second) == "trastuzumab_deruxtecan"
    low = build_model(standard_inputs, {State(line=1, cps="<1"): 1.0})
    low_policy = Policy.from_sweep(low, objective, solve_backward(low, objective.weights()))
    assert low_policy.regimen(State(line=1, cps="<1")) == "trastuzumab_fp_platinum"


def _check_probabilities(model):
    owner = np.repeat(np.arange(model.n_pairs), np.diff(model.succ_ptr))
    to_next = np.bincount(owner, weights=model.succ_prob, minlength=model.n_pairs)
    np.testing.assert_allclose(model.p_death + model.p_supportive + to_next, 1.0, atol=1e-12)
    assert np.all(model.succ_weight <= model.succ_prob + 1e-15)  # discounting only shrinks
    assert np.all(model.line[model.succ_state] > model.line[model.pair_state[owner]])  # acyclic
    np.testing.assert_allclose(model.initial.sum(), 1.0)


def test_transition_probabilities_sum_to_one(standard_model, tested_model):
    _check_probabilities(standard_model)
    _check_probabilities(tested_model)


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_transition_probabilities_sum_to_one_under_parameter_draws(sources, seed):
    """The invariants of _check_probabilities for random posterior and parameter draws. A draw
    changes the numbers, not the code path (the tested model above covers every branch at the
    means); 3 draws of the largest model (baseline NGS and re-biopsy) keep it at about 10 s."""
    rng = np.random.default_rng(seed)
    from sequencer.model.inputs import ModelInputs

    inputs = ModelInputs.create(
        sources.evidence.catalogue, sources.posterior.draw(int(rng.integers(4000))),
        sources.parameters.values(rng), info=InformationStrategy(baseline_ngs=True, rebiopsy=True),
    )
    _check_probabilities(build_model(inputs, cohort_roots(inputs)))


def test_one_line_rewards_match_the_closed_form(standard_inputs):
    """Last line, chemotherapy (no alteration modifiers): discounted months on the line are
    1/(l + d) with l = lp/(1 - q); the rest of the reward is supportive care weighted by the
    discounted chance of leaving the line alive (hand-derived closed form)."""
    inputs = standard_inputs
    state = State(line=3, cps="1-9", received=frozenset({"trastuzumab_fp_platinum"}))
    model = build_model(inputs, {state: 1.0})
    v = inputs.values
    lp, p_ae = inputs.base_rates("irinotecan_or_paclitaxel", state)
    q = p_ae * v.line_end.discontinuation_given_grade3_ae
    total, delta = lp / (1 - q), inputs.monthly_discount
    months = 1 / (total + delta)
    alive = (total - v.line_end.death_fraction * lp) / (total + delta)
    ly = months / 12 + alive * inputs.supportive_reward[0]
    pair = next(p for p in model.pairs(0)
            if model.regimens[model.pair_regimen[p]] == "irinotecan_or_paclitaxel")
    assert model.reward[pair, 0] == pytest.approx(ly, rel=1e-12)
    assert model.reward[pair, 3] == pytest.approx(p_ae, rel=1e-12)


def test_eligibility_rules(standard_inputs, sources):
    inputs = standard_inputs
    assert inputs.ineligibility("pembrolizumab_trastuzumab_chemo", State(line=1, cps="<1"))
    assert inputs.ineligibility("pembrolizumab_trastuzumab_chemo",
                                State(line=1, cps="<1", msi_high=True)) is None
    assert "contraindicated (ild)" in inputs.ineligibility(
        "trastuzumab_deruxtecan", State(line=2, contraindications=frozenset({"ild"})))
    assert "already received" in inputs.ineligibility(
        "trastuzumab_deruxtecan", State(line=3, received=frozenset({"trastuzumab_deruxtecan"})))
    assert "opt-in" in inputs.ineligibility("zanidatamab_chemo", State(line=1))
    opt_in = sources.inputs(include_investigational=True)
    assert "needs a known met_amp" in opt_in.ineligibility("met_inhibitor_anti_her2", State(line=2))
    assert opt_in.ineligibility("met_inhibitor_anti_her2",
                                State(line=2, known=frozenset({"met_amp"}))) is None
    assert "needs HER2" in inputs.ineligibility("trastuzumab_fp_platinum",
                                                State(line=1, her2="low"))
    with pytest.raises(StateError, match="cps: '>=5' is not one of"):
        State(line=1, cps=">=5")


def test_parameter_distributions_against_scipy(sources):
    params = sources.parameters
    beta = params.distributions["acquisition.her2_loss_to_ihc0"]
    assert beta.mean() == pytest.approx(stats.beta(beta.alpha, beta.beta).mean())
    lognormal = params.distributions["mechanism_modifier.her2_loss"]
    frozen = stats.lognorm(s=lognormal.sigma, scale=lognormal.median)
    # the 95% interval has the stated width on the log scale, centred on the median
    assert frozen.ppf(0.975) / frozen.ppf(0.025) == pytest.approx(
        lognormal.upper / lognormal.lower, rel=1e-9)
    assert frozen.median() == pytest.approx(lognormal.median, rel=1e-12)
    assert lognormal.mean() == pytest.approx(frozen.mean(), rel=1e-12)
    gamma = params.distributions["cost.grade3_ae_episode"]
    draws = np.array([gamma.sample(np.random.default_rng(i)) for i in range(4000)])
    assert abs(draws.mean() - gamma.mean()) < 4 * gamma.sd / np.sqrt(4000)
    uniform = params.distributions["acquisition.her2_loss"]
    assert (uniform.low, uniform.high) == (0.291, 0.69)  # the seeds' published range


@pytest.mark.parametrize("edit, message", [
    (("    low: 0.291\n    high: 0.69\n", "    low: 0.291\n    high: 1.2\n"),
     "acquisition.her2_loss'.*outside the probability domain"),
    (("  median_os_months:\n    dist: lognormal", "  median_os_month:\n    dist: lognormal"),
     "missing parameters: supportive_care.median_os_months"),
    (("    alpha: 594\n", "    alpha: -1\n"), "prevalence.cps_ge1'.*alpha"),
])
def test_parameter_file_errors_name_the_parameter(tmp_path, edit, message):
    from sequencer.model.parameters import DEFAULT_PARAMETERS

    text = DEFAULT_PARAMETERS.read_text()
    assert edit[0] in text
    path = tmp_path / "parameters.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ParameterError, match=message):
        load_parameters(path)


def test_named_strategies_evaluate_and_agree_with_a_restricted_lp(sources):
    inputs = sources.inputs(include_investigational=True)
    model = build_model(inputs, cohort_roots(inputs))
    guideline = load_named("guideline", inputs.catalogue)
    policy = evaluate_strategy(model, guideline, QALY)
    # second method: the LP over the strategy's own pairs only has the strategy as its optimum
    choice = strategy_choice(model, guideline)
    reward = np.full(model.n_pairs, -1e3)
    reward[choice] = model.objective_reward(QALY.weights())[choice]
    lp = solve_lp(model, reward)
    assert lp.value == pytest.approx(policy.cohort_value, rel=1e-6)
    root = model.index(State(line=1, cps="<1"))
    assert policy.regimen(root) == "trastuzumab_fp_platinum"
    optimal = sweep(model, model.objective_reward(QALY.weights()))
    assert float(model.initial @ optimal.value) >= policy.cohort_value - 1e-12
    for name in ("toga-era", "adc-first"):
        assert evaluate_strategy(model, load_named(name, inputs.catalogue), QALY).cohort_value > 0


def test_bad_strategy_names_the_step(tmp_path, standard_inputs):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ndescription: x\nsource: test\nsteps:\n  - line: 1\n    options:\n"
                    "      - {regimen: trastuzumab_deruxtecan}\n")
    with pytest.raises(StrategyError,
                       match=r"steps\[0\] \(line 1\) options\[0\].*not offered at line 1"):
        load_strategy(path, standard_inputs.catalogue)
    path.write_text(path.read_text().replace("trastuzumab_deruxtecan", "tdxd"))
    with pytest.raises(StrategyError, match="regimen 'tdxd' is not in the catalogue"):
        load_strategy(path, standard_inputs.catalogue)


def test_value_of_testing_is_not_negative_for_health_outcomes(sources):
    """Information can only help a Bayesian decision maker when it is free (the LY/QALY
    objectives do not count test costs): Raiffa and Schlaifer 1961."""
    from sequencer.solve.testing_value import value_of_testing

    rows = value_of_testing(lambda info: sources.inputs(info=info), QALY,
                                {"rebiopsy": InformationStrategy(rebiopsy=True),
                                 "baseline_ngs": InformationStrategy(baseline_ngs=True)})
    assert rows and all(r.value_of_testing >= -1e-12 for r in rows)
