"""Simulated two-arm sequencing trials under the posterior.

Each replicate is a randomised trial: ``n_per_arm`` patients per arm drawn from the HER2-positive
cohort, each arm's patients living through that arm's sequence (a named strategy, ``optimal``
re-optimised for the replicate's draw, or ``optimal-mean``), uniform accrual over
``accrual_months``, analysis ``follow_up_months`` after the last patient enters (administrative
censoring). The true effect varies across replicates with the joint posterior and parameter
draw the replicate uses, so the power reported is the probability of a significant log-rank test
under the posterior (sometimes called assurance), not the power at one assumed hazard ratio.

Replicates are grouped by draw (``reps / draws`` per draw) and simulated on Ray; each draw's
random stream comes from its spawn key, so results do not depend on the number of workers. The
sample size for a target power is searched over n with common random numbers: every replicate
simulates ``n_max`` patients per arm once, and a trial of size n uses its first n patients.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from sequencer.model.build import build_model, cohort_roots
from sequencer.model.load import ModelSources
from sequencer.simulate.engine import simulate
from sequencer.simulate.study import (
    StudyError,
    StudyPlan,
    StudySpec,
    draw_inputs,
    strategy_choices,
)
from sequencer.simulate.survival import km_median_batch
from sequencer.simulate.tables import policy_tables
from sequencer.simulate.trial_stats import (
    administrative_censoring,
    hazard_ratio,
    logrank_test,
    sample_size_search,
)

_TRIAL_STREAM = 1 << 21


@dataclass(frozen=True)
class TrialSpec:
    arm_a: str
    arm_b: str
    n_per_arm: int
    accrual_months: float
    follow_up_months: float
    reps: int
    seed: int
    draws: int = 100
    alpha: float = 0.05
    target_power: float = 0.8
    n_max: int = 1000  # largest n per arm the sample-size search considers

    def validate(self) -> TrialSpec:
        for name in ("n_per_arm", "reps", "draws", "n_max"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise StudyError(f"{name}: expected a positive integer, got {value!r}")
        if self.reps % self.draws:
            raise StudyError(f"reps: {self.reps} must be a multiple of draws ({self.draws})")
        if self.n_max < self.n_per_arm:
            raise StudyError(f"n_max: {self.n_max} is below n_per_arm ({self.n_per_arm})")
        for name in ("accrual_months", "follow_up_months"):
            if not getattr(self, name) > 0:
                raise StudyError(f"{name}: expected a positive number, got {getattr(self, name)}")
        for name in ("alpha", "target_power"):
            if not 0 < getattr(self, name) < 1:
                raise StudyError(f"{name}: expected a value in (0, 1), got {getattr(self, name)}")
        if self.arm_a == self.arm_b:
            raise StudyError(f"arm_b: the two arms are the same strategy ({self.arm_a!r})")
        self.study().validate()
        return self

    def study(self) -> StudySpec:
        """The cohort-study view of the trial (its draws and strategies)."""
        return StudySpec((self.arm_a, self.arm_b), draws=self.draws, patients=self.n_max,
                         seed=self.seed, histories=0)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def simulate_draw(sources: ModelSources, spec: TrialSpec, draw: int,
                  plan: StudyPlan) -> np.ndarray:
    """Overall survival (months) of every replicate of ``draw``: (rep, arm, n_max)."""
    study = spec.study()
    inputs = draw_inputs(sources, study, draw)
    model = build_model(inputs, cohort_roots(inputs))
    choices = strategy_choices(model, study, plan)
    per = spec.reps // spec.draws
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed,
                                                       spawn_key=(_TRIAL_STREAM + draw,)))
    out = np.empty((per, 2, spec.n_max))
    shared: dict = {}
    tables = [policy_tables(model, choices[arm], arm, shared) for arm in (spec.arm_a, spec.arm_b)]
    for arm, table in enumerate(tables):  # independent patients per arm (randomised trial)
        os_time = simulate(table, per * spec.n_max, rng).column("os")
        out[:, arm] = os_time.reshape(per, spec.n_max)
    return out


@dataclass(frozen=True)
class TrialResult:
    n_per_arm: int
    power: float
    power_se: float
    hr: dict  # median and 2.5/97.5% quantiles of the estimated HR (B vs A) across replicates
    median_os: dict  # per arm: mean and 95% interval of the KM median across replicates
    events: float  # mean deaths observed at the analysis
    sample_size: int | None  # smallest n per arm reaching the target power (None: > n_max)


def analyse(os_time: np.ndarray, spec: TrialSpec, n: int, entry_u: np.ndarray) -> dict:
    """Log-rank power, HR and medians of trials of ``n`` per arm from the first n patients."""
    reps = os_time.shape[0]
    # the same uniforms for every n (common random numbers)
    entry = entry_u[:, :, :n] * spec.accrual_months
    observed = administrative_censoring(os_time[:, :, :n], entry,
                                        spec.accrual_months + spec.follow_up_months)
    time = observed.time.reshape(reps, 2 * n)
    event = observed.event.reshape(reps, 2 * n)
    arm = np.broadcast_to(np.array([0] * n + [1] * n), (reps, 2 * n))
    test = logrank_test(time, event, arm)
    return {"significant": test.p_value < spec.alpha, "time": time, "event": event, "arm": arm}


def summarise_trial(os_time: np.ndarray, spec: TrialSpec) -> TrialResult:
    """Power, HR distribution, medians per arm and the sample size for the target power."""
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(_TRIAL_STREAM - 1,)))
    entry_u = rng.random(os_time.shape)

    def power_at(n: int) -> float:
        return float(analyse(os_time, spec, n, entry_u)["significant"].mean())

    main = analyse(os_time, spec, spec.n_per_arm, entry_u)
    n = spec.n_per_arm
    power = float(main["significant"].mean())
    hr = hazard_ratio(main["time"], main["event"], main["arm"])
    est = hr.hr[hr.converged]
    medians = {}
    for k, name in enumerate((spec.arm_a, spec.arm_b)):
        m = km_median_batch(main["time"][:, k * n:(k + 1) * n], main["event"][:, k * n:(k + 1) * n])
        finite = m[np.isfinite(m)]
        medians[name] = {"mean": float(finite.mean()) if finite.size else None,
                         "lower": float(np.quantile(finite, 0.025)) if finite.size else None,
                         "upper": float(np.quantile(finite, 0.975)) if finite.size else None,
                         "not_reached": float(1 - finite.size / len(m))}
    try:
        size = sample_size_search(power_at, spec.target_power, 2, spec.n_max)
    except ValueError:
        size = None
    return TrialResult(
        n, power, float(np.sqrt(power * (1 - power) / len(main["significant"]))),
        {"median": float(np.median(est)), "lower": float(np.quantile(est, 0.025)),
         "upper": float(np.quantile(est, 0.975))},
        medians, float(main["event"].sum(axis=1).mean()), size)
