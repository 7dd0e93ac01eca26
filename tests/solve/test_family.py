"""Per-draw models built from the means model's structure (``build_like``) equal models built
from scratch by reachability (``build_model``): the second method is the reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sequencer.model.build import build_model, cohort_roots
from sequencer.model.cache import LRU
from sequencer.model.reuse import build_like, pair_template_keys
from sequencer.model.states import InformationStrategy, State
from sequencer.solve.backward import sweep
from sequencer.solve.family import ModelSet, OptionSet, pair_parts
from sequencer.solve.objective import Objective

ARRAYS = ("line", "state_ptr", "pair_state", "pair_regimen", "reward", "p_death",
          "p_supportive", "succ_ptr", "succ_state", "succ_prob", "succ_weight", "initial")


def _option_set(sources, draws=3, **options):
    rng = np.random.default_rng(11)
    options = {"discount_rate": 0.035, "max_lines": 4, **options}
    return OptionSet(sources.inputs(**options),
                     [sources.inputs(draw=d, parameters=np.random.default_rng(rng.integers(9e9)),
                                     **options) for d in (3, 17, 101)[:draws]])


@pytest.mark.parametrize("options", [{}, {"include_investigational": True},
                                     {"info": InformationStrategy(True, False, True)}])
def test_models_built_like_the_means_equal_models_built_from_scratch(sources, options):
    """Two draws, each with its own posterior draw and parameter sample (the numbers
    ``build_like`` must take from the draw, not from the means); a third adds no new path and
    costs a from-scratch build of the largest model (with testing) each."""
    opts = _option_set(sources, draws=2, **options)
    for roots in (cohort_roots(opts.mean), {State(line=2, cps="1-9", received=frozenset(
            {"trastuzumab_fp_platinum"}), progressed_on_her2=True): 1.0}):
        like = build_model(opts.mean, roots)
        for inputs in opts.draws:
            shared = build_like(like, inputs, pair_template_keys(like))
            scratch = build_model(dataclasses.replace(inputs), roots)  # a fresh line cache
            assert shared is not None
            assert shared.states == scratch.states and shared.regimens == scratch.regimens
            for name in ARRAYS:
                np.testing.assert_array_equal(getattr(shared, name), getattr(scratch, name),
                                              err_msg=name)
            assert not np.array_equal(shared.reward, like.reward)  # the draw's own numbers


def test_a_draw_whose_line_ends_differently_is_built_from_scratch(sources, monkeypatch):
    """If a draw's template lists other endings (a probability exactly zero in one of them),
    ``build_like`` declines and ``ModelSet`` falls back to reachability."""
    from sequencer.model import line, reuse

    opts = _option_set(sources, draws=1)
    roots = {State(line=1): 1.0}
    real = line.line_template
    calls = {"n": 0}

    def drop_an_ending(inputs, state, regimen):
        template = real(inputs, state, regimen)
        if inputs is opts.draws[0] and template.moves:
            calls["n"] += 1
            template.moves.pop(next(iter(template.moves)))
        return template

    monkeypatch.setattr(line, "line_template", drop_an_ending)
    monkeypatch.setattr(reuse, "line_template", drop_an_ending)
    like = build_model(opts.mean, roots)  # templates of the means come from its own cache
    assert build_like(like, opts.draws[0], pair_template_keys(like)) is None and calls["n"] > 0
    models = ModelSet(opts, roots)  # the draw is built by reachability instead
    assert models.draws[0].n_entries < models.mean.n_entries  # with the fewer endings
    again = build_model(opts.draws[0], roots)  # the same (altered) lines, from its cache
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(models.draws[0], name), getattr(again, name))


def test_the_lru_keeps_the_most_recently_used():
    lru = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("c", 3)
    assert lru.get("b") is None and lru.get("a") == 1 and lru.get("c") == 3 and len(lru) == 2
    assert lru.get_or_make("d", lambda: 4) == 4 and lru.get("a") is None


def test_pair_parts_equal_a_policy_evaluation_with_that_pair_chosen(sources):
    """``pair_parts`` (each pair of one state followed by the swept policy) against a second
    method: the sweep's policy evaluation with the state's choice fixed to that pair."""
    opts = _option_set(sources, draws=1)
    model = build_model(opts.mean, cohort_roots(opts.mean))
    weights = Objective("nmb", 25_000.0).weights()
    swept = sweep(model, model.objective_reward(weights))
    checked = 0
    for s in (0, model.n_states // 3, model.n_states // 2):
        parts = pair_parts(model, swept.parts, s)
        assert parts.shape == (len(model.pairs(s)), 4)
        for j, p in enumerate(model.pairs(s)):
            fixed = swept.choice.copy()
            fixed[s] = p
            evaluated = sweep(model, model.objective_reward(weights), fixed=fixed)
            np.testing.assert_allclose(parts[j], evaluated.parts[s], rtol=1e-12, atol=1e-12)
            checked += 1
    assert checked > 3


def _graph(model) -> dict:
    """The model as a mapping from each state to its pairs (regimen, rewards, ends and
    successors by state): independent of the numbering of the states within a line, which
    ``build_model`` leaves to the order states were found in (sets order only partially)."""
    graph = {}
    for s, state in enumerate(model.states):
        pairs = []
        for p in model.pairs(s):
            lo, hi = model.succ_ptr[p], model.succ_ptr[p + 1]
            pairs.append((model.regimens[model.pair_regimen[p]], tuple(model.reward[p]),
                          model.p_death[p], model.p_supportive[p],
                          [(model.states[model.succ_state[e]], model.succ_prob[e],
                            model.succ_weight[e]) for e in range(lo, hi)]))
        graph[state] = (model.initial[s], pairs)
    return graph


def test_a_state_cut_out_of_the_cohort_equals_its_model_built_from_scratch(sources):
    """``ModelSet.own_model`` (a ``Cut`` indexing the cohort's arrays, what a budget is solved
    on) against ``build_model`` from the state (reachability): the same states, and for each
    the same regimens in the same order with the same numbers and successors."""
    opts = _option_set(sources)
    cohort = ModelSet(opts, cohort_roots(opts.mean))
    by_line = {}
    for state in cohort.mean.states:
        by_line.setdefault(state.line, []).append(state)
    picks = [states[i] for states in by_line.values() for i in (0, len(states) // 2)]
    assert len(by_line) == 4
    for state in picks:
        model = cohort.own_model(state)
        assert model is cohort.own_model(state)  # kept
        assert model.n_states < cohort.n_states
        scratch = build_model(opts.mean, {state: 1.0})
        assert set(model.states) == set(scratch.states)
        assert model.regimens == scratch.regimens
        assert _graph(model) == _graph(scratch), state.label()
        assert list(model.line) == sorted(model.line)  # line order, as the sweep needs
        assert model.index(state) == int(np.argmax(model.initial))
