"""Net benefit and acceptability of strategies under parameter uncertainty (probabilistic
sensitivity analysis draws).

Inputs are arrays shaped (draw, strategy): row *i* holds every strategy's cost (or effect) under
the *i*-th joint draw of the uncertain parameters, so strategies are compared draw by draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sequencer.econ._validate import as_psa, as_wtp, frozen


def net_benefit(costs: ArrayLike, effects: ArrayLike, wtp: ArrayLike) -> np.ndarray:
    """Net monetary benefit of every strategy in every draw at every willingness to pay.

    ``NB[w, i, s] = wtp[w] * effects[i, s] - costs[i, s]``.

    Parameters
    ----------
    costs, effects : array_like, shape (draw, strategy)
        Finite costs and effects of each strategy in each draw.
    wtp : float or array_like, shape (n_wtp,)
        Willingness to pay per unit of effect, each finite and >= 0. A scalar is treated as a
        one-element grid.

    Returns
    -------
    ndarray, shape (n_wtp, draw, strategy)

    References
    ----------
    Stinnett AA, Mullahy J. Net health benefits: a new framework for the analysis of
    uncertainty in cost-effectiveness analysis. Med Decis Making 1998;18(2 Suppl):S68-S80.
    """
    c, e = as_psa(costs, effects)
    grid = as_wtp(wtp, "wtp")
    return grid[:, None, None] * e[None] - c[None]


def _winner_shares(nb: np.ndarray) -> np.ndarray:
    """Per draw, 1 for the strategy with the highest NB, split equally among exact ties.
    ``nb`` is (draw, strategy); returns the mean over draws, shape (strategy,)."""
    best = nb.max(axis=1, keepdims=True)
    top = nb == best
    return (top / top.sum(axis=1, keepdims=True)).mean(axis=0)


def acceptability_curve(costs: ArrayLike, effects: ArrayLike, wtp_grid: ArrayLike) -> np.ndarray:
    """Cost-effectiveness acceptability curves (CEAC).

    ``CEAC[w, s] = P(NB_s(wtp_w) = max_t NB_t(wtp_w))``, estimated as the share of draws in
    which strategy *s* has the highest net monetary benefit. A draw in which several strategies
    tie for the highest NB counts ``1/m`` for each of the ``m`` tied strategies, so every row
    sums to 1. At ``wtp = 0`` the curve is the probability of being the least costly.

    Parameters
    ----------
    costs, effects : array_like, shape (draw, strategy)
        Finite costs and effects of each strategy in each draw.
    wtp_grid : float or array_like, shape (n_wtp,)
        Willingness-to-pay values, finite and >= 0.

    Returns
    -------
    ndarray, shape (n_wtp, strategy)
        Probability that each strategy is cost-effective at each willingness to pay.

    References
    ----------
    Van Hout BA, Al MJ, Gordon GS, Rutten FF. Costs, effects and C/E-ratios alongside a clinical
    trial. Health Econ 1994;3(5):309-319. Fenwick E, Claxton K, Sculpher M. Representing
    uncertainty: the role of cost-effectiveness acceptability curves. Health Econ
    2001;10(8):779-787.
    """
    c, e = as_psa(costs, effects)
    grid = as_wtp(wtp_grid, "wtp_grid")
    # One WTP at a time keeps memory at (draw, strategy) however long the grid is.
    return np.stack([_winner_shares(w * e - c) for w in grid])


@dataclass(frozen=True)
class AcceptabilityFrontier:
    """Result of :func:`acceptability_frontier`.

    Attributes
    ----------
    wtp : ndarray, shape (n_wtp,)
        The willingness-to-pay grid.
    optimal : ndarray of int, shape (n_wtp,)
        Column index of the strategy with the highest expected net benefit at each WTP (the
        first one on an exact tie).
    probability : ndarray, shape (n_wtp,)
        Probability that the optimal strategy is cost-effective: ``ceac[w, optimal[w]]``; this
        is the cost-effectiveness acceptability frontier (CEAF).
    expected_nb : ndarray, shape (n_wtp, strategy)
        Mean net monetary benefit over draws.
    ceac : ndarray, shape (n_wtp, strategy)
        The acceptability curves, as returned by :func:`acceptability_curve`.
    """

    wtp: np.ndarray
    optimal: np.ndarray
    probability: np.ndarray
    expected_nb: np.ndarray
    ceac: np.ndarray


def acceptability_frontier(
    costs: ArrayLike, effects: ArrayLike, wtp_grid: ArrayLike
) -> AcceptabilityFrontier:
    """Cost-effectiveness acceptability frontier (CEAF).

    At each WTP the decision rule picks ``s*(w) = argmax_s E[NB_s(w)]`` (the highest *expected*
    net benefit, not the highest probability of being cost-effective, which can differ when the
    NB distributions are skewed), and the frontier is ``CEAF(w) = CEAC[w, s*(w)]``.

    Parameters
    ----------
    costs, effects : array_like, shape (draw, strategy)
        Finite costs and effects of each strategy in each draw.
    wtp_grid : float or array_like, shape (n_wtp,)
        Willingness-to-pay values, finite and >= 0.

    Returns
    -------
    AcceptabilityFrontier
        Fields ``wtp``, ``optimal``, ``probability``, ``expected_nb``, ``ceac``.

    References
    ----------
    Fenwick E, Claxton K, Sculpher M. Representing uncertainty: the role of cost-effectiveness
    acceptability curves. Health Econ 2001;10(8):779-787.
    """
    c, e = as_psa(costs, effects)
    grid = as_wtp(wtp_grid, "wtp_grid")
    ceac = acceptability_curve(c, e, grid)
    expected = grid[:, None] * e.mean(axis=0)[None] - c.mean(axis=0)[None]
    optimal = np.argmax(expected, axis=1)
    return AcceptabilityFrontier(
        wtp=frozen(grid),
        optimal=frozen(optimal),
        probability=frozen(ceac[np.arange(grid.size), optimal]),
        expected_nb=frozen(expected),
        ceac=frozen(ceac),
    )
