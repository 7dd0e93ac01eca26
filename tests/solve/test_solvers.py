"""Internal validity of the solvers.

References: the occupation-measure LP (Manne 1960) solved by OR-Tools GLOP/PDLP is a second,
independent method for the same optimum as backward induction; pymdptoolbox's
``FiniteHorizon`` (Chadès et al., Ecography 2014) is a third-party backward induction.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer.solve.backward import reachable_states, solve_backward, states_reward, sweep
from sequencer.solve.constrained import BudgetInfeasibleError, least_use, solve_lagrangian
from sequencer.solve.lp import solve_lp
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.result import SolveStatus
from sequencer.solve.solver import solve
from tests.solve.conftest import enumerate_policies, random_layered_model

QALY = Objective("qaly")


def _cohort(model, result):
    return float(model.initial @ result.value)


@pytest.mark.parametrize("objective", [Objective("ly"), QALY, Objective("nmb", 30000)])
def test_lp_equals_backward_induction_on_the_full_model(standard_model, objective):
    bi = _cohort(standard_model, solve_backward(standard_model, objective.weights()))
    lp = solve_lp(standard_model, standard_model.objective_reward(objective.weights()))
    assert lp.status is SolveStatus.OPTIMAL
    assert abs(lp.value - bi) <= 1e-6 * abs(bi)


def test_lp_equals_backward_induction_with_testing_and_investigational(tested_model):
    bi = _cohort(tested_model, solve_backward(tested_model, QALY.weights()))
    lp = solve_lp(tested_model, tested_model.objective_reward(QALY.weights()))
    assert abs(lp.value - bi) <= 1e-6 * abs(bi)


def test_pdlp_agrees_on_the_full_model(standard_model):
    bi = _cohort(standard_model, solve_backward(standard_model, QALY.weights()))
    lp = solve_lp(standard_model, standard_model.objective_reward(QALY.weights()), solver="pdlp")
    assert abs(lp.value - bi) <= 1e-6 * abs(bi)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), layers=st.integers(1, 5), width=st.integers(1, 12),
       actions=st.integers(1, 5), successors=st.integers(1, 6))
def test_lp_equals_backward_induction_on_random_acyclic_mdps(seed, layers, width, actions,
                                                              successors):
    model = random_layered_model(np.random.default_rng(seed), layers, width, actions, successors)
    weights = np.array([1.0, 0.5, -0.2, 0.0])
    bi = _cohort(model, solve_backward(model, weights))
    lp = solve_lp(model, model.objective_reward(weights))
    assert abs(lp.value - bi) <= 1e-6 * max(1.0, abs(bi))


def _to_pymdptoolbox(model, reward, sparse=False):
    """Our semi-Markov model as a finite-horizon MDP: P[a] = weights / gamma plus an absorbing
    'dead' state (zero reward); unavailable actions get a large negative reward. Action k is a
    state's k-th eligible pair. ``sparse`` gives P as a list of scipy CSR matrices, the layout
    pymdptoolbox uses for large problems."""
    import scipy.sparse as sp

    n, n_actions = model.n_states, int(np.diff(model.state_ptr).max())
    pair_of_entry = np.repeat(np.arange(model.n_pairs), np.diff(model.succ_ptr))
    gamma = max(1e-9, float(np.bincount(pair_of_entry, weights=model.succ_weight,
                                        minlength=model.n_pairs).max()))
    k_of_pair = np.arange(model.n_pairs) - model.state_ptr[model.pair_state]
    R = np.full((n + 1, n_actions), -1e9)
    R[n, :] = 0.0
    R[model.pair_state, k_of_pair] = reward
    stay = np.zeros(model.n_pairs)  # probability mass to the absorbing state
    np.subtract(1.0, np.bincount(pair_of_entry, weights=model.succ_weight / gamma,
                                 minlength=model.n_pairs), out=stay)
    P = []
    for k in range(n_actions):
        pairs = np.flatnonzero(k_of_pair == k)
        entries = np.flatnonzero(k_of_pair[pair_of_entry] == k)
        unused = np.setdiff1d(np.arange(n + 1), model.pair_state[pairs])
        rows = np.concatenate([model.pair_state[pair_of_entry[entries]], model.pair_state[pairs],
                               unused])
        cols = np.concatenate([model.succ_state[entries], np.full(len(pairs), n),
                               np.full(len(unused), n)])
        vals = np.concatenate([model.succ_weight[entries] / gamma, np.maximum(stay[pairs], 0.0),
                               np.ones(len(unused))])
        matrix = sp.csr_matrix((vals, (rows, cols)), shape=(n + 1, n + 1))
        P.append(matrix if sparse else matrix.toarray())
    return (P if sparse else np.array(P)), R, gamma


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_backward_induction_equals_pymdptoolbox_on_random_problems(seed):
    from mdptoolbox.mdp import FiniteHorizon

    model = random_layered_model(np.random.default_rng(seed), 4, 6, 3, 4)
    reward = model.objective_reward([1.0, 0.0, 0.0, 0.0])
    ours = sweep(model, reward)
    P, R, gamma = _to_pymdptoolbox(model, reward)
    fh = FiniteHorizon(P, R, gamma, N=int(model.line.max()))
    fh.run()
    np.testing.assert_allclose(ours.value, fh.V[:-1, 0], rtol=1e-10, atol=1e-12)
    chosen = np.array([int(model.state_ptr[s]) + fh.policy[s, 0] for s in range(model.n_states)])
    np.testing.assert_allclose(ours.q[chosen], ours.value, rtol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
def test_backward_induction_equals_pymdptoolbox_on_our_model(sources, standard_model, sparse):
    """Reference: pymdptoolbox's FiniteHorizon (dense and sparse layouts) on our model."""
    from mdptoolbox.mdp import FiniteHorizon

    from sequencer.model.build import build_model
    from sequencer.model.states import State

    small = build_model(sources.inputs(max_lines=2), {State(line=1, cps="1-9"): 1.0})
    for model in (small, standard_model):
        reward = model.objective_reward(QALY.weights())
        P, R, gamma = _to_pymdptoolbox(model, reward, sparse=sparse)
        fh = FiniteHorizon(P, R, gamma, N=int(model.line.max()))
        fh.run()
        ours = sweep(model, reward)
        np.testing.assert_allclose(ours.value, fh.V[:-1, 0], rtol=1e-10)


def test_milp_meets_its_budget_and_a_loose_budget_gives_the_unconstrained_optimum(standard_model):
    free = _cohort(standard_model, solve_backward(standard_model, QALY.weights()))
    unconstrained = solve_backward(standard_model, QALY.weights())
    toxicity = float(standard_model.initial @ unconstrained.parts[:, 3])
    tight = solve(standard_model, QALY, Budget(toxicity=0.85 * toxicity))
    assert tight.budget_use["toxicity"] <= 0.85 * toxicity * (1 + 1e-6)
    assert tight.value <= free + 1e-9
    assert tight.randomised_value >= tight.value - 1e-6  # LP bound >= deterministic
    loose = solve(standard_model, QALY, Budget(toxicity=10.0))
    assert abs(loose.value - free) <= 1e-6 * free
    both = solve(standard_model, QALY, Budget(toxicity=0.9 * toxicity, cost=150000))
    assert both.budget_use["toxicity"] <= 0.9 * toxicity * (1 + 1e-6)
    assert both.budget_use["cost"] <= 150000 * (1 + 1e-6)


def test_lagrangian_equals_the_budgeted_lp(standard_model):
    reward = standard_model.objective_reward(QALY.weights())
    unconstrained = solve_backward(standard_model, QALY.weights())
    toxicity = float(standard_model.initial @ unconstrained.parts[:, 3])
    for share in (0.95, 0.85, 0.75):
        lag = solve_lagrangian(standard_model, reward, 3, share * toxicity)
        lp = solve_lp(standard_model, reward, Budget(toxicity=share * toxicity))
        assert abs(lag.value - lp.value) <= 1e-6 * abs(lp.value)


def test_infeasible_budget_names_the_least_achievable_value(standard_model):
    # supportive care from diagnosis is the cheapest policy: its discounted cost, computed here
    # by hand from the parameters, is the least achievable cost (closed form)
    inputs = standard_model.inputs
    hazard = np.log(2) / inputs.values.supportive_care.median_os_months
    expected = inputs.values.cost.supportive_care_per_month / (hazard + inputs.monthly_discount)
    least = least_use(standard_model, 2)
    assert least == pytest.approx(expected, rel=1e-12)
    with pytest.raises(BudgetInfeasibleError, match="least achievable expected discounted cost "
                                                    f"per patient is {least:.6g}"):
        solve(standard_model, QALY, Budget(cost=0.5 * least))
    assert least_use(standard_model, 3) == 0.0  # supportive care has no grade >= 3 AEs


@settings(max_examples=15, deadline=None)
@given(a=st.floats(0.55, 1.2), b=st.floats(0.55, 1.2))
def test_loosening_a_budget_never_lowers_the_optimum(standard_model, a, b):
    reward = standard_model.objective_reward(QALY.weights())
    low, high = sorted((a, b))
    v_low = solve_lagrangian(standard_model, reward, 3, low).value
    v_high = solve_lagrangian(standard_model, reward, 3, high).value
    assert v_high >= v_low - 1e-9


def test_adding_eligible_regimens_never_lowers_the_optimum(sources):
    from sequencer.model.build import build_model, cohort_roots

    values = {}
    for opt_in in (False, True):
        inputs = sources.inputs(include_investigational=opt_in)
        model = build_model(inputs, cohort_roots(inputs))
        result = solve_backward(model, QALY.weights())
        values[opt_in] = {model.states[s]: result.value[s] for s in range(model.n_states)}
    shared = set(values[False]) & set(values[True])
    assert len(shared) > 100
    assert all(values[True][s] >= values[False][s] - 1e-12 for s in shared)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_removing_actions_never_raises_the_optimum_on_random_mdps(seed):
    rng = np.random.default_rng(seed)
    model = random_layered_model(rng, 4, 5, 4, 3)
    reward = model.objective_reward([1.0, 0.0, 0.0, 0.0])
    full = sweep(model, reward).value
    # forbid a random subset of pairs (never all pairs of a state) by a prohibitive reward
    forbid = rng.random(model.n_pairs) < 0.3
    forbid[model.state_ptr[:-1]] = False
    restricted = sweep(model, np.where(forbid, -1e6, reward)).value
    assert np.all(restricted <= full + 1e-12)


def test_parallel_sweep_equals_serial_sweep_on_any_thread_count(tested_model, monkeypatch):
    """Reference: the serial sweep. Lines are swept on all cores above PARALLEL_PAIRS pairs; the
    policy, values and parts must be identical (not merely close) on 1 and 2 threads."""
    import numba

    from sequencer.solve import backward

    reward = tested_model.objective_reward(QALY.weights())
    monkeypatch.setattr(backward, "PARALLEL_PAIRS", 10**12)
    serial = sweep(tested_model, reward)
    monkeypatch.setattr(backward, "PARALLEL_PAIRS", 0)
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            parallel = sweep(tested_model, reward)
            np.testing.assert_array_equal(parallel.choice, serial.choice)
            np.testing.assert_array_equal(parallel.value, serial.value)
            np.testing.assert_array_equal(parallel.parts, serial.parts)
    finally:
        numba.set_num_threads(before)


def test_sweep_of_the_states_reachable_from_one_equals_the_full_sweep_there(standard_model):
    """Reference: the full sweep, and a breadth-first search in Python for the reachable set.
    Restricted to the states reachable from a root, the sweep gives the same policy, values
    and parts on them (to rounding: its per-pair reward is summed in a loop, the reference's
    by a matrix product) and leaves the others unsolved (NaN, -1)."""
    m = standard_model
    weights = Objective("nmb", 27_500.0).weights()
    full = sweep(m, m.objective_reward(weights))
    rng = np.random.default_rng(3)
    for root in [0, *rng.choice(m.n_states, size=5, replace=False)]:
        seen, queue = {int(root)}, [int(root)]
        while queue:
            s = queue.pop()
            for p in m.pairs(s):
                for t in m.succ_state[m.succ_ptr[p]:m.succ_ptr[p + 1]]:
                    if int(t) not in seen:
                        seen.add(int(t))
                        queue.append(int(t))
        states = reachable_states(m, int(root))
        assert sorted(seen) == sorted(states.tolist()) and len(states) == len(seen)
        reward = states_reward(m, weights, states)
        pairs = np.concatenate([np.arange(m.state_ptr[s], m.state_ptr[s + 1]) for s in states])
        np.testing.assert_allclose(reward[pairs], m.objective_reward(weights)[pairs],
                                   rtol=1e-14)
        part = sweep(m, reward, states=states)
        np.testing.assert_array_equal(part.choice[states], full.choice[states])
        np.testing.assert_allclose(part.value[states], full.value[states], rtol=1e-12)
        np.testing.assert_allclose(part.parts[states], full.parts[states], rtol=1e-12)
        others = np.setdiff1d(np.arange(m.n_states), states)
        assert np.isnan(part.value[others]).all() and (part.choice[others] == -1).all()
    assert len(reachable_states(m, 0)) < m.n_states  # a proper subset was exercised


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("milp_solver", ["highs", "scip"])
def test_milp_equals_enumeration_of_all_deterministic_policies(seed, milp_solver):
    """Reference: brute force. A small random model has few enough deterministic policies
    (one pair per state) to evaluate each with the fixed-choice sweep; the best one within a
    toxicity budget must equal the MILP's optimum (to its 1e-6 gap and 1e-5 budget margin)."""
    model = random_layered_model(np.random.default_rng(seed), 3, 3, 2, 2, 0.2)
    reward = model.objective_reward([1.0, 0, 0, 0])
    values, tox, _ = enumerate_policies(model, reward)
    assert 2**6 <= len(values) <= 2**9
    limit = float(np.quantile(tox, 0.3))  # binding for most policies
    best = values[tox <= limit * (1 - 1e-5)].max()
    milp = solve_lp(model, reward, Budget(toxicity=limit), solver=milp_solver, deterministic=True)
    assert milp.status is SolveStatus.OPTIMAL
    assert milp.value == pytest.approx(best, rel=1e-6)
    assert milp.budget_use["toxicity"] <= limit


def test_budget_status_says_why_no_milp_ran(standard_model):
    """The status names the reason the Lagrangian policy stands: the caller asked for no MILP,
    or the model is above the automatic MILP size (patched down to force it)."""
    from sequencer.solve import solver

    free = solve(standard_model, QALY, Budget(toxicity=1e9)).budget_use["toxicity"]
    budget = Budget(toxicity=0.9 * free)  # binding
    asked = solve(standard_model, QALY, budget, milp=False)
    assert asked.status is SolveStatus.FEASIBLE
    assert asked.detail == "Lagrangian deterministic policy; MILP not requested"
    assert asked.describe() == "feasible (Lagrangian deterministic policy; MILP not requested)"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(solver, "MILP_AUTO_PAIRS", 0)
        auto = solve(standard_model, QALY, budget)
    assert auto.status is SolveStatus.FEASIBLE
    assert auto.detail == "Lagrangian deterministic policy; MILP skipped: large model"
    assert asked.value == auto.value  # the same Lagrangian policy either way


def test_two_budgets_equal_enumeration_with_or_without_the_milp():
    """Reference: brute force over every deterministic policy of small random models, under a
    toxicity and a cost budget. ``solve`` skips the MILP when the LP's solution is already
    deterministic (loose or barely binding budgets) and runs it otherwise; both kinds occur
    here, and both give the best policy within the budgets (bracketed by the MILP's 1e-5
    budget margin and the check's 1e-6 tolerance)."""
    statuses = []
    for seed in range(6):
        model = random_layered_model(np.random.default_rng(100 + seed), 3, 3, 2, 2, 0.2)
        objective = Objective("ly")
        reward = model.objective_reward(objective.weights())
        values, tox, cost = enumerate_policies(model, reward)
        # the use of the policy that maximises value - tox - cost / 2: budgets at it bind, and
        # the LP's optimum is that deterministic policy (Lagrangian sufficiency)
        chosen = sweep(model, reward - model.reward[:, 3] - model.reward[:, 2] / 2).parts
        at_lagrangian = (float(model.initial @ chosen[:, 3]), float(model.initial @ chosen[:, 2]))
        quantiles = [(float(np.quantile(tox, q)), float(np.quantile(cost, q))) for q in (0.3, 1)]
        for tox_limit, cost_limit in [*quantiles, at_lagrangian]:
            strict = (tox <= tox_limit * (1 - 1e-5)) & (cost <= cost_limit * (1 - 1e-5))
            lax = (tox <= tox_limit * (1 + 1e-6) + 1e-9) & (cost <= cost_limit * (1 + 1e-6) + 1e-9)
            if not strict.any():
                continue
            got = solve(model, objective, Budget(toxicity=tox_limit, cost=cost_limit))
            statuses.append((got.status, got.detail))
            assert values[strict].max() * (1 - 1e-6) <= got.value <= values[lax].max() * (1 + 1e-6)
            assert got.budget_use["toxicity"] <= tox_limit * (1 + 1e-6) + 1e-9
            assert got.budget_use["cost"] <= cost_limit * (1 + 1e-6) + 1e-9
    optimal = SolveStatus.OPTIMAL
    assert all(status is optimal for status, _ in statuses), statuses
    assert (optimal, "the LP solution is deterministic; no MILP needed") in statuses, statuses
    assert (optimal, "") in statuses, statuses  # the MILP ran
    assert (optimal, "budgets not binding") in statuses, statuses
