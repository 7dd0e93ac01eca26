"""``solve``: one entry point over the solvers, with one result contract.

* no budget: backward induction (``method="backward"``, the reference) or the occupation LP
  (``method="lp"``, GLOP or PDLP);
* budgets: the randomised optimum (Lagrangian search for one budget, the LP for two), the best
  deterministic policy, and the price of determinism (their difference). The deterministic
  optimum comes from the MILP (``milp_solver`` "highs" or "scip") or from the branch and bound
  over the states' choices (``"branch"``, ``branch.py``: the same optimum to the same gap, about
  ten times faster on the service's per-patient models, which use it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from sequencer.model.build import DecisionModel
from sequencer.solve import branch
from sequencer.solve.backward import solve_backward, sweep
from sequencer.solve.constrained import BudgetInfeasibleError, least_use, solve_lagrangian
from sequencer.solve.lp import MILP_GAP, SolverError, solve_lp
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.policy import Policy

METHODS = ("auto", "backward", "lp")
DETERMINISTIC_SOLVERS = ("highs", "scip", "branch")  # the MILP's two engines, or branch.py
MILP_AUTO_PAIRS = 20000


@dataclass(frozen=True)
class SolveResult:
    """``policy`` (deterministic), ``value`` (cohort objective of the reported optimum),
    ``status``, ``iterations``, ``wall_time``; with budgets also the randomised optimum and the
    price of determinism."""

    policy: Policy
    value: float
    status: str
    iterations: int
    wall_time: float
    method: str
    budget_use: dict[str, float] = field(default_factory=dict)
    randomised_value: float | None = None
    multiplier: float | None = None
    price_of_determinism: float | None = None


def _check_budget(model: DecisionModel, budget: Budget) -> None:
    for name, column, limit in budget.constraints():
        least = least_use(model, column)
        if least > limit * (1 + 1e-9) + 1e-12:
            unit = "grade >= 3 AE episodes" if name == "toxicity" else "discounted cost"
            raise BudgetInfeasibleError(
                f"budget {name} <= {limit:g} is infeasible: the least achievable expected "
                f"{unit} per patient is {least:.6g}"
            )


def _deterministic_policy_choice(model: DecisionModel, occupation: np.ndarray,
                                 fallback: np.ndarray) -> np.ndarray:
    """Pair per state from MILP/LP flows: the pair with the most flow where the policy goes;
    elsewhere (states it never reaches) ``fallback``."""
    choice = fallback.copy()
    starts = model.state_ptr[:-1]
    flow_max = np.maximum.reduceat(occupation, starts)
    reached = flow_max > 1e-9
    idx = np.where(occupation >= flow_max[model.pair_state] - 1e-12, np.arange(model.n_pairs),
                   np.iinfo(np.int64).max)
    best = np.minimum.reduceat(idx, starts)
    choice[reached] = best[reached]
    return choice


def _deterministic_policy(model: DecisionModel, objective: Objective, occupation: np.ndarray,
                          fallback: np.ndarray, name: str) -> Policy:
    choice = _deterministic_policy_choice(model, occupation, fallback)
    evaluated = sweep(model, model.objective_reward(objective.weights()), fixed=choice)
    return Policy.from_sweep(model, objective, evaluated, name)


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
    """``milp=None`` runs the exact search for the best deterministic policy (the MILP, or the
    branch and bound with ``milp_solver="branch"``) for models up to ``MILP_AUTO_PAIRS`` pairs
    (or for two budgets); above that one budget is served by the Lagrangian search's
    deterministic policy, whose distance to the randomised optimum is reported as the price of
    determinism (an upper bound on the exact one's)."""
    if method not in METHODS:
        raise ValueError(f"method: {method!r} is not one of {list(METHODS)}")
    if milp_solver not in DETERMINISTIC_SOLVERS:
        raise ValueError(f"milp_solver: {milp_solver!r} is not one of {list(DETERMINISTIC_SOLVERS)}")
    objective = objective or Objective()
    budget = budget or Budget()
    start = time.perf_counter()
    weights = objective.weights()
    reward = model.objective_reward(weights)
    unconstrained = solve_backward(model, weights)
    if budget.empty:
        if method in ("auto", "backward"):
            policy = Policy.from_sweep(model, objective, unconstrained)
            return SolveResult(policy, policy.cohort_value, "optimal", 1,
                               time.perf_counter() - start, "backward induction")
        lp = solve_lp(model, reward, solver=lp_solver, time_limit=time_limit)
        policy = _deterministic_policy(model, objective, lp.occupation, unconstrained.choice,
                                       "optimal")
        return SolveResult(policy, lp.value, lp.status.lower(), lp.iterations,
                           time.perf_counter() - start, f"occupation LP ({lp_solver})")
    _check_budget(model, budget)
    constraints = budget.constraints()
    best = Policy.from_sweep(model, objective, unconstrained, "optimal under budget")
    if _within(model, best, constraints):  # the unconstrained optimum meets the budgets
        return _result(model, best, constraints, "optimal (budgets not binding)", 1, start,
                       "backward induction", best.cohort_value, 0.0)
    multiplier = None
    candidate = None  # a feasible deterministic policy known before the MILP
    if len(constraints) == 1 and method == "auto":
        name, column, limit = constraints[0]
        lag = solve_lagrangian(model, reward, column, limit, name)
        randomised, multiplier, iterations = lag.value, lag.multiplier, lag.iterations
        candidate = lag.within.choice
        how = "Lagrangian backward induction + "
    elif milp_solver == "branch" and milp is not False:
        # the tree's root is the budget LP: no separate LP; its value is the randomised optimum
        randomised = iterations = None
        how = "occupation LP (glop) + "
    else:
        lp = solve_lp(model, reward, budget, solver=lp_solver, time_limit=time_limit)
        randomised, iterations = lp.value, lp.iterations
        how = f"occupation LP ({lp_solver}) + "
        # the LP's optimum bounds every deterministic policy's value from above: when the policy
        # read from its flows is worth as much (within the MILP's gap) and meets the budgets, the
        # LP did not need to randomise, and that policy is the MILP's optimum without a MILP
        from_lp = _deterministic_policy(model, objective, lp.occupation, unconstrained.choice,
                                        "optimal under budget")
        if (from_lp.cohort_value >= randomised - MILP_GAP * max(1.0, abs(randomised))
                and _within(model, from_lp, constraints)):
            return _result(model, from_lp, constraints, "optimal (the LP solution is "
                           "deterministic; no MILP needed)", iterations, start,
                           f"occupation LP ({lp_solver})", randomised, multiplier)
    lagrangian = None
    if candidate is not None:
        lagrangian = Policy.from_sweep(model, objective, sweep(model, reward, fixed=candidate),
                                       "optimal under budget")
    run_milp = milp if milp is not None else (model.n_pairs <= MILP_AUTO_PAIRS or candidate is None)
    skipped = "not requested" if milp is False else "skipped: large model"
    policy = status = None
    if run_milp and milp_solver == "branch":
        tree, status = _branch(model, reward, budget, unconstrained.choice, candidate, time_limit)
        policy = Policy.from_sweep(model, objective, sweep(model, reward, fixed=tree.choice),
                                   "optimal under budget")
        if randomised is None:
            randomised, iterations = tree.bound, tree.nodes
        how += "branch and bound"
    elif run_milp:
        try:
            found = solve_lp(model, reward, budget, solver=milp_solver, deterministic=True,
                             time_limit=time_limit, hint=candidate)
        except SolverError:
            if lagrangian is None:
                raise
        else:
            policy = _deterministic_policy(model, objective, found.occupation,
                                           unconstrained.choice, "optimal under budget")
            status = "optimal" if found.status == "OPTIMAL" else f"MILP {found.status.lower()}"
        how += f"MILP ({milp_solver})"
    if policy is None:  # no MILP solution (skipped or not in time): the Lagrangian policy stands
        policy = lagrangian
        status = ("Lagrangian deterministic policy (MILP "
                  + ("not solved in time" if run_milp else skipped) + ")")
    elif lagrangian is not None and lagrangian.cohort_value > policy.cohort_value:
        policy = lagrangian  # MILP stopped early at a worse incumbent
        status += "; Lagrangian deterministic policy is better"
    if not _within(model, policy, constraints):
        raise SolverError(f"the MILP policy exceeds a budget: {_use(model, policy, constraints)}")
    return _result(model, policy, constraints, status, iterations, start, how.removesuffix(" + "),
                   randomised, multiplier)


def _branch(model, reward, budget, fallback, candidate, time_limit):
    """The tree search (``branch.py``); if it does not close within its node limit, the MILP
    (HiGHS) answers instead, its optimum found the slower way."""
    constraints = budget.constraints()
    try:
        tree = branch.branch_and_bound(model, reward, constraints, fallback, incumbent=candidate)
    except branch.NodeLimitError as stopped:
        found = solve_lp(model, reward, budget, solver="highs", deterministic=True,
                         time_limit=time_limit)
        choice = _deterministic_policy_choice(model, found.occupation, fallback)
        tree = branch.BranchResult(choice, found.value, stopped.bound, branch.MAX_NODES, 0,
                                   False, found.wall_time)
        return tree, ("optimal (MILP, HiGHS: the tree search did not close within "
                      f"{branch.MAX_NODES} LPs)" if found.status == "OPTIMAL"
                      else f"MILP {found.status.lower()}")
    if tree.root_deterministic and tree.nodes == 1:
        return tree, "optimal (the LP solution is deterministic; no branching needed)"
    return tree, "optimal"


def _use(model: DecisionModel, policy: Policy, constraints) -> dict[str, float]:
    return {name: float(model.initial @ policy.parts[:, column]) for name, column, _ in constraints}


def _within(model: DecisionModel, policy: Policy, constraints) -> bool:
    use = _use(model, policy, constraints)
    return all(use[name] <= limit * (1 + 1e-6) + 1e-9 for name, _, limit in constraints)


def _result(model, policy, constraints, status, iterations, start, how, randomised,
            multiplier) -> SolveResult:
    return SolveResult(policy, policy.cohort_value, status, iterations,
                       time.perf_counter() - start, how, _use(model, policy, constraints),
                       randomised, multiplier, randomised - policy.cohort_value)
