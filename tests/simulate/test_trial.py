"""Simulated sequencing trials.

Reference: Schoenfeld's formula (Biometrika 1981) where its assumptions hold: exponential
survival with proportional hazards, 1:1 allocation, uniform accrual over A months and analysis
F months after the last entry. The expected deaths are closed form: a patient with hazard l
dies before the analysis with probability 1 - (exp(-l F) - exp(-l (A + F))) / (l A); the
log-rank power with D deaths is Phi(sqrt(D / 4) |ln HR| - z_{1 - alpha/2}).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sequencer.simulate.runner import run_trial
from sequencer.simulate.study import StudyError
from sequencer.simulate.trial import TrialSpec, summarise_trial
from tests.conftest import stop_shared_ray

A, F, MEDIAN, HR = 24.0, 12.0, 12.0, 0.7


def _p_event(rate):
    return 1 - (np.exp(-rate * F) - np.exp(-rate * (A + F))) / (rate * A)


def _schoenfeld_power(n, alpha=0.05):
    rate = np.log(2) / MEDIAN
    deaths = n * (_p_event(rate) + _p_event(rate * HR))
    return stats.norm.cdf(np.sqrt(deaths / 4) * abs(np.log(HR)) - stats.norm.ppf(1 - alpha / 2))


def test_power_and_sample_size_match_schoenfeld_for_exponential_arms():
    reps, n, n_max = 2000, 150, 400
    spec = TrialSpec("guideline", "optimal", n, A, F, reps, seed=1, draws=1, n_max=n_max)
    rng = np.random.default_rng(12)
    rate = np.log(2) / MEDIAN
    os_time = rng.exponential(1 / rate, size=(reps, 2, n_max))
    os_time[:, 1] /= HR  # arm B: hazard HR x rate
    result = summarise_trial(os_time, spec)
    expected = _schoenfeld_power(n)
    assert abs(result.power - expected) <= 3 * np.sqrt(expected * (1 - expected) / reps)
    assert result.hr["median"] == pytest.approx(HR, abs=0.03)
    for name, hazard in (("guideline", rate), ("optimal", rate * HR)):
        assert result.median_os[name]["mean"] == pytest.approx(np.log(2) / hazard, rel=0.03)
    # the search's n reaches 80% simulated power; Schoenfeld's power there is close to 80%
    assert result.sample_size is not None
    assert _schoenfeld_power(result.sample_size) == pytest.approx(0.8, abs=0.04)


@pytest.mark.slow  # two local Rays of their own (one and two CPUs): about 20 s on 2 cores
def test_trials_are_identical_on_one_and_two_workers(sources):
    stop_shared_ray()  # each run starts a Ray with its own number of CPUs
    spec = TrialSpec("toga-era", "guideline", 40, A, F, reps=6, seed=4, draws=3, n_max=60)
    one = run_trial(spec, workers=1, sources=sources, progress=False)
    two = run_trial(spec, workers=2, sources=sources, progress=False)
    np.testing.assert_array_equal(one, two)
    assert one.shape == (6, 2, 60) and (one > 0).all()


@pytest.mark.parametrize(("changes", "field"), [
    ({"reps": 7}, "reps"), ({"n_max": 10}, "n_max"), ({"alpha": 1.5}, "alpha"),
    ({"arm_b": "guideline", "arm_a": "guideline"}, "arm_b"),
    ({"accrual_months": 0.0}, "accrual_months"), ({"arm_a": "nonsense"}, "strategies"),
])
def test_bad_trial_fields_are_named(changes, field):
    base = {"arm_a": "toga-era", "arm_b": "guideline", "n_per_arm": 40, "accrual_months": A,
            "follow_up_months": F, "reps": 6, "seed": 4, "draws": 3, "n_max": 60}
    with pytest.raises(StudyError, match=field):
        TrialSpec(**(base | changes)).validate()
