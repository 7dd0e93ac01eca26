"""``solve``: one entry point over the solvers, with one result contract.

* no budget: backward induction (``method="backward"``, the reference) or the occupation LP
  (``method="lp"``, GLOP or PDLP);
* budgets: the randomised optimum (Lagrangian search for one budget, the LP for two), the best
  deterministic policy, and the price of determinism (their difference). The deterministic
  optimum comes from the MILP (``milp_solver`` "highs" or "scip") or from the branch and bound
  over the states' choices (``"branch"``, ``branch.py``: the same optimum to the same gap, about
  ten times faster on the service's per-patient models, which use it).

Each route is a small function chosen by name: ``_UNCONSTRAINED`` by ``method``, ``_BOUNDS`` by
the randomised optimum's search, ``_EXACT`` by ``milp_solver``. Every solver hands back a
``Solution`` (``result.py``); ``solve`` reads its ``status``, never its text, and the result
says in ``detail`` which route was taken where that matters ("budgets not binding").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sequencer.model.build import DecisionModel
from sequencer.solve import branch
from sequencer.solve.backward import Sweep, solve_backward, sweep
from sequencer.solve.constrained import BudgetInfeasibleError, least_use, solve_lagrangian
from sequencer.solve.lp import LP_SOLVERS, MILP_GAP, LPResult, SolverError, solve_lp
from sequencer.solve.objective import Budget, BudgetRow, Objective
from sequencer.solve.policy import Policy
from sequencer.solve.result import Solution, SolveStatus, describe, join_details

METHODS = ("auto", "backward", "lp")
DETERMINISTIC_SOLVERS = ("highs", "scip", "branch")  # the MILP's two engines, or branch.py
MILP_AUTO_PAIRS = 20000
UNDER_BUDGET = "optimal under budget"  # the name of the policy solved under budgets
NOT_BINDING = "budgets not binding"  # the detail when the unconstrained optimum meets them
LP_DETERMINISTIC = "the LP solution is deterministic; no MILP needed"


@dataclass(frozen=True)
class SolveResult:
    """``policy`` (deterministic), ``value`` (cohort objective of the reported optimum),
    ``status`` (check it), ``iterations``, ``wall_time``; with budgets also the randomised
    optimum and the price of determinism. ``detail`` names the route where it matters;
    ``describe()`` is the status as printed ("optimal (budgets not binding)")."""

    policy: Policy
    value: float
    status: SolveStatus
    iterations: int
    wall_time: float
    method: str
    budget_use: dict[str, float] = field(default_factory=dict)
    randomised_value: float | None = None
    multiplier: float | None = None
    price_of_determinism: float | None = None
    detail: str = ""

    def describe(self) -> str:
        """The status and the route, as the CLI and the service print it."""
        return describe(self.status, self.detail)


@dataclass(frozen=True)
class _Problem:
    """What every route reads: the validated arguments and the unconstrained optimum."""

    model: DecisionModel
    objective: Objective
    budget: Budget
    reward: np.ndarray  # (pair,) the objective per pair
    unconstrained: Sweep
    lp_solver: str
    milp_solver: str
    time_limit: float
    start: float  # perf_counter at the call

    @property
    def constraints(self) -> list[BudgetRow]:
        return self.budget.constraints()

    def choice(self, result: Solution) -> np.ndarray:
        """The result's choice, with the unconstrained optimum's in the states it leaves open
        (the LP's flows never reach them, so any choice there is as good)."""
        return np.where(result.choice >= 0, result.choice, self.unconstrained.choice)

    def policy(self, choice: np.ndarray, name: str = UNDER_BUDGET) -> Policy:
        """``choice`` evaluated exactly (a fixed-choice sweep)."""
        return Policy.from_sweep(self.model, self.objective,
                                 sweep(self.model, self.reward, fixed=choice), name)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


@dataclass(frozen=True)
class _Bound:
    """The randomised optimum's search: its result (None when the tree's root LP is the
    bound), the method's text, and what it knows of deterministic policies."""

    result: Solution | None
    how: str
    multiplier: float | None = None
    candidate: np.ndarray | None = None  # a deterministic policy within the budgets
    deterministic: Policy | None = None  # a deterministic policy that attains the bound

    def randomised(self, exact: Solution | None) -> tuple[float, int]:
        """The randomised optimum and the iterations that found it: the search's, or with the
        tree's root LP as the bound, the branch and bound's (``exact``)."""
        if self.result is not None:
            return self.result.value, self.result.iterations
        if isinstance(exact, branch.BranchResult):
            return exact.bound, exact.iterations
        raise SolverError(f"{self.how}: no randomised optimum without the branch and bound")


def _require(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: {value!r} is not one of {list(allowed)}")


def solve(
    model: DecisionModel,
    objective: Objective | None = None,
    budget: Budget | None = None,
    method: str = "auto",
    lp_solver: str = "glop",
    milp_solver: str = "highs",
    time_limit: float = 120.0,
    milp: bool | None = None,
) -> SolveResult:
    """The optimal policy for ``objective``, under ``budget`` if given.

    ``milp=None`` runs the exact search for the best deterministic policy (the MILP, or the
    branch and bound with ``milp_solver="branch"``) for models up to ``MILP_AUTO_PAIRS`` pairs
    (or for two budgets); above that one budget is served by the Lagrangian search's
    deterministic policy (status ``FEASIBLE``), whose distance to the randomised optimum is
    reported as the price of determinism (an upper bound on the exact one's). Raises
    ``ValueError`` for a ``method``, ``lp_solver`` or ``milp_solver`` outside ``METHODS``,
    ``LP_SOLVERS`` or ``DETERMINISTIC_SOLVERS``, ``BudgetInfeasibleError`` when no policy meets
    the budgets.
    """
    _require("method", method, METHODS)
    _require("lp_solver", lp_solver, LP_SOLVERS)
    _require("milp_solver", milp_solver, DETERMINISTIC_SOLVERS)
    objective = objective or Objective()
    budget = budget or Budget()
    start = time.perf_counter()
    weights = objective.weights()
    problem = _Problem(model, objective, budget, model.objective_reward(weights),
                       solve_backward(model, weights), lp_solver, milp_solver, time_limit, start)
    if budget.empty:
        return _UNCONSTRAINED[method](problem)
    _check_budget(model, budget)
    return _under_budget(problem, method, milp)


def _backward(p: _Problem) -> SolveResult:
    policy = Policy.from_sweep(p.model, p.objective, p.unconstrained)
    return SolveResult(policy, policy.cohort_value, SolveStatus.OPTIMAL, 1, p.elapsed(),
                       "backward induction")


def _occupation_lp(p: _Problem) -> SolveResult:
    lp = solve_lp(p.model, p.reward, solver=p.lp_solver, time_limit=p.time_limit)
    policy = p.policy(p.choice(lp), "optimal")
    return SolveResult(policy, lp.value, lp.status, lp.iterations, p.elapsed(),
                       f"occupation LP ({p.lp_solver})", detail=lp.detail)


_UNCONSTRAINED: dict[str, Callable[[_Problem], SolveResult]] = {
    "auto": _backward, "backward": _backward, "lp": _occupation_lp}


def _under_budget(p: _Problem, method: str, milp: bool | None) -> SolveResult:
    best = Policy.from_sweep(p.model, p.objective, p.unconstrained, UNDER_BUDGET)
    if _within(p.model, best, p.constraints):  # the unconstrained optimum meets the budgets
        return _result(p, best, SolveStatus.OPTIMAL, NOT_BINDING, 1,
                       "backward induction", best.cohort_value, 0.0)
    if len(p.constraints) == 1 and method == "auto":
        route = "lagrangian"
    elif p.milp_solver == "branch" and milp is not False:
        route = "tree root"
    else:
        route = "lp"
    bound = _BOUNDS[route](p)
    if bound.deterministic is not None:
        randomised, iterations = bound.randomised(None)
        return _result(p, bound.deterministic, SolveStatus.OPTIMAL, LP_DETERMINISTIC,
                       iterations, bound.how, randomised, bound.multiplier)
    lagrangian = None if bound.candidate is None else p.policy(bound.candidate)
    run = milp if milp is not None else (p.model.n_pairs <= MILP_AUTO_PAIRS
                                         or bound.candidate is None)
    how, exact = bound.how, None
    if run:
        search, how_exact = _EXACT[p.milp_solver]
        exact = search(p, bound)
        how = f"{bound.how} + {how_exact.format(p.milp_solver)}"
    if exact is not None:
        policy, status, detail = p.policy(p.choice(exact)), exact.status, exact.detail
        if lagrangian is not None and lagrangian.cohort_value > policy.cohort_value:
            policy = lagrangian  # the exact search stopped early at a worse incumbent
            detail = join_details(detail, "the Lagrangian deterministic policy is better")
    elif lagrangian is not None:  # no exact search, or none in time: the Lagrangian policy
        policy, status = lagrangian, SolveStatus.FEASIBLE
        skipped = "not requested" if milp is False else "skipped: large model"
        detail = "Lagrangian deterministic policy; MILP " + ("not solved in time" if run
                                                             else skipped)
    else:
        raise ValueError(f"milp: False is allowed for one budget with method 'auto' (the "
                         f"Lagrangian search's policy stands), not for budgets "
                         f"{[(n, limit) for n, _, limit in p.constraints]} with method "
                         f"{method!r}: pass milp=None or True")
    if not _within(p.model, policy, p.constraints):
        raise SolverError(f"the MILP policy exceeds a budget: "
                          f"{_use(p.model, policy, p.constraints)}")
    if bound.result is not None and bound.result.status is not SolveStatus.OPTIMAL:
        # the randomised optimum (and so the price of determinism) is not exact: say so first
        detail = join_details(f"{bound.result.detail}: the randomised optimum is not exact",
                              f"deterministic policy {describe(status, detail)}")
        status = bound.result.status
    randomised, iterations = bound.randomised(exact)
    return _result(p, policy, status, detail, iterations, how, randomised, bound.multiplier)


def _lagrangian_bound(p: _Problem) -> _Bound:
    (name, column, limit), = p.constraints
    lag = solve_lagrangian(p.model, p.reward, column, limit, name)
    return _Bound(lag, "Lagrangian backward induction", lag.multiplier, candidate=lag.choice)


def _tree_root_bound(p: _Problem) -> _Bound:
    # the tree's root is the budget LP: no separate LP; its value is the randomised optimum
    return _Bound(None, "occupation LP (glop)")


def _lp_bound(p: _Problem) -> _Bound:
    lp = solve_lp(p.model, p.reward, p.budget, solver=p.lp_solver, time_limit=p.time_limit)
    # the LP's optimum bounds every deterministic policy's value from above: when the policy
    # read from its flows is worth as much (within the MILP's gap) and meets the budgets, the
    # LP did not need to randomise, and that policy is the MILP's optimum without a MILP
    from_lp = p.policy(p.choice(lp))
    attains = (lp.status is SolveStatus.OPTIMAL
               and from_lp.cohort_value >= lp.value - MILP_GAP * max(1.0, abs(lp.value))
               and _within(p.model, from_lp, p.constraints))
    return _Bound(lp, f"occupation LP ({p.lp_solver})",
                  deterministic=from_lp if attains else None)


_BOUNDS: dict[str, Callable[[_Problem], _Bound]] = {
    "lagrangian": _lagrangian_bound, "tree root": _tree_root_bound, "lp": _lp_bound}


def _branch(p: _Problem, bound: _Bound) -> branch.BranchResult:
    """The tree search (``branch.py``); if it does not close within its node limit, the MILP
    (HiGHS) answers instead, its optimum found the slower way."""
    fallback = p.unconstrained.choice
    try:
        return branch.branch_and_bound(p.model, p.reward, p.constraints, fallback,
                                       incumbent=bound.candidate)
    except branch.NodeLimitError as stopped:
        found = solve_lp(p.model, p.reward, p.budget, solver="highs", deterministic=True,
                         time_limit=p.time_limit)
        detail = join_details(f"MILP, HiGHS: the tree search did not close within "
                              f"{branch.MAX_NODES} LPs", found.detail)
        return branch.BranchResult(choice=p.choice(found), value=found.value,
                                   status=found.status, iterations=branch.MAX_NODES,
                                   wall_time=found.wall_time, detail=detail,
                                   bound=stopped.bound, bounded=0, root_deterministic=False)


def _milp(p: _Problem, bound: _Bound) -> LPResult | None:
    """The MILP's optimum; None when it found no solution in time but the Lagrangian search
    has a policy within the budget."""
    try:
        return solve_lp(p.model, p.reward, p.budget, solver=p.milp_solver, deterministic=True,
                        time_limit=p.time_limit, hint=bound.candidate)
    except SolverError:
        if bound.candidate is None:
            raise
        return None


# milp_solver -> (the exact search, its method text)
_EXACT: dict[str, tuple[Callable[[_Problem, _Bound], Solution | None], str]] = {
    "branch": (_branch, "branch and bound"), "highs": (_milp, "MILP ({})"),
    "scip": (_milp, "MILP ({})")}


def _check_budget(model: DecisionModel, budget: Budget) -> None:
    for name, column, limit in budget.constraints():
        least = least_use(model, column)
        if least > limit * (1 + 1e-9) + 1e-12:
            unit = "grade >= 3 AE episodes" if name == "toxicity" else "discounted cost"
            raise BudgetInfeasibleError(
                f"budget {name} <= {limit:g} is infeasible: the least achievable expected "
                f"{unit} per patient is {least:.6g}"
            )


def _use(model: DecisionModel, policy: Policy,
         constraints: Sequence[BudgetRow]) -> dict[str, float]:
    return {name: float(model.initial @ policy.parts[:, column]) for name, column, _ in constraints}


def _within(model: DecisionModel, policy: Policy, constraints: Sequence[BudgetRow]) -> bool:
    use = _use(model, policy, constraints)
    return all(use[name] <= limit * (1 + 1e-6) + 1e-9 for name, _, limit in constraints)


def _result(p: _Problem, policy: Policy, status: SolveStatus, detail: str, iterations: int,
            how: str, randomised: float, multiplier: float | None) -> SolveResult:
    return SolveResult(policy, policy.cohort_value, status, iterations, p.elapsed(), how,
                       _use(p.model, policy, p.constraints), randomised, multiplier,
                       randomised - policy.cohort_value, detail)
