"""Each route of ``solve`` (``sequencer/solve/solver.py``): the status it reports, the route it
names, and its numbers.

References: brute force over every deterministic policy of one small random model (1,296
policies, each evaluated by the fixed-choice sweep: ``conftest.enumerate_policies``) for the
deterministic optimum; the budget LP solved by HiGHS (a second LP engine, independent of the
Lagrangian search and of GLOP) for the randomised optimum.
"""

from __future__ import annotations

import numpy as np
import pytest

from sequencer.solve import constrained, solver
from sequencer.solve.backward import sweep
from sequencer.solve.constrained import solve_lagrangian
from sequencer.solve.lp import solve_lp
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.result import SolveStatus
from sequencer.solve.solver import solve
from tests.solve.conftest import enumerate_policies, random_layered_model

LY = Objective("ly")
TOLERANCE = 1e-6  # the exact searches' relative gap and the budget check's tolerance
MARGIN = 1e-5  # the MILP's relative margin inside each budget


@pytest.fixture(scope="module")
def case():
    """The model, its reward, every deterministic policy's (value, toxicity, cost), and four
    budgets: loose, one binding (toxicity), two binding, and two at the use of the policy that
    maximises value - toxicity - cost / 2 (binding, and that deterministic policy is the LP's
    optimum: Lagrangian sufficiency)."""
    model = random_layered_model(np.random.default_rng(210), 3, 4, 3, 2, 0.2)
    reward = model.objective_reward(LY.weights())
    values, tox, cost = enumerate_policies(model, reward)
    assert len(values) == 1296
    lagrangian = sweep(model, reward - model.reward[:, 3] - model.reward[:, 2] / 2).parts
    budgets = {
        "none": Budget(),
        "loose": Budget(toxicity=1e9, cost=1e9),
        "one": Budget(toxicity=float(np.quantile(tox, 0.15))),
        "two": Budget(toxicity=float(np.quantile(tox, 0.15)),
                      cost=float(np.quantile(cost, 1 - 0.075))),
        "at": Budget(toxicity=float(model.initial @ lagrangian[:, 3]),
                     cost=float(model.initial @ lagrangian[:, 2])),
    }
    return model, reward, (values, tox, cost), budgets


def _best(enumerated, budget: Budget, shrink: float) -> float:
    """The best enumerated value within the budgets, each scaled by ``shrink``."""
    values, tox, cost = enumerated
    ok = np.ones(len(values), dtype=bool)
    for limit, use in ((budget.toxicity, tox), (budget.cost, cost)):
        if limit is not None:
            ok &= use <= limit * shrink + (1e-9 if shrink > 1 else 0.0)
    return float(values[ok].max())


ROUTES = [  # budget, arguments, status, detail, method
    ("none", {}, SolveStatus.OPTIMAL, "", "backward induction"),
    ("none", {"method": "lp"}, SolveStatus.OPTIMAL, "", "occupation LP (glop)"),
    ("loose", {}, SolveStatus.OPTIMAL, "budgets not binding", "backward induction"),
    ("at", {}, SolveStatus.OPTIMAL, "the LP solution is deterministic; no MILP needed",
     "occupation LP (glop)"),
    ("at", {"milp_solver": "branch"}, SolveStatus.OPTIMAL,
     "the LP solution is deterministic; no branching needed",
     "occupation LP (glop) + branch and bound"),
    ("two", {"milp_solver": "branch"}, SolveStatus.OPTIMAL, "",
     "occupation LP (glop) + branch and bound"),
    ("two", {}, SolveStatus.OPTIMAL, "", "occupation LP (glop) + MILP (highs)"),
    ("two", {"milp_solver": "scip"}, SolveStatus.OPTIMAL, "", "occupation LP (glop) + MILP (scip)"),
    ("one", {}, SolveStatus.OPTIMAL, "", "Lagrangian backward induction + MILP (highs)"),
    ("one", {"milp_solver": "branch"}, SolveStatus.OPTIMAL, "",
     "Lagrangian backward induction + branch and bound"),
    ("one", {"milp": False}, SolveStatus.FEASIBLE,
     "Lagrangian deterministic policy; MILP not requested", "Lagrangian backward induction"),
    ("one", {"large": True}, SolveStatus.FEASIBLE,
     "Lagrangian deterministic policy; MILP skipped: large model",
     "Lagrangian backward induction"),
]


@pytest.mark.parametrize(("name", "arguments", "status", "detail", "method"), ROUTES)
def test_every_route_reports_its_status_and_detail(case, monkeypatch, name, arguments, status,
                                                   detail, method):
    """An optimal route's value is the enumeration's best (between the best within the budgets
    shrunk by the MILP's margin and the best within them widened by the check's tolerance);
    the Lagrangian-only routes' policy meets the budgets but is not claimed optimal. The
    randomised optimum is HiGHS's budget LP."""
    model, reward, enumerated, budgets = case
    budget = budgets[name]
    arguments = dict(arguments)
    if arguments.pop("large", False):
        monkeypatch.setattr(solver, "MILP_AUTO_PAIRS", 0)
    got = solve(model, LY, budget, **arguments)
    assert (got.status, got.detail, got.method) == (status, detail, method)
    assert got.describe() == (f"{status.value} ({detail})" if detail else status.value)
    lax = _best(enumerated, budget, 1 + TOLERANCE)
    if status is SolveStatus.OPTIMAL:
        assert _best(enumerated, budget, 1 - MARGIN) * (1 - TOLERANCE) <= got.value
    assert got.value <= lax * (1 + TOLERANCE)
    for quantity, limit in (("toxicity", budget.toxicity), ("cost", budget.cost)):
        if limit is not None:
            assert got.budget_use[quantity] <= limit * (1 + TOLERANCE) + 1e-9
    if not budget.empty:
        lp = solve_lp(model, reward, budget, solver="highs")
        assert got.randomised_value == pytest.approx(lp.value, rel=1e-6)
        assert got.price_of_determinism == pytest.approx(lp.value - got.value, abs=1e-6)


def test_lagrangian_search_stopped_at_its_iteration_limit_says_so(case):
    """Uncapped, the search reaches the LP's optimum (HiGHS) and is OPTIMAL; capped at four
    sweeps it stops short of it (a lower bound, from a mixture that still meets the budget)
    and reports ITERATION_LIMIT."""
    model, reward, _, budgets = case
    limit = budgets["one"].toxicity
    lp = solve_lp(model, reward, budgets["one"], solver="highs")
    full = solve_lagrangian(model, reward, 3, limit)
    assert (full.status, full.detail) == (SolveStatus.OPTIMAL, "")
    assert full.value == pytest.approx(lp.value, rel=1e-9)
    capped = solve_lagrangian(model, reward, 3, limit, max_iterations=4)
    assert capped.status is SolveStatus.ITERATION_LIMIT
    assert capped.detail == "the Lagrangian search stopped at its limit of 4 iterations"
    assert capped.value < lp.value - 1e-3
    assert capped.budget_use <= limit * (1 + 1e-9)
    assert model.initial @ capped.within.parts[:, 3] <= limit * (1 + 1e-9)


def test_solve_reports_the_lagrangian_iteration_limit(case, monkeypatch):
    """The cap reaches ``solve``'s status: the deterministic optimum (the MILP's, equal to the
    enumeration's best) still stands, but the randomised optimum is below HiGHS's LP, and the
    status says it is not exact."""
    model, reward, enumerated, budgets = case
    monkeypatch.setattr(constrained, "MAX_ITERATIONS", 4)
    got = solve(model, LY, budgets["one"])
    assert got.status is SolveStatus.ITERATION_LIMIT
    assert got.detail == ("the Lagrangian search stopped at its limit of 4 iterations: the "
                          "randomised optimum is not exact; deterministic policy optimal")
    assert got.describe().startswith("iteration limit (the Lagrangian search stopped")
    lp = solve_lp(model, reward, budgets["one"], solver="highs")
    assert got.randomised_value < lp.value - 1e-3
    best = _best(enumerated, budgets["one"], 1 - MARGIN)
    assert best * (1 - TOLERANCE) <= got.value <= _best(enumerated, budgets["one"], 1 + TOLERANCE)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"method": "nope"}, r"method: 'nope' is not one of \['auto', 'backward', 'lp'\]"),
    ({"lp_solver": "cplex"}, r"lp_solver: 'cplex' is not one of \['glop', 'pdlp', 'highs'\]"),
    ({"milp_solver": "gurobi"},
     r"milp_solver: 'gurobi' is not one of \['highs', 'scip', 'branch'\]"),
])
def test_unknown_names_are_refused_with_the_allowed_values(case, arguments, message):
    model, _, _, budgets = case
    for budget in (budgets["none"], budgets["one"]):  # checked whether the route uses it or not
        with pytest.raises(ValueError, match=message):
            solve(model, LY, budget, **arguments)


def test_no_exact_search_without_a_lagrangian_policy_is_refused(case):
    """Two budgets have no Lagrangian policy to fall back on: ``milp=False`` names the field."""
    model, _, _, budgets = case
    with pytest.raises(ValueError, match=r"milp: False is allowed for one budget"):
        solve(model, LY, budgets["two"], milp=False)


@pytest.mark.parametrize("stopped", ["MILP", "LP"])
def test_a_solver_stopped_at_its_time_limit_is_not_called_optimal(case, monkeypatch, stopped):
    """OR-Tools reports FEASIBLE when the time limit stops a solver with a solution in hand;
    here the real solution is relabelled so (forcing a time-out would depend on the machine's
    speed). A stopped MILP's policy is FEASIBLE; a stopped budget LP leaves the deterministic
    policy optimal but its randomised optimum inexact, and skips the LP-is-deterministic
    shortcut (the bound it would compare with is not proven)."""
    import dataclasses

    from sequencer.solve import lp as lp_module

    def stopped_early(*args, deterministic=False, **kwargs):
        found = lp_module.solve_lp(*args, deterministic=deterministic, **kwargs)
        if deterministic == (stopped == "MILP"):
            return dataclasses.replace(found, status=SolveStatus.FEASIBLE, detail="stopped")
        return found

    model, _, enumerated, budgets = case
    monkeypatch.setattr(solver, "solve_lp", stopped_early)
    budget = budgets["two" if stopped == "MILP" else "at"]
    got = solve(model, LY, budget)
    assert got.status is SolveStatus.FEASIBLE
    if stopped == "MILP":
        assert got.detail == "stopped"
    else:
        assert got.method == "occupation LP (glop) + MILP (highs)"  # no shortcut
        assert got.detail == ("stopped: the randomised optimum is not exact; deterministic "
                              "policy optimal")
    assert got.value <= _best(enumerated, budget, 1 + TOLERANCE) * (1 + TOLERANCE)
