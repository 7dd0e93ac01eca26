"""Backward induction over the acyclic state graph: the reference solver.

States are numbered by line and every successor lies in a later line, so one sweep from the last
line to the first solves the model exactly (Bellman 1957; Puterman 1994, section 4.5). The sweep
is one compiled pass (numba) over the CSR arrays of ``DecisionModel``: each (state, regimen)
pair's value is its reward plus the discounted weights times its successors' values, and each
state takes its best pair. States of one line do not depend on each other, so large models sweep
each line on all cores; the result is the same on any number of threads. The same sweep with
the choice fixed evaluates any policy (a named strategy).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import DTypeLike

from sequencer.model.build import DecisionModel

_TIE = 1e-12  # relative tolerance within which the first pair (catalogue order) wins a tie
_PARALLEL_BLOCK_WORK = 10_000  # a line with fewer pairs + entries is swept on one thread


@dataclass(frozen=True)
class Sweep:
    """Result of one sweep: the chosen pair per state, its value and the value's parts."""

    choice: np.ndarray  # (state,) pair index
    value: np.ndarray  # (state,) objective value
    parts: np.ndarray | None  # (state, 4) discounted LY, QALY, cost, toxicity of the policy
    q: np.ndarray  # (pair,) value of each pair under the chosen continuation
    seconds: float

    def require_parts(self) -> np.ndarray:
        """``parts``, which only a sweep run with ``parts=True`` has; ``ValueError`` otherwise."""
        if self.parts is None:
            raise ValueError("parts: this sweep was run with parts=False; run it with parts=True")
        return self.parts


@numba.njit(cache=True, inline="always")
def _one_state(s: int, state_ptr: np.ndarray, succ_ptr: np.ndarray, succ_state: np.ndarray,
               succ_weight: np.ndarray, reward: np.ndarray, fixed: np.ndarray,
               reward_parts: np.ndarray, value: np.ndarray, q: np.ndarray, choice: np.ndarray,
               part: np.ndarray) -> None:  # pragma: no cover - compiled
    first, last = state_ptr[s], state_ptr[s + 1]
    best = -np.inf
    for p in range(first, last):
        acc = reward[p]
        for e in range(succ_ptr[p], succ_ptr[p + 1]):
            acc += succ_weight[e] * value[succ_state[e]]
        q[p] = acc
        best = max(best, acc)
    if fixed.shape[0] > 0:
        chosen = fixed[s]
    else:
        floor = best - _TIE * max(1.0, abs(best))
        chosen = last - 1
        for p in range(first, last):
            if q[p] >= floor:
                chosen = p
                break
    choice[s] = chosen
    value[s] = q[chosen]
    if part.shape[0] > 0:
        for k in range(reward_parts.shape[1]):
            acc = reward_parts[chosen, k]
            for e in range(succ_ptr[chosen], succ_ptr[chosen + 1]):
                acc += succ_weight[e] * part[succ_state[e], k]
            part[s, k] = acc


def _sweep_body(blocks: np.ndarray, state_ptr: np.ndarray, succ_ptr: np.ndarray,
                succ_state: np.ndarray, succ_weight: np.ndarray, reward: np.ndarray,
                fixed: np.ndarray, reward_parts: np.ndarray, value: np.ndarray, q: np.ndarray,
                choice: np.ndarray, part: np.ndarray) -> None:  # pragma: no cover - compiled
    for blk in range(blocks.shape[0]):  # lines, last first; states within a line are independent
        lo, hi = blocks[blk, 0], blocks[blk, 1]
        p0, p1 = state_ptr[lo], state_ptr[hi]
        if p1 - p0 + succ_ptr[p1] - succ_ptr[p0] >= _PARALLEL_BLOCK_WORK:  # worth the threads
            for s in numba.prange(lo, hi):
                _one_state(s, state_ptr, succ_ptr, succ_state, succ_weight, reward, fixed,
                           reward_parts, value, q, choice, part)
        else:
            for s in range(lo, hi):
                _one_state(s, state_ptr, succ_ptr, succ_state, succ_weight, reward, fixed,
                           reward_parts, value, q, choice, part)


_serial_kernel = numba.njit(cache=True, nogil=True)(_sweep_body)


@numba.njit(cache=True, nogil=True)
def _states_kernel(order: np.ndarray, state_ptr: np.ndarray, succ_ptr: np.ndarray,
                   succ_state: np.ndarray, succ_weight: np.ndarray, reward: np.ndarray,
                   fixed: np.ndarray, reward_parts: np.ndarray, value: np.ndarray,
                   q: np.ndarray, choice: np.ndarray,
                   part: np.ndarray) -> None:  # pragma: no cover - compiled
    for s in order:  # descending: every successor (a later line, a higher index) comes first
        _one_state(s, state_ptr, succ_ptr, succ_state, succ_weight, reward, fixed,
                   reward_parts, value, q, choice, part)


@numba.njit(cache=True, nogil=True)
def _reachable(root: int, state_ptr: np.ndarray, succ_ptr: np.ndarray, succ_state: np.ndarray,
               n_states: int) -> np.ndarray:  # pragma: no cover - compiled
    seen = np.zeros(n_states, dtype=np.bool_)
    seen[root] = True
    for s in range(root, n_states):  # successors have higher indices: one pass suffices
        if seen[s]:
            for e in range(succ_ptr[state_ptr[s]], succ_ptr[state_ptr[s + 1]]):
                seen[succ_state[e]] = True
    return np.flatnonzero(seen)[::-1].copy()


@numba.njit(cache=True, nogil=True)
def _states_reward(order: np.ndarray, state_ptr: np.ndarray, reward_parts: np.ndarray,
                   weights: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    out = np.full(reward_parts.shape[0], np.nan)
    for s in order:
        for p in range(state_ptr[s], state_ptr[s + 1]):
            acc = 0.0
            for k in range(weights.shape[0]):
                acc += reward_parts[p, k] * weights[k]
            out[p] = acc
    return out


def states_reward(model: DecisionModel, weights: np.ndarray, states: np.ndarray) -> np.ndarray:
    """``model.objective_reward(weights)`` for the pairs of ``states`` only (NaN elsewhere)."""
    return _states_reward(states, model.state_ptr, model.reward,
                          np.asarray(weights, dtype=np.float64))


def reachable_states(model: DecisionModel, root: int) -> np.ndarray:
    """Indices of the states reachable from ``root`` (itself included), last line first: the
    order in which ``sweep(..., states=)`` solves them."""
    return _reachable(root, model.state_ptr, model.succ_ptr, model.succ_state, model.n_states)


_parallel_kernel = numba.njit(cache=True, parallel=True)(_sweep_body)
# Numba's fallback 'workqueue' threading layer must not run two parallel kernels at once (the
# service solves from a thread pool), so parallel sweeps take turns; serial ones never wait.
_PARALLEL_LOCK = threading.Lock()
PARALLEL_PAIRS = 20_000  # models with at least this many pairs are swept on all cores
_NOT_FIXED = np.empty(0, dtype=np.int64)  # read-only placeholders for the optional arrays
_NO_PARTS = np.empty((0, 4))


def _line_blocks(model: DecisionModel) -> np.ndarray:
    """(line, 2) state ranges, last line first (the model's layout)."""
    return model.layout.blocks


def entry_pair(model: DecisionModel) -> np.ndarray:
    """Pair index of every successor entry."""
    return np.repeat(np.arange(model.n_pairs), np.diff(model.succ_ptr))


def _array(shape: int | tuple[int, ...], fill: float | None,
           dtype: DTypeLike = np.float64) -> np.ndarray:
    return np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)


def sweep(
    model: DecisionModel,
    reward: np.ndarray,
    fixed: np.ndarray | None = None,
    parts: bool = True,
    states: np.ndarray | None = None,
) -> Sweep:
    """Backward induction with per-pair ``reward``; ``fixed`` (state -> pair) evaluates a policy.

    ``reward`` is the objective per pair (``model.objective_reward(weights)``). Within a relative
    1e-12 of the best value the first pair (catalogue order) wins, so the policy does not flip on
    rounding noise. ``parts`` adds the discounted LY, QALY, cost and toxicity of the policy.
    ``states`` (from ``reachable_states``) solves only those: the values, choices and parts of
    other states are NaN or -1, their pairs' ``q`` undefined.
    """
    start = time.perf_counter()
    reward = np.ascontiguousarray(reward, dtype=np.float64)
    if reward.shape != (model.n_pairs,):
        raise ValueError(
            f"reward must have one value per pair ({model.n_pairs}), got {reward.shape}")
    fill, unset = (None, None) if states is None else (np.nan, -1)  # states left unsolved
    value = _array(model.n_states, fill)
    q = np.empty(model.n_pairs)
    choice = _array(model.n_states, unset, np.int64)
    part = _array((model.n_states, model.reward.shape[1]), fill) if parts else _NO_PARTS
    fixed_arr = _NOT_FIXED if fixed is None else np.asarray(fixed, dtype=np.int64)
    args = (model.state_ptr, model.succ_ptr, model.succ_state,
            model.succ_weight, reward, fixed_arr, model.reward, value, q, choice, part)
    if states is not None:
        _states_kernel(np.asarray(states, dtype=np.int64), *args)
    elif model.n_pairs >= PARALLEL_PAIRS:
        with _PARALLEL_LOCK:
            _parallel_kernel(_line_blocks(model), *args)
    else:
        _serial_kernel(_line_blocks(model), *args)
    return Sweep(choice, value, part if parts else None, q, time.perf_counter() - start)


def solve_backward(model: DecisionModel, weights: np.ndarray) -> Sweep:
    """Optimal deterministic policy for objective ``weights`` over (LY, QALY, cost, toxicity)."""
    return sweep(model, model.objective_reward(weights))
