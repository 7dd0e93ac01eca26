"""Diagnostics thresholds on draws whose behaviour is known in closed form."""

from __future__ import annotations

import arviz as az
import numpy as np

from sequencer.bayes.diagnostics import diagnose


def _idata(chains: np.ndarray, diverging: int = 0) -> az.InferenceData:
    n_chain, n_draw = chains.shape
    div = np.zeros((n_chain, n_draw), dtype=bool)
    div.flat[:diverging] = True
    rng = np.random.default_rng(0)
    return az.from_dict(
        posterior={"mu": chains},
        sample_stats={"diverging": div, "energy": rng.normal(size=(n_chain, n_draw))},
    )


def test_independent_draws_pass():
    rng = np.random.default_rng(1)
    diag = diagnose(_idata(rng.normal(size=(4, 1000))))
    assert diag.ok and diag.worst["max_rhat"] < 1.01


def test_a_shifted_chain_fails_and_is_named():
    """One chain centred at 3 SD away: between-chain variance makes R-hat >> 1.01."""
    rng = np.random.default_rng(2)
    chains = rng.normal(size=(4, 1000))
    chains[3] += 3.0
    diag = diagnose(_idata(chains))
    assert not diag.ok
    assert [p.name for p in diag.failing] == ["mu"]
    assert "FAIL mu" in diag.report()


def test_autocorrelated_draws_fail_on_ess_and_divergences_fail():
    """AR(1) with phi = 0.99 has ESS about n (1 - phi) / (1 + phi) = 4000 * 0.005 = 20 < 400."""
    rng = np.random.default_rng(3)
    chains = np.zeros((4, 1000))
    for c in range(4):
        for t in range(1, 1000):
            chains[c, t] = 0.99 * chains[c, t - 1] + rng.normal()
    assert diagnose(_idata(chains)).worst["min_ess_bulk"] < 400
    diag = diagnose(_idata(rng.normal(size=(4, 1000)), diverging=3))
    assert diag.divergences == 3 and not diag.ok
