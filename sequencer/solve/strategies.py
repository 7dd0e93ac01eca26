"""Named strategies (policies/*.yaml): fixed sequences evaluated by the same engine.

A strategy lists, per line, regimens in order of preference, each optionally restricted to
biomarker states (``when``). In a state the first option that matches and is eligible (HER2
status, contraindications, not already received) is given; if none is, the options of later
lines that are offered at this line are tried, then best supportive care. Budget presets live
in ``policies/budgets.yaml``. Validation names the file and the bad step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sequencer.errors import SequencerError
from sequencer.evidence.catalogue import Catalogue
from sequencer.model.build import DecisionModel
from sequencer.model.states import State
from sequencer.solve.backward import sweep
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.policy import Policy
from sequencer.vocabulary import CPS_BAND_IDS, HER2_STATUS_IDS, LINES, CpsBand, Her2Status

DEFAULT_POLICIES = Path(__file__).resolve().parents[2] / "policies"


class StrategyError(SequencerError):
    """A strategy or budget preset file is malformed or names something unknown."""


class When(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cps: list[CpsBand] = list(CPS_BAND_IDS)
    her2: list[Her2Status] = list(HER2_STATUS_IDS)

    def matches(self, state: State) -> bool:
        return state.cps in self.cps and state.her2 in self.her2


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    regimen: str
    when: When = When()


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    line: int = Field(ge=LINES[0], le=LINES[-1])
    options: list[Option] = Field(min_length=1)


class Strategy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str
    source: str
    steps: list[Step] = Field(min_length=1)

    def candidates(self, line: int) -> list[Option]:
        own = [o for s in self.steps if s.line == line for o in s.options]
        later = [o for s in self.steps if s.line > line for o in s.options]
        return own + later


def load_strategy(path: str | Path, catalogue: Catalogue) -> Strategy:
    path = Path(path)
    if not path.exists():
        raise StrategyError(f"{path}: strategy file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise StrategyError(f"{path}: not valid YAML: {exc}") from None
    return strategy_from_dict(raw, str(path), catalogue)


def strategy_from_dict(raw: Any, where: str, catalogue: Catalogue) -> Strategy:
    """Validate a strategy given as data; errors start with ``where`` and name the step."""
    try:
        strategy = Strategy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise StrategyError(f"{where}: {problems}") from None
    lines = [s.line for s in strategy.steps]
    if len(set(lines)) != len(lines):
        raise StrategyError(f"{where}: steps: line listed twice ({sorted(lines)})")
    for i, step in enumerate(strategy.steps):
        for j, option in enumerate(step.options):
            at = f"{where}: steps[{i}] (line {step.line}) options[{j}]"
            if option.regimen not in catalogue.regimens:
                raise StrategyError(
                    f"{at}: regimen '{option.regimen}' is not in the catalogue; known: "
                    f"{', '.join(sorted(r for r, e in catalogue.regimens.items() if e.lines))}"
                )
            offered = catalogue.regimens[option.regimen].lines
            if step.line not in offered:
                raise StrategyError(
                    f"{at}: regimen '{option.regimen}' is not offered at line {step.line} "
                    f"(priors/regimens.yaml lines: {offered})"
                )
    return strategy


def available_strategies(folder: str | Path = DEFAULT_POLICIES) -> dict[str, Path]:
    return {p.stem: p for p in sorted(Path(folder).glob("*.yaml")) if p.stem != "budgets"}


def load_named(name: str, catalogue: Catalogue,
               folder: str | Path = DEFAULT_POLICIES) -> Strategy:
    known = available_strategies(folder)
    if name not in known:
        raise StrategyError(f"strategy: '{name}' is not one of {sorted(known)}")
    return load_strategy(known[name], catalogue)


def load_budget_preset(name: str, folder: str | Path = DEFAULT_POLICIES) -> Budget:
    path = Path(folder) / "budgets.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    presets = raw.get("presets", {})
    if name not in presets:
        raise StrategyError(f"budget preset: '{name}' is not one of {sorted(presets)} ({path})")
    entry = presets[name]
    unknown = set(entry) - {"description", "toxicity", "cost"}
    if unknown:
        raise StrategyError(f"{path}: presets.{name}: unknown keys {sorted(unknown)}")
    return Budget(toxicity=entry.get("toxicity"), cost=entry.get("cost"))


def strategy_choice(model: DecisionModel, strategy: Strategy) -> np.ndarray:
    """Pair chosen by the strategy in every state of ``model``."""
    choice = np.empty(model.n_states, dtype=np.int64)
    index = {r: i for i, r in enumerate(model.regimens)}
    supportive = index[model.inputs.supportive_id]
    for s, state in enumerate(model.states):
        pairs = {int(model.pair_regimen[p]): p for p in model.pairs(s)}
        picked = pairs[supportive]
        for option in strategy.candidates(state.line):
            k = index[option.regimen]
            if k in pairs and option.when.matches(state):
                picked = pairs[k]
                break
        choice[s] = picked
    return choice


def evaluate_strategy(model: DecisionModel, strategy: Strategy, objective: Objective) -> Policy:
    """Value of a fixed strategy by the backward sweep with the choice fixed.

    The model should be built with ``include_investigational=True`` so that every regimen a
    strategy names is an action where it is clinically eligible."""
    choice = strategy_choice(model, strategy)
    result = sweep(model, model.objective_reward(objective.weights()), fixed=choice)
    return Policy.from_sweep(model, objective, result, strategy.name)


def resolve_budget(toxicity: float | None, cost: float | None,
                   preset: str | None = None, folder: str | Path = DEFAULT_POLICIES) -> Budget:
    """The budgets of a query: each limit given explicitly (0 included) stands; a limit left
    out is taken from ``preset`` (a preset of ``policies/budgets.yaml``), if any."""
    if preset is None:
        return Budget(toxicity, cost)
    found = load_budget_preset(preset, folder)
    return Budget(found.toxicity if toxicity is None else toxicity,
                  found.cost if cost is None else cost)


def named_strategy_policies(model: DecisionModel, names: list[str], objective: Objective,
                            full: Callable[[], DecisionModel]) -> list[Policy]:
    """The value of each named strategy (``policies/``), each evaluated on ``model`` when it
    offers investigational regimens, else on ``full()`` (the same model with them): a strategy
    may name a regimen that is opt-in for an optimal policy."""
    if not names:
        return []
    target = model if model.inputs.include_investigational else full()
    return [evaluate_strategy(target, load_named(name, target.inputs.catalogue), objective)
            for name in names]

