"""Study summaries from survival histograms, against the Kaplan-Meier estimator on the same
simulated patients (reference: ``sequencer.simulate.survival``, itself checked against
lifelines). Simulated patients are followed to death, so the histogram is exact at grid points."""

from __future__ import annotations

import numpy as np

from sequencer.simulate.shards import GRID_STEP, N_BINS
from sequencer.simulate.summary import (
    median_from_histogram,
    rmst_from_histogram,
    survival_from_histogram,
)
from sequencer.simulate.survival import km_median, rmst


def _hist(times):
    return np.histogram(times, np.append(np.arange(N_BINS) * GRID_STEP, np.inf))[0]


def test_histogram_summaries_match_kaplan_meier():
    rng = np.random.default_rng(3)
    times = rng.weibull(1.4, 20_000) * 18.0
    hist = _hist(times)
    grid = np.arange(0, 100) * GRID_STEP
    empirical = np.array([(times > t).mean() for t in grid])
    np.testing.assert_allclose(survival_from_histogram(hist)[:100], empirical, atol=1e-12)
    events = np.ones_like(times)
    assert abs(median_from_histogram(hist) - km_median(times, events)) <= GRID_STEP
    # trapezoids on a 0.25-month grid vs the exact step-function area
    assert abs(rmst_from_histogram(hist, 60.0) - rmst(times, events, 60.0)) <= 0.01


def test_batched_histograms_give_per_draw_medians():
    rng = np.random.default_rng(4)
    medians = np.array([6.0, 12.0, 24.0])
    times = rng.exponential(medians[:, None] / np.log(2), (3, 50_000))
    hists = np.stack([_hist(t) for t in times])
    got = median_from_histogram(hists)
    expected = [km_median(t, np.ones_like(t)) for t in times]
    np.testing.assert_allclose(got, expected, atol=GRID_STEP)
