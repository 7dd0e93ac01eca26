"""The branch and bound over the states' choices (``sequencer/solve/branch.py``).

References: brute force over every deterministic policy of small random models (each evaluated
by the fixed-choice sweep), and the big-M MILP solved by HiGHS (``solve_lp(deterministic=True)``)
on models too large to enumerate.
"""

from __future__ import annotations

import numpy as np
import pytest

from sequencer.model.build import DecisionModel, ModelLayout
from sequencer.solve import branch
from sequencer.solve.backward import sweep
from sequencer.solve.lp import SolverError, solve_lp
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.result import SolveStatus
from sequencer.solve.solver import solve
from tests.solve.conftest import enumerate_policies, random_layered_model

LY = Objective("ly")
TOLERANCE = 1e-6  # the search's relative gap and budget tolerance, as the MILP's check


def test_equals_enumeration_with_one_and_two_budgets():
    """The best policy within the budgets, to the 1e-6 gap, for budgets from loose to tight;
    the reported budget use is the policy's own. Branching happens in most of these cases (the
    count is checked, so the test cannot pass on root solutions alone)."""
    branched = enumerated = bounded = 0
    for seed in range(12):
        model = random_layered_model(np.random.default_rng(200 + seed), 3, 4, 3, 2, 0.2)
        if not 2**6 <= np.prod([len(model.pairs(s)) for s in range(model.n_states)]) <= 20000:
            continue  # too few policies to be a test, or too many to enumerate quickly
        enumerated += 1
        reward = model.objective_reward(LY.weights())
        values, tox, cost = enumerate_policies(model, reward)
        fallback = sweep(model, reward).choice
        for q in (0.15, 0.4, 0.8):
            for budget in (Budget(toxicity=float(np.quantile(tox, q))),
                           Budget(toxicity=float(np.quantile(tox, q)),
                                  cost=float(np.quantile(cost, 1 - q / 2)))):
                lim_t, lim_c = budget.toxicity, budget.cost if budget.cost is not None else np.inf
                ok = ((tox <= lim_t * (1 + TOLERANCE) + 1e-9)
                      & (cost <= lim_c * (1 + TOLERANCE) + 1e-9))
                if not ok.any():
                    continue
                found = branch.branch_and_bound(model, reward, budget.constraints(), fallback)
                best = values[ok].max()
                assert best * (1 - TOLERANCE) - 1e-12 <= found.value <= best + 1e-12
                result = sweep(model, reward, fixed=found.choice)
                assert model.initial @ result.value == pytest.approx(found.value, rel=1e-12)
                assert model.initial @ result.parts[:, 3] <= lim_t * (1 + TOLERANCE) + 1e-9
                assert model.initial @ result.parts[:, 2] <= lim_c * (1 + TOLERANCE) + 1e-9
                assert found.bound >= found.value - 1e-12  # the LP bounds every policy
                branched += found.iterations > 1
                bounded += found.bounded
    assert enumerated >= 6 and branched >= 10, (enumerated, branched)
    assert bounded > 0  # some nodes were dropped on their Lagrangian bound alone


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_the_highs_milp_on_larger_models(seed):
    """Models with up to 5^32 policies: no enumeration, so the MILP is the reference. The MILP
    keeps a 1e-5 relative margin inside each budget, so it may be a little below; both stay
    under the LP bound."""
    model = random_layered_model(np.random.default_rng(300 + seed), 4, 8, 5, 3, 0.2)
    reward = model.objective_reward(LY.weights())
    least = solve(model, Objective("ly"), Budget(toxicity=1e9, cost=1e9))
    budget = Budget(toxicity=0.8 * least.budget_use["toxicity"],
                    cost=0.9 * least.budget_use["cost"])
    try:
        milp = solve_lp(model, reward, budget, solver="highs", deterministic=True)
    except SolverError:
        pytest.skip("this draw's budgets admit no deterministic policy")
    fallback = sweep(model, reward).choice
    found = branch.branch_and_bound(model, reward, budget.constraints(), fallback)
    assert found.iterations > 1
    assert milp.value * (1 - TOLERANCE) <= found.value <= found.bound + 1e-12
    assert found.value <= milp.value * (1 + 1e-4)  # the margin's worth, no more


def _two_pair_model(tox: tuple[float, float], cost: tuple[float, float]) -> DecisionModel:
    """One state, two regimens, no successors."""
    reward = np.array([[1.0, 1.0, cost[0], tox[0]], [1.0, 1.0, cost[1], tox[1]]])
    return DecisionModel(
        inputs=None, states=(0,), regimens=("a", "b"), line=np.array([1], dtype=np.int8),
        state_ptr=np.array([0, 2]), pair_state=np.array([0, 0]),
        pair_regimen=np.array([0, 1], dtype=np.int32), reward=reward, p_death=np.ones(2),
        p_supportive=np.zeros(2), succ_ptr=np.array([0, 0, 0]),
        succ_state=np.zeros(0, dtype=np.int64), succ_prob=np.zeros(0), succ_weight=np.zeros(0),
        initial=np.array([1.0]), build_seconds=0.0,
        layout=ModelLayout.of((0,), np.array([1], dtype=np.int8)))


def test_budgets_only_a_mixture_meets_are_refused_like_the_milp():
    """Regimen a costs nothing but is toxic, b the reverse: a 50/50 mixture meets both budgets
    of 0.5, no single regimen does. Both solvers refuse it."""
    model = _two_pair_model(tox=(1.0, 0.0), cost=(0.0, 1.0))
    budget = Budget(toxicity=0.5, cost=0.5)
    with pytest.raises(SolverError, match="no deterministic policy meets the budgets"):
        branch.branch_and_bound(model, model.reward[:, 0], budget.constraints(), np.array([0]))
    with pytest.raises(SolverError, match="INFEASIBLE"):
        solve_lp(model, model.reward[:, 0], budget, solver="highs", deterministic=True)


def test_solve_reports_the_route_taken():
    """Loose budgets: the root LP is already deterministic. Tight ones: the tree runs. With the
    node limit at one LP the MILP answers, and says so, with the same optimum."""
    model = random_layered_model(np.random.default_rng(7), 4, 8, 5, 3, 0.2)
    reward = model.objective_reward(LY.weights())
    loose = solve(model, LY, Budget(toxicity=1e9, cost=1e9), milp_solver="branch")
    assert (loose.status, loose.detail) == (SolveStatus.OPTIMAL, "budgets not binding")
    assert loose.describe() == "optimal (budgets not binding)"  # the service's budget_status
    # budgets at the use of the policy maximising value - toxicity - cost: they bind, and that
    # deterministic policy is the LP's optimum (Lagrangian sufficiency)
    parts = sweep(model, reward - model.reward[:, 3] - model.reward[:, 2]).parts
    at = solve(model, LY, Budget(toxicity=float(model.initial @ parts[:, 3]),
                                 cost=float(model.initial @ parts[:, 2])), milp_solver="branch")
    assert at.status is SolveStatus.OPTIMAL
    assert at.detail == "the LP solution is deterministic; no branching needed"
    assert at.value < loose.value and at.price_of_determinism == pytest.approx(0, abs=1e-9)
    budget = Budget(toxicity=0.8 * loose.budget_use["toxicity"],
                    cost=0.9 * loose.budget_use["cost"])
    tight = solve(model, LY, budget, milp_solver="branch")
    assert (tight.status, tight.detail) == (SolveStatus.OPTIMAL, "") and tight.iterations > 1
    assert tight.describe() == "optimal"
    assert tight.method == "occupation LP (glop) + branch and bound"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(branch, "MAX_NODES", 1)
        fallback = solve(model, LY, budget, milp_solver="branch")
    assert fallback.status is SolveStatus.OPTIMAL
    assert fallback.detail == "MILP, HiGHS: the tree search did not close within 1 LPs"
    assert fallback.value == pytest.approx(tight.value, rel=1e-4)  # the MILP's budget margin
    assert fallback.randomised_value == pytest.approx(tight.randomised_value, rel=1e-9)
    one = solve(model, LY, Budget(toxicity=budget.toxicity), milp_solver="branch")
    milp = solve(model, LY, Budget(toxicity=budget.toxicity), milp_solver="highs")
    assert one.method == "Lagrangian backward induction + branch and bound"
    assert milp.value * (1 - TOLERANCE) <= one.value <= one.randomised_value + 1e-12


def test_an_unknown_solver_is_named():
    model = _two_pair_model(tox=(1.0, 0.0), cost=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"milp_solver: 'cplex' is not one of \['highs', 'scip', "
                                         r"'branch'\]"):
        solve(model, LY, Budget(toxicity=1.0), milp_solver="cplex")


def test_the_lp_matrix_equals_scipys_construction():
    """Reference: the same rows assembled by scipy's COO route (which sums duplicates): the
    flow rows ``own pairs - weighted inflow`` and one row per budget. One pair is given two
    entries into the same state, so summing is exercised."""
    import dataclasses

    import scipy.sparse as sp

    from sequencer.solve.backward import entry_pair
    from sequencer.solve.lp import flow_matrix

    model = random_layered_model(np.random.default_rng(11), 4, 6, 4, 3, 0.2)
    p = int(np.flatnonzero(np.diff(model.succ_ptr) >= 2)[0])
    e = model.succ_ptr[p]
    succ_state = model.succ_state.copy()
    succ_state[e + 1] = succ_state[e]
    model = dataclasses.replace(model, succ_state=succ_state)
    constraints = Budget(toxicity=1.0, cost=2.0).constraints()
    n, m = model.n_pairs, model.n_states
    own = sp.coo_matrix((np.ones(n), (model.pair_state, np.arange(n))), shape=(m, n))
    inflow = sp.coo_matrix((model.succ_weight, (model.succ_state, entry_pair(model))),
                           shape=(m, n))
    budgets = [sp.csr_matrix(model.reward[:, c][None, :]) for _, c, _ in constraints]
    expected = sp.vstack([(own - inflow).tocsr()] + budgets).toarray()
    got = flow_matrix(model, constraints)
    np.testing.assert_allclose(got.toarray(), expected, rtol=1e-15, atol=0)
    assert got.has_canonical_format  # sorted, no duplicate columns within a row
    merged = got[succ_state[e], p]
    assert merged == pytest.approx(-(model.succ_weight[e] + model.succ_weight[e + 1]))


def test_the_lagrangian_bound_is_weak_duality_and_tight_at_the_lp_multipliers():
    """Reference: the node LP (GLOP). For any multipliers >= 0 the one-sweep bound is at least
    the LP's value (weak duality), with or without pairs held at zero; at the LP's own budget
    multipliers it equals the LP's value (strong duality of the occupation LP)."""
    model = random_layered_model(np.random.default_rng(21), 4, 8, 5, 3, 0.2)
    reward = model.objective_reward(LY.weights())
    loose = solve(model, LY, Budget(toxicity=1e9, cost=1e9))
    constraints = Budget(toxicity=0.8 * loose.budget_use["toxicity"],
                         cost=0.9 * loose.budget_use["cost"]).constraints()
    tree = branch._Tree(model, reward, constraints)
    lagrangian = branch._Lagrangian(model, reward, constraints)
    root = tree.solve(set())
    _, mu = tree.solution()
    assert (mu > 0).any()  # a budget binds
    assert lagrangian.bound(mu, set()) == pytest.approx(root, rel=1e-7)
    rng = np.random.default_rng(0)
    state = int(np.flatnonzero(np.diff(model.state_ptr) > 1)[0])
    for keep in model.pairs(state):
        zeroed = {p for p in model.pairs(state) if p != keep}
        value = tree.solve(zeroed)
        if value is None:
            continue
        for trial in rng.exponential(mu.mean() + 1.0, size=(5, len(mu))):
            assert lagrangian.bound(trial, zeroed) >= value - 1e-9 * abs(value)
        assert lagrangian.bound(mu, zeroed) >= value - 1e-9 * abs(value)
