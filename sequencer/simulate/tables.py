"""A policy on a decision model, flattened into the arrays the simulation kernel reads.

Only the states a policy can reach are tabulated: for each, the chosen regimen's line as
hidden configurations (``Component``), each with its exponential rate and its outcomes (death,
supportive care, or a next state). Arrays are CSR-like: state -> components -> outcomes, with
cumulative probabilities for inverse-CDF draws.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from sequencer.model.build import DecisionModel
from sequencer.model.line import line_components

KINDS = ("death", "supportive", "next")
EVENTS = ("death", "progression", "toxicity")

# One pair's outcome tree: comp_cum, comp_rate, n_outs, out_cum, out_kind, out_event, out_target
PairTree = tuple[list[float], list[float], list[int], list[float], list[int], list[int], list[int]]
# One pair tabulated: regimen index, supportive care, the line's 7 constants, its outcome tree
PairTable = tuple[int, bool, tuple[float, ...], PairTree]


class PolicyTableError(ValueError):
    """A policy does not fit its model (wrong length, or a pair of another state)."""


@dataclass(frozen=True)
class PolicyTables:
    """Per reachable state (model index): the line's constants and its outcome tree."""

    name: str
    regimen: np.ndarray  # (state,) index into model.regimens; -1 where not reachable
    line: np.ndarray  # (state,)
    supportive: np.ndarray  # (state,) bool: the chosen option is supportive care (terminal)
    utility: np.ndarray
    monthly_cost: np.ndarray
    p_ae: np.ndarray
    ae_cost: np.ndarray
    ae_qaly_loss: np.ndarray
    start_cost: np.ndarray
    progression_cost: np.ndarray
    comp_ptr: np.ndarray  # (state + 1,)
    comp_cum: np.ndarray  # (component,) cumulative weight within the state
    comp_rate: np.ndarray  # (component,) line-end hazard per month
    out_ptr: np.ndarray  # (component + 1,)
    out_cum: np.ndarray  # (outcome,) cumulative probability within the component
    out_kind: np.ndarray  # (outcome,) index into KINDS
    out_event: np.ndarray  # (outcome,) index into EVENTS
    out_target: np.ndarray  # (outcome,) next state index (kind "next"), else -1
    initial_cum: np.ndarray  # (state,) cumulative initial distribution
    supportive_regimen: int  # index of supportive care in model.regimens
    supportive_rate: float
    supportive_utility: float
    supportive_cost: float
    monthly_discount: float


def policy_tables(model: DecisionModel, choice: np.ndarray, name: str = "policy",
                  pair_cache: dict[int, PairTable] | None = None) -> PolicyTables:
    """Tabulate ``choice`` (state -> pair, e.g. ``Policy.choice``) for simulation.

    ``pair_cache`` (a dict kept by the caller) shares tabulated pairs between policies on the
    same model."""
    choice = np.asarray(choice)
    if choice.shape != (model.n_states,):
        raise PolicyTableError(f"choice: expected one pair per state ({model.n_states}), "
                               f"got shape {choice.shape}")
    n = model.n_states
    regimen = np.full(n, -1, dtype=np.int64)
    consts = np.zeros((n, 7))
    supportive = np.zeros(n, dtype=bool)
    trees: list[PairTree | None] = [None] * n
    pair_cache = {} if pair_cache is None else pair_cache
    queue = deque(int(s) for s in np.flatnonzero(model.initial > 0))
    seen = set(queue)
    while queue:
        s = queue.popleft()
        pair = int(choice[s])
        if not (model.state_ptr[s] <= pair < model.state_ptr[s + 1]):
            raise PolicyTableError(f"choice[{s}] = {pair} is not a pair of state "
                                   f"{model.states[s].label()}")
        cached = pair_cache.get(pair)
        if cached is None:
            cached = pair_cache[pair] = _tabulate_pair(model, s, pair)
        regimen[s], supportive[s], consts[s], tree = cached
        trees[s] = tree
        for target in tree[-1]:
            if target >= 0 and target not in seen:
                seen.add(target)
                queue.append(target)
    return _flatten(model, name, regimen, supportive, consts, trees)


def _tabulate_pair(model: DecisionModel, s: int, pair: int) -> PairTable:
    """One pair's constants and its outcome tree, flattened (cumulative probabilities)."""
    inputs = model.inputs
    state, reg = model.states[s], model.regimens[model.pair_regimen[pair]]
    line = line_components(inputs, state, reg)
    first = int(model.succ_ptr[pair])  # successor entries follow the order moves appear
    targets: dict[tuple[object, ...] | None, int] = {}  # move -> next state, in order of appearance
    comp_cum: list[float] = []
    comp_rate: list[float] = []
    n_outs: list[int] = []
    out_cum: list[float] = []
    out_kind: list[int] = []
    out_event: list[int] = []
    out_target: list[int] = []
    total = sum(c.weight for c in line.components)
    for cum, comp in zip(accumulate(c.weight for c in line.components), line.components):
        comp_cum.append(cum / total)
        comp_rate.append(comp.rate)
        n_outs.append(len(comp.outcomes))
        mass = sum(o[3] for o in comp.outcomes)
        out_cum.extend(c / mass for c in accumulate(o[3] for o in comp.outcomes))
        for kind, move, event, _ in comp.outcomes:
            target = -1
            if kind == "next":
                known = targets.get(move)
                if known is None:
                    known = targets[move] = int(model.succ_state[first + len(targets)])
                target = known
            out_kind.append(KINDS.index(kind))
            out_event.append(EVENTS.index(event))
            out_target.append(target)
    consts = (line.utility, line.monthly_cost, line.p_ae, line.ae_cost, line.ae_qaly_loss,
              line.start_cost, line.progression_cost)
    tree = (comp_cum, comp_rate, n_outs, out_cum, out_kind, out_event, out_target)
    return int(model.pair_regimen[pair]), reg == inputs.supportive_id, consts, tree


def _flatten(model: DecisionModel, name: str, regimen: np.ndarray, supportive: np.ndarray,
             consts: np.ndarray, trees: list[PairTree | None]) -> PolicyTables:
    comp_ptr, out_ptr = [0], [0]
    comp_cum: list[float] = []
    comp_rate: list[float] = []
    out_cum: list[float] = []
    out_kind: list[int] = []
    out_event: list[int] = []
    out_target: list[int] = []
    for tree in trees:
        if tree is None:
            comp_ptr.append(comp_ptr[-1])
            continue
        pair_cum, pair_rate, n_outs, pair_out_cum, pair_kind, pair_event, pair_target = tree
        comp_cum.extend(pair_cum)
        comp_rate.extend(pair_rate)
        out_cum.extend(pair_out_cum)
        out_kind.extend(pair_kind)
        out_event.extend(pair_event)
        out_target.extend(pair_target)
        comp_ptr.append(comp_ptr[-1] + len(pair_cum))
        for n in n_outs:
            out_ptr.append(out_ptr[-1] + n)
    v = model.inputs.values
    initial = np.cumsum(model.initial)
    return PolicyTables(
        name=name, regimen=regimen, line=model.line.astype(np.int64), supportive=supportive,
        utility=consts[:, 0].copy(), monthly_cost=consts[:, 1].copy(), p_ae=consts[:, 2].copy(),
        ae_cost=consts[:, 3].copy(), ae_qaly_loss=consts[:, 4].copy(),
        start_cost=consts[:, 5].copy(), progression_cost=consts[:, 6].copy(),
        comp_ptr=np.array(comp_ptr, dtype=np.int64), comp_cum=np.array(comp_cum),
        comp_rate=np.array(comp_rate), out_ptr=np.array(out_ptr, dtype=np.int64),
        out_cum=np.array(out_cum), out_kind=np.array(out_kind, dtype=np.int64),
        out_event=np.array(out_event, dtype=np.int64),
        out_target=np.array(out_target, dtype=np.int64), initial_cum=initial / initial[-1],
        supportive_regimen=model.regimens.index(model.inputs.supportive_id),
        supportive_rate=float(np.log(2) / v.supportive_care.median_os_months),
        supportive_utility=float(v.utility.supportive_care),
        supportive_cost=float(v.cost.supportive_care_per_month),
        monthly_discount=float(model.inputs.monthly_discount),
    )
