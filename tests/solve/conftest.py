"""Fixtures for the decision model: the committed posterior and parameters, and built models."""

from __future__ import annotations

import numpy as np
import pytest

from sequencer.model.build import DecisionModel, ModelLayout, build_model, cohort_roots
from sequencer.model.load import load_sources
from sequencer.model.states import InformationStrategy


@pytest.fixture(scope="session")
def sources():
    return load_sources()


@pytest.fixture(scope="session")
def standard_inputs(sources):
    return sources.inputs()


@pytest.fixture(scope="session")
def standard_model(standard_inputs) -> DecisionModel:
    """The cohort model with guideline / positive phase III regimens and no testing."""
    return build_model(standard_inputs, cohort_roots(standard_inputs))


@pytest.fixture(scope="session")
def tested_model(sources) -> DecisionModel:
    """All information (baseline NGS, ctDNA, re-biopsy) and investigational regimens opted in."""
    inputs = sources.inputs(info=InformationStrategy(True, True, True),
                            include_investigational=True)
    return build_model(inputs, cohort_roots(inputs))


def random_layered_model(rng: np.random.Generator, layers: int, width: int, actions: int,
                         successors: int, terminal_share: float = 0.3) -> DecisionModel:
    """A random acyclic MDP in DecisionModel layout: ``layers`` x ``width`` states, 1..actions
    pairs per state, each with up to ``successors`` successors in later layers and random
    substochastic discounted weights; rewards are random in [0, 1) (4 parts)."""
    n_states = layers * width
    line = np.repeat(np.arange(1, layers + 1), width).astype(np.int8)
    state_ptr, pair_state, succ_ptr = [0], [], [0]
    succ_state, succ_prob, succ_weight = [], [], []
    for s in range(n_states):
        k = int(rng.integers(1, actions + 1))
        layer = s // width
        for _ in range(k):
            pair_state.append(s)
            if layer + 1 < layers and rng.random() > terminal_share:
                later = np.arange((layer + 1) * width, n_states)
                chosen = rng.choice(later, size=min(successors, len(later)), replace=False)
                probs = rng.dirichlet(np.ones(len(chosen) + 1))[:-1]  # rest is death
                succ_state.extend(chosen.tolist())
                succ_prob.extend(probs.tolist())
                succ_weight.extend((probs * rng.uniform(0.8, 1.0)).tolist())
            succ_ptr.append(len(succ_state))
        state_ptr.append(len(pair_state))
    n_pairs = len(pair_state)
    initial = np.zeros(n_states)
    initial[:width] = rng.dirichlet(np.ones(width))
    return DecisionModel(
        inputs=None, states=tuple(range(n_states)), regimens=tuple(f"a{i}" for i in range(actions)),
        line=line, state_ptr=np.array(state_ptr), pair_state=np.array(pair_state),
        pair_regimen=np.array([i % actions for i in range(n_pairs)], dtype=np.int32),
        reward=rng.random((n_pairs, 4)), p_death=np.zeros(n_pairs), p_supportive=np.zeros(n_pairs),
        succ_ptr=np.array(succ_ptr), succ_state=np.array(succ_state, dtype=np.int64),
        succ_prob=np.array(succ_prob), succ_weight=np.array(succ_weight), initial=initial,
        build_seconds=0.0, layout=ModelLayout.of(tuple(range(n_states)), line),
    )


def enumerate_policies(model: DecisionModel, reward: np.ndarray) -> np.ndarray:
    """(value, toxicity, cost) x policy of every deterministic policy (one pair per state), each
    evaluated by the fixed-choice sweep: the brute-force reference for the budget solvers."""
    import itertools

    from sequencer.solve.backward import sweep

    options = [list(model.pairs(s)) for s in range(model.n_states)]
    out = []
    for choice in itertools.product(*options):
        result = sweep(model, reward, fixed=np.array(choice))
        out.append((model.initial @ result.value, model.initial @ result.parts[:, 3],
                    model.initial @ result.parts[:, 2]))
    return np.array(out).T
