"""Net benefit, acceptability curves (CEAC) and the acceptability frontier (CEAF).

References: hand arithmetic on a four-draw table (in the docstrings); the normal closed form
P(INB > 0) = Phi(mu / sigma) for INB ~ N(mu, sigma^2); Fenwick, Claxton & Sculpher (Health Econ
2001;10:779-787) for the CEAF decision rule (highest expected NB, not highest probability).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from sequencer.econ import acceptability_curve, acceptability_frontier, net_benefit

# Four draws (rows) of three strategies (columns).
COSTS = np.array([[0, 10, 30], [0, 20, 10], [5, 0, 20], [0, 10, 40]], dtype=float)
EFFECTS = np.array([[0, 1, 2], [0, 1, 1], [0, 0.5, 3], [0, 2, 1]], dtype=float)


def test_net_benefit_hand_computed():
    """NB = wtp * effect - cost. wtp 0: -costs. wtp 20: draw 1 (0, 20-10, 40-30) = (0, 10, 10);
    draw 2 (0, 0, 10); draw 3 (-5, 10, 40); draw 4 (0, 30, -20)."""
    nb = net_benefit(COSTS, EFFECTS, [0.0, 20.0])
    assert nb.shape == (2, 4, 3)
    np.testing.assert_array_equal(nb[0], -COSTS)
    np.testing.assert_array_equal(nb[1], [[0, 10, 10], [0, 0, 10], [-5, 10, 40], [0, 30, -20]])
    assert net_benefit(COSTS, EFFECTS, 20.0).shape == (1, 4, 3)


def test_ceac_hand_computed_with_a_tie():
    """wtp 0 (NB = -cost): winners s0, s0, s1, s0 -> (0.75, 0.25, 0). wtp 20 (NB above): draw 1
    ties s1 and s2 (10, 10) -> 1/2 each; draw 2 s2; draw 3 s2; draw 4 s1 ->
    s1 (0.5 + 1) / 4 = 0.375, s2 (0.5 + 1 + 1) / 4 = 0.625."""
    ceac = acceptability_curve(COSTS, EFFECTS, [0.0, 20.0])
    np.testing.assert_allclose(ceac, [[0.75, 0.25, 0.0], [0.0, 0.375, 0.625]])


def test_ceac_sums_to_one_and_equals_p_lowest_cost_at_zero():
    """Rows sum to 1 (exactly one winner per draw, ties shared). At wtp 0, NB = -cost, so
    CEAC(0) is the share of draws where the strategy is cheapest, counted here directly."""
    rng = np.random.default_rng(7)
    costs = rng.normal([100, 110, 120, 105], 20, size=(5000, 4))
    effects = rng.normal([1.0, 1.2, 1.3, 1.1], 0.3, size=(5000, 4))
    grid = np.linspace(0, 500, 26)
    ceac = acceptability_curve(costs, effects, grid)
    np.testing.assert_allclose(ceac.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    cheapest = np.bincount(costs.argmin(axis=1), minlength=4) / 5000
    np.testing.assert_allclose(ceac[0], cheapest, rtol=0, atol=1e-15)
    # Integer-valued draws tie often; the shares still sum to 1.
    ceac = acceptability_curve(np.round(costs / 20), np.round(effects), [0.0, 1.0, 3.0])
    np.testing.assert_allclose(ceac.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_ceac_matches_normal_closed_form():
    """Two strategies; incremental effect ~ N(0.1, 0.05^2), incremental cost ~ N(2000, 1000^2),
    independent, so INB(w) ~ N(0.1 w - 2000, (0.05 w)^2 + 1000^2) and CEAC_1(w) =
    Phi(mean / sd). 200k draws; tolerance 4 binomial standard errors sqrt(p (1 - p) / n)."""
    rng = np.random.default_rng(11)
    n = 200_000
    costs = np.column_stack([np.full(n, 5000.0), 5000 + rng.normal(2000, 1000, n)])
    effects = np.column_stack([np.full(n, 1.0), 1 + rng.normal(0.1, 0.05, n)])
    grid = np.array([0.0, 10_000, 20_000, 30_000, 50_000])
    ceac = acceptability_curve(costs, effects, grid)
    p = norm.cdf((0.1 * grid - 2000) / np.hypot(0.05 * grid, 1000))
    tolerance = 4 * np.sqrt(p * (1 - p) / n) + 1e-12
    assert np.all(np.abs(ceac[:, 1] - p) <= tolerance)


def test_ceaf_follows_expected_net_benefit_not_probability():
    """wtp 20, table above: expected NB s0 (0 + 0 - 5 + 0) / 4 = -1.25, s1 (10 + 0 + 10 + 30) / 4
    = 12.5, s2 (10 + 10 + 40 - 20) / 4 = 10 -> optimal s1, although s2 is more often
    cost-effective (0.625 vs 0.375); the CEAF is CEAC_s1 = 0.375 (Fenwick et al. 2001).
    wtp 0: expected NB (-1.25, -10, -25) -> s0 with probability 0.75."""
    ceaf = acceptability_frontier(COSTS, EFFECTS, [0.0, 20.0])
    np.testing.assert_array_equal(ceaf.optimal, [0, 1])
    np.testing.assert_allclose(ceaf.probability, [0.75, 0.375])
    np.testing.assert_allclose(ceaf.expected_nb, [[-1.25, -10, -25], [-1.25, 12.5, 10]])
    np.testing.assert_allclose(ceaf.ceac, acceptability_curve(COSTS, EFFECTS, [0.0, 20.0]))
    np.testing.assert_array_equal(ceaf.wtp, [0.0, 20.0])


@pytest.mark.parametrize(
    ("costs", "effects", "wtp", "match"),
    [
        (np.ones(3), np.ones(3), 1.0, "costs must be a 2-D array .* got shape \\(3,\\)"),
        (np.ones((3, 2)), np.ones((2, 3)), 1.0,
         "effects must have the same shape as costs \\(3, 2\\); got \\(2, 3\\)"),
        (np.ones((3, 2)), np.full((3, 2), np.inf), 1.0, "effects must be finite; got inf"),
        (np.ones((3, 2)), np.ones((3, 2)), [-5.0], "wtp_grid must be >= 0 .* got -5.0"),
        (np.ones((3, 2)), np.ones((3, 2)), [], "wtp_grid must be a number or a non-empty"),
        (np.ones((3, 2)), np.ones((3, 2)), [[1.0]], "wtp_grid must be a number .* \\(1, 1\\)"),
        (np.ones((3, 2)), np.ones((3, 2)), "x", "wtp_grid must be numeric"),
    ],
)
def test_validation_names_the_argument(costs, effects, wtp, match):
    with pytest.raises(ValueError, match=match):
        acceptability_curve(costs, effects, wtp)
    with pytest.raises(ValueError, match=match):
        acceptability_frontier(costs, effects, wtp)


def test_net_benefit_validation_names_wtp():
    with pytest.raises(ValueError, match="wtp must be finite; got nan"):
        net_benefit(np.ones((2, 2)), np.ones((2, 2)), [1.0, np.nan])
