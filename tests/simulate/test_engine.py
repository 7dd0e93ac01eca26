"""The patient-level engine against the decision model's exact expectations.

Reference: backward induction (``sweep`` with the policy's choice fixed) gives each policy's
expected discounted life-years, QALYs, costs and grade >= 3 AE episodes in closed form; the
means of simulated patients must match within Monte Carlo error (4 standard errors).
"""

from __future__ import annotations

import numpy as np
import pytest

from sequencer.model.build import build_model, cohort_roots
from sequencer.model.states import InformationStrategy
from sequencer.simulate.engine import LINE_FIELDS, simulate
from sequencer.simulate.tables import PolicyTableError, policy_tables
from sequencer.solve.backward import solve_backward, sweep
from sequencer.solve.objective import Objective
from sequencer.solve.strategies import load_named, strategy_choice

N = 100_000
COLUMNS = ("ly_disc", "qaly_disc", "cost_disc", "ae_disc")  # the solver's parts, in order


def _check_means(model, choice, seed):
    expected = model.initial @ sweep(model, model.objective_reward([0, 1, 0, 0]),
                                     fixed=choice).parts
    result = simulate(policy_tables(model, choice), N, seed)
    for k, name in enumerate(COLUMNS):
        x = result.column(name)
        se = x.std(ddof=1) / np.sqrt(N)
        assert abs(x.mean() - expected[k]) <= 4 * se, (name, x.mean(), expected[k], se)


@pytest.fixture(scope="module")
def sim_tested_model(sources):
    inputs = sources.inputs(info=InformationStrategy(True, True, True))
    return build_model(inputs, cohort_roots(inputs))


def test_simulated_means_equal_the_optimal_policy_values(standard_model):
    _check_means(standard_model, solve_backward(standard_model, Objective("qaly").weights()).choice,
                 1)


def test_simulated_means_equal_a_named_strategy_values(standard_model):
    strategy = load_named("guideline", standard_model.inputs.catalogue)
    _check_means(standard_model, strategy_choice(standard_model, strategy), 2)


def test_simulated_means_with_testing_and_the_nmb_policy(sim_tested_model):
    """Baseline NGS, ctDNA and re-biopsy exercise detections, one-off costs and the hidden
    configurations; the NMB-optimal policy differs from the QALY one."""
    choice = solve_backward(sim_tested_model, Objective("nmb", 30000).weights()).choice
    _check_means(sim_tested_model, choice, 3)


def test_outcome_probabilities_sum_to_one_and_targets_are_later_lines(sim_tested_model):
    choice = solve_backward(sim_tested_model, Objective("qaly").weights()).choice
    t = policy_tables(sim_tested_model, choice)
    ends = t.out_ptr[1:] - 1
    np.testing.assert_allclose(t.out_cum[ends], 1.0, rtol=1e-12)
    np.testing.assert_allclose(t.comp_cum[t.comp_ptr[1:][np.diff(t.comp_ptr) > 0] - 1], 1.0)
    nxt = t.out_target >= 0
    owner = np.repeat(np.arange(len(t.comp_rate)), np.diff(t.out_ptr))
    state_of_comp = np.repeat(np.arange(len(t.line)), np.diff(t.comp_ptr))
    src_line = t.line[state_of_comp[owner[nxt]]]
    assert (t.line[t.out_target[nxt]] == src_line + 1).all()


def test_same_seed_same_patients_and_line_histories(standard_model):
    choice = solve_backward(standard_model, Objective("qaly").weights()).choice
    tables = policy_tables(standard_model, choice)
    a = simulate(tables, 500, 7, keep_lines=True)
    b = simulate(tables, 500, 7, keep_lines=True)
    np.testing.assert_array_equal(a.outcomes, b.outcomes)
    np.testing.assert_array_equal(a.lines, b.lines)
    # each history is contiguous in time and ends at the patient's death (overall survival)
    start, end = a.lines[:, :, LINE_FIELDS.index("start")], a.lines[:, :, LINE_FIELDS.index("end")]
    np.testing.assert_allclose(np.nanmax(end, axis=1), a.column("os"))
    np.testing.assert_allclose(start[:, 1:][~np.isnan(start[:, 1:])],
                               end[:, :-1][~np.isnan(start[:, 1:])])


def test_bad_policy_and_size_are_named(standard_model):
    with pytest.raises(PolicyTableError, match="choice"):
        policy_tables(standard_model, np.zeros(3, dtype=int))
    wrong = solve_backward(standard_model, Objective("qaly").weights()).choice.copy()
    wrong[0] = standard_model.state_ptr[1]  # a pair of state 1
    with pytest.raises(PolicyTableError, match=r"choice\[0\]"):
        policy_tables(standard_model, wrong)
    tables = policy_tables(standard_model, solve_backward(standard_model, [0, 1, 0, 0]).choice)
    with pytest.raises(ValueError, match="n_patients"):
        simulate(tables, 0, 1)


def test_successor_entries_follow_the_order_moves_first_appear(sim_tested_model):
    """The simulation tables read a pair's k-th successor entry as the state after the k-th
    distinct move of its line; check that against ``next_state`` for every pair."""
    from sequencer.model.line import line_components, next_state

    model = sim_tested_model
    for s in range(0, model.n_states, 7):
        state = model.states[s]
        for p in model.pairs(s):
            regimen = model.regimens[model.pair_regimen[p]]
            moves = dict.fromkeys(o[1] for c in line_components(model.inputs, state, regimen)
                                  .components for o in c.outcomes if o[0] == "next")
            expected = [model.index(next_state(state, regimen, m)) for m in moves]
            assert model.succ_state[model.succ_ptr[p]:model.succ_ptr[p + 1]].tolist() == expected


def test_kaplan_meier_median_of_simulated_exponential_lines(standard_model):
    """Reference: the closed-form median ln(2) / rate of an exponential time. Supportive care
    from diagnosis gives exponential overall survival; a first line of a regimen that is not
    HER2-directed (one hidden configuration, so one rate) gives an exponential time on the line.
    Tolerance: 4 asymptotic SEs of a median, 1 / (f(m) sqrt(n)) = 2 / (rate sqrt(n))."""
    from sequencer.simulate.survival import km_median

    model, n = standard_model, 40_000
    supportive = np.array([max(model.pairs(s)) for s in range(model.n_states)])  # last pair
    tables = policy_tables(model, supportive)
    assert tables.supportive[model.initial > 0].all()
    result = simulate(tables, n, 11)
    rate = tables.supportive_rate
    assert abs(km_median(result.column("os"), np.ones(n)) - np.log(2) / rate) <= 8 / (rate * n**0.5)

    nmb = solve_backward(model, Objective("nmb", 30000).weights()).choice
    tables = policy_tables(model, nmb)
    first = np.flatnonzero(model.initial > 0)
    assert (np.diff(tables.comp_ptr)[first] == 1).all()  # one configuration: exponential
    rates = tables.comp_rate[tables.comp_ptr[first]]
    assert np.allclose(rates, rates[0])  # the same first-line regimen and rate in every profile
    lines = simulate(tables, n, 12, keep_lines=True).lines
    on_line = lines[:, 0, LINE_FIELDS.index("end")] - lines[:, 0, LINE_FIELDS.index("start")]
    expected = np.log(2) / rates[0]
    assert abs(km_median(on_line, np.ones(n)) - expected) <= 8 / (rates[0] * n**0.5)


def test_line_histories_add_up_to_the_patient_totals(standard_model):
    """Reference: the per-patient totals the kernel accumulates separately."""
    choice = solve_backward(standard_model, Objective("qaly").weights()).choice
    result = simulate(policy_tables(standard_model, choice), 2000, 5, keep_lines=True)
    for line_field, total in (("qaly", "qaly"), ("qaly_disc", "qaly_disc"), ("cost", "cost"),
                              ("cost_disc", "cost_disc"), ("ae", "ae")):
        per_line = np.nansum(result.lines[:, :, LINE_FIELDS.index(line_field)], axis=1)
        np.testing.assert_allclose(per_line, result.column(total), rtol=1e-9, atol=1e-9)
