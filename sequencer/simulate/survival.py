"""Kaplan-Meier estimator, its median and restricted mean, for one sample or many replicates.

Pure numpy, no I/O.  Every function takes right-censored data as ``time`` (non-negative, finite)
and ``event`` (1/True = event observed, 0/False = censored).  The ``*_batch`` functions take
arrays of shape ``(rep, n)`` and treat each row as an independent sample.

The product-limit estimator (Kaplan & Meier 1958) is

.. math:: \\hat S(t) = \\prod_{t_j \\le t} \\left(1 - \\frac{d_j}{n_j}\\right),

with :math:`d_j` events among the :math:`n_j` subjects still at risk (time :math:`\\ge t_j`) at
the distinct event time :math:`t_j`.  Subjects censored at :math:`t_j` count as at risk at
:math:`t_j`.

References
----------
Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. JASA 1958;53:457-481.
Royston P, Parmar MKB. Restricted mean survival time. BMC Med Res Methodol 2013;13:152.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

# Relative slack when comparing a floating-point product-limit estimate with 1/2, so that a curve
# that is exactly 0.5 in exact arithmetic (e.g. 10 of 20 uncensored deaths) counts as reached.
_HALF = 0.5 * (1.0 + 1e-12)


class KMCurve(NamedTuple):
    """Kaplan-Meier curve: ``survival[i]`` is :math:`\\hat S` at ``time[i]`` (right-continuous)."""

    time: np.ndarray
    survival: np.ndarray
    at_risk: np.ndarray  # number with observed time >= time[i]
    events: np.ndarray  # number of events at exactly time[i]


def check_survival_data(
    time: ArrayLike, event: ArrayLike, ndim: tuple[int, ...] = (1,)
) -> tuple[np.ndarray, np.ndarray]:
    """Validate right-censored data; return ``time`` (float64) and ``event`` (float64 0/1)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event)
    if t.ndim not in ndim:
        raise ValueError(f"time: expected an array with ndim in {ndim}, got shape {t.shape}")
    if t.shape[-1] == 0:
        raise ValueError("time: expected at least one observation, got an empty array")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("time: expected finite, non-negative values")
    if e.shape != t.shape:
        raise ValueError(f"event: expected the shape of time {t.shape}, got {e.shape}")
    e = e.astype(float)
    if not np.all((e == 0) | (e == 1)):
        raise ValueError("event: expected 0/1 or boolean values")
    return t, e


def risk_table(time: np.ndarray, event: np.ndarray, *marks: np.ndarray) -> dict[str, np.ndarray]:
    """Sort each row by time and tabulate tied groups (internal; inputs already validated).

    Returns arrays of shape ``(rep, n)`` in sorted order: ``time``, ``last`` (position ends a
    group of tied times), ``at_risk`` (subjects with time >= the group's time) and ``events``
    (events in the group, zero at positions that do not end a group).  For every extra 0/1
    array ``m`` in ``marks`` it adds ``at_risk_k`` and ``events_k`` restricted to ``m == 1``.
    """
    order = np.argsort(time, axis=1, kind="stable")
    t = np.take_along_axis(time, order, axis=1)
    n = t.shape[1]
    new = np.ones(t.shape, dtype=bool)
    new[:, 1:] = t[:, 1:] != t[:, :-1]
    last = np.ones(t.shape, dtype=bool)
    last[:, :-1] = new[:, 1:]
    start = np.maximum.accumulate(np.where(new, np.arange(n), 0), axis=1)
    out = {"time": t, "last": last}

    def tabulate(e: np.ndarray, weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        cum_e = np.cumsum(e, axis=1)
        before = np.take_along_axis(cum_e - e, start, axis=1)  # events before the group
        if weight is None:
            risk = (n - start).astype(float)
        else:
            cum_w = np.cumsum(weight, axis=1)
            risk = cum_w[:, -1:] - np.take_along_axis(cum_w - weight, start, axis=1)
        return risk, np.where(last, cum_e - before, 0.0)

    e_sorted = np.take_along_axis(event, order, axis=1)
    out["at_risk"], out["events"] = tabulate(e_sorted, None)
    for k, mark in enumerate(marks):
        m_sorted = np.take_along_axis(mark, order, axis=1)
        out[f"at_risk_{k}"], out[f"events_{k}"] = tabulate(e_sorted * m_sorted, m_sorted)
    return out


def _survival_by_position(table: dict[str, np.ndarray]) -> np.ndarray:
    """:math:`\\hat S` just after each sorted position (exact at group ends)."""
    factor = 1.0 - table["events"] / table["at_risk"]
    return np.cumprod(factor, axis=1)


def kaplan_meier(time: ArrayLike, event: ArrayLike, grid: ArrayLike | None = None) -> KMCurve:
    """Product-limit estimate of the survival function (Kaplan & Meier 1958).

    Parameters
    ----------
    time, event
        1-D arrays of observed times (finite, >= 0) and event indicators (1 = event).
    grid
        Optional 1-D array of times at which to evaluate the curve.  Without it the curve is
        returned at the distinct event times.

    Returns
    -------
    KMCurve
        ``time``, ``survival`` (:math:`\\hat S(t) = \\prod_{t_j \\le t} (1 - d_j / n_j)`),
        ``at_risk`` (number with observed time >= t) and ``events`` (events at exactly t).
    """
    t, e = check_survival_data(time, event)
    tab = risk_table(t[None, :], e[None, :])
    surv = _survival_by_position(tab)[0]
    last = tab["last"][0]
    times, risk, events = tab["time"][0][last], tab["at_risk"][0][last], tab["events"][0][last]
    surv = surv[last]
    if grid is None:
        keep = events > 0
        return KMCurve(times[keep], surv[keep], risk[keep], events[keep])
    g = np.asarray(grid, dtype=float)
    if g.ndim != 1 or not np.all(np.isfinite(g)):
        raise ValueError(f"grid: expected a 1-D array of finite times, got shape {g.shape}")
    pos = np.searchsorted(times, g, side="right") - 1  # last distinct time <= grid point
    s_grid = np.where(pos >= 0, surv[np.maximum(pos, 0)], 1.0)
    exact = (pos >= 0) & (times[np.maximum(pos, 0)] == g)
    d_grid = np.where(exact, events[np.maximum(pos, 0)], 0.0)
    r_grid = (t.size - np.searchsorted(tab["time"][0], g, side="left")).astype(float)
    return KMCurve(g, s_grid, r_grid, d_grid)


def km_median_batch(time: ArrayLike, event: ArrayLike) -> np.ndarray:
    """Kaplan-Meier median of each row of ``(rep, n)`` arrays.

    The median is the smallest observed time :math:`t` with :math:`\\hat S(t) \\le 0.5` -- the
    convention of lifelines' ``median_survival_time_``.  R's ``survival::print.survfit`` differs
    only when :math:`\\hat S` equals 0.5 exactly on an interval, where it takes the midpoint of
    that interval.  A tolerance of 1e-12 (relative) absorbs rounding in the product.

    Returns
    -------
    numpy.ndarray
        Shape ``(rep,)``; ``inf`` where the curve never falls to 0.5 (median not reached,
        as in lifelines).
    """
    t, e = check_survival_data(time, event, ndim=(2,))
    tab = risk_table(t, e)
    reached = tab["last"] & (_survival_by_position(tab) <= _HALF)
    first = np.argmax(reached, axis=1)
    rows = np.arange(t.shape[0])
    return np.where(reached[rows, first], tab["time"][rows, first], np.inf)


def km_median(time: ArrayLike, event: ArrayLike) -> float:
    """Kaplan-Meier median of one sample; see :func:`km_median_batch` (``inf`` if not reached)."""
    t, e = check_survival_data(time, event)
    return float(km_median_batch(t[None, :], e[None, :])[0])


def rmst_batch(time: ArrayLike, event: ArrayLike, tau: float) -> np.ndarray:
    """Restricted mean survival time of each row of ``(rep, n)`` arrays.

    .. math:: \\mathrm{RMST}(\\tau) = \\int_0^\\tau \\hat S(t)\\,dt
              = \\sum_j \\hat S(t_{j-1}) (\\min(t_j, \\tau) - \\min(t_{j-1}, \\tau))
                + \\hat S(t_J)\\,\\max(\\tau - t_J, 0),

    the area under the Kaplan-Meier step function (Royston & Parmar 2013), with
    :math:`t_0 = 0`, :math:`\\hat S(t_0) = 1`.  Beyond the last observed time the curve is
    carried forward at its last value (no extrapolation to zero), as in lifelines.

    Parameters
    ----------
    tau
        Truncation time, finite and > 0.

    Returns
    -------
    numpy.ndarray
        Shape ``(rep,)``.
    """
    t, e = check_survival_data(time, event, ndim=(2,))
    tau = float(tau)
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau: expected a finite truncation time > 0, got {tau}")
    tab = risk_table(t, e)
    surv = _survival_by_position(tab)
    capped = np.minimum(tab["time"], tau)
    prev_s = np.ones_like(surv)
    prev_s[:, 1:] = surv[:, :-1]
    width = np.diff(capped, axis=1, prepend=0.0)
    area = np.sum(prev_s * width, axis=1)
    return area + surv[:, -1] * np.maximum(tau - tab["time"][:, -1], 0.0)


def rmst(time: ArrayLike, event: ArrayLike, tau: float) -> float:
    """Restricted mean survival time of one sample; see :func:`rmst_batch`."""
    t, e = check_survival_data(time, event)
    return float(rmst_batch(t[None, :], e[None, :], tau)[0])
