"""Statistics of simulated two-arm trials, vectorised over replicates.

Arrays of shape ``(rep, n)`` hold ``rep`` independent trials of ``n`` patients each (a 1-D array
is a single trial and gives scalar results).  ``arm`` is 1 for the experimental arm and 0 for
control; hazard ratios are experimental over control and ``O - E`` counts experimental events.
Pure numpy, no I/O: one sort per replicate, then cumulative sums over the sorted rows.

References
----------
Mantel N. Evaluation of survival data and two new rank order statistics. Cancer Chemother Rep
1966;50:163-170.  Peto R, Peto J. Asymptotically efficient rank invariant test procedures.
JRSS A 1972;135:185-207.  Cox DR. Regression models and life-tables. JRSS B 1972;34:187-220.
Breslow N. Covariance analysis of censored survival data. Biometrics 1974;30:89-99.
Schoenfeld D. The asymptotic properties of nonparametric tests for comparing survival
distributions. Biometrika 1981;68:316-319; Sample-size formula for the proportional-hazards
regression model. Biometrics 1983;39:499-503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri
from scipy.stats import chi2

from sequencer.simulate.survival import check_survival_data, risk_table

Z975 = 1.959963984540054


class Observed(NamedTuple):
    """Administratively censored data: ``time``, ``event`` (bool) and ``enrolled`` (bool)."""

    time: np.ndarray
    event: np.ndarray
    enrolled: np.ndarray


class LogrankResult(NamedTuple):
    """Log-rank test; arrays of shape ``(rep,)`` (scalars for a single trial)."""

    statistic: np.ndarray  # chi-square, 1 df: (O - E)^2 / V
    p_value: np.ndarray  # two-sided
    observed_minus_expected: np.ndarray  # experimental-arm O - E
    variance: np.ndarray  # hypergeometric variance V


class HazardRatio(NamedTuple):
    """Hazard ratio (experimental / control) with its standard error and 95% Wald interval."""

    log_hr: np.ndarray
    se: np.ndarray  # SE of log_hr
    hr: np.ndarray
    lower: np.ndarray  # exp(log_hr - 1.96 se)
    upper: np.ndarray  # exp(log_hr + 1.96 se)
    converged: np.ndarray  # bool; False leaves NaN in the other fields


def administrative_censoring(
    os_time: ArrayLike, entry_time: ArrayLike, analysis_time: ArrayLike
) -> Observed:
    """Censor overall survival at the analysis date.

    Patients enter at ``entry_time`` (e.g. uniform on ``[0, accrual]``) and are analysed at
    calendar time ``analysis_time`` (e.g. accrual + minimum follow-up), so that

    .. math:: T_{obs} = \\min(T, a - e), \\qquad \\delta = 1[T \\le a - e].

    Patients not yet enrolled (``entry_time > analysis_time``) get time 0, no event and
    ``enrolled = False``; they then contribute nothing to the log-rank test or Cox model
    (unless some event time is exactly 0), but callers may also drop them.

    Parameters
    ----------
    os_time
        Survival times from entry, >= 0 (``inf`` allowed: never dies).
    entry_time
        Calendar entry times, finite and >= 0; broadcast against ``os_time``.
    analysis_time
        Calendar time of the analysis, finite; scalar or broadcastable (e.g. ``(rep, 1)``).
    """
    t = np.asarray(os_time, dtype=float)
    entry = np.asarray(entry_time, dtype=float)
    cut = np.asarray(analysis_time, dtype=float)
    if np.any(np.isnan(t)) or np.any(t < 0):
        raise ValueError("os_time: expected non-negative times (inf allowed), got NaN or < 0")
    if not np.all(np.isfinite(entry)) or np.any(entry < 0):
        raise ValueError("entry_time: expected finite, non-negative calendar times")
    if not np.all(np.isfinite(cut)):
        raise ValueError("analysis_time: expected finite calendar time(s)")
    try:
        t, entry, cut = np.broadcast_arrays(t, entry, cut)
    except ValueError as exc:
        raise ValueError(
            f"entry_time/analysis_time: expected shapes broadcastable to os_time {t.shape}"
        ) from exc
    follow = cut - entry
    enrolled = follow >= 0
    follow = np.maximum(follow, 0.0)
    event = enrolled & (t <= follow)
    return Observed(np.minimum(t, follow), event, enrolled)


def _two_arm(
    time: ArrayLike, event: ArrayLike, arm: ArrayLike
) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t, e = check_survival_data(time, event, ndim=(1, 2))
    a = np.asarray(arm)
    if a.shape != t.shape:
        raise ValueError(f"arm: expected the shape of time {t.shape}, got {a.shape}")
    a = a.astype(float)
    if not np.all((a == 0) | (a == 1)):
        raise ValueError("arm: expected 0/1 or boolean values (1 = experimental)")
    single = t.ndim == 1
    if single:
        t, e, a = t[None, :], e[None, :], a[None, :]
    tab = risk_table(t, e, a)
    n, d = tab["at_risk"], tab["events"]
    n1, d1 = tab["at_risk_0"], tab["events_0"]
    return single, n, d, n1, d1


def _out(single: bool, x: np.ndarray) -> np.ndarray:
    # a single trial gives row 0's numpy scalars, which the result fields duck-type as arrays
    return x[0] if single else x


def logrank_test(time: ArrayLike, event: ArrayLike, arm: ArrayLike) -> LogrankResult:
    """Two-sample log-rank test (Mantel 1966; Peto & Peto 1972), one per replicate.

    Over the distinct event times :math:`t_j`, with :math:`n_j` at risk (:math:`n_{1j}` in the
    experimental arm) and :math:`d_j` events (:math:`d_{1j}` experimental),

    .. math:: O - E = \\sum_j \\left(d_{1j} - d_j \\frac{n_{1j}}{n_j}\\right), \\quad
              V = \\sum_j d_j \\frac{n_{1j}}{n_j}\\left(1 - \\frac{n_{1j}}{n_j}\\right)
                  \\frac{n_j - d_j}{n_j - 1},

    and :math:`\\chi^2 = (O - E)^2 / V` on 1 df.  Ties use this hypergeometric variance, as
    R's ``survdiff`` and lifelines' ``logrank_test``.  ``V = 0`` (e.g. no events) gives NaN.

    Parameters
    ----------
    time, event, arm
        Arrays of shape ``(rep, n)`` or ``(n,)``; ``arm`` is 0/1 (1 = experimental).

    Returns
    -------
    LogrankResult
        ``statistic``, ``p_value``, ``observed_minus_expected``, ``variance``.
    """
    single, n, d, n1, d1 = _two_arm(time, event, arm)
    frac = n1 / n
    o_e = np.sum(d1 - d * frac, axis=1)
    ties = np.where(n > 1, (n - d) / np.maximum(n - 1, 1), 0.0)
    var = np.sum(d * frac * (1 - frac) * ties, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(var > 0, o_e**2 / var, np.nan)
    p = chi2.sf(stat, 1)
    return LogrankResult(*(_out(single, x) for x in (stat, p, o_e, var)))


def _cox_loglik(
    beta: np.ndarray, n0: np.ndarray, n1: np.ndarray, d: np.ndarray, d1: np.ndarray
) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.sum(d1 * beta[:, None] - d * np.log(n0 + n1 * np.exp(beta[:, None])), axis=1)


def hazard_ratio(
    time: ArrayLike,
    event: ArrayLike,
    arm: ArrayLike,
    method: str = "cox",
    tol: float = 1e-10,
    max_iter: int = 50,
) -> HazardRatio:
    """Hazard ratio of experimental over control arm, one per replicate.

    ``method="cox"`` (default) maximises the Cox (1972) partial likelihood with Breslow (1974)
    ties for the single binary covariate ``arm``.  At distinct event time :math:`t_j` with
    :math:`n_{0j}, n_{1j}` at risk, :math:`d_j` events, :math:`d_{1j}` experimental,
    :math:`p_j(\\beta) = n_{1j} e^\\beta / (n_{0j} + n_{1j} e^\\beta)`:

    .. math:: \\ell(\\beta) = \\sum_j d_{1j}\\beta - d_j \\log(n_{0j} + n_{1j} e^\\beta), \\quad
              U = \\sum_j d_{1j} - d_j p_j, \\quad I = \\sum_j d_j p_j (1 - p_j).

    Newton-Raphson from :math:`\\beta = 0` (step halved while :math:`\\ell` decreases) to
    :math:`|\\Delta\\beta| <` ``tol``; SE :math:`= I(\\hat\\beta)^{-1/2}`.  Without ties this equals
    the Efron estimate.  Replicates with no events in one arm (monotone likelihood, infinite
    MLE) or not converged in ``max_iter`` steps get ``converged = False`` and NaN.

    ``method="peto"`` is the one-step Pike/Peto estimate :math:`\\log HR = (O - E)/V`,
    SE :math:`= V^{-1/2}` from :func:`logrank_test`: no iteration, accurate for HR near 1 and
    balanced arms, biased towards 1 for strong effects.

    Returns
    -------
    HazardRatio
        ``log_hr``, ``se``, ``hr``, ``lower``, ``upper`` (95% Wald), ``converged``.
    """
    if method not in ("cox", "peto"):
        raise ValueError(f"method: expected 'cox' or 'peto', got {method!r}")
    if method == "peto":
        lr = logrank_test(time, event, arm)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = np.asarray(lr.observed_minus_expected / lr.variance)
            se = np.asarray(1.0 / np.sqrt(lr.variance))
        return HazardRatio(*(np.asarray(x)[()] for x in _hr_result(beta, se, np.isfinite(beta))))
    if not tol > 0 or int(max_iter) < 1:
        raise ValueError("tol/max_iter: expected tol > 0 and max_iter >= 1")
    single, n, d, n1, d1 = _two_arm(time, event, arm)
    n0 = n - n1
    has_events = (d1.sum(axis=1) > 0) & ((d - d1).sum(axis=1) > 0)
    beta = np.zeros(n.shape[0])
    converged = np.zeros(n.shape[0], dtype=bool)
    info = np.ones(n.shape[0])
    for _ in range(int(max_iter)):
        eb = np.exp(np.clip(beta, -700, 700))[:, None]
        p = n1 * eb / (n0 + n1 * eb)
        score = np.sum(d1 - d * p, axis=1)
        info = np.sum(d * p * (1 - p), axis=1)
        active = has_events & ~converged & (info > 0)
        if not active.any():
            break
        step = np.where(active, score / np.where(info > 0, info, 1.0), 0.0)
        old = _cox_loglik(beta, n0, n1, d, d1)
        for _ in range(30):  # step halving keeps the ascent monotone
            worse = _cox_loglik(beta + step, n0, n1, d, d1) < old - 1e-12 * np.abs(old)
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
        beta = beta + step
        converged |= active & (np.abs(step) < tol)
    eb = np.exp(np.clip(beta, -700, 700))[:, None]
    p = n1 * eb / (n0 + n1 * eb)
    info = np.sum(d * p * (1 - p), axis=1)
    ok = converged & has_events & (info > 0)
    with np.errstate(divide="ignore"):
        se = 1.0 / np.sqrt(info)
    res = _hr_result(beta, se, ok)
    return HazardRatio(*(_out(single, np.asarray(x)) for x in res))


def _hr_result(beta: np.ndarray, se: np.ndarray, ok: np.ndarray) -> HazardRatio:
    beta = np.where(ok, beta, np.nan)
    se = np.where(ok, se, np.nan)
    return HazardRatio(
        beta, se, np.exp(beta), np.exp(beta - Z975 * se), np.exp(beta + Z975 * se), ok
    )


def _check_design(
    hr: ArrayLike, alpha: float, allocation: float, hr_may_be_one: bool
) -> np.ndarray:
    hr_arr = np.asarray(hr, dtype=float)
    if np.any(~(hr_arr > 0)) or (not hr_may_be_one and np.any(hr_arr == 1)):
        raise ValueError(f"hr: expected a hazard ratio > 0{'' if hr_may_be_one else ' and != 1'}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a two-sided level in (0, 1), got {alpha}")
    if not 0 < allocation < 1:
        raise ValueError(
            f"allocation: expected the experimental fraction in (0, 1), got {allocation}"
        )
    return hr_arr


def schoenfeld_events(
    hr: ArrayLike, alpha: float = 0.05, power: float = 0.8, allocation: float = 0.5
) -> float | np.ndarray:
    """Events needed by a two-sided log-rank test (Schoenfeld 1981, 1983).

    .. math:: D = \\frac{(z_{1-\\alpha/2} + z_{\\text{power}})^2}{p(1-p)\\,(\\ln HR)^2},

    with ``p = allocation`` the fraction randomised to the experimental arm.  Assumes
    proportional hazards and a local alternative.  Returned unrounded (round up for a design).
    """
    hr_arr = _check_design(hr, alpha, allocation, hr_may_be_one=False)
    if not 0 < power < 1:
        raise ValueError(f"power: expected a target power in (0, 1), got {power}")
    z = ndtri(1 - alpha / 2) + ndtri(power)
    d = z**2 / (allocation * (1 - allocation) * np.log(hr_arr) ** 2)
    return float(d) if d.ndim == 0 else d


def schoenfeld_power(
    events: ArrayLike, hr: ArrayLike, alpha: float = 0.05, allocation: float = 0.5
) -> float | np.ndarray:
    """Power of the two-sided log-rank test with ``events`` events (Schoenfeld 1981, 1983).

    .. math:: 1 - \\beta = \\Phi\\left(\\sqrt{D p (1-p)}\\,|\\ln HR| - z_{1-\\alpha/2}\\right),

    the inverse of :func:`schoenfeld_events` (rejection in the wrong direction is ignored).
    """
    hr_arr = _check_design(hr, alpha, allocation, hr_may_be_one=True)
    ev = np.asarray(events, dtype=float)
    if np.any(~(ev >= 0)) or not np.all(np.isfinite(ev)):
        raise ValueError("events: expected finite, non-negative event counts")
    drift = np.sqrt(ev * allocation * (1 - allocation)) * np.abs(np.log(hr_arr))
    pw = ndtr(drift - ndtri(1 - alpha / 2))
    return float(pw) if pw.ndim == 0 else pw


def sample_size_search(power_fn: Callable[[int], float], target: float, lo: int, hi: int) -> int:
    """Smallest integer ``n`` in ``[lo, hi]`` with ``power_fn(n) >= target``, by bisection.

    Assumes ``power_fn`` is non-decreasing in ``n``; takes about ``log2(hi - lo)`` calls.
    Simulated power is noisy, so bisection on it is only meaningful with common random
    numbers: ``power_fn`` should reseed the same generator on every call (same seed for
    every ``n``), which makes the estimate (nearly) monotone; the answer still carries Monte
    Carlo error of order the power's SE divided by its slope in ``n``.

    Raises
    ------
    ValueError
        If ``lo``/``hi``/``target`` are invalid or ``power_fn(hi) < target``.
    """
    if not callable(power_fn):
        raise TypeError("power_fn: expected a callable n -> power")
    if not 0 < target <= 1:
        raise ValueError(f"target: expected a power in (0, 1], got {target}")
    if int(lo) != lo or int(hi) != hi or not 0 <= lo <= hi:
        raise ValueError(f"lo/hi: expected integers with 0 <= lo <= hi, got {lo}, {hi}")
    lo, hi = int(lo), int(hi)
    top = float(power_fn(hi))
    if top < target:
        raise ValueError(f"hi: power_fn({hi}) = {top:.4g} < target {target}; increase hi")
    if float(power_fn(lo)) >= target:
        return lo
    while hi - lo > 1:  # invariant: power_fn(lo) < target <= power_fn(hi)
        mid = (lo + hi) // 2
        if float(power_fn(mid)) >= target:
            hi = mid
        else:
            lo = mid
    return hi
