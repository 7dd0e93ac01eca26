"""Backward induction over the acyclic state graph: the reference solver.

States are numbered by line and every successor lies in a later line, so one sweep from the last
line to the first solves the model exactly (Bellman 1957; Puterman 1994, section 4.5). Each
line's block is handled at once with numpy: successor values are gathered, weighted and summed
per (state, regimen) pair with ``bincount``, and the best pair per state is a segment maximum.
The same sweep with the choice fixed evaluates any policy (a named strategy).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sequencer.model.build import DecisionModel

_TIE = 1e-12


@dataclass(frozen=True)
class Sweep:
    """Result of one sweep: the chosen pair per state, its value and the value's parts."""

    choice: np.ndarray  # (state,) pair index
    value: np.ndarray  # (state,) objective value
    parts: np.ndarray  # (state, 4) discounted LY, QALY, cost, toxicity of the chosen policy
    q: np.ndarray  # (pair,) value of each pair under the chosen continuation
    seconds: float


def _blocks(model: DecisionModel):
    """(state range, pair range, entry range) per line, last line first."""
    lines = np.unique(model.line)
    bounds = np.searchsorted(model.line, lines, side="left").tolist() + [model.n_states]
    for k in range(len(lines) - 1, -1, -1):
        a, b = bounds[k], bounds[k + 1]
        p0, p1 = int(model.state_ptr[a]), int(model.state_ptr[b])
        yield a, b, p0, p1, int(model.succ_ptr[p0]), int(model.succ_ptr[p1])


def entry_pair(model: DecisionModel) -> np.ndarray:
    """Pair index of every successor entry."""
    return np.repeat(np.arange(model.n_pairs), np.diff(model.succ_ptr))


def sweep(
    model: DecisionModel,
    reward: np.ndarray,
    fixed: np.ndarray | None = None,
    parts: bool = True,
) -> Sweep:
    """Backward induction with per-pair ``reward``; ``fixed`` (state -> pair) evaluates a policy.

    ``reward`` is the objective per pair (``model.objective_reward(weights)``).
    """
    start = time.perf_counter()
    value = np.zeros(model.n_states)
    part = np.zeros((model.n_states, model.reward.shape[1])) if parts else None
    q = np.empty(model.n_pairs)
    choice = np.empty(model.n_states, dtype=np.int64)
    owner = entry_pair(model)
    for a, b, p0, p1, e0, e1 in _blocks(model):
        succ = model.succ_state[e0:e1]
        w = model.succ_weight[e0:e1]
        local = owner[e0:e1] - p0
        cont = np.bincount(local, weights=w * value[succ], minlength=p1 - p0)
        q[p0:p1] = reward[p0:p1] + cont
        starts = model.state_ptr[a:b] - p0
        if fixed is None:
            best = np.maximum.reduceat(q[p0:p1], starts)
            states = model.pair_state[p0:p1] - a
            tol = _TIE * np.maximum(1.0, np.abs(best))
            hit = q[p0:p1] >= best[states] - tol[states]
            idx = np.where(hit, np.arange(p0, p1), np.iinfo(np.int64).max)
            choice[a:b] = np.minimum.reduceat(idx, starts)
        else:
            choice[a:b] = fixed[a:b]
        value[a:b] = q[choice[a:b]]
        if parts:
            chosen = choice[a:b]
            cont_parts = np.zeros((p1 - p0, part.shape[1]))
            for k in range(part.shape[1]):
                cont_parts[:, k] = np.bincount(local, weights=w * part[succ, k], minlength=p1 - p0)
            part[a:b] = model.reward[chosen] + cont_parts[chosen - p0]
    return Sweep(choice, value, part, q, time.perf_counter() - start)


def solve_backward(model: DecisionModel, weights: np.ndarray) -> Sweep:
    """Optimal deterministic policy for objective ``weights`` over (LY, QALY, cost, toxicity)."""
    return sweep(model, model.objective_reward(weights))
