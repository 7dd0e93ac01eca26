"""Solved models for the recommendation service, kept in memory between requests.

A recommendation needs the model from the patient's state at the posterior and parameter means
(the point estimates) and at each interval draw (the credible intervals). ``OptionSet`` holds,
for one set of model options, the inputs of the means and of every draw; each owns its line
cache (``sequencer.model.cache``), which lives as long as the option set: a state never seen
before re-uses the lines other requests already computed. ``ModelSet`` is the model of a set of
roots (the standard cohort's profiles, or one patient's state) at the means and at every draw,
with its sweeps per objective, so a state inside it is answered by reading arrays, without
solving again.

Nothing here holds patient identifiers: the keys are model states and options.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from sequencer.model.build import DecisionModel, build_model
from sequencer.model.cache import LRU, TemplateKey
from sequencer.model.inputs import ModelInputs
from sequencer.model.reuse import Cut, build_like, pair_template_keys
from sequencer.model.states import State
from sequencer.solve.backward import Sweep, reachable_states, states_reward, sweep
from sequencer.solve.objective import Objective

SWEEP_SETS = 4  # objectives whose sweeps a model set keeps (by default)
DRAW_STATE_BUDGET = 300_000  # states built per model set, over the means and the draws
MIN_DRAWS = 4
STATE_MEMO = 4_096  # states whose objective-free results a model set keeps


@dataclass(frozen=True)
class OptionSet:
    """Inputs at the means and per draw for one set of model options (each owns its caches)."""

    mean: ModelInputs
    draws: list[ModelInputs]

    def build(self, k: int | None, roots: dict[State, float], like: DecisionModel | None = None,
              keys: list[TemplateKey | None] | None = None) -> DecisionModel:
        """The model of ``roots`` at the means (``k=None``) or for draw ``k``; given ``like``
        (the model of the same roots at the means) and its ``keys``
        (``pair_template_keys(like)``), draw ``k`` re-uses its states and pairs."""
        inputs = self.mean if k is None else self.draws[k]
        if like is not None and keys is not None:
            model = build_like(like, inputs, keys)
            if model is not None:
                return model
        return build_model(inputs, roots)


class ModelSet:
    """The model of ``roots`` at the means and for the interval draws of ``options``, with
    sweeps. A model of more than ``DRAW_STATE_BUDGET / (draws + 1)`` states (investigational
    regimens with ctDNA or re-biopsy: about 70,000 states from a first-line state, 6 s per
    build) uses the first ``max(MIN_DRAWS, DRAW_STATE_BUDGET // states - 1)`` draws only, so
    an answer takes seconds, not minutes; each estimate reports the number of draws."""

    def __init__(self, options: OptionSet, roots: dict[State, float],
                 sweep_sets: int = SWEEP_SETS) -> None:
        self.options = options
        self.mean = options.build(None, roots)
        available = len(options.draws)
        used = min(available, max(MIN_DRAWS, DRAW_STATE_BUDGET // self.mean.n_states - 1))
        keys = pair_template_keys(self.mean)  # what each pair's line depends on, once
        self.draws = [options.build(k, roots, like=self.mean, keys=keys) for k in range(used)]
        self._sweeps: LRU[Objective, Solved] = LRU(sweep_sets)
        # per-state results that do not depend on the objective: (state, regimens) -> where
        # each regimen's pair sits per draw, and its line's median months and P(AE) per draw
        self.memo: LRU[tuple[State, tuple[str, ...]], tuple[np.ndarray, np.ndarray]] = LRU(
            STATE_MEMO)
        self._own: LRU[State, DecisionModel] = LRU(STATE_MEMO)  # the means' model per state
        # (state, position of the model whose successor arrays are used) -> reachable states
        self._reach: LRU[tuple[State, int], np.ndarray] = LRU(STATE_MEMO)

    def own_model(self, state: State) -> DecisionModel:
        """The means' model from ``state`` alone (a budget is per patient, from their state),
        cut out of this set's: no draws, whose values come from this set's sweeps. Kept in
        ``_own``; the index set it is cut from is kept in ``_reach``."""
        return self._own.get_or_make(state, lambda: Cut.of(
            self.mean, self.mean.index(state), self._reachable(self.mean, state)).apply(self.mean))

    def __contains__(self, state: State) -> bool:
        return state in self.mean

    @property
    def n_states(self) -> int:
        return self.mean.n_states

    def solved(self, objective: Objective, within: State | None = None) -> Solved:
        """Backward induction at the means and for every draw, kept per objective; with
        ``within``, and the objective not solved before, only over the states reachable from
        that state (a patient's own objective on a large shared model; not kept)."""
        found = self._sweeps.get(objective)
        if found is None:
            found = self._solve(objective, within)
            if within is None:
                self._sweeps.put(objective, found)
        return found

    def _solve(self, objective: Objective, within: State | None) -> Solved:
        weights = objective.weights()

        def one(model: DecisionModel) -> Sweep:
            if within is None:
                return sweep(model, model.objective_reward(weights))
            states = self._reachable(model, within)
            return sweep(model, states_reward(model, weights, states), states=states)
        return Solved(one(self.mean), [one(m) for m in self.draws])

    def _reachable(self, model: DecisionModel, state: State) -> np.ndarray:
        # draws built like the means share its successor arrays, hence one entry for them all
        # (keyed by the position of the model whose arrays they are, in this set)
        owner = next(k for k, m in enumerate((self.mean, *self.draws))
                     if m.succ_state is model.succ_state)
        key = (state, owner)
        found = self._reach.get(key)
        if found is None:
            found = reachable_states(model, model.index(state))
            self._reach.put(key, found)
        return found


@dataclass(frozen=True)
class Solved:
    mean: Sweep
    draws: list[Sweep]


def pair_parts(model: DecisionModel, parts: np.ndarray, s: int) -> np.ndarray:
    """(pairs of state ``s``, 4): discounted LY, QALY, cost and toxicity of each of its pairs
    followed by the swept policy (``reward + sum over successors of weight x parts``, the
    successors summed in entry order)."""
    lo, hi = model.state_ptr[s], model.state_ptr[s + 1]
    return _pair_parts(lo, hi, model.succ_ptr, model.succ_state, model.succ_weight,
                       model.reward, parts)


@numba.njit(cache=True, nogil=True)
def _pair_parts(lo: int, hi: int, succ_ptr: np.ndarray, succ_state: np.ndarray,
                succ_weight: np.ndarray, reward: np.ndarray,
                parts: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    out = np.empty((hi - lo, parts.shape[1]))
    for p in range(lo, hi):
        for k in range(parts.shape[1]):
            acc = 0.0
            for e in range(succ_ptr[p], succ_ptr[p + 1]):
                acc += succ_weight[e] * parts[succ_state[e], k]
            out[p - lo, k] = reward[p, k] + acc
    return out
