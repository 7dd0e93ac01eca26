"""Models made from another model, without a reachability search.

* ``build_like``: the same states, pairs and successors with the numbers of other inputs (a
  posterior and parameter draw of the same options): what a line depends on (its template key)
  and which ways it can end do not depend on the draw, so only rewards and probabilities are
  recomputed. ``pair_template_keys`` gives the keys once per model; its owner keeps them.
* ``Cut``: the part of a model reachable from one state, re-indexed, applied to the model or to
  any model built like it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from sequencer.model.build import DecisionModel, ModelLayout
from sequencer.model.cache import TemplateKey
from sequencer.model.inputs import ModelInputs
from sequencer.model.line import line_outcome, line_template, template_key
from sequencer.model.states import State


def pair_template_keys(model: DecisionModel) -> list[TemplateKey | None]:
    """Each pair's template key (``None`` for supportive care, which has no moves)."""
    supportive = model.inputs.supportive_id
    return [None if model.regimens[r] == supportive
            else template_key(model.inputs, model.states[s], model.regimens[r])
            for s, r in zip(model.pair_state, model.pair_regimen)]


def build_like(like: DecisionModel, inputs: ModelInputs,
               keys: list[TemplateKey | None]) -> DecisionModel | None:
    """``like``'s states, pairs and successors with the numbers of ``inputs`` (another draw of
    the same options; ``keys``: ``pair_template_keys(like)``). ``None`` when a line's endings
    differ (a probability exactly zero in one and not the other); build the model from its
    roots then."""
    n = like.n_pairs
    reward, p_death, p_supportive = np.empty((n, like.reward.shape[1])), np.empty(n), np.empty(n)
    succ_prob, succ_weight = np.empty(like.n_entries), np.empty(like.n_entries)
    for p, key in enumerate(keys):
        state = like.states[like.pair_state[p]]
        regimen = like.regimens[like.pair_regimen[p]]
        if key is None:
            outcome = line_outcome(inputs, state, regimen)  # supportive care: no moves
            reward[p], p_death[p], p_supportive[p] = outcome.reward, outcome.p_death, 0.0
            continue
        found = inputs.line_cache.template(key, partial(line_template, inputs, state, regimen))
        same = like.inputs.line_cache.template(
            key, partial(line_template, like.inputs, state, regimen))
        if list(found.moves) != list(same.moves):
            return None
        lo = like.succ_ptr[p]
        reward[p], p_death[p], p_supportive[p] = found.reward, found.p_death, found.p_supportive
        for j, (prob, weight) in enumerate(found.moves.values()):
            succ_prob[lo + j], succ_weight[lo + j] = prob, weight
    return replace(like, inputs=inputs, reward=reward, p_death=p_death,
                   p_supportive=p_supportive, succ_prob=succ_prob, succ_weight=succ_weight)


@dataclass(frozen=True)
class Cut:
    """Where the model of one state sits inside a larger model: its states (ascending, so in
    line order), pairs and successor entries, with the arrays re-indexed to the smaller model.
    Models that share the larger model's structure (its draws, see ``build_like``) share it,
    and the cut models share its layout."""

    root: int  # in the smaller model
    states: tuple[State, ...]
    line: np.ndarray
    pairs: np.ndarray  # indices into the larger model's pairs
    entries: np.ndarray  # ... and successor entries
    state_ptr: np.ndarray
    succ_ptr: np.ndarray
    pair_state: np.ndarray
    succ_state: np.ndarray
    layout: ModelLayout

    @classmethod
    def of(cls, model: DecisionModel, root: int, reachable: np.ndarray) -> Cut:
        keep = np.sort(reachable)
        new = np.full(model.n_states, -1, dtype=np.int64)
        new[keep] = np.arange(len(keep))
        pairs, state_ptr = _ranges(model.state_ptr, keep)
        entries, succ_ptr = _ranges(model.succ_ptr, pairs)
        states, line = tuple(model.states[i] for i in keep), model.line[keep]
        return cls(int(new[root]), states, line, pairs, entries, state_ptr, succ_ptr,
                   new[model.pair_state[pairs]], new[model.succ_state[entries]],
                   ModelLayout.of(states, line))

    def apply(self, model: DecisionModel) -> DecisionModel:
        """The smaller model with ``model``'s numbers; the patient's state has probability 1."""
        initial = np.zeros(len(self.states))
        initial[self.root] = 1.0
        return DecisionModel(
            inputs=model.inputs, states=self.states, regimens=model.regimens, line=self.line,
            state_ptr=self.state_ptr, pair_state=self.pair_state,
            pair_regimen=model.pair_regimen[self.pairs], reward=model.reward[self.pairs],
            p_death=model.p_death[self.pairs], p_supportive=model.p_supportive[self.pairs],
            succ_ptr=self.succ_ptr, succ_state=self.succ_state,
            succ_prob=model.succ_prob[self.entries], succ_weight=model.succ_weight[self.entries],
            initial=initial, build_seconds=0.0, layout=self.layout)




def _ranges(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The concatenated ranges ``ptr[r]:ptr[r + 1]`` of ``rows``, and their new CSR pointer."""
    counts = ptr[rows + 1] - ptr[rows]
    new_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    flat = np.arange(new_ptr[-1], dtype=np.int64) + np.repeat(ptr[rows] - new_ptr[:-1], counts)
    return flat, new_ptr
