"""One patient's recommendation: the optimal regimen now, every eligible alternative with 95%
credible intervals over posterior draws, the adaptive plan and the evidence behind it.

No HTTP here (the service maps a request to a ``Query`` and serialises the ``Recommendation``
of ``recommendation.for_patient``). Point estimates come from
the model at the posterior and parameter means; intervals from ``draws`` joint draws of the
posterior and of the parameter file (fixed, seeded, so an answer is reproducible). Results are
cached per (state, options) in memory only, keyed by the model state, never by patient
identifiers; nothing is written to disk or logs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import combinations, product
from typing import get_args

import numpy as np

from sequencer.evidence.formatting import citation_text
from sequencer.model.build import cohort_roots
from sequencer.model.cache import LRU
from sequencer.model.line import line_components
from sequencer.model.load import ModelSources
from sequencer.model.states import InformationStrategy, State
from sequencer.solve.explain import evidence_sources, explain_state
from sequencer.solve.family import ModelSet, OptionSet, Solved, pair_parts
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.policy import Policy
from sequencer.solve.recommendation import Alternative, Answer, Estimate, PlanStep, TrialRef
from sequencer.solve.solver import solve
from sequencer.vocabulary import (
    CPS_BANDS,
    HER2_STATUSES,
    MAX_LINE,
    ObjectiveId,
    Vocabulary,
    ids,
    objective_kind,
)

PLAN_DEPTH = 3
PLAN_MIN_PROBABILITY = 0.05
SOLVER_TIME_LIMIT = 10.0  # seconds, for a budget request's MILP if the tree search does not close
OPTION_SETS = 6  # option sets kept in memory (about 10 MB each: inputs and line caches per draw)
PER_STATE_SETS = 256  # model sets of single patient states kept in memory
PER_STATE_MAX_STATES = 5_000  # larger single-state model sets are not kept
#: a request's model options: (include investigational regimens, information, discount rate)
Options = tuple[bool, InformationStrategy, float]
DEFAULT_OPTIONS: Options = (False, InformationStrategy(), 0.0)  # the request's default options
#: every objective kind of the vocabulary, at its default willingness to pay (precomputed)
STANDARD_OBJECTIVES = tuple(Objective(kind) for kind in get_args(ObjectiveId))
#: an answer's cache key (``answer_key``): state, options, objective, budget
AnswerKey = tuple[State, Options, Objective, Budget]
#: per regimen and reward part: (2.5% quantile, 97.5% quantile, draws)
Interval = tuple[float, float, int]


@dataclass(frozen=True)
class Query:
    state: State
    objective: Objective
    budget: Budget = field(default_factory=Budget)
    include_investigational: bool = False
    info: InformationStrategy = field(default_factory=InformationStrategy)
    discount_rate: float = 0.0

    def options(self) -> Options:
        return (self.include_investigational, self.info, self.discount_rate)

    @property
    def large(self) -> bool:
        """Options whose models reach about 70,000 states from a first-line state
        (investigational regimens with testing at progression): 10-30 s a solve."""
        return self.include_investigational and self.info.tests_at_progression


class Recommender:
    """Holds the loaded sources, the seeded interval draws, the solved models and the answers.

    ``precompute()`` (run at start-up) solves the standard cohort's model at the means and for
    every draw and answers every state reachable from the standard profiles for the standard
    objectives, so those requests are served from memory. Any other state, objective or budget
    is solved on demand from its state, re-using the line templates of earlier requests."""

    def __init__(self, sources: ModelSources, draws: int = 20, seed: int = 2026,
                 cache_size: int = 2048) -> None:
        self.sources = sources
        rng = np.random.default_rng(seed)
        self.draw_index = rng.choice(sources.posterior.n_draws, size=draws, replace=False)
        self._parameter_seeds = rng.integers(0, 2**63 - 1, size=draws)
        # bounded: discount_rate is any float
        self._option_sets: LRU[Options, OptionSet] = LRU(OPTION_SETS)
        self._per_state: LRU[tuple[State, Options], ModelSet] = LRU(PER_STATE_SETS)
        self._cohorts: dict[Options, ModelSet] = {}
        self._precomputed: dict[AnswerKey, Answer] = {}
        self._answers: LRU[AnswerKey, Answer] = LRU(cache_size)
        # serialised HTTP answers (routes/recommendations), per answer key and ECOG group
        self.responses: LRU[tuple[AnswerKey, int], bytes] = LRU(2 * cache_size)
        self._lock = threading.RLock()  # creating option sets; precomputing

    def option_set(self, options: Options) -> OptionSet:
        """Inputs at the means and for every interval draw (cached per options)."""
        def make() -> OptionSet:
            investigational, info, discount_rate = options
            inputs = partial(self.sources.inputs, include_investigational=investigational,
                             info=info, discount_rate=discount_rate, max_lines=MAX_LINE)
            draws = [inputs(draw=int(self.draw_index[k]),
                            parameters=np.random.default_rng(int(self._parameter_seeds[k])))
                     for k in range(len(self.draw_index))]
            return OptionSet(inputs(), draws)
        with self._lock:
            return self._option_sets.get_or_make(options, make)

    def model_set(self, query: Query) -> ModelSet:
        """The solved standard cohort when it contains the state, else the models built from
        the patient's state (kept for later requests when small)."""
        shared = self._cohorts.get(query.options())
        if shared is not None and query.state in shared:
            return shared
        key = (query.state, query.options())
        found = self._per_state.get(key)
        if found is None:
            # one objective's sweeps: a repeated request is an answer-cache hit anyway
            found = ModelSet(self.option_set(query.options()), {query.state: 1.0}, sweep_sets=1)
            if found.n_states <= PER_STATE_MAX_STATES:
                self._per_state.put(key, found)
        return found

    def precompute(self, objectives: Sequence[Objective] = STANDARD_OBJECTIVES,
                   options: Options = DEFAULT_OPTIONS) -> int:
        """Answer every state reachable from the standard profiles; returns the count."""
        with self._lock:
            option_set = self.option_set(options)
            cohort = ModelSet(option_set, cohort_roots(option_set.mean))
            self._cohorts[options] = cohort
            for objective in objectives:
                for state in cohort.mean.states:
                    query = Query(state, objective, Budget(), *options)
                    self._precomputed[answer_key(query)] = self._compute(query)
            # the lines of every first-line patient (any HER2 status, CPS band, MSI status and
            # pre-existing contraindications) and of their later lines, at the means and per
            # draw: kept in the option set's template caches, so solving a state outside the
            # standard cohort on demand does not compute them (about 1 s, 3,500 states)
            ModelSet(option_set, first_line_roots(option_set.mean.vocabulary))
            # compile (or load from numba's cache) the sweep of a patient's own objective now,
            # not in the first request that needs it
            for kind in get_args(ObjectiveId):
                if objective_kind(kind).uses_wtp:
                    cohort.solved(Objective(kind, 1.0), within=cohort.mean.states[0])
                    break
        return len(self._precomputed)

    @property
    def precomputed(self) -> int:
        return len(self._precomputed)

    def answered(self, query: Query) -> bool:
        """Whether ``recommend(query)`` is a lookup (precomputed or answered before)."""
        key = answer_key(query)
        return key in self._precomputed or self._answers.get(key) is not None

    def recommend(self, query: Query) -> Answer:
        """The model's answer for ``query`` (precomputed, answered before, or solved now);
        ``BudgetInfeasibleError`` or ``SolverError`` if no policy meets its budgets."""
        key = answer_key(query)
        answer = self._precomputed.get(key) or self._answers.get(key)
        if answer is None:
            # no lock: the caches are thread-safe, and the service solves on one thread per
            # kind of option set (routes/recommendations.py), so a 30 s solve of a large one
            # does not hold up the others; two threads may at worst compute one answer twice
            answer = self._compute(query)
            self._answers.put(key, answer)
        return answer

    def _compute(self, query: Query) -> Answer:
        state, objective = query.state, query.objective
        models = self.model_set(query)
        inputs = models.options.mean
        model, root = models.mean, models.mean.index(state)
        # the standard objectives' sweeps are kept; another objective (a willingness to pay of
        # the patient's own) is swept over the states reachable from the patient's only
        shared = models is self._cohorts.get(query.options())
        solved_all = models.solved(objective, within=state if shared and objective
                                   not in STANDARD_OBJECTIVES else None)
        solved = solved_all.mean
        own, own_root = model, root  # the model the policy is solved on
        if query.budget.empty:
            policy = Policy.from_sweep(model, objective, solved)
            budget_status = None
        else:
            # solved on the patient's own model; the alternatives' values and intervals below
            # (the unconstrained plan after this line) come from the shared sweeps
            if shared:
                own = models.own_model(state)
                own_root = own.index(state)
            # the best deterministic policy by branch and bound over the states' choices (the
            # MILP's optimum, ten times faster); one budget on a large model (investigational
            # options) keeps the Lagrangian policy, with its distance to the optimum reported.
            # On the 790 reachable states, one toxicity budget each, the Lagrangian policy fell
            # short of the optimum in 18, by up to 13% of the objective
            result = solve(own, objective, query.budget, milp_solver="branch",
                           time_limit=SOLVER_TIME_LIMIT)
            policy, budget_status = result.policy, result.describe()
        rows = [r for r in explain_state(inputs, state, objective, model, solved) if r.eligible]
        recommended = policy.regimen(own_root)
        draws = self._draw_metrics(models, solved_all, state, [r.regimen for r in rows])
        alternatives = []
        for r in rows:
            value, parts, _, _ = r.estimates()
            line = line_components(inputs, state, r.regimen)
            d = draws[r.regimen]  # (4, draws) quantiles: ly, qaly, median, p_ae
            alternatives.append(Alternative(
                regimen=r.regimen, name=inputs.catalogue.regimens[r.regimen].name,
                recommended=r.regimen == recommended, evidence_level=r.evidence_level,
                objective_value=float(value), life_years=_estimate(parts["ly"], d[0]),
                qalys=_estimate(parts["qaly"], d[1]),
                median_months_on_line=_estimate(line.median_months, d[2]),
                probability_grade3_ae=_estimate(line.p_ae, d[3]),
                evidence=evidence_sources(inputs, r.regimen, state.line)))
        alternatives.sort(key=lambda a: (not a.recommended, -a.objective_value))
        return Answer(state=state, recommended=recommended, alternatives=tuple(alternatives),
                      plan=_plan(policy, own_root, PLAN_DEPTH),
                      trials=self._trials([a.regimen for a in alternatives]),
                      interval_draws=len(models.draws), model_states=own.n_states,
                      budget_status=budget_status)

    def _draw_metrics(self, models: ModelSet, solved: Solved, state: State,
                      regimens: list[str]) -> dict[str, list[Interval]]:
        """Per regimen, the 2.5% and 97.5% quantiles over draws of LY, QALY, median months
        on the line and P(grade >= 3 AE), with the number of draws."""
        where, lines = self._line_draws(models, state, regimens)
        values = np.full((len(regimens), 4, len(models.draws)), np.nan)
        values[:, 2:] = lines
        for k, model in enumerate(models.draws):
            parts = pair_parts(model, solved.draws[k].require_parts(), model.index(state))
            offered = where[k] >= 0
            values[offered, :2, k] = parts[where[k, offered], :2]
        counts = np.isfinite(values).sum(axis=2)
        if counts.min(initial=len(models.draws)) == len(models.draws):
            lower, upper = linear_quantiles(values, (0.025, 0.975))
        else:  # a regimen not offered in some draw (np.nanquantile is slow, hence the branch)
            lower, upper = np.nanquantile(values, [0.025, 0.975], axis=2)
        return {r: [(lower[i, j], upper[i, j], int(counts[i, j])) for j in range(4)]
                for i, r in enumerate(regimens)}

    def _line_draws(self, models: ModelSet, state: State,
                    regimens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """What does not depend on the objective, kept per state in the model set: per draw,
        where each regimen's pair sits among the state's pairs (-1: not offered in that draw),
        and per regimen and draw the median months on the line and P(grade >= 3 AE)."""
        key = (state, tuple(regimens))
        found = models.memo.get(key)
        if found is None:
            row = {r: i for i, r in enumerate(regimens)}
            where = np.full((len(models.draws), len(regimens)), -1)
            lines = np.full((len(regimens), 2, len(models.draws)), np.nan)
            for k, model in enumerate(models.draws):
                inputs = models.options.draws[k]
                for j, p in enumerate(model.pairs(model.index(state))):
                    i = row.get(model.regimens[model.pair_regimen[p]])
                    if i is not None:
                        line = line_components(inputs, state, regimens[i])
                        where[k, i] = j
                        lines[i, :, k] = line.median_months, line.p_ae
            found = (where, lines)
            models.memo.put(key, found)
        return found

    def _trials(self, regimens: list[str]) -> tuple[TrialRef, ...]:
        catalogue = self.sources.evidence.catalogue
        wanted = {t for r in regimens for t in catalogue.regimens[r].informed_by}
        return tuple(
            TrialRef(trial=t.trial, phase=t.phase, line=t.line,
                     citation=citation_text(t.citation), doi=getattr(t.citation, "doi", None),
                     regimens=tuple(sorted(r for r in regimens
                                           if t.trial in catalogue.regimens[r].informed_by)))
            for t in self.sources.evidence.trials if t.trial in wanted)


def first_line_roots(vocabulary: Vocabulary) -> dict[State, float]:
    """Every first-line state a request can express, equally weighted."""
    contra = vocabulary.contraindication_ids
    contraindications = [frozenset(c) for n in range(len(contra) + 1)
                         for c in combinations(contra, n)]
    states = [State(line=1, her2=her2, cps=cps, msi_high=msi, contraindications=c)
              for her2, cps, msi, c in product(ids(HER2_STATUSES), ids(CPS_BANDS), (False, True),
                                               contraindications)]
    return {state: 1.0 / len(states) for state in states}


def answer_key(query: Query) -> AnswerKey:
    """The answer's cache key: the willingness to pay matters only to the objectives that use
    it (net monetary benefit)."""
    objective = query.objective
    if not objective.uses_wtp:
        objective = Objective(objective.kind)
    return (query.state, query.options(), objective, query.budget)


def linear_quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Quantiles along the last axis, interpolated linearly between order statistics (numpy's
    default method, without its overhead on small arrays)."""
    ordered = np.sort(values, axis=-1)
    n = ordered.shape[-1]
    out = []
    for q in qs:
        h = (n - 1) * q
        lo = int(np.floor(h))
        hi = min(lo + 1, n - 1)
        out.append(ordered[..., lo] + (h - lo) * (ordered[..., hi] - ordered[..., lo]))
    return out


def _estimate(point: float, interval: Interval) -> Estimate:
    lower, upper, draws = interval
    return Estimate(float(point), float(lower), float(upper), draws)


def _plan(policy: Policy, s: int, depth: int, probability: float | None = None) -> PlanStep:
    """The recommendation now and, for each likely way this line ends, the next one."""
    m = policy.model
    p = policy.choice[s]
    line, label, regimen = int(m.states[s].line), m.states[s].label(), policy.regimen(s)
    if depth <= 1:
        return PlanStep(line, label, regimen, probability=probability)
    lo, hi = m.succ_ptr[p], m.succ_ptr[p + 1]
    then = []
    for j in np.argsort(-m.succ_prob[lo:hi]):
        prob = float(m.succ_prob[lo + j])
        if prob < PLAN_MIN_PROBABILITY:
            break
        then.append(_plan(policy, int(m.succ_state[lo + j]), depth - 1, prob))
    return PlanStep(line, label, regimen, then=tuple(then), probability=probability,
                    probability_death_on_line=float(m.p_death[p]),
                    probability_supportive_care_after=float(m.p_supportive[p]))
