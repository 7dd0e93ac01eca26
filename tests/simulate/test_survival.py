"""Kaplan-Meier curve, median and RMST against lifelines 0.30.3 and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from sequencer.simulate.survival import (
    kaplan_meier,
    km_median,
    km_median_batch,
    rmst,
    rmst_batch,
)


def _censored(seed: int, n: int, rounding: float | None = 1.0, censor_rate: float = 0.05):
    """Exponential(0.1) times with exponential censoring; rounded to create ties."""
    rng = np.random.default_rng(seed)
    t = rng.exponential(10.0, n)
    c = rng.exponential(1.0 / censor_rate, n)
    time = np.minimum(t, c)
    if rounding is not None:
        time = np.round(time / rounding) * rounding
    return time, (t <= c).astype(int)


def _lifelines_km(time, event) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(time, event)


CASES = [(seed, n, r) for seed, n, r in [(1, 40, 1.0), (2, 200, 1.0), (3, 75, None), (4, 300, 2.0)]]


@pytest.mark.parametrize(("seed", "n", "rounding"), CASES)
def test_curve_matches_lifelines(seed, n, rounding):
    time, event = _censored(seed, n, rounding)
    kmf = _lifelines_km(time, event)
    curve = kaplan_meier(time, event)
    # reference: lifelines KaplanMeierFitter.survival_function_ (exp of summed log factors)
    ref = kmf.survival_function_.iloc[:, 0]
    np.testing.assert_allclose(curve.survival, ref.loc[curve.time].to_numpy(), rtol=1e-10)
    table = kmf.event_table.loc[curve.time]
    np.testing.assert_array_equal(curve.at_risk, table["at_risk"].to_numpy())
    np.testing.assert_array_equal(curve.events, table["observed"].to_numpy())
    # the curve is reported at exactly the distinct event times
    np.testing.assert_array_equal(curve.time, np.unique(time[event == 1]))
    grid = np.concatenate([[0.0], np.linspace(0, time.max() + 5, 57), curve.time[:5]])
    on_grid = kaplan_meier(time, event, grid=grid)
    np.testing.assert_allclose(
        on_grid.survival, kmf.survival_function_at_times(grid).to_numpy(), rtol=1e-10
    )
    np.testing.assert_array_equal(on_grid.at_risk, [(time >= g).sum() for g in grid])


@pytest.mark.parametrize(("seed", "n", "rounding"), CASES)
def test_median_matches_lifelines(seed, n, rounding):
    time, event = _censored(seed, n, rounding)
    # reference: KaplanMeierFitter.median_survival_time_ (smallest t with S(t) <= 0.5)
    assert km_median(time, event) == _lifelines_km(time, event).median_survival_time_


def test_median_not_reached_is_inf_as_in_lifelines():
    time, event = _censored(5, 60, rounding=1.0)
    event = event * (time <= 4.0)  # administrative cut at 4 < median 6.9: S(4) is about 0.67
    time = np.minimum(time, 4.0)
    assert _lifelines_km(time, event).median_survival_time_ == np.inf
    assert km_median(time, event) == np.inf


def test_median_exactly_half_counts_as_reached():
    # 10 of 20 uncensored deaths: S(10) = 10/20 = 0.5 exactly, so the median is t = 10
    # (smallest t with S(t) <= 0.5; R's survfit would report the midpoint 10.5).
    time = np.arange(1.0, 21.0)
    assert km_median(time, np.ones(20)) == 10.0


def test_batch_median_equals_loop_and_lifelines():
    rows = [_censored(s, 90, 1.0) for s in range(10, 22)]
    time = np.stack([r[0] for r in rows])
    event = np.stack([r[1] for r in rows])
    batch = km_median_batch(time, event)
    loop = [km_median(t, e) for t, e in zip(time, event, strict=True)]
    ref = [_lifelines_km(t, e).median_survival_time_ for t, e in zip(time, event, strict=True)]
    np.testing.assert_array_equal(batch, loop)
    np.testing.assert_array_equal(batch, ref)


def test_median_of_exponential_close_to_ln2_over_rate():
    # Closed form: exponential(rate) median = ln 2 / rate.  Tolerance from the asymptotic SE of
    # the KM median (Brookmeyer & Crowley 1982, delta method): with exponential censoring at
    # rate mu, Greenwood's Var S(m) ~ S(m)^2 * rate / (n (rate + mu)) * (exp((rate + mu) m) - 1),
    # and SE(median) = sqrt(Var S(m)) / f(m), f(m) = rate * S(m) = rate / 2.
    rate, mu, n = 0.1, 0.03, 20_000
    time, event = _censored(7, n, rounding=None, censor_rate=mu)
    m = np.log(2) / rate
    var_s = 0.25 * rate / (n * (rate + mu)) * np.expm1((rate + mu) * m)
    se = np.sqrt(var_s) / (rate / 2)
    assert abs(km_median(time, event) - m) < 4 * se


@pytest.mark.parametrize(("seed", "n", "rounding"), CASES)
def test_rmst_matches_lifelines(seed, n, rounding):
    time, event = _censored(seed, n, rounding)
    kmf = _lifelines_km(time, event)
    event_times = np.unique(time[event == 1])
    taus = [0.3, 5.0, 12.5, float(event_times[3]), float(time.max()), float(time.max()) + 10]
    for tau in taus:
        # reference: lifelines.utils.restricted_mean_survival_time(KaplanMeierFitter, t=tau)
        assert rmst(time, event, tau) == pytest.approx(
            restricted_mean_survival_time(kmf, t=tau), rel=1e-10
        )


def test_rmst_of_uncensored_sample_is_mean_of_truncated_times():
    # Without censoring the KM curve is the empirical survival function, and its integral up
    # to tau is the sample mean of min(T, tau) (integral of the empirical tail probability).
    rng = np.random.default_rng(8)
    time = rng.exponential(5.0, 500)
    assert rmst(time, np.ones(500), 7.0) == pytest.approx(np.minimum(time, 7.0).mean(), rel=1e-12)


def test_rmst_batch_equals_loop():
    rows = [_censored(s, 50, 0.5) for s in range(30, 38)]
    time = np.stack([r[0] for r in rows])
    event = np.stack([r[1] for r in rows])
    loop = [rmst(t, e, 15.0) for t, e in zip(time, event, strict=True)]
    np.testing.assert_allclose(rmst_batch(time, event, 15.0), loop, rtol=1e-14)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: kaplan_meier([1.0, -2.0], [1, 0]), "time"),
        (lambda: kaplan_meier([1.0, np.nan], [1, 0]), "time"),
        (lambda: kaplan_meier([], []), "time"),
        (lambda: kaplan_meier([1.0, 2.0], [1, 2]), "event"),
        (lambda: kaplan_meier([1.0, 2.0], [1]), "event"),
        (lambda: kaplan_meier([1.0, 2.0], [1, 0], grid=[[1.0]]), "grid"),
        (lambda: km_median([[1.0, 2.0]], [[1, 0]]), "time"),
        (lambda: km_median_batch([1.0, 2.0], [1, 0]), "time"),
        (lambda: rmst([1.0, 2.0], [1, 0], tau=0.0), "tau"),
        (lambda: rmst_batch([[1.0, 2.0]], [[1, 0]], tau=np.inf), "tau"),
    ],
)
def test_validation_names_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        call()
