"""EVPI and regression-based EVPPI.

References: hand arithmetic on a four-draw table; the closed form for X ~ N(m, s^2),
E[max(0, X)] = m Phi(m / s) + s phi(m / s), so that with two strategies and INB ~ N(m, s^2)
EVPI = E[max(0, INB)] - max(0, m), and EVPPI of a parameter group is the same expression for the
conditional mean of the INB given the group; a nested (double-loop) Monte Carlo computed here;
and the defining identities EVPPI(all uncertain inputs) = EVPI, EVPPI(irrelevant input) = 0
(Strong, Oakley & Brennan, Med Decis Making 2014;34:311-326).
Monte Carlo tolerances are 4 standard errors, each estimated from the draws in the test.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from sequencer.econ import evpi, evppi

COSTS = np.array([[0, 10, 30], [0, 20, 10], [5, 0, 20], [0, 10, 40]], dtype=float)
EFFECTS = np.array([[0, 1, 2], [0, 1, 1], [0, 0.5, 3], [0, 2, 1]], dtype=float)


def expected_positive_part(m, s):
    """E[max(0, X)] for X ~ N(m, s^2)."""
    return m * norm.cdf(m / s) + s * norm.pdf(m / s)


def test_evpi_hand_computed():
    """wtp 20, NB rows (0, 10, 10), (0, 0, 10), (-5, 10, 40), (0, 30, -20): mean of the row
    maxima (10 + 10 + 40 + 30) / 4 = 22.5; column means (-1.25, 12.5, 10), max 12.5; EVPI 10.
    wtp 0, NB = -cost: row maxima all 0; column means (-1.25, -10, -25); EVPI 0 - (-1.25) = 1.25."""
    np.testing.assert_allclose(evpi(COSTS, EFFECTS, [0.0, 20.0]), [1.25, 10.0])
    # One strategy: nothing to choose, nothing to learn.
    np.testing.assert_array_equal(evpi(COSTS[:, :1], EFFECTS[:, :1], [0.0, 5.0]), [0.0, 0.0])


def test_evpi_matches_normal_closed_form():
    """Incremental effect ~ N(0.1, 0.05^2), incremental cost ~ N(2000, 1000^2), independent:
    INB(w) ~ N(0.1 w - 2000, (0.05 w)^2 + 1000^2); EVPI(w) = E[max(0, INB)] - max(0, 0.1 w -
    2000). E.g. w = 0: -2000 Phi(-2) + 1000 phi(-2) = 8.49; w = 20000 (m = 0): s phi(0) =
    1414.2 * 0.39894 = 564.2. 200k draws; tolerance 4 SE of mean(max(0, X) - X [mean X > 0]) plus
    0.4 s / sqrt(n), the bias of max(0, sample mean) when m = 0."""
    rng = np.random.default_rng(3)
    n = 200_000
    inc_cost, inc_effect = rng.normal(2000, 1000, n), rng.normal(0.1, 0.05, n)
    base_cost, base_effect = rng.normal(8000, 500, n), rng.normal(1.0, 0.2, n)
    costs = np.column_stack([base_cost, base_cost + inc_cost])
    effects = np.column_stack([base_effect, base_effect + inc_effect])
    grid = np.array([0.0, 10_000, 20_000, 30_000, 50_000])
    got = evpi(costs, effects, grid)
    m, s = 0.1 * grid - 2000, np.hypot(0.05 * grid, 1000)
    want = expected_positive_part(m, s) - np.maximum(0, m)
    assert want[0] == pytest.approx(8.49, abs=0.01) and want[2] == pytest.approx(564.2, abs=0.1)
    for j, w in enumerate(grid):
        x = w * inc_effect - inc_cost
        se = np.std(np.maximum(0, x) - x * (x.mean() > 0)) / np.sqrt(n)
        assert abs(got[j] - want[j]) <= 4 * se + 0.4 * s[j] / np.sqrt(n)


def _linear_gaussian(thetas):
    """Costs and effects (last axis: strategy) of two strategies;
    INB = w (0.1 + 0.05 t1) - 2000 - 1000 t2 (at w = 30000: 1000 + 1500 t1 - 1000 t2).
    The baseline depends on t1, t2 too (differences remove it)."""
    t1, t2 = thetas
    cost0, effect0 = 10_000 + 800 * t2, 1.0 + 0.1 * t1
    costs = np.stack([cost0, cost0 + 2000 + 1000 * t2], axis=-1)
    effects = np.stack([effect0, effect0 + 0.1 + 0.05 * t1], axis=-1)
    return costs, effects


def test_evppi_linear_gaussian_against_closed_form_and_nested_monte_carlo():
    """EVPPI(t1) at w: E[INB | t1] = 0.1 w - 2000 + 0.05 w t1 ~ N(m, b^2), m = 0.1 w - 2000,
    b = 0.05 w, so EVPPI = E[max(0, N(m, b^2))] - max(0, m); at w = 30000, m = 1000, b = 1500:
    1000 Phi(2/3) + 1500 phi(2/3) - 1000 = 226.6. Nested MC at w = 30000: 4000 outer draws of
    t1, 500 inner draws of t2 each, inner means of INB, then mean max(0, .) - max(0, mean)."""
    rng = np.random.default_rng(5)
    n = 20_000
    t1, t2 = rng.standard_normal((2, n))
    costs, effects = _linear_gaussian((t1, t2))
    grid = np.array([20_000.0, 30_000.0, 40_000.0])
    result = evppi(costs, effects, t1, grid)
    m, b = 0.1 * grid - 2000, 0.05 * grid
    closed = expected_positive_part(m, b) - np.maximum(0, m)
    assert closed[1] == pytest.approx(226.6, abs=0.1)
    for j, w in enumerate(grid):
        g = m[j] + b[j] * t1
        se = np.std(np.maximum(0, g) - g * (m[j] > 0)) / np.sqrt(n)
        bias = 0.4 * 1000 * np.sqrt(result.n_basis / n)  # overfitting allowance (docstring)
        assert abs(result.evppi[j] - closed[j]) <= 4 * se + bias

    outer, inner = 4000, 500
    o1 = rng.standard_normal(outer)[:, None] * np.ones((1, inner))
    o2 = rng.standard_normal((outer, inner))
    c, e = _linear_gaussian((o1, o2))
    inb = 30_000 * (e[..., 1] - e[..., 0]) - (c[..., 1] - c[..., 0])
    conditional = inb.mean(axis=1)
    nested = np.maximum(0, conditional).mean() - max(0.0, conditional.mean())
    se_nested = np.std(np.maximum(0, -conditional)) / np.sqrt(outer)
    # Inner-mean noise (variance 1000^2 / inner) biases the nested estimate up by about
    # 0.5 * var * density of E[INB | t1] at 0 = 0.5 * 2000 * phi(-2/3) / 1500 = 0.21.
    nested_bias = 0.5 * 1000**2 / inner * norm.pdf(-1000 / 1500) / 1500
    assert abs(nested - closed[1]) <= 4 * se_nested + nested_bias
    se_reg = np.std(np.maximum(0, -(1000 + 1500 * t1))) / np.sqrt(n)
    fit_bias = 0.4 * 1000 * np.sqrt(result.n_basis / n)
    assert abs(result.evppi[1] - nested) <= 4 * np.hypot(se_nested, se_reg) + nested_bias + fit_bias

    # The fitted conditional mean is close to the true 1000 + 1500 t1 at every draw.
    fitted = result.fitted_inb(30_000.0)
    assert fitted.shape == (n, 2) and (fitted[:, 0] == 0).all()
    # Least squares with p columns and residual sd 1000: E[sum (fitted - truth)^2] = 1000^2 p.
    rms = np.sqrt(np.mean((fitted[:, 1] - (1000 + 1500 * t1)) ** 2))
    assert rms <= 2 * 1000 * np.sqrt(result.n_basis / n)
    assert (result.evppi <= result.evpi).all() and (result.evppi >= 0).all()


def test_evppi_equals_evpi_when_net_benefit_depends_on_one_parameter():
    """Three strategies whose costs and effects are non-linear functions of t alone: E[INB | t]
    = INB, so EVPPI(t) = EVPI. The regression error can move the estimate by at most
    mean_i max_s |fitted_is - INB_is| (same column means, as the fit has an intercept)."""
    rng = np.random.default_rng(9)
    n = 20_000
    t = rng.standard_normal(n)
    costs = np.column_stack([np.full(n, 5000.0), 6000 + 300 * np.sin(2 * t), 7500 + 500 * t])
    effects = np.column_stack([1 + 0.1 * t, 1.1 + 0.05 * t + 0.02 * t**2,
                               1.15 + 0.15 * np.tanh(t)])
    w = 10_000.0
    result = evppi(costs, effects, t, w)
    full = evpi(costs, effects, w)[0]
    assert result.evpi[0] == pytest.approx(full, rel=1e-12)
    inb = w * (effects - effects[:, :1]) - (costs - costs[:, :1])
    bound = np.abs(result.fitted_inb(w) - inb).max(axis=1).mean()
    assert full - result.evppi[0] <= bound + 1e-9
    assert result.evppi[0] >= 0.99 * full


def test_evppi_of_an_irrelevant_parameter_is_about_zero():
    """INB = 1000 t, t ~ N(0, 1), and an independent phi: E[INB | phi] = 0, EVPPI(phi) = 0.
    With a balanced decision (mean INB 0) the fit's noise, sd ~ 1000 sqrt(n_basis / n) per draw,
    biases the estimate up by about 0.4 of that; allow 3 times it. With a clear decision (mean
    INB 1000, 45 noise sd from 0) the estimate is 0 up to rounding."""
    rng = np.random.default_rng(13)
    n = 20_000
    t, phi = rng.standard_normal((2, n))
    zeros = np.zeros(n)
    for shift, tolerance in ((0.0, None), (0.1, 1e-6)):
        effects = np.column_stack([zeros, 0.1 * t + shift])
        result = evppi(np.zeros((n, 2)), effects, phi, 10_000.0)
        if tolerance is None:
            tolerance = 3 * 0.4 * 1000 * np.sqrt(result.n_basis / n)
            assert result.evpi[0] > 350  # about 1000 phi(0) = 399
        assert 0 <= result.evppi[0] <= tolerance


def test_evppi_parameter_group_with_interaction():
    """(a) INB = 200 + 500 t1 + 1000 t1 t2: the additive basis plus the pairwise product spans
    it, so EVPPI({t1, t2}) = EVPI up to rounding. (b) INB = 1000 + 1500 t1 - 1000 t2 + 800 t3:
    EVPPI({t1, t2}) = E[max(0, N(1000, 1500^2 + 1000^2))] - 1000 (closed form)."""
    rng = np.random.default_rng(17)
    n = 20_000
    t1, t2, t3 = rng.standard_normal((3, n))
    zeros = np.zeros(n)
    inb = 200 + 500 * t1 + 1000 * t1 * t2
    result = evppi(np.zeros((n, 2)), np.column_stack([zeros, inb]), np.column_stack([t1, t2]),
                   1.0)
    assert result.evppi[0] == pytest.approx(result.evpi[0], rel=1e-6)

    inb = 1000 + 1500 * t1 - 1000 * t2 + 800 * t3
    result = evppi(np.column_stack([zeros, -inb]), np.zeros((n, 2)),
                   np.column_stack([t1, t2]), 0.0)
    s = np.hypot(1500, 1000)
    closed = expected_positive_part(1000, s) - 1000
    g = 1000 + 1500 * t1 - 1000 * t2
    se = np.std(np.maximum(0, -g)) / np.sqrt(n)
    assert abs(result.evppi[0] - closed) <= 4 * se + 0.4 * 800 * np.sqrt(result.n_basis / n)


def test_evppi_standard_error_matches_replication():
    """The standard error describes the regression-fit noise given the parameters: hold t1
    fixed, redraw t2 (the residual) 150 times, and the spread of the EVPPI estimates should
    match the reported SE (ratio within 0.7-1.4; the replicate SD has ~6% and the reported SE
    ~4% relative error)."""
    rng = np.random.default_rng(21)
    n = 2000
    t1 = rng.standard_normal(n)
    estimates = []
    for _ in range(150):
        costs, effects = _linear_gaussian((t1, rng.standard_normal(n)))
        estimates.append(evppi(costs, effects, t1, 30_000.0, n_se_draws=0).evppi[0])
    costs, effects = _linear_gaussian((t1, rng.standard_normal(n)))
    reported = evppi(costs, effects, t1, 30_000.0, n_se_draws=400, seed=1)
    ratio = reported.standard_error[0] / np.std(estimates, ddof=1)
    assert 0.7 <= ratio <= 1.4
    again = evppi(costs, effects, t1, 30_000.0, n_se_draws=400, seed=1)
    assert again.standard_error[0] == reported.standard_error[0]
    assert np.isnan(evppi(costs, effects, t1, 30_000.0, n_se_draws=0).standard_error[0])


def test_evppi_single_strategy_and_constant_parameter():
    rng = np.random.default_rng(2)
    costs, effects = rng.normal(size=(200, 1)), rng.normal(size=(200, 1))
    result = evppi(costs, effects, rng.normal(size=200), [0.0, 1.0])
    np.testing.assert_array_equal(result.evppi, [0.0, 0.0])
    costs, effects = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    result = evppi(costs, effects, np.ones(200), 1.0)
    assert result.n_basis == 1 and result.evppi[0] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"parameters": np.ones(99)}, "parameters must have one row per draw .* \\(100\\); got 99"),
        ({"parameters": np.ones((100, 0))}, "parameters must be shaped .* \\(100, 0\\)"),
        ({"parameters": np.full(100, np.nan)}, "parameters must be finite; got nan"),
        ({"parameters": np.ones((100, 8)) + np.arange(800).reshape(100, 8) ** 1.5},
         "parameters: the regression basis has .* got 100"),
        ({"wtp": -1.0}, "wtp must be >= 0"),
        ({"n_knots": 2}, "n_knots must be an integer >= 3; got 2"),
        ({"n_knots": 4.5}, "n_knots must be an integer >= 3; got 4.5"),
        ({"n_se_draws": -1}, "n_se_draws must be an integer >= 0; got -1"),
        ({"seed": "x"}, "seed must be an integer >= 0; got 'x'"),
        ({"costs": np.ones((100, 2, 1))}, "costs must be a 2-D array"),
    ],
)
def test_evppi_validation_names_the_argument(kwargs, match):
    rng = np.random.default_rng(0)
    args = {"costs": rng.normal(size=(100, 2)), "effects": rng.normal(size=(100, 2)),
            "parameters": rng.normal(size=100), "wtp": 1.0} | kwargs
    with pytest.raises(ValueError, match=match):
        evppi(**args)


def test_evpi_validation_names_the_argument():
    with pytest.raises(ValueError, match="wtp_grid must be finite; got inf"):
        evpi(np.ones((3, 2)), np.ones((3, 2)), [np.inf])
    with pytest.raises(ValueError, match="costs must be finite; got nan at index \\(1, 0\\)"):
        evpi(np.array([[1.0, 2.0], [np.nan, 1.0]]), np.ones((2, 2)), 1.0)
