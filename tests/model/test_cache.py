"""The decision model's caches have one owner each and are keyed by the inputs they were built
from: a cache built from one set of inputs is never reused for another. References: models and
lines computed by inputs with a fresh (empty) cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sequencer.model.build import build_model, cohort_roots
from sequencer.model.cache import LRU, LineCache
from sequencer.model.line import line_components, line_outcome
from sequencer.model.states import State
from tests.solve.conftest import sources  # noqa: F401

ARRAYS = ("state_ptr", "pair_regimen", "reward", "p_death", "p_supportive", "succ_ptr",
          "succ_state", "succ_prob", "succ_weight", "initial")


def _draw(sources, draw, seed):  # noqa: F811
    return sources.inputs(draw=draw, parameters=np.random.default_rng(seed))


def test_inputs_own_their_line_cache_and_replace_starts_an_empty_one(sources):  # noqa: F811
    inputs = sources.inputs()
    state = State(line=1, cps="1-9")
    line_outcome(inputs, state, "trastuzumab_fp_platinum")
    assert len(inputs.line_cache) == 1
    other = dataclasses.replace(inputs, discount_rate=0.0)
    assert other.line_cache is not inputs.line_cache and len(other.line_cache) == 0
    undiscounted = line_outcome(other, state, "trastuzumab_fp_platinum")
    discounted = line_outcome(inputs, state, "trastuzumab_fp_platinum")
    assert undiscounted.reward[0] > discounted.reward[0]  # not the other inputs' line
    draws = [_draw(sources, d, 7) for d in (3, 4)]
    assert draws[0].line_cache is not draws[1].line_cache


def test_a_draw_built_after_another_equals_one_built_alone(sources):  # noqa: F811
    """Models of two draws built one after the other (each on its own inputs' cache) equal the
    models built by fresh inputs of the same draws; the two draws differ."""
    first, second = _draw(sources, 3, 1), _draw(sources, 17, 2)
    roots = cohort_roots(first)
    models = [build_model(inputs, roots) for inputs in (first, second)]
    alone = [build_model(dataclasses.replace(inputs), roots) for inputs in (first, second)]
    for model, reference in zip(models, alone, strict=True):
        assert model.states == reference.states
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(model, name), getattr(reference, name))
    assert not np.array_equal(models[0].reward, models[1].reward)
    state = models[0].states[-1]
    regimen = models[0].regimens[models[0].pair_regimen[models[0].state_ptr[-2]]]
    assert line_components(first, state, regimen) is not line_components(second, state, regimen)


def test_eligibility_is_keyed_by_the_catalogue_it_was_computed_from(sources):  # noqa: F811
    """Two inputs sharing one eligibility cache but holding different catalogues (one where
    trastuzumab deruxtecan is not offered at line 2) get their own catalogue's answer."""
    inputs = sources.inputs()
    regimens = dict(inputs.catalogue.regimens)
    tdxd = regimens["trastuzumab_deruxtecan"]
    regimens[tdxd.id] = tdxd.model_copy(update={"lines": [3, 4]})
    narrower = inputs.catalogue.model_copy(update={"regimens": regimens})
    other = dataclasses.replace(inputs, catalogue=narrower)
    assert other.eligibility is inputs.eligibility  # shared, as between draws
    state = State(line=2, received=frozenset({"trastuzumab_fp_platinum"}),
                  progressed_on_her2=True)
    assert "trastuzumab_deruxtecan" in inputs.eligible(state)
    assert "trastuzumab_deruxtecan" not in other.eligible(state)
    assert "trastuzumab_deruxtecan" in inputs.eligible(state)


def test_caches_are_bounded():
    cache = LineCache(limit=3)
    for k in range(10):
        cache.template(("key", k), lambda: object())
        assert len(cache) <= 3
    with pytest.raises(ValueError, match="size"):
        LRU(0)
