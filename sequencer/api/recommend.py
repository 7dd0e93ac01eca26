"""One patient's recommendation: the optimal regimen now, every eligible alternative with 95%
credible intervals over posterior draws, the adaptive plan and the evidence behind it.

No HTTP here (``routes/recommendations.py`` validates and serialises). Point estimates come from
the model at the posterior and parameter means; intervals from ``draws`` joint draws of the
posterior and of the parameter file (fixed, seeded, so an answer is reproducible). Results are
cached per (state, options) in memory only, keyed by the model state, never by patient
identifiers; nothing is written to disk or logs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from sequencer.api.schemas import citation_text
from sequencer.model.build import DecisionModel, build_model
from sequencer.model.line import line_components
from sequencer.model.load import ModelSources
from sequencer.model.states import InformationStrategy, State
from sequencer.solve.api import solve
from sequencer.solve.backward import solve_backward, sweep
from sequencer.solve.explain import _sources, explain_state
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.policy import Policy

PLAN_DEPTH = 3
PLAN_MIN_PROBABILITY = 0.05
SOLVER_TIME_LIMIT = 10.0  # seconds, for the LP/MILP of a two-budget request
INPUT_OPTION_SETS = 64  # option sets (each: the means and every draw) kept in memory


@dataclass(frozen=True)
class Query:
    state: State
    objective: Objective
    budget: Budget = field(default_factory=Budget)
    include_investigational: bool = False
    info: InformationStrategy = field(default_factory=InformationStrategy)
    discount_rate: float = 0.0

    def options(self) -> tuple:
        return (self.include_investigational, self.info, self.discount_rate)


def her2_status(ihc: str, ish: str | None) -> str:
    """Consensus rule: IHC 3+, or 2+ with ISH positive: positive; 2+ with ISH negative, or 1+:
    low; 0: negative. IHC 2+ without ISH is refused by the request schema."""
    if ihc == "3+" or (ihc == "2+" and ish == "positive"):
        return "positive"
    if ihc in ("2+", "1+"):
        return "low"
    return "negative"


def median_months(components) -> float:
    """Median of a mixture of exponentials (weights, rates): solves sum w e^{-r t} = 1/2."""
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


class Recommender:
    """Holds the loaded sources, the seeded draws and an in-memory cache of answers."""

    def __init__(self, sources: ModelSources, draws: int = 20, seed: int = 2026,
                 cache_size: int = 4096) -> None:
        self.sources = sources
        rng = np.random.default_rng(seed)
        self.draw_index = rng.choice(sources.posterior.n_draws, size=draws, replace=False)
        self._parameter_seeds = rng.integers(0, 2**63 - 1, size=draws)
        self._inputs: OrderedDict = OrderedDict()  # bounded: discount_rate is any float
        self._answers: OrderedDict = OrderedDict()
        self.cache_size = cache_size

    def inputs(self, query: Query, k: int | None = None):
        """Model inputs at the means (``k=None``) or for draw ``k``; cached per options."""
        key = (query.options(), k)
        if key in self._inputs:
            self._inputs.move_to_end(key)
        else:
            options = {"include_investigational": query.include_investigational,
                       "info": query.info, "discount_rate": query.discount_rate,
                       "max_lines": 4}
            if k is None:
                self._inputs[key] = self.sources.inputs(**options)
            else:
                rng = np.random.default_rng(int(self._parameter_seeds[k]))
                self._inputs[key] = self.sources.inputs(draw=int(self.draw_index[k]),
                                                        parameters=rng, **options)
            if len(self._inputs) > INPUT_OPTION_SETS * (len(self.draw_index) + 1):
                self._inputs.popitem(last=False)
        return self._inputs[key]

    def recommend(self, query: Query) -> dict:
        key = (query.state, query.options(), query.objective, query.budget)
        if key in self._answers:
            self._answers.move_to_end(key)
            return self._answers[key]
        answer = self._compute(query)
        self._answers[key] = answer
        if len(self._answers) > self.cache_size:
            self._answers.popitem(last=False)
        return answer

    def _compute(self, query: Query) -> dict:
        inputs = self.inputs(query)
        state = query.state
        model = build_model(inputs, {state: 1.0})
        root = model.index(state)
        if query.budget.empty:
            policy = Policy.from_sweep(model, query.objective,
                                       solve_backward(model, query.objective.weights()))
            budget_status = None
        else:
            # one budget: the Lagrangian policy (no MILP); two budgets need the LP + MILP
            two = len(query.budget.constraints()) > 1
            result = solve(model, query.objective, query.budget, milp=None if two else False,
                           time_limit=SOLVER_TIME_LIMIT)
            policy, budget_status = result.policy, result.status
        rows = [r for r in explain_state(inputs, state, query.objective, model) if r.eligible]
        recommended = policy.regimen(root)
        draws = self._draw_metrics(query, [r.regimen for r in rows])
        alternatives = []
        for r in rows:
            line = line_components(inputs, state, r.regimen)
            d = draws[r.regimen]
            alternatives.append({
                "regimen": r.regimen,
                "name": inputs.catalogue.regimens[r.regimen].name,
                "recommended": r.regimen == recommended,
                "evidence_level": r.evidence_level,
                "objective_value": r.value,
                "life_years": _estimate(r.parts["ly"], d["ly"]),
                "qalys": _estimate(r.parts["qaly"], d["qaly"]),
                "median_months_on_line": _estimate(median_months(line.components), d["median"]),
                "probability_grade3_ae": _estimate(line.p_ae, d["p_ae"]),
                "evidence": _sources(inputs, r.regimen, state.line),
            })
        alternatives.sort(key=lambda a: (not a["recommended"], -a["objective_value"]))
        return {
            "recommended": recommended,
            "alternatives": alternatives,
            "plan": _plan(policy, root, PLAN_DEPTH),
            "budget_status": budget_status,
            "trials": self._trials([a["regimen"] for a in alternatives]),
        }

    def _draw_metrics(self, query: Query, regimens: list[str]) -> dict:
        out = {r: {"ly": [], "qaly": [], "median": [], "p_ae": []} for r in regimens}
        for k in range(len(self.draw_index)):
            inputs = self.inputs(query, k)
            model = build_model(inputs, {query.state: 1.0})
            solved = sweep(model, model.objective_reward(query.objective.weights()))
            root = model.index(query.state)
            for p in model.pairs(root):
                regimen = model.regimens[model.pair_regimen[p]]
                if regimen not in out:
                    continue
                parts = _pair_parts(model, solved.parts, p)
                line = line_components(inputs, query.state, regimen)
                out[regimen]["ly"].append(parts[0])
                out[regimen]["qaly"].append(parts[1])
                out[regimen]["median"].append(median_months(line.components))
                out[regimen]["p_ae"].append(line.p_ae)
        return out

    def _trials(self, regimens: list[str]) -> list[dict]:
        catalogue = self.sources.evidence.catalogue
        wanted = {t for r in regimens for t in catalogue.regimens[r].informed_by}
        out = []
        for t in self.sources.evidence.trials:
            if t.trial in wanted:
                c = t.citation
                out.append({"trial": t.trial, "phase": t.phase, "line": t.line,
                            "citation": citation_text(c),
                            "doi": getattr(c, "doi", None),
                            "regimens": sorted(r for r in regimens
                                               if t.trial in catalogue.regimens[r].informed_by)})
        return out


def _pair_parts(model: DecisionModel, parts: np.ndarray, p: int) -> np.ndarray:
    lo, hi = model.succ_ptr[p], model.succ_ptr[p + 1]
    return model.reward[p] + (model.succ_weight[lo:hi, None] * parts[model.succ_state[lo:hi]]).sum(0)


def _estimate(point: float, draws: list[float]) -> dict:
    x = np.asarray(draws, dtype=float)
    return {"estimate": float(point), "lower": float(np.quantile(x, 0.025)),
            "upper": float(np.quantile(x, 0.975)), "draws": int(x.size)}


def _plan(policy: Policy, s: int, depth: int) -> dict:
    """The recommendation now and, for each likely way this line ends, the next one."""
    m = policy.model
    p = policy.choice[s]
    node = {"line": int(m.states[s].line), "state": m.states[s].label(),
            "regimen": policy.regimen(s), "then": []}
    if depth <= 1:
        return node
    lo, hi = m.succ_ptr[p], m.succ_ptr[p + 1]
    order = np.argsort(-m.succ_prob[lo:hi])
    for j in order:
        prob = float(m.succ_prob[lo + j])
        if prob < PLAN_MIN_PROBABILITY:
            break
        child = _plan(policy, int(m.succ_state[lo + j]), depth - 1)
        node["then"].append({"probability": prob, **child})
    node["probability_death_on_line"] = float(m.p_death[p])
    node["probability_supportive_care_after"] = float(m.p_supportive[p])
    return node
