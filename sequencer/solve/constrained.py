"""One budget, solved exactly by a Lagrangian search over backward induction.

For a single constraint ``C(pi) <= B`` the constrained optimum over randomised policies equals
``min_{l >= 0} max_pi [R(pi) - l C(pi)] + l B`` (strong duality of the occupation LP; Altman
1999, chapter 3; Beutler and Ross 1985). ``g(l) = max_pi R - l C`` is convex and piecewise linear
with finitely many deterministic policies as pieces, so the crossing-point iteration below (each
step one backward induction) stops at the exact multiplier ``l*`` with two policies optimal at
``l*``: one over the budget (``lo``) and one within it (``hi``). Giving ``lo`` to a share
``theta = (B - C_hi)/(C_lo - C_hi)`` of patients and ``hi`` to the rest meets the budget exactly
and attains the LP optimum. ``hi`` alone is the best deterministic policy this search finds (a
lower bound on the MILP optimum).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sequencer.errors import SequencerError
from sequencer.model.build import DecisionModel
from sequencer.solve.backward import Sweep, sweep
from sequencer.solve.result import Solution, SolveStatus

MAX_ITERATIONS = 200  # sweeps before the search stops (status ITERATION_LIMIT)


class BudgetInfeasibleError(SequencerError):
    """No policy meets the budget; the message gives the least achievable value."""


@dataclass(frozen=True, kw_only=True)
class LagrangianResult(Solution):
    """The solver contract (``value``: the optimum over randomised policies, the LP's value;
    ``choice``: the deterministic policy within the budget, ``within.choice``; ``iterations``:
    sweeps), and the search's multiplier and its two policies at it.

    With ``status`` ``ITERATION_LIMIT`` the search stopped before the multiplier converged:
    ``within`` still meets the budget and the mixture still does, but ``value`` is then only a
    lower bound on the randomised optimum and ``multiplier`` the last crossing point.
    """

    multiplier: float
    theta: float  # share of patients on the over-budget policy
    over: Sweep  # policy at l* that exceeds the budget (or the unconstrained optimum)
    within: Sweep  # policy at l* within the budget
    budget_use: float


def _totals(model: DecisionModel, result: Sweep, reward: np.ndarray,
            column: int) -> tuple[float, float]:
    chosen = result.choice
    # objective and budget of the policy for the cohort (parts are discounted sums)
    objective = float(model.initial @ _evaluate(model, reward, chosen))
    use = float(model.initial @ result.require_parts()[:, column])
    return objective, use


def _evaluate(model: DecisionModel, reward: np.ndarray, choice: np.ndarray) -> np.ndarray:
    return sweep(model, reward, fixed=choice, parts=False).value


def least_use(model: DecisionModel, column: int) -> float:
    """Smallest achievable expected budget quantity for the cohort (by backward induction)."""
    result = sweep(model, -model.reward[:, column], parts=False)
    return float(-(model.initial @ result.value))


def solve_lagrangian(
    model: DecisionModel, reward: np.ndarray, column: int, limit: float, name: str = "budget",
    max_iterations: int | None = None,
) -> LagrangianResult:
    """The optimum over randomised policies with ``model.initial @ use <= limit`` for the
    budget quantity in reward column ``column`` (see the module docstring); at most
    ``max_iterations`` sweeps (default ``MAX_ITERATIONS``) before it stops with status
    ``ITERATION_LIMIT``. Raises ``BudgetInfeasibleError`` when no policy meets the budget."""
    start = time.perf_counter()
    max_iterations = MAX_ITERATIONS if max_iterations is None else max_iterations
    cost = model.reward[:, column]
    scale = max(1.0, abs(limit))
    tol = 1e-10 * scale
    least = least_use(model, column)
    if least > limit + tol:
        raise BudgetInfeasibleError(
            f"budget {name} <= {limit:g} is infeasible: the least achievable expected {name} per "
            f"patient is {least:.6g}"
        )
    best = sweep(model, reward)
    r_lo, c_lo = _totals(model, best, reward, column)
    if c_lo <= limit + tol:
        return LagrangianResult(choice=best.choice, value=r_lo, status=SolveStatus.OPTIMAL,
                                iterations=1, wall_time=time.perf_counter() - start,
                                detail="budget not binding", multiplier=0.0, theta=0.0,
                                over=best, within=best, budget_use=c_lo)
    lam, iterations = 1.0, 1
    while True:  # find a multiplier whose policy meets the budget
        hi = sweep(model, reward - lam * cost)
        r_hi, c_hi = _totals(model, hi, reward, column)
        iterations += 1
        if c_hi <= limit + tol:
            break
        lam *= 4.0
        if iterations > max_iterations:
            raise BudgetInfeasibleError(f"no multiplier up to {lam:g} meets budget {name}")
    lo = best
    status, detail = SolveStatus.OPTIMAL, ""
    while True:
        if c_lo - c_hi <= tol:
            lam_star = lam
            break
        lam_star = (r_lo - r_hi) / (c_lo - c_hi)
        trial = sweep(model, reward - lam_star * cost)
        r_t, c_t = _totals(model, trial, reward, column)
        iterations += 1
        if r_t - lam_star * c_t <= r_lo - lam_star * c_lo + tol * max(1.0, abs(lam_star)):
            break
        if c_t > limit + tol:
            lo, r_lo, c_lo = trial, r_t, c_t
        else:
            hi, r_hi, c_hi = trial, r_t, c_t
        if iterations > max_iterations:
            status = SolveStatus.ITERATION_LIMIT
            detail = f"the Lagrangian search stopped at its limit of {max_iterations} iterations"
            break
    theta = 0.0 if c_lo - c_hi <= tol else (limit - c_hi) / (c_lo - c_hi)
    theta = float(min(max(theta, 0.0), 1.0))
    value = theta * r_lo + (1 - theta) * r_hi
    use = theta * c_lo + (1 - theta) * c_hi
    return LagrangianResult(choice=hi.choice, value=value, status=status, iterations=iterations,
                            wall_time=time.perf_counter() - start, detail=detail,
                            multiplier=float(lam_star), theta=theta, over=lo, within=hi,
                            budget_use=use)
