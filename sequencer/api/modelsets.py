"""Solved models for the recommendation service, kept in memory between requests.

A recommendation needs the model from the patient's state at the posterior and parameter means
(the point estimates) and at each interval draw (the credible intervals). ``OptionSet`` holds,
for one set of model options, the inputs of the means and of every draw, each with its own line
template cache that lives as long as the option set: a state never seen before re-uses the
lines other requests already computed. ``ModelSet`` is the model of a set of roots (the standard
cohort's profiles, or one patient's state) at the means and at every draw, with its sweeps per
objective, so a state inside it is answered by reading arrays, without solving again.

Nothing here holds patient identifiers: the keys are model states and options.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace

import numba
import numpy as np

from sequencer.model.build import Cut, DecisionModel, build_model
from sequencer.model.inputs import ModelInputs
from sequencer.model.line import line_outcome, line_template, template_key
from sequencer.model.states import State
from sequencer.solve.backward import Sweep, reachable_states, states_reward, sweep
from sequencer.solve.objective import Objective

TEMPLATE_CACHE_LIMIT = 50_000  # line templates per draw before the cache starts over
SWEEP_SETS = 4  # objectives whose sweeps a model set keeps (by default)
DRAW_STATE_BUDGET = 300_000  # states built per model set, over the means and the draws
MIN_DRAWS = 4
STATE_MEMO = 4_096  # states whose objective-free results a model set keeps


class LRU:
    """A bounded, thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def get_or_make(self, key: Hashable, make: Callable[[], object]):
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def __len__(self) -> int:
        return len(self._data)


@dataclass
class OptionSet:
    """Inputs at the means and per draw for one set of model options, with template caches."""

    mean: ModelInputs
    draws: list[ModelInputs]
    caches: list[dict] = field(default_factory=list)  # [means, draw 0, draw 1, ...]

    def __post_init__(self) -> None:
        self.caches = [{} for _ in range(len(self.draws) + 1)]

    def build(self, k: int | None, roots: dict[State, float],
              like: DecisionModel | None = None) -> DecisionModel:
        """The model of ``roots`` at the means (``k=None``) or for draw ``k``; given ``like``
        (the model of the same roots at the means), draw ``k`` re-uses its states and pairs."""
        inputs, cache = (self.mean, self.caches[0]) if k is None else (self.draws[k],
                                                                       self.caches[k + 1])
        if len(cache) > TEMPLATE_CACHE_LIMIT:
            cache.clear()
        if like is not None:
            model = build_like(like, inputs, cache)
            if model is not None:
                return model
        return build_model(inputs, roots, cache=cache)


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
        self.draws = [options.build(k, roots, like=self.mean) for k in range(used)]
        self._sweeps = LRU(sweep_sets)
        self.memo = LRU(STATE_MEMO)  # per-state results that do not depend on the objective
        self._reach = LRU(STATE_MEMO)

    def own_model(self, state: State) -> DecisionModel:
        """The means' model from ``state`` alone (a budget is per patient, from their state),
        cut out of this set's: no draws, whose values come from this set's sweeps. Kept in
        ``_reach``, with the index sets whose arrays it is cut from."""
        return self._reach.get_or_make(("own model", state), lambda: Cut.of(
            self.mean, self.mean.index(state), self._reachable(self.mean, state)).apply(self.mean))

    def __contains__(self, state: State) -> bool:
        return state in self.mean._index

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
        # draws built like the means share its successor arrays, hence one entry for them all;
        # kept per model set (not in the shared ``memo``), whose models keep those ids alive
        key = (state, id(model.succ_state))
        found = self._reach.get(key)
        if found is None:
            found = reachable_states(model, model.index(state))
            self._reach.put(key, found)
        return found


@dataclass(frozen=True)
class Solved:
    mean: Sweep
    draws: list[Sweep]


def build_like(like: DecisionModel, inputs: ModelInputs, cache: dict) -> DecisionModel | None:
    """``like``'s states, pairs and successors with the numbers of ``inputs`` (another draw of
    the same options): what a line depends on (its template key) and which ways it can end do
    not depend on the draw, so only rewards and probabilities are recomputed, skipping the
    reachability search. None when a line's endings differ (a probability exactly zero in one
    and not the other); the caller then builds the model from scratch."""
    keys = like.__dict__.get("_pair_keys")
    if keys is None:
        keys = [None if like.regimens[r] == like.inputs.supportive_id
                else template_key(like.inputs, like.states[s], like.regimens[r], cache)
                for s, r in zip(like.pair_state, like.pair_regimen)]
        object.__setattr__(like, "_pair_keys", keys)
    n = like.n_pairs
    reward, p_death, p_supportive = np.empty((n, like.reward.shape[1])), np.empty(n), np.empty(n)
    succ_prob, succ_weight = np.empty(like.n_entries), np.empty(like.n_entries)
    for p, key in enumerate(keys):
        state = like.states[like.pair_state[p]]
        regimen = like.regimens[like.pair_regimen[p]]
        if key is None:
            outcome = line_outcome(inputs, state, regimen, cache)  # supportive care: no moves
            reward[p], p_death[p], p_supportive[p] = outcome.reward, outcome.p_death, 0.0
            continue
        template = cache.get(key)
        if template is None:
            template = cache[key] = line_template(inputs, state, regimen)
        like_cache = like.__dict__.get("_line_cache", {})
        same = like_cache.get(key) or line_template(like.inputs, state, regimen)
        if list(template.moves) != list(same.moves):
            return None
        lo = like.succ_ptr[p]
        reward[p], p_death[p], p_supportive[p] = (template.reward, template.p_death,
                                                  template.p_supportive)
        for j, (prob, weight) in enumerate(template.moves.values()):
            succ_prob[lo + j], succ_weight[lo + j] = prob, weight
    model = replace(like, inputs=inputs, reward=reward, p_death=p_death,
                    p_supportive=p_supportive, succ_prob=succ_prob, succ_weight=succ_weight)
    object.__setattr__(model, "_line_cache", cache)
    object.__setattr__(model, "_index_cache", like._index)
    return model


def pair_parts(model: DecisionModel, parts: np.ndarray, s: int) -> np.ndarray:
    """(pairs of state ``s``, 4): discounted LY, QALY, cost and toxicity of each of its pairs
    followed by the swept policy (``reward + sum over successors of weight x parts``, the
    successors summed in entry order)."""
    lo, hi = model.state_ptr[s], model.state_ptr[s + 1]
    return _pair_parts(lo, hi, model.succ_ptr, model.succ_state, model.succ_weight,
                       model.reward, parts)


@numba.njit(cache=True, nogil=True)
def _pair_parts(lo, hi, succ_ptr, succ_state, succ_weight, reward,
                parts):  # pragma: no cover - compiled
    out = np.empty((hi - lo, parts.shape[1]))
    for p in range(lo, hi):
        for k in range(parts.shape[1]):
            acc = 0.0
            for e in range(succ_ptr[p], succ_ptr[p + 1]):
                acc += succ_weight[e] * parts[succ_state[e], k]
            out[p - lo, k] = reward[p, k] + acc
    return out
