"""Expected value of perfect information (EVPI) and of partial perfect information (EVPPI) from
probabilistic sensitivity analysis draws, per patient (multiply by the population to get the
population value).

EVPPI uses the non-parametric regression method of Strong, Oakley & Brennan (2014): the
conditional expectation of each strategy's incremental net benefit given the parameters of
interest is estimated by regressing it on those parameters with a flexible smoother, so no
nested (inner-loop) simulation is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sequencer.econ._validate import as_parameters, as_psa, as_wtp, frozen


def _expected_gain(g: np.ndarray) -> float:
    """``mean_i max_s g[i, s] - max_s mean_i g[i, s]``: the value of choosing per draw."""
    return float(g.max(axis=1).mean() - g.mean(axis=0).max())


def evpi(costs: ArrayLike, effects: ArrayLike, wtp_grid: ArrayLike) -> np.ndarray:
    """Per-patient expected value of perfect information at each willingness to pay.

    ``EVPI(w) = E_theta[max_s NB_s(w, theta)] - max_s E_theta[NB_s(w, theta)]``, with the
    expectations estimated by means over draws and ``NB = w * effect - cost``. It is computed
    on net benefit relative to the first strategy (which leaves it unchanged) and is >= 0 by
    Jensen's inequality; negatives of rounding size are clipped to 0.

    Parameters
    ----------
    costs, effects : array_like, shape (draw, strategy)
        Finite costs and effects of each strategy in each draw.
    wtp_grid : float or array_like, shape (n_wtp,)
        Willingness-to-pay values, finite and >= 0.

    Returns
    -------
    ndarray, shape (n_wtp,)

    References
    ----------
    Claxton K. The irrelevance of inference: a decision-making approach to the stochastic
    evaluation of health care technologies. J Health Econ 1999;18(3):341-364.
    """
    c, e = as_psa(costs, effects)
    grid = as_wtp(wtp_grid, "wtp_grid")
    inc_c, inc_e = c - c[:, :1], e - e[:, :1]
    return np.maximum([_expected_gain(w * inc_e - inc_c) for w in grid], 0.0)


@dataclass(frozen=True)
class EvppiResult:
    """Result of :func:`evppi`.

    Attributes
    ----------
    wtp : ndarray, shape (n_wtp,)
        The willingness-to-pay values.
    evppi : ndarray, shape (n_wtp,)
        Per-patient EVPPI of the parameter group, clipped to ``[0, evpi]``.
    evpi : ndarray, shape (n_wtp,)
        Per-patient EVPI from the same draws (see :func:`evpi`).
    standard_error : ndarray, shape (n_wtp,)
        Standard error of ``evppi`` from the uncertainty in the regression fit (NaN when
        ``n_se_draws=0``); it does not include the Monte Carlo error of the draws themselves.
    fitted_inc_cost, fitted_inc_effect : ndarray, shape (draw, strategy)
        Fitted ``E[cost_s - cost_0 | parameters]`` and ``E[effect_s - effect_0 | parameters]``
        at each draw; column 0 is zero.
    n_basis : int
        Number of regression columns, intercept included.
    """

    wtp: np.ndarray
    evppi: np.ndarray
    evpi: np.ndarray
    standard_error: np.ndarray
    fitted_inc_cost: np.ndarray
    fitted_inc_effect: np.ndarray
    n_basis: int

    def fitted_inb(self, wtp: float) -> np.ndarray:
        """Fitted incremental net benefit versus strategy 0, shape (draw, strategy):
        ``wtp * fitted_inc_effect - fitted_inc_cost`` (least squares is linear in the
        response, so this is exactly the regression of the incremental NB at ``wtp``)."""
        return wtp * self.fitted_inc_effect - self.fitted_inc_cost


def _spline_columns(x: np.ndarray, n_knots: int) -> list[np.ndarray]:
    """Natural cubic regression spline in ``x`` without intercept (Hastie, Tibshirani &
    Friedman, Elements of Statistical Learning, 2nd ed., eqs. 5.4-5.5): the linear term and
    ``K - 2`` terms ``d_k - d_{K-2}``, with ``d_k = ((z - t_k)_+^3 - (z - t_{K-1})_+^3) /
    (t_{K-1} - t_k)``, knots ``t`` at evenly spaced quantiles of ``x`` from its minimum to its
    maximum, as in mgcv's ``"cr"`` basis used by Strong et al. (Wood, Generalized Additive
    Models, 2nd ed., 2017, sec. 5.3.1), so no draw lies where the spline is forced linear.
    Fewer than 3 distinct knots: linear only; constant ``x``: nothing."""
    if x.max() == x.min():
        return []
    knots = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_knots)))
    if knots.size < 3:
        return [(x - x.mean()) / x.std()]
    lo, span = knots[0], knots[-1] - knots[0]
    z, t = (x - lo) / span, (knots - lo) / span

    def d(k: int) -> np.ndarray:
        return (np.maximum(z - t[k], 0.0) ** 3 - np.maximum(z - t[-1], 0.0) ** 3) / (t[-1] - t[k])

    last = d(t.size - 2)
    return [z] + [d(k) - last for k in range(t.size - 2)]


def _design_matrix(parameters: np.ndarray, n_knots: int) -> np.ndarray:
    """Intercept, an additive natural-spline basis per parameter, and pairwise products of the
    standardised parameters (linear-by-linear interactions)."""
    n, k = parameters.shape
    columns = [np.ones(n)]
    standard = []
    for j in range(k):
        x = parameters[:, j]
        columns.extend(_spline_columns(x, n_knots))
        if x.max() > x.min():
            standard.append((x - x.mean()) / x.std())
    for a in range(len(standard)):
        for b in range(a + 1, len(standard)):
            columns.append(standard[a] * standard[b])
    return np.column_stack(columns)


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def evppi(
    costs: ArrayLike,
    effects: ArrayLike,
    parameters: ArrayLike,
    wtp: ArrayLike,
    *,
    n_knots: int | None = None,
    n_se_draws: int = 200,
    seed: int | None = 0,
) -> EvppiResult:
    """Per-patient expected value of partial perfect information of a parameter group, by
    regression (Strong, Oakley & Brennan 2014).

    With ``INB_s = NB_s - NB_0`` and ``g_s(phi) = E[INB_s | phi]`` estimated by least squares
    on a spline basis of the parameter group ``phi``,
    ``EVPPI(w) = mean_i max_s g_s(phi_i) - max_s mean_i g_s(phi_i)`` (``g_0 = 0``).

    Parameters
    ----------
    costs, effects : array_like, shape (draw, strategy)
        Finite costs and effects of each strategy in each draw.
    parameters : array_like, shape (draw,) or (draw, k)
        The group's sampled parameter values, row *i* from the draw that gave row *i* of
        ``costs``/``effects``.
    wtp : float or array_like, shape (n_wtp,)
        Willingness-to-pay values, finite and >= 0 (one fit serves every value).
    n_knots : int, optional
        Spline knots per parameter (>= 3); default ``max(3, min(10, draw // 20))``.
    n_se_draws : int, default 200
        Coefficient draws for the standard error (0 skips it).
    seed : int or None, default 0
        Seed of the generator for those draws.

    Returns
    -------
    EvppiResult
        Fields ``wtp``, ``evppi``, ``evpi``, ``standard_error``, ``fitted_inc_cost``,
        ``fitted_inc_effect``, ``n_basis``; method ``fitted_inb(wtp)``.

    Notes
    -----
    Basis: for ``k = 1`` a natural cubic regression spline with knots at quantiles; for
    ``k > 1`` such a spline for each parameter (additive) plus all pairwise products of the
    standardised parameters. Incremental costs and effects are each regressed on the basis by
    ``numpy.linalg.lstsq``, and the fitted INB at each ``wtp`` is their linear combination.
    At least ``2 * n_basis`` draws are required.

    Since the fit has an intercept, the mean of the fitted values equals the sample mean, so
    the estimate is >= 0 up to rounding; it can exceed the EVPI only through fitting noise.
    It is therefore clipped to ``[0, EVPI]``. Overfitting noise biases it slightly upwards
    (roughly ``0.4 * sd(residual INB) * sqrt(n_basis / draw)`` for two strategies whose
    expected INB is near 0, and much less when the decision is clear).

    Standard error (after Strong et al. 2014, who sample the fitted values' posterior): the
    coefficient matrix is drawn from its
    approximate sampling distribution, matrix normal with row covariance ``(X'X)^-1`` and
    column covariance the residual covariance of the INBs, the EVPPI recomputed for each draw,
    and the standard deviation of those values reported.

    References
    ----------
    Strong M, Oakley JE, Brennan A. Estimating multiparameter partial expected value of
    perfect information from a probabilistic sensitivity analysis sample: a nonparametric
    regression approach. Med Decis Making 2014;34(3):311-326.
    """
    c, e = as_psa(costs, effects)
    n, n_strategies = c.shape
    phi = as_parameters(parameters, n)
    grid = as_wtp(wtp, "wtp")
    knots = (max(3, min(10, n // 20)) if n_knots is None
             else _check_count(n_knots, "n_knots", 3))
    n_se = _check_count(n_se_draws, "n_se_draws", 0)
    if seed is not None:
        _check_count(seed, "seed", 0)

    x = _design_matrix(phi, knots)
    if n < 2 * x.shape[1]:
        raise ValueError(
            f"parameters: the regression basis has {x.shape[1]} columns for {phi.shape[1]} "
            f"parameter(s), which needs at least {2 * x.shape[1]} draws; got {n} "
            "(use more draws, fewer parameters or a smaller n_knots)"
        )
    inc_c, inc_e = c - c[:, :1], e - e[:, :1]
    m = n_strategies - 1
    response = np.hstack([inc_c[:, 1:], inc_e[:, 1:]])
    coef, _, rank, _ = np.linalg.lstsq(x, response, rcond=None)
    fitted = x @ coef
    fit_c = np.hstack([np.zeros((n, 1)), fitted[:, :m]])
    fit_e = np.hstack([np.zeros((n, 1)), fitted[:, m:]])

    evpi_w = np.array([max(_expected_gain(w * inc_e - inc_c), 0.0) for w in grid])
    raw = np.array([_expected_gain(w * fit_e - fit_c) for w in grid])
    value = np.clip(raw, 0.0, evpi_w)

    se = np.full(grid.size, np.nan)
    if n_se > 0 and m > 0:
        u, s, _ = np.linalg.svd(x, full_matrices=False)
        u = u[:, s > s[0] * max(x.shape) * np.finfo(float).eps]
        resid = response - fitted
        chol = []
        for w in grid:
            r = w * resid[:, m:] - resid[:, :m]
            vals, vecs = np.linalg.eigh(r.T @ r / max(n - rank, 1))
            chol.append(vecs * np.sqrt(np.clip(vals, 0.0, None)))
        rng = np.random.default_rng(seed)
        samples = np.empty((n_se, grid.size))
        g = np.zeros((n, m + 1))
        for b in range(n_se):
            # X (B + (X'X)^-1/2 Z L') = fitted + U Z L', with X = U S V'.
            noise = u @ rng.standard_normal((u.shape[1], m))
            for j, w in enumerate(grid):
                g[:, 1:] = w * fit_e[:, 1:] - fit_c[:, 1:] + noise @ chol[j].T
                samples[b, j] = _expected_gain(g)
        se = samples.std(axis=0, ddof=1) if n_se > 1 else np.full(grid.size, np.nan)
    elif n_se > 0:
        se = np.zeros(grid.size)

    return EvppiResult(
        wtp=frozen(grid),
        evppi=frozen(value),
        evpi=frozen(evpi_w),
        standard_error=frozen(se),
        fitted_inc_cost=frozen(fit_c),
        fitted_inc_effect=frozen(fit_e),
        n_basis=int(x.shape[1]),
    )
