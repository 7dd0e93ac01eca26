"""The occupation-measure linear program (Manne 1960; Altman 1999) in OR-Tools.

Variables ``x[p] >= 0`` are the expected discounted number of times each (state, regimen) pair
is used. Flow conservation per state ``s``::

    sum_{p in s} x[p] - sum_{entries e into s} w[e] x[owner(e)] = initial[s]

maximise ``sum_p r[p] x[p]``, with budgets ``sum_p c[p] x[p] <= B`` as extra rows. Unconstrained,
its optimum equals backward induction.
A deterministic policy under budgets adds binaries ``z[p]`` with ``sum_{p in s} z[p] = 1`` and
``x[p] <= U[s] z[p]`` (``U`` bounds the state's occupation under any policy) and is solved as a
MILP, by HiGHS (default; it proved the 9,215-pair model optimal in 6 s where SCIP needed 23 s)
or SCIP, both through OR-Tools, to a relative gap of 1e-6. CP-SAT is not offered: it needs
integer variables and the occupation measure is continuous. The matrix is passed to OR-Tools as
one sparse array.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder as mb

from sequencer.errors import SequencerError
from sequencer.model.build import DecisionModel
from sequencer.solve.backward import entry_pair
from sequencer.solve.objective import Budget, BudgetRow
from sequencer.solve.result import Solution, SolveStatus

LP_SOLVERS = ("glop", "pdlp", "highs")
MILP_SOLVERS = ("highs", "scip")
MILP_GAP = 1e-6  # relative optimality gap at which a MILP counts as solved
MILP_MARGIN = 1e-5  # relative margin kept inside each budget by the MILP
_SOLVER_PARAMETERS = {
    "highs": f"mip_rel_gap={MILP_GAP}\noutput_flag=false",
    "scip": f"limits/gap = {MILP_GAP}",
}
_NATIVE_OUTPUT = threading.Lock()


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send the solver library's own prints (HiGHS writes some to C stdout whatever its options)
    to stderr, so they never mix with a command's table or CSV on stdout."""
    sys.stdout.flush()
    with _NATIVE_OUTPUT:
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


class SolverError(SequencerError):
    """The solver failed or the problem is infeasible; the message says which and why."""


@dataclass(frozen=True, kw_only=True)
class LPResult(Solution):
    """The solver contract (``iterations`` is unused by OR-Tools' model builder: -1; ``choice``
    is ``flow_choice`` of the flows), and the flows themselves: ``occupation``, the budgets'
    ``budget_use`` and the ``solver`` that found them."""

    occupation: np.ndarray  # (pair,)
    budget_use: dict[str, float]
    solver: str


def flow_choice(model: DecisionModel, occupation: np.ndarray) -> np.ndarray:
    """(state,) the pair with the most flow in each state the flows reach (the first such pair
    within 1e-12), -1 in the states they never reach."""
    starts = model.state_ptr[:-1]
    flow_max = np.maximum.reduceat(occupation, starts)
    reached = flow_max > 1e-9
    idx = np.where(occupation >= flow_max[model.pair_state] - 1e-12, np.arange(model.n_pairs),
                   np.iinfo(np.int64).max)
    best = np.minimum.reduceat(idx, starts)
    return np.where(reached, best, -1)


def flow_matrix(model: DecisionModel, constraints: Sequence[BudgetRow] = ()) -> sp.csr_matrix:
    """(state x pair) matrix of the flow-conservation rows, then one row per budget in
    ``constraints`` ([(name, reward column, limit)]). Built as CSR arrays directly (scipy's
    COO-to-CSR route took a third of a 728-pair budget solve); entries into the same state from
    the same pair are summed."""
    n, m = model.n_pairs, model.n_states
    rows = [model.pair_state, model.succ_state]
    cols = [np.arange(n), entry_pair(model)]
    vals = [np.ones(n), -np.asarray(model.succ_weight, dtype=float)]
    for k, (_, column, _) in enumerate(constraints):
        used = np.flatnonzero(model.reward[:, column])
        rows.append(np.full(len(used), m + k))
        cols.append(used)
        vals.append(model.reward[used, column])
    row, col, val = (np.concatenate(a) for a in (rows, cols, vals))
    key = row.astype(np.int64) * n + col
    order = np.argsort(key, kind="stable")
    key, val = key[order], val[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])  # every pair has an entry
    key, val = key[first], np.add.reduceat(val, first)
    n_rows = m + len(constraints)
    indptr = np.searchsorted(key // n, np.arange(n_rows + 1))
    return sp.csr_matrix((val, key % n, indptr), shape=(n_rows, n))


def fill_sparse(lp: mb.Model, lower: np.ndarray, upper: np.ndarray, objective: np.ndarray,
                row_lower: np.ndarray, row_upper: np.ndarray, matrix: sp.csr_matrix) -> None:
    """Load into ``lp`` its variables' ``lower`` and ``upper`` bounds, the ``objective``, the
    rows' bounds and the constraint ``matrix``, in one call (OR-Tools' model builder)."""
    # OR-Tools' stub spells each array as pybind11's ndarray[float64[m, 1]], which mypy reads
    # as a shape type that no numpy array has
    lp.helper.fill_model_from_sparse_data(lower, upper, objective, row_lower, row_upper, matrix)  # type: ignore[arg-type]


def occupation_bound(model: DecisionModel) -> np.ndarray:
    """Upper bound on each state's discounted occupation under any policy: the initial mass plus
    the largest weighted inflow from each predecessor, capped at one (a tight big-M for the
    MILP)."""
    bound = model.initial.astype(float).copy()
    owner = entry_pair(model)
    lines = np.unique(model.line)
    for line in lines:
        states = np.flatnonzero(model.line == line)
        lo, hi = model.state_ptr[states[0]], model.state_ptr[states[-1] + 1]
        e0, e1 = model.succ_ptr[lo], model.succ_ptr[hi]
        src = model.pair_state[owner[e0:e1]]
        np.add.at(bound, model.succ_state[e0:e1], bound[src] * model.succ_weight[e0:e1])
    return np.minimum(bound, 1.0)


def solve_lp(
    model: DecisionModel,
    reward: np.ndarray,
    budget: Budget | None = None,
    solver: str = "glop",
    deterministic: bool = False,
    time_limit: float = 120.0,
    hint: np.ndarray | None = None,
) -> LPResult:
    """Solve the occupation-measure LP (or the MILP with ``deterministic=True``)."""
    allowed = MILP_SOLVERS if deterministic else LP_SOLVERS
    if solver not in allowed:
        raise SolverError(f"solver: {solver!r} is not one of {list(allowed)}")
    budget = budget or Budget()
    start = time.perf_counter()
    n, m = model.n_pairs, model.n_states
    limits = budget.constraints()
    rows = [flow_matrix(model, limits)]
    lower = [model.initial.copy()]
    upper = [model.initial.copy()]
    for _name, column, limit in limits:
        lower.append(np.array([-np.inf]))
        # the MILP's budget rows keep a 1e-5 relative margin: solvers accept rows violated by
        # their feasibility tolerance, and the exact policy read from a solution must meet the
        # budget itself
        upper.append(np.array([limit - MILP_MARGIN * abs(limit) if deterministic else limit]))
    n_vars = n
    objective = np.asarray(reward, dtype=float)
    if deterministic:
        # columns: x (n) then z (n); rows: x - U z <= 0 and one choice per state
        eye = sp.identity(n, format="csr")
        big_m = sp.diags(occupation_bound(model)[model.pair_state], format="csr")
        rows = [sp.hstack([r, sp.csr_matrix((r.shape[0], n))]) for r in rows]
        rows.append(sp.hstack([eye, -big_m]))
        lower.append(np.full(n, -np.inf))
        upper.append(np.zeros(n))
        pick = sp.csr_matrix((np.ones(n), (model.pair_state, np.arange(n))), shape=(m, n))
        rows.append(sp.hstack([sp.csr_matrix((m, n)), pick]))
        lower.append(np.ones(m))
        upper.append(np.ones(m))
        n_vars = 2 * n
        objective = np.concatenate([objective, np.zeros(n)])
    matrix = sp.vstack(rows).tocsr()
    lp = mb.Model()
    var_upper = np.full(n_vars, np.inf)
    if deterministic:  # finite bounds on every variable (CP-SAT needs them)
        var_upper[:n] = occupation_bound(model)[model.pair_state]
        var_upper[n:] = 1.0
    fill_sparse(lp, np.zeros(n_vars), var_upper, objective, np.concatenate(lower),
                np.concatenate(upper), matrix)
    lp.helper.set_maximize(True)
    if deterministic:
        for k in range(n, 2 * n):
            lp.helper.set_var_integrality(k, True)
        # a known feasible deterministic choice (pair per state); OR-Tools 9.15 crashes (SIGSEGV)
        # when a hint is passed to HiGHS, so only SCIP gets it
        if hint is not None and solver == "scip":
            chosen = np.zeros(n)
            chosen[hint] = 1.0
            for k in range(n):
                lp.helper.add_hint(n + k, float(chosen[k]))
    engine = mb.Solver(solver)
    engine.set_time_limit_in_seconds(time_limit)
    if deterministic:
        engine.set_solver_specific_parameters(_SOLVER_PARAMETERS[solver])
        with _stdout_to_stderr():
            status = engine.solve(lp)
    else:
        status = engine.solve(lp)
    wall = time.perf_counter() - start
    name = getattr(status, "name", str(status))
    if status not in (mb.SolveStatus.OPTIMAL, mb.SolveStatus.FEASIBLE):
        raise SolverError(f"{solver} returned {name} for a model with {m} states and {n} pairs"
                          + (" (a budget may be infeasible)" if limits else ""))
    values = np.array(engine.values(lp.get_variables()))[:n]
    use = {name_: float(model.reward[:, col] @ values) for name_, col, _ in limits}
    solved = SolveStatus.from_ortools(name)
    detail = ("" if solved is SolveStatus.OPTIMAL else
              f"{solver} stopped before proving optimality, at its time limit of {time_limit:g} s")
    return LPResult(choice=flow_choice(model, values), value=float(engine.objective_value),
                    status=solved, iterations=-1, wall_time=wall, detail=detail,
                    occupation=values, budget_use=use, solver=solver)
