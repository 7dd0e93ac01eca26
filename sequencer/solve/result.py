"""The solvers' one contract: a status to check and a result with the same fields from each.

The occupation LP and MILP (``lp.py``), the branch and bound (``branch.py``) and the Lagrangian
search (``constrained.py``) each hand back a ``Solution`` subclass that adds what only that
solver knows (the LP's flows, the tree's bound, the Lagrange multiplier); backward induction's
``Sweep`` (``backward.py``) keeps its per-state values, and ``solve`` reads it as an optimal
solution. ``solve`` (``solver.py``) branches on ``status``, never on text; ``detail`` is the
human account of the route taken, and ``describe()`` joins the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class SolveStatus(Enum):
    """What a solver can vouch for.

    ``OPTIMAL``: proven optimal (the MILP and the branch and bound to their relative gap,
    ``MILP_GAP``). ``FEASIBLE``: a policy that meets every budget, not proven optimal (the MILP
    stopped at its time limit with an incumbent, or the exact search was not run and the
    Lagrangian search's deterministic policy stands). ``ITERATION_LIMIT``: the Lagrangian search
    stopped at its iteration cap before the multiplier converged; its policy meets the budget,
    but its randomised optimum and multiplier are not exact. Infeasible problems and solver
    failures raise (``BudgetInfeasibleError``, ``SolverError``) rather than return a status.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    ITERATION_LIMIT = "iteration limit"

    @classmethod
    def from_ortools(cls, name: str) -> SolveStatus:
        """The status for OR-Tools' ``SolveStatus`` name (only ``OPTIMAL`` and ``FEASIBLE``
        carry a solution; ``lp.py`` raises on the others)."""
        known = {"OPTIMAL": cls.OPTIMAL, "FEASIBLE": cls.FEASIBLE}
        if name not in known:
            raise ValueError(f"OR-Tools status: {name!r} is not one of {sorted(known)}")
        return known[name]


def describe(status: SolveStatus, detail: str = "") -> str:
    """``"optimal"`` or ``"optimal (budgets not binding)"``: the status, then the route taken."""
    return f"{status.value} ({detail})" if detail else status.value


def join_details(*details: str) -> str:
    """The non-empty parts of a route's account, in order, joined by ``"; "``."""
    return "; ".join(d for d in details if d)


@dataclass(frozen=True, kw_only=True)
class Solution:
    """What every solver returns.

    Attributes
    ----------
    choice : numpy.ndarray
        (state,) the pair chosen in each state by the solver's deterministic policy; -1 where
        the solver's solution does not reach the state and so does not choose (the LP's flows).
    value : float
        The solver's optimum for the cohort: of ``choice`` for backward induction, the MILP and
        the branch and bound; over randomised policies for the LP and the Lagrangian search
        (then an upper bound on ``choice``'s value).
    status : SolveStatus
        Check it before reading the value.
    iterations : int
        Sweeps (Lagrangian search), LPs (branch and bound), 1 (backward induction) or -1 where
        the solver does not report them (OR-Tools' model builder).
    wall_time : float
        Seconds.
    detail : str
        The route taken, where it matters to the reader (``"budgets not binding"``); empty
        otherwise.
    """

    choice: np.ndarray
    value: float
    status: SolveStatus
    iterations: int
    wall_time: float
    detail: str = ""

    def describe(self) -> str:
        """The status and the route, as the CLI and the service print it."""
        return describe(self.status, self.detail)
