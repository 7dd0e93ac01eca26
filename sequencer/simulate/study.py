"""A cohort policy study: its specification, its shards and the work of one shard.

A study simulates ``patients`` patients under each strategy for each of ``draws`` joint draws of
the uncertain inputs (a posterior draw of the trial-level model and a draw of every parameter
in ``priors/parameters.yaml``). The work is cut into shards of (draw, patient chunk). A shard's
random numbers come from ``SeedSequence(seed, spawn_key=(draw, chunk))`` and its inputs from the
draw alone, so the result never depends on which worker ran it, or how many there were. Every
strategy of a shard sees the same patients (common random numbers).

Strategies: ``optimal`` (the policy re-optimised for each draw), ``optimal-mean`` (the policy
optimal at the posterior and parameter means, applied to every draw; the difference between the
two is the price of parameter uncertainty), or a named strategy in ``policies/``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypedDict

import numpy as np

from sequencer.model.build import DecisionModel, build_model, cohort_roots
from sequencer.model.inputs import ModelInputs
from sequencer.model.load import ModelSources
from sequencer.model.states import InformationStrategy, State
from sequencer.simulate.cohort_csv import read_cohort
from sequencer.solve.backward import solve_backward
from sequencer.solve.objective import Objective
from sequencer.solve.strategies import (
    Strategy,
    available_strategies,
    load_named,
    strategy_choice,
)
from sequencer.vocabulary import ObjectiveId, Vocabulary

OPTIMAL, OPTIMAL_MEAN = "optimal", "optimal-mean"
_PARAMETER_STREAM = 1 << 20  # spawn key offset of the parameter draws (never a chunk number)


class StudyError(ValueError):
    """A study specification field is invalid; the message names it and the allowed values."""


@dataclass(frozen=True)
class StudySpec:
    strategies: tuple[str, ...]
    draws: int
    patients: int
    seed: int
    chunk: int = 10_000
    objective: ObjectiveId = "qaly"  # ``validate`` checks it (``from_json`` reads any string)
    wtp: float = 30_000.0
    info: str = "none"
    investigational: bool = False
    histories: int = 1_000  # patients of draw 0 whose line-by-line histories are kept
    kind: str = field(default="cohort")
    cohort: str | None = None  # a CSV of patients (cohort_csv); None: the prevalences
    cohort_sha256: str | None = None  # the file's hash, so a resumed run uses the same patients

    def validate(self, vocabulary: Vocabulary | None = None) -> StudySpec:
        """Check every field before any work starts; a cohort file's alterations against
        ``vocabulary`` (that of the priors the study runs on; default: the packaged one)."""
        known = set(available_strategies()) | {OPTIMAL, OPTIMAL_MEAN}
        bad = [s for s in self.strategies if s not in known]
        if not self.strategies or bad:
            raise StudyError(f"strategies: {bad or '(none)'} not among {sorted(known)}")
        if len(set(self.strategies)) != len(self.strategies):
            raise StudyError(f"strategies: {list(self.strategies)} lists one twice")
        for name in ("draws", "patients", "chunk"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise StudyError(f"{name}: expected a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise StudyError(f"seed: expected a non-negative integer, got {self.seed!r}")
        Objective(self.objective, self.wtp)  # raises naming the objective
        InformationStrategy.parse(self.info)
        if self.cohort is not None:
            rows = len(read_cohort(self.cohort, vocabulary))
            if rows != self.patients:
                raise StudyError(f"patients: {self.patients}, but the cohort file "
                                 f"{self.cohort} has {rows} patients")
            if self.cohort_sha256 != file_sha256(self.cohort):
                raise StudyError(f"cohort: {self.cohort} changed since the study started "
                                 "(its sha256 differs); use a new run directory")
        return self

    def with_cohort(self, path: str, vocabulary: Vocabulary | None = None) -> StudySpec:
        """This study on the patients of a CSV file (patients = its rows), their alterations
        checked against ``vocabulary`` (default: the packaged one)."""
        from dataclasses import replace

        states = read_cohort(path, vocabulary)
        return replace(self, cohort=str(Path(path).resolve()), patients=len(states),
                       cohort_sha256=file_sha256(path))

    @property
    def all_strategies(self) -> tuple[str, ...]:
        """The strategies simulated: ``optimal`` brings ``optimal-mean`` along."""
        add = OPTIMAL in self.strategies and OPTIMAL_MEAN not in self.strategies
        return tuple(self.strategies) + ((OPTIMAL_MEAN,) if add else ())

    def shards(self) -> list[tuple[int, int, int]]:
        """(draw, chunk, patients in the chunk) for every shard."""
        sizes = [min(self.chunk, self.patients - start)
                 for start in range(0, self.patients, self.chunk)]
        return [(d, c, n) for d in range(self.draws) for c, n in enumerate(sizes)]

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"strategies": list(self.strategies)}, indent=2,
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StudySpec:
        data = json.loads(text)
        data["strategies"] = tuple(data["strategies"])
        return cls(**data)


def posterior_indices(spec: StudySpec, n_posterior: int) -> np.ndarray:
    """Which posterior draw each study draw uses (without replacement while there are enough)."""
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(_PARAMETER_STREAM,)))
    return rng.choice(n_posterior, size=spec.draws, replace=spec.draws > n_posterior)


def draw_inputs(sources: ModelSources, spec: StudySpec, draw: int) -> ModelInputs:
    """The model inputs of study draw ``draw``: its posterior draw and its parameter draw."""
    index = int(posterior_indices(spec, sources.posterior.n_draws)[draw])
    return sources.inputs(draw=index, parameters=_parameter_rng(spec, draw),
                          **model_options(spec))


def _parameter_rng(spec: StudySpec, draw: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(
        spec.seed, spawn_key=(_PARAMETER_STREAM + 1 + draw,)))


def draw_parameters(sources: ModelSources, spec: StudySpec) -> tuple[list[str], np.ndarray]:
    """Every study draw's inputs as ``draw_inputs`` uses them, (draw, parameter), for EVPPI:
    the parameter file's values, then the posterior's log hazards and AE log-odds per cell."""
    names = list(sources.parameters.distributions)
    rows = np.array([list(sources.parameters.flat_values(_parameter_rng(spec, d)).values())
                     for d in range(spec.draws)])
    # the trial-level posterior: log hazards and AE logits of every informed cell
    post = sources.posterior
    index = posterior_indices(spec, post.n_draws)
    blocks = []
    for name, array, link in (("pfs", post.pfs_hazard, np.log), ("os", post.os_hazard, np.log),
                              ("grade3_ae", post.grade3_ae, lambda p: np.log(p / (1 - p)))):
        cells = array[index].reshape(spec.draws, -1)
        keep = np.isfinite(cells).all(axis=0)
        blocks.append(link(cells[:, keep]))
        names += [f"posterior.{name}.{k}" for k in np.flatnonzero(keep)]
    return names, np.hstack([rows, *blocks])


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def study_roots(spec: StudySpec, inputs: ModelInputs) -> dict[State, float]:
    """First-line states and their weights: the given cohort's, or the prevalences'."""
    if spec.cohort is None:
        return cohort_roots(inputs)
    states = read_cohort(spec.cohort, inputs.vocabulary)
    roots: dict[State, float] = {}
    for state in states:
        roots[state] = roots.get(state, 0.0) + 1.0 / len(states)
    return roots


class ModelOptions(TypedDict):
    """The keyword options of ``ModelSources.inputs`` a study sets."""

    info: InformationStrategy
    include_investigational: bool


def model_options(spec: StudySpec) -> ModelOptions:
    return {"info": InformationStrategy.parse(spec.info),
            "include_investigational": spec.investigational}


@dataclass(frozen=True)
class StudyPlan:
    """What every draw of a study shares, prepared once by the driver: the policy optimal at the
    means (state -> regimen) and the named strategies, read and validated."""

    mean: dict[State, str]  # state -> regimen id
    named: dict[str, Strategy]


def plan_study(sources: ModelSources, spec: StudySpec) -> StudyPlan:
    catalogue = sources.evidence.catalogue
    named = {name: load_named(name, catalogue) for name in spec.all_strategies
             if name not in (OPTIMAL, OPTIMAL_MEAN)}
    mean = mean_policy(sources, spec) if OPTIMAL_MEAN in spec.all_strategies else {}
    return StudyPlan(mean, named)


def mean_policy(sources: ModelSources, spec: StudySpec) -> dict[State, str]:
    """The policy optimal at the means, as state -> regimen id (to apply to any draw)."""
    inputs = sources.inputs(**model_options(spec))
    model = build_model(inputs, study_roots(spec, inputs))
    choice = solve_backward(model, Objective(spec.objective, spec.wtp).weights()).choice
    return {state: model.regimens[model.pair_regimen[choice[s]]]
            for s, state in enumerate(model.states)}


def strategy_choices(model: DecisionModel, spec: StudySpec,
                     plan: StudyPlan) -> dict[str, np.ndarray]:
    """The choice (state -> pair) of every strategy of the study on one draw's model."""
    optimal = solve_backward(model, Objective(spec.objective, spec.wtp).weights()).choice
    out = {}
    for name in spec.all_strategies:
        if name == OPTIMAL:
            out[name] = optimal
        elif name == OPTIMAL_MEAN:
            out[name] = _apply(model, plan.mean, optimal)
        else:
            out[name] = strategy_choice(model, plan.named[name])
    return out


def _apply(model: DecisionModel, regimen_of: dict[State, str], fallback: np.ndarray) -> np.ndarray:
    """``regimen_of`` (state -> regimen) as a choice on ``model``; a state it does not cover
    (reachable only under this draw's parameters) keeps ``fallback``."""
    choice = fallback.copy()
    for s, state in enumerate(model.states):
        wanted = regimen_of.get(state)
        for p in model.pairs(s):
            if model.regimens[model.pair_regimen[p]] == wanted:
                choice[s] = p
                break
    return choice
