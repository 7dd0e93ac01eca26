"""Two-arm trial statistics against lifelines 0.30.3, scipy, hand calculations and Schoenfeld."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import logrank_test as lifelines_logrank
from scipy import optimize, stats

from sequencer.simulate.trial_stats import (
    administrative_censoring,
    hazard_ratio,
    logrank_test,
    sample_size_search,
    schoenfeld_events,
    schoenfeld_power,
)


def _trials(seed: int, rep: int, n: int, hr: float = 0.75, rounding: float | None = 1.0):
    """Exponential OS (control median ~7 months), 1:1 arms, uniform accrual, analysis cut."""
    rng = np.random.default_rng(seed)
    arm = rng.permuted(np.tile(np.arange(n) % 2, (rep, 1)), axis=1)
    os_time = rng.exponential(1.0 / (0.1 * np.where(arm == 1, hr, 1.0)))
    entry = rng.uniform(0.0, 18.0, (rep, n))
    obs = administrative_censoring(os_time, entry, 30.0)
    time = obs.time if rounding is None else np.round(obs.time / rounding) * rounding
    return time, obs.event.astype(int), arm


def test_administrative_censoring_by_hand():
    os_time = np.array([5.0, 20.0, 3.0, 1.0, np.inf])
    entry = np.array([0.0, 5.0, 9.0, 12.0, 2.0])
    obs = administrative_censoring(os_time, entry, 10.0)  # follow-up 10, 5, 1, -2, 8
    np.testing.assert_array_equal(obs.time, [5.0, 5.0, 1.0, 0.0, 8.0])
    np.testing.assert_array_equal(obs.event, [True, False, False, False, False])
    np.testing.assert_array_equal(obs.enrolled, [True, True, True, False, True])
    per_rep = administrative_censoring(np.ones((2, 3)), np.zeros((2, 3)), [[0.5], [2.0]])
    np.testing.assert_array_equal(per_rep.event, [[False] * 3, [True] * 3])


def test_logrank_hand_calculation_with_ties():
    # arm 1: 1, 2, 2+, 4; arm 0: 2, 3, 3, 5+.  By hand over event times 1, 2, 3, 4:
    # O - E = (1 - 4/8) + (1 - 2*3/7) + (0 - 2*1/4) + (1 - 1/2) = 9/14,
    # V = 1/4 + 2*(3/7)(4/7)(5/6) + 2*(1/4)(3/4)(2/3) + 1/4 = 227/196.
    time = [1, 2, 2, 4, 2, 3, 3, 5]
    event = [1, 1, 0, 1, 1, 1, 1, 0]
    arm = [1, 1, 1, 1, 0, 0, 0, 0]
    res = logrank_test(time, event, arm)
    assert res.observed_minus_expected == pytest.approx(9 / 14, rel=1e-14)
    assert res.variance == pytest.approx(227 / 196, rel=1e-14)
    assert res.statistic == pytest.approx((9 / 14) ** 2 / (227 / 196), rel=1e-14)


@pytest.mark.parametrize(
    ("seed", "n", "rounding"),
    [(1, 60, 1.0), (2, 250, 1.0), (3, 400, 3.0), (4, 120, None), (5, 31, 2.0)],
)
def test_logrank_matches_lifelines_and_scipy(seed, n, rounding):
    time, event, arm = _trials(seed, 1, n, rounding=rounding)
    time, event, arm = time[0], event[0], arm[0]
    assert len(np.unique(time)) < n or rounding is None  # ties present when rounded
    res = logrank_test(time, event, arm)
    a, b = arm == 1, arm == 0
    # reference: lifelines.statistics.logrank_test (hypergeometric variance, as R survdiff)
    ref = lifelines_logrank(time[a], time[b], event_observed_A=event[a], event_observed_B=event[b])
    assert res.statistic == pytest.approx(ref.test_statistic, rel=1e-8)
    assert res.p_value == pytest.approx(ref.p_value, rel=1e-8)
    # reference: scipy.stats.logrank's signed z = (O - E)_x / sqrt(V) with x = experimental
    x = stats.CensoredData(uncensored=time[a & (event == 1)], right=time[a & (event == 0)])
    y = stats.CensoredData(uncensored=time[b & (event == 1)], right=time[b & (event == 0)])
    z = stats.logrank(x, y).statistic
    assert res.observed_minus_expected / math.sqrt(res.variance) == pytest.approx(z, rel=1e-8)


def test_logrank_batch_equals_loop():
    time, event, arm = _trials(6, 25, 80)
    batch = logrank_test(time, event, arm)
    for r in range(25):
        one = logrank_test(time[r], event[r], arm[r])
        for field in batch._fields:
            assert getattr(batch, field)[r] == pytest.approx(getattr(one, field), rel=1e-12)


def test_logrank_no_events_is_nan():
    res = logrank_test([1.0, 2.0], [0, 0], [0, 1])
    assert math.isnan(res.statistic) and res.variance == 0


@pytest.mark.parametrize(("seed", "n", "hr"), [(11, 80, 0.7), (12, 300, 1.0), (13, 45, 1.6)])
def test_cox_matches_lifelines_without_ties(seed, n, hr):
    # Continuous times have no ties, so lifelines' Efron and our Breslow likelihoods coincide.
    time, event, arm = _trials(seed, 1, n, hr=hr, rounding=None)
    time, event, arm = time[0], event[0], arm[0]
    assert len(np.unique(time[event == 1])) == event.sum()
    res = hazard_ratio(time, event, arm)
    df = pd.DataFrame({"T": time, "E": event, "arm": arm})
    # reference: lifelines CoxPHFitter (partial-likelihood MLE, SE from the observed information)
    cph = CoxPHFitter().fit(df, duration_col="T", event_col="E")
    assert res.converged
    assert res.log_hr == pytest.approx(cph.params_["arm"], abs=1e-5)
    assert res.se == pytest.approx(cph.standard_errors_["arm"], rel=1e-5)


def _breslow_loglik(beta, time, event, arm):
    """Breslow partial log-likelihood written subject by subject (Breslow 1974, eq. 7)."""
    return sum(
        beta * arm[i] - math.log(np.sum(np.exp(beta * arm[time >= time[i]])))
        for i in np.flatnonzero(event)
    )


def test_cox_breslow_ties_match_direct_maximisation():
    time, event, arm = _trials(14, 1, 150, hr=0.6, rounding=2.0)
    time, event, arm = time[0], event[0], arm[0]
    res = hazard_ratio(time, event, arm)
    # reference: scipy maximisation of the per-subject Breslow likelihood; SE from its
    # central-difference second derivative.
    opt = optimize.minimize_scalar(
        lambda b: -_breslow_loglik(b, time, event, arm), bracket=(-1, 0), tol=1e-12
    )
    h = 1e-4
    curv = (
        _breslow_loglik(opt.x + h, time, event, arm)
        - 2 * _breslow_loglik(opt.x, time, event, arm)
        + _breslow_loglik(opt.x - h, time, event, arm)
    ) / h**2
    assert res.log_hr == pytest.approx(opt.x, abs=1e-6)
    assert res.se == pytest.approx(1 / math.sqrt(-curv), rel=1e-5)


def test_hazard_ratio_batch_equals_loop_and_peto_is_o_minus_e_over_v():
    time, event, arm = _trials(15, 20, 100)
    batch = hazard_ratio(time, event, arm)
    for r in range(20):
        one = hazard_ratio(time[r], event[r], arm[r])
        assert batch.log_hr[r] == pytest.approx(one.log_hr, rel=1e-12)
        assert batch.se[r] == pytest.approx(one.se, rel=1e-12)
    peto = hazard_ratio(time, event, arm, method="peto")
    lr = logrank_test(time, event, arm)
    np.testing.assert_allclose(peto.log_hr, lr.observed_minus_expected / lr.variance, rtol=1e-14)
    np.testing.assert_allclose(peto.upper, np.exp(peto.log_hr + 1.959963984540054 * peto.se))
    # without ties and near HR = 1 the one-step Peto estimate is close to the Cox MLE
    time, event, arm = _trials(16, 20, 400, hr=0.9, rounding=None)
    np.testing.assert_allclose(
        hazard_ratio(time, event, arm, method="peto").log_hr,
        hazard_ratio(time, event, arm).log_hr,
        atol=0.01,
    )


def test_hazard_ratio_without_events_in_one_arm_is_flagged():
    time = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    event = np.array([[1, 1, 0, 0], [1, 1, 0, 0]])
    arm = np.array([[0, 0, 1, 1], [0, 1, 1, 0]])
    res = hazard_ratio(time, event, arm)
    np.testing.assert_array_equal(res.converged, [False, True])
    assert np.isnan(res.hr[0]) and np.isfinite(res.hr[1])


def test_schoenfeld_events_published_values():
    # Hand calculation with z_0.975 = 1.95996, z_0.80 = 0.84162, z_0.90 = 1.28155:
    # HR 0.75, 90% power, 1:1 -> 4 * 3.24152^2 / ln(0.75)^2 = 507.8, the familiar 508 events;
    # HR 0.8, 80% power -> 4 * 2.80159^2 / ln(0.8)^2 = 630.5, i.e. 631 events.
    assert math.ceil(schoenfeld_events(0.75, power=0.9)) == 508
    assert math.ceil(schoenfeld_events(0.8)) == 631
    assert schoenfeld_events(0.75, power=0.9) == pytest.approx(507.84, abs=0.01)
    # 2:1 allocation: p(1 - p) = 2/9 instead of 1/4
    assert schoenfeld_events(0.8, allocation=2 / 3) == pytest.approx(
        schoenfeld_events(0.8) * 9 / 8, rel=1e-12
    )
    assert schoenfeld_power(schoenfeld_events(0.7, power=0.85), 0.7) == pytest.approx(0.85)
    assert schoenfeld_power(100, 1.0) == pytest.approx(0.025)


def test_simulated_logrank_power_agrees_with_schoenfeld():
    # Where Schoenfeld's assumptions hold (exponential survival, proportional hazards, 1:1,
    # many events): every one of 300 patients dies, so D = 300 in every replicate.
    rep, n, hr, alpha = 2000, 300, 0.75, 0.05
    rng = np.random.default_rng(2026)
    arm = np.tile(np.arange(n) % 2, (rep, 1))
    time = rng.exponential(1.0 / (0.1 * np.where(arm == 1, hr, 1.0)))
    simulated = np.mean(logrank_test(time, np.ones_like(time), arm).p_value < alpha)
    expected = schoenfeld_power(n, hr, alpha)  # about 0.70
    mc_se = math.sqrt(expected * (1 - expected) / rep)
    assert abs(simulated - expected) < 3 * mc_se


def test_sample_size_search_recovers_schoenfeld_events():
    calls = []

    def power_fn(d: int) -> float:
        calls.append(d)
        return schoenfeld_power(d, 0.7)

    n = sample_size_search(power_fn, 0.8, 10, 2000)
    assert n == math.ceil(schoenfeld_events(0.7))  # closed form: 246.8 -> 247
    assert len(calls) <= math.ceil(math.log2(2000 - 10)) + 2
    assert sample_size_search(power_fn, 0.8, 300, 400) == 300
    with pytest.raises(ValueError, match="^hi: "):
        sample_size_search(power_fn, 0.8, 10, 100)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: logrank_test([1.0, 2.0], [1, 1], [0, 2]), "arm"),
        (lambda: logrank_test([1.0, 2.0], [1, 1], [0]), "arm"),
        (lambda: logrank_test([[[1.0]]], [[[1]]], [[[1]]]), "time"),
        (lambda: logrank_test([1.0, -2.0], [1, 1], [0, 1]), "time"),
        (lambda: hazard_ratio([1.0, 2.0], [1, 5], [0, 1]), "event"),
        (lambda: hazard_ratio([1.0, 2.0], [1, 1], [0, 1], method="efron"), "method"),
        (lambda: administrative_censoring([-1.0], [0.0], 5.0), "os_time"),
        (lambda: administrative_censoring([1.0], [np.nan], 5.0), "entry_time"),
        (lambda: administrative_censoring([1.0], [0.0], np.inf), "analysis_time"),
        (lambda: schoenfeld_events(1.0), "hr"),
        (lambda: schoenfeld_events(-0.5), "hr"),
        (lambda: schoenfeld_events(0.7, alpha=1.5), "alpha"),
        (lambda: schoenfeld_events(0.7, power=1.0), "power"),
        (lambda: schoenfeld_power(100, 0.7, allocation=1.0), "allocation"),
        (lambda: schoenfeld_power(-5, 0.7), "events"),
        (lambda: sample_size_search(lambda n: 1.0, 1.5, 1, 10), "target"),
        (lambda: sample_size_search(lambda n: 1.0, 0.8, 10, 1), "lo/hi"),
    ],
)
def test_validation_names_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        call()
