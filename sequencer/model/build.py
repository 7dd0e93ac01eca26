"""DecisionModel: the reachable state graph as flat arrays (the solvers' input).

States are found by reachability from the initial states (a cohort's profiles, or one patient's
state) and numbered by line, so every successor of a state lies in a later block: the graph is
acyclic by construction (lines only increase). (state, regimen) pairs are sorted by state, and
their successors are stored in CSR layout (``succ_ptr``), which lets backward induction and the
LP read the same arrays.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from sequencer.model.inputs import ModelInputs
from sequencer.model.line import REWARDS, line_outcome
from sequencer.model.states import State, initial_distribution, profiles


@dataclass(frozen=True)
class ModelLayout:
    """Where each state sits and the state ranges of each line, last line first: derived from
    the states (in line order) once, and shared by the models with the same states (a model's
    draws, one cut applied to each draw)."""

    position: Mapping[State, int]
    blocks: np.ndarray  # (line, 2)

    @classmethod
    def of(cls, states: tuple[State, ...], line: np.ndarray) -> ModelLayout:
        return cls(MappingProxyType({s: i for i, s in enumerate(states)}), line_blocks(line))


@dataclass(frozen=True)
class DecisionModel:
    inputs: ModelInputs
    states: tuple[State, ...]
    regimens: tuple[str, ...]  # action labels (catalogue ids)
    line: np.ndarray  # (state,)
    state_ptr: np.ndarray  # (state + 1,) pairs of state s are state_ptr[s]:state_ptr[s+1]
    pair_state: np.ndarray  # (pair,)
    pair_regimen: np.ndarray  # (pair,) index into regimens
    reward: np.ndarray  # (pair, 4): discounted LY, QALY, cost; expected grade >= 3 AE episodes
    p_death: np.ndarray  # (pair,) probability the line (or supportive care) ends in death
    p_supportive: np.ndarray  # (pair,) probability of leaving to supportive care (attrition)
    succ_ptr: np.ndarray  # (pair + 1,)
    succ_state: np.ndarray  # (entry,)
    succ_prob: np.ndarray  # (entry,) transition probability
    succ_weight: np.ndarray  # (entry,) discounted transition weight
    initial: np.ndarray  # (state,) initial distribution (sums to one)
    build_seconds: float
    layout: ModelLayout = field(compare=False, repr=False)  # shared by models of these states

    def __post_init__(self) -> None:
        if len(self.layout.position) != len(self.states):
            raise ValueError(f"layout: {len(self.layout.position)} positions for "
                             f"{len(self.states)} states (ModelLayout.of the model's states)")

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_state)

    @property
    def n_entries(self) -> int:
        return len(self.succ_state)

    def index(self, state: State) -> int:
        try:
            return self.layout.position[state]
        except KeyError:
            raise KeyError(f"state {state.label()} is not reachable in this model") from None

    def __contains__(self, state: State) -> bool:
        return state in self.layout.position

    def pairs(self, s: int) -> range:
        return range(int(self.state_ptr[s]), int(self.state_ptr[s + 1]))

    def objective_reward(self, weights: np.ndarray) -> np.ndarray:
        """Per-pair reward for objective weights over ``REWARDS`` (LY, QALY, cost, toxicity)."""
        return self.reward @ np.asarray(weights, dtype=float)

    def nbytes(self) -> int:
        arrays = (self.line, self.state_ptr, self.pair_state, self.pair_regimen, self.reward,
                  self.p_death, self.p_supportive, self.succ_ptr, self.succ_state,
                  self.succ_prob, self.succ_weight, self.initial)
        return int(sum(a.nbytes for a in arrays))


def build_model(inputs: ModelInputs, roots: dict[State, float]) -> DecisionModel:
    """Every state reachable from ``roots`` (state -> initial probability) and its eligible
    regimens, with rewards and successors. Lines computed before with the same ``inputs`` are
    re-used from their line cache."""
    start = time.perf_counter()
    total = sum(roots.values())
    if not roots or not np.isclose(total, 1.0):
        raise ValueError(f"initial probabilities must sum to one, got {total}")
    for state in roots:
        if state.line > inputs.max_lines:
            raise ValueError(f"initial state line {state.line} > max_lines {inputs.max_lines}")
    seen: dict[State, list] = {}
    queue = deque(sorted(roots))
    for state in queue:
        seen[state] = []
    while queue:
        state = queue.popleft()
        for regimen in inputs.eligible(state):
            outcome = line_outcome(inputs, state, regimen)
            seen[state].append((regimen, outcome))
            for nxt in outcome.successors:
                if nxt not in seen:
                    seen[nxt] = []
                    queue.append(nxt)
    states = tuple(sorted(seen, key=lambda s: (s.line, s)))
    index = {s: i for i, s in enumerate(states)}
    regimen_ids = tuple(inputs.catalogue.regimens)
    pair_state, pair_regimen, rewards, p_death, p_supp = [], [], [], [], []
    succ_ptr, succ_state, succ_prob, succ_weight = [0], [], [], []
    state_ptr = [0]
    for i, state in enumerate(states):
        for regimen, outcome in seen[state]:
            pair_state.append(i)
            pair_regimen.append(regimen_ids.index(regimen))
            rewards.append(outcome.reward)
            p_death.append(outcome.p_death)
            p_supp.append(outcome.p_supportive)
            for nxt, (prob, weight) in outcome.successors.items():
                succ_state.append(index[nxt])
                succ_prob.append(prob)
                succ_weight.append(weight)
            succ_ptr.append(len(succ_state))
        state_ptr.append(len(pair_state))
    initial = np.zeros(len(states))
    for state, prob in roots.items():
        initial[index[state]] += prob
    line = np.array([s.line for s in states], dtype=np.int8)
    return DecisionModel(
        inputs=inputs, states=states, regimens=regimen_ids, line=line,
        state_ptr=np.array(state_ptr, dtype=np.int64),
        pair_state=np.array(pair_state, dtype=np.int64),
        pair_regimen=np.array(pair_regimen, dtype=np.int32),
        reward=np.array(rewards, dtype=float).reshape(-1, len(REWARDS)),
        p_death=np.array(p_death), p_supportive=np.array(p_supp),
        succ_ptr=np.array(succ_ptr, dtype=np.int64),
        succ_state=np.array(succ_state, dtype=np.int64),
        succ_prob=np.array(succ_prob), succ_weight=np.array(succ_weight),
        initial=initial, build_seconds=time.perf_counter() - start,
        layout=ModelLayout(MappingProxyType(index), line_blocks(line)),
    )


def cohort_roots(inputs: ModelInputs) -> dict[State, float]:
    """Initial states of the HER2-positive cohort, weighted by profile prevalence."""
    roots: dict[State, float] = {}
    for profile in profiles(inputs.values):
        for state, prob in initial_distribution(profile, inputs.values, inputs.info).items():
            roots[state] = roots.get(state, 0.0) + profile.prevalence * prob
    return roots


def line_blocks(line: np.ndarray) -> np.ndarray:
    """(line, 2) ranges of the states of each line, last line first (states in line order)."""
    lines = np.unique(line)
    bounds = np.searchsorted(line, lines, side="left").tolist() + [len(line)]
    return np.array([(bounds[k], bounds[k + 1]) for k in range(len(lines) - 1, -1, -1)],
                    dtype=np.int64).reshape(-1, 2)
