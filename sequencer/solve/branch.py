"""The best deterministic policy under budgets by branch and bound over the states' choices.

The MILP of ``lp.py`` gives each (state, regimen) pair a binary and ties the pair's flow to it by
a big-M row; a generic solver then spends most of its time on cuts and heuristics at the root
(HiGHS: 0.1-0.3 s on a 728-pair first-line model, whatever its options). Here the branching is
on the decision itself, as with special ordered sets (Beale and Tomlin 1970) in a Land-Doig
(1960) tree:

* a node fixes the regimen of some states; its bound is the occupation LP with the other pairs
  of those states held at zero (GLOP, re-solved from the previous basis: only bounds change);
* a node whose LP sends flow through one pair per state is a deterministic policy that meets the
  budgets; otherwise it branches on the most occupied state where the LP splits the flow, one
  child per pair of that state (together they hold every deterministic policy of the node);
* at every split node the LP's policy is rounded (each combination of the split states' pairs
  with flow), which usually finds the optimum long before it is proved;
* open nodes are taken best bound first; a node is dropped when its bound is within ``gap``
  (relative) of the best policy found. Before its LP, a node is bounded by one backward
  induction with its parent's budget multipliers (Lagrangian relaxation; Fisher 1981), which
  drops about a third of the nodes without an LP.

So the result is the optimum to the same relative gap as the MILP (``MILP_GAP``), and every
policy it reports is evaluated exactly (a fixed-choice sweep), its budget use included.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver.linear_solver_pb2 import MPSolutionResponse
from ortools.linear_solver.python import model_builder as mb
from ortools.linear_solver.pywraplp import Solver

from sequencer.model.build import DecisionModel
from sequencer.solve.backward import sweep
from sequencer.solve.lp import MILP_GAP, SolverError, fill_sparse, flow_matrix
from sequencer.solve.objective import BudgetRow
from sequencer.solve.result import Solution, SolveStatus

MAX_NODES = 2000  # LPs solved before giving up (a count, so the answer does not depend on speed)
USED = 1e-10  # a pair carries flow when it has more than this share of its state's occupation
MAX_ROUNDINGS = 16  # combinations of the split states' pairs tried at one node
BUDGET_TOLERANCE = 1e-6  # relative, as ``solve``'s check of the reported policy


class NodeLimitError(SolverError):
    """The tree was not closed within ``MAX_NODES`` LPs; ``bound`` is the root LP's value (NaN
    when no LP was solved: ``max_nodes`` 0)."""

    def __init__(self, message: str, bound: float) -> None:
        super().__init__(message)
        self.bound = bound


ROOT_DETERMINISTIC = "the LP solution is deterministic; no branching needed"


@dataclass(frozen=True, kw_only=True)
class BranchResult(Solution):
    """The solver contract (``choice``: the best policy found, ``value``: its exact cohort
    objective, ``iterations``: LPs solved), and the tree's own counts."""

    bound: float  # the root LP: the optimum over randomised policies
    bounded: int  # nodes dropped on their Lagrangian bound, without an LP
    root_deterministic: bool  # the root LP's own policy was deterministic


class _Tree:
    """The LP of every node: one GLOP model whose variable upper bounds change per node."""

    def __init__(self, model: DecisionModel, reward: np.ndarray,
                 constraints: Sequence[BudgetRow]) -> None:
        lower = np.concatenate([model.initial, np.full(len(constraints), -np.inf)])
        upper = np.concatenate([model.initial, [limit for _, _, limit in constraints]])
        built = mb.Model()
        fill_sparse(built, np.zeros(model.n_pairs), np.full(model.n_pairs, np.inf),
                    np.asarray(reward, float), lower, upper, flow_matrix(model, constraints))
        built.helper.set_maximize(True)
        self.solver = Solver.CreateSolver("GLOP")
        # presolve would rebuild the problem at each node; without it GLOP re-solves from the
        # last basis (about 1 ms a node on a 728-pair model against 1.5 ms)
        self.solver.SetSolverSpecificParametersAsString("use_preprocessing:false")
        error = self.solver.LoadModelFromProto(built.export_to_proto())
        if error:
            raise SolverError(f"GLOP could not load the budget LP: {error}")
        self.variables = self.solver.variables()
        self.n_states = model.n_states
        self.zeroed: set[int] = set()

    def solve(self, zeroed: set[int]) -> float | None:
        """The LP's value with the pairs ``zeroed`` held at zero; None if it is infeasible."""
        for p in self.zeroed - zeroed:
            self.variables[p].SetUb(self.solver.infinity())
        for p in zeroed - self.zeroed:
            self.variables[p].SetUb(0.0)
        self.zeroed = zeroed
        status = self.solver.Solve()
        if status == Solver.INFEASIBLE:
            return None
        if status != Solver.OPTIMAL:
            raise SolverError(f"GLOP returned status {status} on a budget LP")
        return self.solver.Objective().Value()

    def solution(self) -> tuple[np.ndarray, np.ndarray]:
        """The flows of the last LP solved and its budget rows' multipliers (>= 0), read in one
        piece (per variable is 7x slower)."""
        response = MPSolutionResponse()
        self.solver.FillSolutionResponseProto(response)
        duals = np.abs(np.array(response.dual_value)[self.n_states:])
        return np.maximum(np.array(response.variable_value), 0.0), duals


class _Lagrangian:
    """An upper bound on a node without its LP: for any multipliers ``mu >= 0`` of the budget
    rows, ``max over the node's policies of R - mu . (C - B)`` (one backward induction) bounds
    every policy of the node within the budgets (weak duality). With the parent's LP
    multipliers it is often below the incumbent, and the child's LP is never solved."""

    def __init__(self, model: DecisionModel, reward: np.ndarray,
                 constraints: Sequence[BudgetRow]) -> None:
        self.model, self.reward = model, reward
        self.costs = model.reward[:, [column for _, column, _ in constraints]]
        self.limits = np.array([limit for _, _, limit in constraints])

    def bound(self, mu: np.ndarray, zeroed: set[int]) -> float:
        adjusted = self.reward - self.costs @ mu
        if zeroed:
            adjusted[np.fromiter(zeroed, np.int64, len(zeroed))] = -np.inf
        result = sweep(self.model, adjusted, parts=False)
        return float(self.model.initial @ result.value + mu @ self.limits)


class _Incumbent:
    """The best policy within the budgets found so far, each candidate evaluated exactly."""

    def __init__(self, model: DecisionModel, reward: np.ndarray,
                 constraints: Sequence[BudgetRow]) -> None:
        self.model, self.reward, self.constraints = model, reward, constraints
        self.value: float = -np.inf
        self.choice: np.ndarray | None = None

    def offer(self, choice: np.ndarray) -> bool:
        """Evaluate ``choice``; keep it if it meets every budget and beats the incumbent.
        Returns whether it meets the budgets."""
        model = self.model
        result = sweep(model, self.reward, fixed=choice)
        parts = result.require_parts()
        for _, column, limit in self.constraints:
            if model.initial @ parts[:, column] > limit * (1 + BUDGET_TOLERANCE) + 1e-9:
                return False
        value = float(model.initial @ result.value)
        if value > self.value:
            self.value, self.choice = value, choice.copy()
        return True


def _rounded(model: DecisionModel, flows: np.ndarray, fallback: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """The LP's policy read state by state: (choice, split states, their pairs with flow,
    each state's total flow).
    ``choice`` takes the pair with the most flow where the LP goes and ``fallback`` elsewhere."""
    starts = model.state_ptr[:-1]
    total = np.add.reduceat(flows, starts)
    used = flows > USED * total[model.pair_state]
    reached = np.flatnonzero(total > 0)
    choice = fallback.copy()
    for s in reached:
        lo, hi = model.state_ptr[s], model.state_ptr[s + 1]
        choice[s] = lo + int(np.argmax(flows[lo:hi]))
    counts = np.add.reduceat(used, starts)
    split = np.flatnonzero(counts > 1)
    split = split[np.argsort(-total[split], kind="stable")]
    options = [np.flatnonzero(used[model.state_ptr[s]:model.state_ptr[s + 1]]) + model.state_ptr[s]
               for s in split]
    return choice, split, options, total


def branch_and_bound(model: DecisionModel, reward: np.ndarray, constraints: Sequence[BudgetRow],
                     fallback: np.ndarray, incumbent: np.ndarray | None = None,
                     gap: float = MILP_GAP, max_nodes: int | None = None) -> BranchResult:
    """Best deterministic policy with ``model.initial @ use <= limit`` for each budget in
    ``constraints`` ([(name, reward column, limit)]). ``fallback`` gives the choice of states no
    LP reaches (any policy: they carry no flow), ``incumbent`` a known policy within the budgets.
    Raises ``SolverError`` when no deterministic policy meets the budgets, ``NodeLimitError``
    when the tree is not closed within ``max_nodes`` LPs (default ``MAX_NODES``)."""
    start = time.perf_counter()
    max_nodes = MAX_NODES if max_nodes is None else max_nodes
    reward = np.asarray(reward, dtype=float)
    tree = _Tree(model, reward, constraints)
    best = _Incumbent(model, reward, constraints)
    if incumbent is not None:
        best.offer(np.asarray(incumbent))
    ptr = model.state_ptr
    # best first: the open node with the highest parent bound (ties: the child with the most
    # flow in its parent); fewer LPs than depth first on the slowest models (114 against 198)
    stack: list[tuple[float, int, tuple[tuple[int, int], ...], np.ndarray | None]] = [
        (-np.inf, 0, (), None)]
    order = 0  # entries: (-parent bound, order, fixings, parent's budget multipliers)
    lagrangian = _Lagrangian(model, reward, constraints)
    nodes, bounded, root_deterministic = 0, 0, False
    bound = np.nan  # the root LP's value, once solved
    while stack:
        if nodes >= max_nodes:
            raise NodeLimitError(f"branch and bound did not close within {max_nodes} LPs",
                                 float(bound))
        parent, _, fixings, mu = heapq.heappop(stack)
        enough = best.value + gap * max(1.0, abs(best.value))
        if -parent <= enough and fixings:
            break  # the best open node cannot beat the incumbent: neither can any other
        zeroed = {p for s, keep in fixings for p in range(ptr[s], ptr[s + 1]) if p != keep}
        if mu is not None and lagrangian.bound(mu, zeroed) <= enough:
            bounded += 1
            continue
        value = tree.solve(zeroed)
        nodes += 1
        if value is None:
            if not fixings:
                raise SolverError(f"no policy meets the budgets "
                                  f"{[(n, limit) for n, _, limit in constraints]}")
            continue
        if not fixings:  # the root: the only node without fixings, and the first solved
            bound = value
        if value <= enough:
            continue  # nothing in this node beats the incumbent by more than the gap
        flows, duals = tree.solution()
        choice, split, options, total = _rounded(model, flows, fallback)
        if not len(split):
            root_deterministic |= not fixings
            if best.offer(choice):
                continue
            # met the budgets only within the LP's tolerance: split on any flow left over
            split = np.flatnonzero(np.add.reduceat(flows > 0, ptr[:-1]) > 1)
            if not len(split):
                continue
            split = split[np.argsort(-total[split], kind="stable")]
        else:
            for combination in itertools.islice(itertools.product(*options), MAX_ROUNDINGS):
                candidate = choice.copy()
                candidate[split[:len(combination)]] = combination
                best.offer(candidate)
        state = int(split[0])
        children = sorted(range(ptr[state], ptr[state + 1]), key=lambda p: flows[p])
        for p in reversed(children):  # most flow first
            order += 1
            heapq.heappush(stack, (-value, order, fixings + ((state, p),), duals))
    if best.choice is None:
        raise SolverError(f"no deterministic policy meets the budgets "
                          f"{[(n, limit) for n, _, limit in constraints]} (a randomised one does)")
    return BranchResult(choice=best.choice, value=best.value, status=SolveStatus.OPTIMAL,
                        iterations=nodes, wall_time=time.perf_counter() - start,
                        detail=ROOT_DETERMINISTIC if root_deterministic and nodes == 1 else "",
                        bound=float(bound), bounded=bounded,
                        root_deterministic=root_deterministic)
