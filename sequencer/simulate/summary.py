"""Summaries of a finished cohort study: per strategy and draw, then across draws.

Reads the shard files of a run directory (``shards.py``) and gives, per strategy: mean
outcomes per patient with 95% credible intervals across draws (the 2.5% and 97.5% quantiles of
the per-draw means), median OS and PFS and restricted mean survival from the survival
histograms, the share of patients reaching each line and the mean time on it; the incremental
analysis of expected costs and QALYs, the acceptability curve and frontier, EVPI, and EVPPI by
parameter group; for ``optimal``, the price of parameter uncertainty (the mean per-draw gain of
re-optimising over applying the policy optimal at the means). The result is a
:class:`~sequencer.simulate.summary_schema.StudySummary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sequencer.econ import acceptability_frontier, evpi, evppi, incremental_analysis
from sequencer.simulate.engine import OUTCOMES
from sequencer.simulate.shards import GRID_STEP, MAX_LINES, N_BINS
from sequencer.simulate.study import OPTIMAL, OPTIMAL_MEAN, StudySpec
from sequencer.simulate.summary_schema import SUMMARY_SCHEMA_VERSION, StudySummary
from sequencer.solve.objective import Objective
from sequencer.vocabulary import REWARD_PARTS

WTP_GRID = np.arange(0.0, 100_001.0, 2_500.0)
RMST_HORIZON = 60.0  # months
PARAMETER_GROUPS = {  # EVPPI groups: prefixes of priors/parameters.yaml keys and posterior cells
    "trial efficacy (posterior)": ("posterior.pfs.", "posterior.os."),
    "trial toxicity (posterior)": ("posterior.grade3_ae.",),
    "utilities": ("utility.",),
    "costs": ("cost.", "regimen_cost."),
    "resistance biology": ("acquisition.", "baseline_alteration.", "mechanism_modifier."),
    "attrition and line ends": ("attrition.", "line_end.", "supportive_care."),
    "toxicity": ("contraindication_rate.",),
}
#: the simulated outcome (``engine.OUTCOMES``) of each discounted reward part
DISCOUNTED = {"ly": "ly_disc", "qaly": "qaly_disc", "cost": "cost_disc", "toxicity": "ae_disc"}
MAX_GROUP_DIMENSIONS = 4  # principal components kept per group for the EVPPI regression


@dataclass(frozen=True)
class DrawTable:
    """Per (strategy, draw): patients, mean outcomes, survival histograms and line counts."""

    strategies: tuple[str, ...]
    n: np.ndarray  # (strategy, draw)
    means: np.ndarray  # (strategy, draw, len(OUTCOMES))
    os_hist: np.ndarray  # (strategy, draw, bin)
    pfs_hist: np.ndarray
    reach: np.ndarray  # (strategy, draw, line)
    line_months: np.ndarray  # (strategy, draw, line)
    flow: np.ndarray  # (strategy, line, regimen) patients, summed over draws


def read_draws(run_dir: str | Path, spec: StudySpec) -> DrawTable:
    """Combine the shard files of ``run_dir`` (all shards must be finished)."""
    table = pq.read_table(f"{run_dir}/shards").to_pydict()
    names = spec.all_strategies
    s_idx = {name: i for i, name in enumerate(names)}
    shape = (len(names), spec.draws)
    n = np.zeros(shape)
    sums = np.zeros(shape + (len(OUTCOMES),))
    os_hist, pfs_hist = np.zeros(shape + (N_BINS,)), np.zeros(shape + (N_BINS,))
    reach, months = np.zeros(shape + (MAX_LINES,)), np.zeros(shape + (MAX_LINES,))
    flow: np.ndarray | None = None  # (strategy, line, regimen), sized by the first shard
    for row in range(len(table["n"])):
        i, d = s_idx[table["strategy"][row]], table["draw"][row]
        n[i, d] += table["n"][row]
        sums[i, d] += [table[f"sum_{name}"][row] for name in OUTCOMES]
        os_hist[i, d] += table["os_hist"][row]
        pfs_hist[i, d] += table["pfs_hist"][row]
        reach[i, d] += table["reach"][row]
        months[i, d] += table["line_months"][row]
        f = np.asarray(table["flow"][row]).reshape(MAX_LINES, -1)
        flow = np.zeros((len(names),) + f.shape) if flow is None else flow
        flow[i] += f
    expected = np.array([sum(c[2] for c in spec.shards() if c[0] == 0)] * spec.draws)
    if not np.array_equal(n[0], expected):
        missing = int((expected - n[0]).sum())
        raise ValueError(f"{run_dir}: {missing} patients of the study have no shard yet; "
                         "run the study again with the same options to finish it")
    if flow is None:  # no shard rows: the check above has already refused the run
        raise ValueError(f"{run_dir}: the study has no shards yet; run it first")
    return DrawTable(names, n, sums / n[..., None], os_hist, pfs_hist, reach, months, flow)


def survival_from_histogram(hist: np.ndarray) -> np.ndarray:
    """Survival at the grid points 0, step, 2 step, ... from counts of deaths per bin."""
    total = hist.sum(axis=-1, keepdims=True)
    return 1.0 - np.concatenate([np.zeros_like(total), np.cumsum(hist, axis=-1)], -1) / total


def median_from_histogram(hist: np.ndarray) -> np.ndarray:
    """Median time, linear within the bin where survival crosses one half."""
    surv = survival_from_histogram(hist)
    k = np.argmax(surv <= 0.5, axis=-1)  # first grid point at or below 0.5
    lo = np.take_along_axis(surv, np.maximum(k - 1, 0)[..., None], -1)[..., 0]
    hi = np.take_along_axis(surv, k[..., None], -1)[..., 0]
    frac = np.where(lo > hi, (lo - 0.5) / np.where(lo > hi, lo - hi, 1.0), 0.0)
    return (np.maximum(k - 1, 0) + frac) * GRID_STEP


def rmst_from_histogram(hist: np.ndarray, horizon: float = RMST_HORIZON) -> np.ndarray:
    """Area under the survival curve to ``horizon`` (trapezoids on the grid)."""
    surv = survival_from_histogram(hist)
    k = round(horizon / GRID_STEP)
    return GRID_STEP * (surv[..., :k].sum(-1) + surv[..., 1:k + 1].sum(-1)) / 2


def survival_curves(draws: DrawTable, step_months: float = 1.0, horizon: float = 120.0) -> dict:
    """OS and PFS curves per strategy on a monthly grid: all draws pooled (the expected curve)
    and the 2.5% / 97.5% quantiles of the per-draw curves."""
    every = round(step_months / GRID_STEP)
    last = round(horizon / GRID_STEP) + 1
    out = {"months": (np.arange(0, last, every) * GRID_STEP).tolist()}
    for key, hist in (("os", draws.os_hist), ("pfs", draws.pfs_hist)):
        pooled = survival_from_histogram(hist.sum(axis=1))[:, :last:every]
        per_draw = survival_from_histogram(hist)[:, :, :last:every]
        out[key] = {name: {"survival": pooled[i].tolist(),
                           "lower": np.quantile(per_draw[i], 0.025, axis=0).tolist(),
                           "upper": np.quantile(per_draw[i], 0.975, axis=0).tolist()}
                    for i, name in enumerate(draws.strategies)}
    return out


def interval(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% credible interval (2.5% and 97.5% quantiles) along ``axis``."""
    return x.mean(axis), np.quantile(x, 0.025, axis), np.quantile(x, 0.975, axis)


def summarise(draws: DrawTable, spec: StudySpec, provenance: dict, regimens: list[str],
              parameters: np.ndarray | None = None, parameter_names: list[str] | None = None,
              reference: str | None = None) -> StudySummary:
    """Every headline number of the study, as the typed hand-off to reports and the service.

    Parameters
    ----------
    draws : DrawTable
        The combined shards (:func:`read_draws`).
    spec : StudySpec
        The study the shards belong to.
    provenance : dict
        ``ModelSources.provenance()``: package version, posterior and parameter files, hashes.
    regimens : list of str
        Regimen ids in the index order of the flow counts.
    parameters, parameter_names : ndarray (draw, parameter) and its column names, optional
        The parameter draws, for EVPPI by parameter group (computed from 50 draws on).
    reference : str, optional
        The strategy the incremental results are against (default: the cheapest).
    """
    names = list(draws.strategies)
    col = {name: k for k, name in enumerate(OUTCOMES)}
    os_median = median_from_histogram(draws.os_hist)
    pfs_median = median_from_histogram(draws.pfs_hist)
    os_rmst = rmst_from_histogram(draws.os_hist)
    strategies = {}
    for i, name in enumerate(names):
        row: dict[str, object] = {  # the fields of ``StrategyOutcomes``, validated at the end
            key: _ci(draws.means[i, :, col[key]])
            for key in ("ly", "ly_disc", "qaly", "qaly_disc", "cost", "cost_disc", "ae", "lines")}
        row["median_os_months"] = _ci(os_median[i])
        row["median_pfs_months"] = _ci(pfs_median[i])
        row[f"rmst_os_{int(RMST_HORIZON)}_months"] = _ci(os_rmst[i])
        share = draws.reach[i] / draws.n[i][:, None]
        row["reach_line"] = {k + 1: _ci(share[:, k]) for k in range(MAX_LINES)}
        reached = draws.reach[i].sum(0)
        row["months_on_line"] = {  # mean time on the line among the patients who reach it
            k + 1: float(draws.line_months[i, :, k].sum() / reached[k]) if reached[k] else None
            for k in range(MAX_LINES)}
        strategies[name] = row
    out: dict = {"schema_version": SUMMARY_SCHEMA_VERSION, "spec": spec,
                 "provenance": provenance, "strategies": strategies,
                 "wtp": spec.wtp, "survival": survival_curves(draws)}
    cost = draws.means[:, :, col["cost_disc"]].T  # (draw, strategy)
    effect = draws.means[:, :, col["qaly_disc"]].T
    out["draws"] = {"cost_disc": cost.tolist(), "qaly_disc": effect.tolist()}
    out["flow"] = {"regimen_index_by_line": draws.flow.tolist(), "regimens": list(regimens)}
    analysis = incremental_analysis(names, cost.mean(0), effect.mean(0),
                                    reference=reference, wtp=spec.wtp)
    out["incremental"] = analysis.to_frame().to_dict(orient="records")
    frontier = acceptability_frontier(cost, effect, WTP_GRID)
    out["ceac"] = {"wtp": WTP_GRID.tolist(),
                   **{name: frontier.ceac[:, k].tolist() for k, name in enumerate(names)}}
    out["ceaf"] = {"optimal": [names[k] for k in frontier.optimal],
                   "probability": frontier.probability.tolist()}
    out["evpi"] = {"wtp": WTP_GRID.tolist(), "per_patient": evpi(cost, effect, WTP_GRID).tolist()}
    if parameters is not None and spec.draws >= 50:
        if parameter_names is None:
            raise ValueError("parameter_names: expected the column names of parameters, got None")
        out["evppi"] = _evppi_groups(cost, effect, parameters, parameter_names, spec.wtp)
    if OPTIMAL in names and OPTIMAL_MEAN in names:
        # the objective over the discounted reward parts (vocabulary.REWARD_PARTS)
        weights = Objective(spec.objective, spec.wtp).weights()
        value = sum(w * draws.means[:, :, col[DISCOUNTED[part]]].T
                    for w, part in zip(weights, REWARD_PARTS, strict=True))
        gain = value[:, names.index(OPTIMAL)] - value[:, names.index(OPTIMAL_MEAN)]
        out["price_of_parameter_uncertainty"] = {"objective": spec.objective, **_ci(gain)}
    return StudySummary.model_validate(out)


def _ci(x: np.ndarray) -> dict[str, float]:
    mean, lo, hi = interval(np.asarray(x, dtype=float))
    return {"mean": float(mean), "lower": float(lo), "upper": float(hi)}


def _evppi_groups(cost: np.ndarray, effect: np.ndarray, parameters: np.ndarray,
                  names: list[str], wtp: float) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for group, prefixes in PARAMETER_GROUPS.items():
        cols = [k for k, name in enumerate(names) if name.startswith(prefixes)]
        x = parameters[:, cols]
        x = x[:, x.std(0) > 0]
        if x.shape[1] == 0:
            continue
        z = (x - x.mean(0)) / x.std(0)
        # a group of many parameters enters the regression as its leading principal components
        u, s, _ = np.linalg.svd(z, full_matrices=False)
        dims = min(MAX_GROUP_DIMENSIONS, z.shape[1])
        result = evppi(cost, effect, u[:, :dims] * s[:dims], wtp)
        out[group] = {"per_patient": float(np.ravel(result.evppi)[0]),
                      "standard_error": float(np.ravel(result.standard_error)[0]),
                      "parameters": len(cols)}
    return out
