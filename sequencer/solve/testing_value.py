"""Value of information: the optimal value with versus without testing.

For each information strategy (baseline NGS, ctDNA surveillance, re-biopsy at progression, all
of them) the model is rebuilt and solved; the value of that information for a biomarker profile
is its optimal value minus the optimal value with no testing (the expected value of sample
information of a test-and-treat policy; with an NMB objective the tests' costs are included, so
the difference is a net value). It is never negative for LY or QALY objectives when tests are
free; a negative net value means the test costs more than it is worth at that threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sequencer.model.build import DecisionModel, build_model, cohort_roots
from sequencer.model.inputs import ModelInputs
from sequencer.model.states import InformationStrategy, State
from sequencer.solve.backward import solve_backward
from sequencer.solve.objective import Objective

STRATEGIES: dict[str, InformationStrategy] = {
    "none": InformationStrategy(),
    "baseline_ngs": InformationStrategy(baseline_ngs=True),
    "ctdna": InformationStrategy(ctdna=True),
    "rebiopsy": InformationStrategy(rebiopsy=True),
    "all": InformationStrategy(baseline_ngs=True, ctdna=True, rebiopsy=True),
}


@dataclass(frozen=True)
class TestingValueRow:
    information: str
    profile: str
    value: float
    value_of_testing: float
    first_line: str


def profile_label(state: State) -> str:
    return f"HER2+ CPS{state.cps}" + (" MSI-H" if state.msi_high else "")


def profile_values(model: DecisionModel, value: np.ndarray) -> dict[str, float]:
    """Value per biomarker profile (CPS band, MSI): the initial-probability-weighted mean over
    the profile's first-line states."""
    totals: dict[str, list[float]] = {}
    for s in range(model.n_states):
        weight = model.initial[s]
        if weight > 0:
            entry = totals.setdefault(profile_label(model.states[s]), [0.0, 0.0])
            entry[0] += weight * value[s]
            entry[1] += weight
    return {k: v[0] / v[1] for k, v in totals.items()}


def value_of_testing(
    make_inputs: Callable[[InformationStrategy], ModelInputs],
    objective: Objective,
    strategies: dict[str, InformationStrategy] | None = None,
) -> list[TestingValueRow]:
    """Rows per information strategy x profile (and ``cohort``) with the gain over no testing."""
    strategies = strategies or STRATEGIES
    results: dict[str, dict[str, tuple[float, str]]] = {}
    for name, info in {"none": STRATEGIES["none"], **strategies}.items():
        inputs = make_inputs(info)
        model = build_model(inputs, cohort_roots(inputs))
        solved = solve_backward(model, objective.weights())
        first_lines = {
            profile_label(model.states[s]): model.regimens[model.pair_regimen[solved.choice[s]]]
            for s in range(model.n_states)
            if model.initial[s] > 0 and not model.states[s].known
        }
        per_profile = {
            k: (v, first_lines.get(k, "")) for k, v in profile_values(model, solved.value).items()
        }
        per_profile["cohort"] = (float(model.initial @ solved.value), "")
        results[name] = per_profile
    rows = []
    for name in strategies:
        for profile, (value, first) in results[name].items():
            base = results["none"][profile][0]
            rows.append(TestingValueRow(name, profile, value, value - base, first))
    return rows
