"""A policy on a decision model, flattened into the arrays the simulation kernel reads.

Only the states a policy can reach are tabulated: for each, the chosen regimen's line as
hidden configurations (``Component``), each with its exponential rate and its outcomes (death,
supportive care, or a next state). Arrays are CSR-like: state -> components -> outcomes, with
cumulative probabilities for inverse-CDF draws.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from sequencer.model.build import DecisionModel
from sequencer.model.line import line_components, next_state

KINDS = ("death", "supportive", "next")
EVENTS = ("death", "progression", "toxicity")


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


def policy_tables(model: DecisionModel, choice: np.ndarray, name: str = "policy") -> PolicyTables:
    """Tabulate ``choice`` (state -> pair, e.g. ``Policy.choice``) for simulation."""
    choice = np.asarray(choice)
    if choice.shape != (model.n_states,):
        raise PolicyTableError(f"choice: expected one pair per state ({model.n_states}), "
                               f"got shape {choice.shape}")
    inputs = model.inputs
    n = model.n_states
    regimen = np.full(n, -1, dtype=np.int64)
    consts = np.zeros((n, 7))
    supportive = np.zeros(n, dtype=bool)
    comps: list[list] = [[] for _ in range(n)]
    cache: dict = {}
    queue = deque(int(s) for s in np.flatnonzero(model.initial > 0))
    seen = set(queue)
    while queue:
        s = queue.popleft()
        pair = int(choice[s])
        if not (model.state_ptr[s] <= pair < model.state_ptr[s + 1]):
            raise PolicyTableError(f"choice[{s}] = {pair} is not a pair of state "
                                   f"{model.states[s].label()}")
        state, reg = model.states[s], model.regimens[model.pair_regimen[pair]]
        line = line_components(inputs, state, reg, cache)
        regimen[s] = model.pair_regimen[pair]
        supportive[s] = reg == inputs.supportive_id
        consts[s] = (line.utility, line.monthly_cost, line.p_ae, line.ae_cost,
                     line.ae_qaly_loss, line.start_cost, line.progression_cost)
        for comp in line.components:
            outs = []
            for kind, move, event, prob in comp.outcomes:
                target = -1
                if kind == "next":
                    target = model.index(next_state(state, reg, move))
                    if target not in seen:
                        seen.add(target)
                        queue.append(target)
                outs.append((KINDS.index(kind), EVENTS.index(event), target, prob))
            comps[s].append((comp.weight, comp.rate, outs))
    return _flatten(model, name, regimen, supportive, consts, comps)


def _flatten(model, name, regimen, supportive, consts, comps) -> PolicyTables:
    comp_ptr, comp_cum, comp_rate, out_ptr = [0], [], [], [0]
    out_cum, out_kind, out_event, out_target = [], [], [], []
    for per_state in comps:
        weights = np.array([c[0] for c in per_state])
        cum = np.cumsum(weights) / weights.sum() if len(weights) else weights
        for (_, rate, outs), c in zip(per_state, cum):
            comp_cum.append(c)
            comp_rate.append(rate)
            probs = np.array([o[3] for o in outs])
            out_cum.extend((np.cumsum(probs) / probs.sum()).tolist())
            out_kind.extend(o[0] for o in outs)
            out_event.extend(o[1] for o in outs)
            out_target.extend(o[2] for o in outs)
            out_ptr.append(len(out_cum))
        comp_ptr.append(len(comp_cum))
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
        supportive_rate=float(np.log(2) / v["supportive_care.median_os_months"]),
        supportive_utility=float(v["utility.supportive_care"]),
        supportive_cost=float(v["cost.supportive_care_per_month"]),
        monthly_discount=float(model.inputs.monthly_discount),
    )
