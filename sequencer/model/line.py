"""One line of therapy in one state: its duration, how it ends, its rewards and its successors.

The line ends at the first of progression, death and discontinuation for toxicity. With a
progression-free hazard ``lp`` (per month) from the ``ParameterSet`` (adjusted for the state's
alterations and prior exposure) and a probability ``q`` that the line stops for toxicity before
progression (grade >= 3 AE probability x the share of those that stop treatment), the line-end
hazard is ``l = lp / (1 - q)``: death ``f lp``, progression ``(1 - f) lp``, toxicity ``lp q/(1-q)``.
With a continuous discount rate ``d`` per month, the discounted expected time on the line is
``1 / (l + d)`` and each ending's discounted weight is its hazard over ``l + d``
(the semi-Markov discounting of e.g. Puterman 1994, section 11.1).

Alterations that testing has not found are carried as a belief (``hidden_belief``); the line's
outcome is the mixture over the present/absent combinations of those alterations. The belief
depends only on the state and the information strategy, which keeps the process Markov in the
known state; it ignores what the length of the line itself says about the tumour (documented
simplification).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import product
from types import MappingProxyType

import numpy as np

from sequencer.model.cache import TemplateKey
from sequencer.model.inputs import ModelInputs
from sequencer.model.states import State
from sequencer.vocabulary import REWARD_PARTS, is_her2_directed

REWARDS = REWARD_PARTS
# a change to the state at the end of a line: (HER2 observed, alterations found,
# new contraindications, progressed on anti-HER2 therapy); see ``next_state``
Move = tuple[str, frozenset[str], frozenset[str], bool]
# (weight, hazard factor, present hidden alterations) of one hidden configuration
Config = tuple[float, float, frozenset[str]]


@dataclass
class LineOutcome:
    """Rewards (discounted LY, QALY, cost; expected grade >= 3 AE episodes) and where the line
    leads. ``successors`` maps each next state to (probability, discounted weight)."""

    reward: np.ndarray
    p_death: float
    p_supportive: float
    successors: dict[State, list[float]]
    p_events: Mapping[str, float]
    months: float  # expected (undiscounted) time on the line


def hidden_belief(inputs: ModelInputs, state: State) -> dict[str, float]:
    """Probability that each alteration is present but not known (and HER2 lost unseen)."""
    v, info = inputs.values, inputs.info
    s_ngs = v.testing.ngs_sensitivity if info.baseline_ngs else 0.0
    s_test = inputs.test_sensitivity
    belief: dict[str, float] = {}
    for m, prior in v.baseline_alteration.items():
        if m in state.known:
            continue
        p = prior * (1 - s_ngs) / (1 - prior * s_ngs)
        if state.progressed_on_her2:
            p = 1 - (1 - p) * (1 - v.acquisition.mechanisms[m])
            p = p * (1 - s_test) / (1 - p * s_test)
        if p > 0:
            belief[m] = p
    if state.her2 == "positive" and state.progressed_on_her2:
        a = v.acquisition.her2_loss
        belief["her2_loss"] = a * (1 - s_test) / (1 - a * s_test)
    return belief


def _configs(inputs: ModelInputs, state: State, regimen: str
             ) -> tuple[list[Config], dict[str, float], tuple[str, ...]]:
    """(weight, hazard factor, present hidden set) over the hidden alterations that matter."""
    entry = inputs.catalogue.regimens[regimen]
    if not inputs.her2_directed(entry):
        return [(1.0, 1.0, frozenset())], hidden_belief(inputs, state), ()
    belief = hidden_belief(inputs, state)
    factor_known = 1.0
    for m in state.known:
        factor_known *= inputs.mechanism_factor(m, True)
    names = list(belief)
    configs: list[Config] = []
    for flags in product((False, True), repeat=len(names)):
        weight, factor = 1.0, factor_known
        for name, flag in zip(names, flags):
            weight *= belief[name] if flag else 1 - belief[name]
            if name == "her2_loss":
                factor *= inputs.her2_loss_factor(regimen, state.line) if flag else 1.0
            else:
                factor *= inputs.mechanism_factor(name, flag)
        for name in inputs.values.baseline_alteration:  # no belief (prevalence 0): absent
            if name not in belief and name not in state.known:
                factor *= inputs.mechanism_factor(name, False)
        configs.append((weight, factor, frozenset(n for n, f in zip(names, flags) if f)))
    return configs, belief, tuple(names)


def _detections(inputs: ModelInputs, state: State, present: frozenset[str],
                belief: dict[str, float], enumerated: tuple[str, ...]
                ) -> Iterator[tuple[str, frozenset[str], float]]:
    """Distribution of (her2 observed, newly known alterations) at the resistance event: an
    alteration is present if it was in this combination or is acquired now; testing finds a
    present one with the test sensitivity."""
    v, s = inputs.values, inputs.test_sensitivity
    per_mech = []
    for m, acquired in v.acquisition.mechanisms.items():
        if m in state.known:
            continue
        if m in present:
            p_present = 1.0
        elif m in enumerated:
            p_present = acquired  # absent before the event in this combination
        else:
            p_present = 1 - (1 - belief.get(m, 0.0)) * (1 - acquired)
        per_mech.append((m, p_present * s))
    loss = v.acquisition.her2_loss * s if state.her2 == "positive" else 0.0
    to_ihc0 = v.acquisition.her2_loss_to_ihc0
    her2_outcomes = [(state.her2, 1 - loss)]
    if loss > 0:
        her2_outcomes += [("low", loss * (1 - to_ihc0)), ("negative", loss * to_ihc0)]
    for flags in product((False, True), repeat=len(per_mech)):
        prob = 1.0
        for (_, p), flag in zip(per_mech, flags):
            prob *= p if flag else 1 - p
        if prob == 0.0:
            continue
        found = frozenset(m for (m, _), flag in zip(per_mech, flags) if flag)
        for her2, p_her2 in her2_outcomes:
            if p_her2 > 0:
                yield her2, found, prob * p_her2


@dataclass
class Template:
    """A line's outcome with successors as changes to the state (shared by states that differ
    only in ways this line does not depend on, e.g. which other regimens were received)."""

    reward: np.ndarray
    p_death: float
    p_supportive: float
    moves: dict[Move, list[float]]
    p_events: Mapping[str, float]
    months: float
    components: tuple[Component, ...]  # the same line, one hidden configuration at a time


@dataclass(frozen=True)
class Component:
    """One hidden configuration of a line, for patient-level simulation: given it, the time on
    the line is exponential with ``rate`` (per month) and independent of how the line ends (the
    ending hazards are constant), so a patient draws the configuration, the time, then one of
    ``outcomes``: (kind, move, event, probability) with kind ``death``, ``supportive`` (not fit
    for another line) or ``next`` (``move`` is the change to the state, see ``next_state``) and
    event ``death``, ``progression`` or ``toxicity``. ``line_outcome`` lists its successors in
    the order moves first appear here, so a ``DecisionModel`` pair's k-th successor entry is the
    state after the k-th distinct move."""

    weight: float
    rate: float
    outcomes: tuple[tuple[str, Move | None, str, float], ...]


@dataclass(frozen=True)
class LineComponents:
    """What a simulated patient needs for one line: its hidden configurations and the per-line
    constants of the rewards (the solver's expected rewards are their expectation)."""

    components: tuple[Component, ...]
    utility: float
    monthly_cost: float
    p_ae: float  # probability of a grade >= 3 AE episode on the line
    ae_cost: float
    ae_qaly_loss: float  # QALYs lost per episode
    start_cost: float  # one-off cost at the start of the line (baseline NGS at line 1)
    progression_cost: float  # one-off cost at a progression that is tested (re-biopsy)

    @cached_property
    def median_months(self) -> float:
        """Median time on the line (months): the median of the mixture of its components."""
        return median_months(self.components)


def median_months(components: tuple[Component, ...]) -> float:
    """Median of a mixture of exponentials (weights, rates): solves sum w e^{-r t} = 1/2 by
    bisection (60 halvings of an interval that holds it)."""
    if len(components) == 1:
        return float(np.log(2) / components[0].rate)
    w = np.array([c.weight for c in components])
    r = np.array([c.rate for c in components])
    w = w / w.sum()
    lo, hi = 0.0, float(np.log(2) / r.min()) * 2 + 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if (w * np.exp(-r * mid)).sum() > 0.5:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def template_key(inputs: ModelInputs, state: State, regimen: str) -> TemplateKey:
    """What the line's outcome depends on; the classes already received are kept per
    (received, regimen) in the inputs' line cache because many states share them."""
    exposures = inputs.line_cache.exposure
    exposure_key = (state.received, regimen)
    exposure = exposures.get(exposure_key)
    if exposure is None:
        classes = inputs.catalogue.regimens
        exposure = exposures[exposure_key] = frozenset(
            c for r in state.received for c in classes[r].drug_classes
        ) & frozenset(classes[regimen].drug_classes)
    creates = frozenset(inputs.catalogue.regimens[regimen].creates)
    return (regimen, state.line, state.her2, state.cps, state.known, state.progressed_on_her2,
            exposure,
            state.contraindications & creates)


def template(inputs: ModelInputs, state: State, regimen: str) -> Template:
    """The line's template, from the inputs' line cache (computed once per template key)."""
    key = template_key(inputs, state, regimen)
    found = inputs.line_cache.templates.get(key)  # the common case, without a closure
    if found is None:
        found = inputs.line_cache.template(key, lambda: line_template(inputs, state, regimen))
    return found


def line_template(inputs: ModelInputs, state: State, regimen: str) -> Template:
    """The line's template, computed (``template`` keeps it in the inputs' cache)."""
    v, info, delta = inputs.values, inputs.info, inputs.monthly_discount
    entry = inputs.catalogue.regimens[regimen]
    base_hazard, p_ae = inputs.base_rates(regimen, state)
    f_death = v.line_end.death_fraction
    q_tox = p_ae * v.line_end.discontinuation_given_grade3_ae
    attrition = inputs.attrition(state.line)
    utility = v.utility.on_line(state.line)
    monthly_cost = inputs.monthly_cost(regimen)
    event = not state.progressed_on_her2 and is_her2_directed(entry)
    last_line = state.line >= inputs.max_lines
    contra = inputs.contraindication_outcomes(regimen, state)
    supportive = inputs.supportive_reward

    reward = np.zeros(4)
    reward[3] = p_ae
    reward[1] -= p_ae * v.utility.grade3_ae_disutility * v.utility.grade3_ae_duration_months / 12
    reward[2] += p_ae * v.cost.grade3_ae_episode
    if state.line == 1 and info.baseline_ngs:
        reward[2] += v.cost.ngs_panel
    moves: dict[Move, list[float]] = {}
    p_death = p_supportive = months = 0.0
    events = {"death": 0.0, "progression": 0.0, "toxicity": 0.0}
    configs, belief, enumerated = _configs(inputs, state, regimen)
    leave = 1.0 if last_line else attrition
    components: list[Component] = []
    for weight, factor, present in configs:
        lp = base_hazard * factor
        total = lp / (1 - q_tox)
        outs: list[tuple[str, Move | None, str, float]] = [
            ("death", None, "death", f_death * lp / total)]
        time = 1.0 / (total + delta)
        months += weight / total
        reward[0] += weight * time / 12
        reward[1] += weight * utility * time / 12
        reward[2] += weight * monthly_cost * time
        ends = {"death": f_death * lp, "progression": (1 - f_death) * lp, "toxicity": total - lp}
        p_death += weight * ends["death"] / total
        for name, hazard in ends.items():
            events[name] += weight * hazard / total
        for name in ("progression", "toxicity"):
            prob, disc = weight * ends[name] / total, weight * ends[name] / (total + delta)
            if name == "progression" and event and info.rebiopsy:
                reward[2] += disc * v.cost.rebiopsy
            p_supportive += prob * leave
            reward += disc * leave * supportive
            if leave > 0:
                outs.append(("supportive", None, name, ends[name] / total * leave))
            if last_line:
                continue
            progressed = (event and name == "progression") or state.progressed_on_her2
            outcomes: Iterable[tuple[str, frozenset[str], float]]
            if name == "progression" and event:
                outcomes = _detections(inputs, state, present, belief, enumerated)
            else:
                outcomes = [(state.her2, frozenset(), 1.0)]
            for her2, found, p_obs in outcomes:
                for new_contra, p_contra in contra:
                    key: Move = (her2, found, new_contra, progressed)
                    if key not in moves:
                        moves[key] = [0.0, 0.0]
                    cell = moves[key]
                    share = (1 - leave) * p_obs * p_contra
                    cell[0] += prob * share
                    cell[1] += disc * share
                    outs.append(("next", key, name, ends[name] / total * share))
        components.append(Component(weight, total, tuple(outs)))
    return Template(_read_only(reward), p_death, p_supportive, moves,
                     MappingProxyType(events), months, tuple(components))


def line_outcome(inputs: ModelInputs, state: State, regimen: str) -> LineOutcome:
    """Rewards and successors of giving ``regimen`` in ``state`` (``regimen`` must be eligible).

    States that differ only in ways this line does not depend on share its template (kept in
    the inputs' line cache), and so its read-only ``reward`` and ``p_events``."""
    cache = inputs.line_cache
    if regimen == inputs.supportive_id:
        if cache.supportive is None:
            hazard = np.log(2) / inputs.values.supportive_care.median_os_months
            cache.supportive = LineOutcome(
                _read_only(inputs.supportive_reward.copy()), 1.0, 0.0, {},
                MappingProxyType({"death": 1.0}), 1.0 / hazard)
        return cache.supportive
    found = template(inputs, state, regimen)
    successors: dict[State, list[float]] = {}
    for move, (prob, weight) in found.moves.items():
        successors[next_state(state, regimen, move)] = [prob, weight]
    return LineOutcome(found.reward, found.p_death, found.p_supportive,
                       successors, found.p_events, found.months)


def next_state(state: State, regimen: str, move: Move) -> State:
    """The state after ``regimen`` in ``state`` ends with ``move`` = (HER2 observed, alterations
    found, new contraindications, progressed on anti-HER2 therapy)."""
    her2, found, new_contra, progressed = move
    return state.derive(
        line=state.line + 1, her2=her2, known=state.known | found,
        received=state.received | {regimen},
        contraindications=state.contraindications | new_contra, progressed_on_her2=progressed,
    )


def line_components(inputs: ModelInputs, state: State, regimen: str) -> LineComponents:
    """The line of ``regimen`` in ``state`` for patient-level simulation (see ``Component``);
    kept in the inputs' line cache."""
    v = inputs.values
    if regimen == inputs.supportive_id:
        rate = np.log(2) / v.supportive_care.median_os_months
        death = Component(1.0, rate, (("death", None, "death", 1.0),))
        return LineComponents((death,), v.utility.supportive_care,
                              v.cost.supportive_care_per_month, 0.0, 0.0, 0.0, 0.0, 0.0)
    cache = inputs.line_cache
    key = template_key(inputs, state, regimen)
    found = cache.components.get(key)  # depends on nothing the template does not
    if found is not None:
        return found
    line = template(inputs, state, regimen)
    entry = inputs.catalogue.regimens[regimen]
    _, p_ae = inputs.base_rates(regimen, state)
    tested = not state.progressed_on_her2 and inputs.info.rebiopsy and is_her2_directed(entry)
    found = cache.components[key] = LineComponents(
        line.components, v.utility.on_line(state.line),
        inputs.monthly_cost(regimen), p_ae, v.cost.grade3_ae_episode,
        v.utility.grade3_ae_qaly_loss,
        v.cost.ngs_panel if state.line == 1 and inputs.info.baseline_ngs else 0.0,
        v.cost.rebiopsy if tested else 0.0,
    )
    return found


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
