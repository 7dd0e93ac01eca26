"""Posterior predictive checks of every reported median and hazard ratio.

For each observation the predictive distribution is the model's latent value in that trial
(arm log-hazard with the trial's fitted effect; or, for a held-out trial, a new trial effect
drawn from N(0, sd_trial) and, for regimens outside the reduced network, a regimen drawn from
its class) plus the observation's sampling error N(0, se). The reported value is inside when it
lies within the central 95% of that distribution.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import arviz as az
import numpy as np

from sequencer.bayes.config import ModelConfig
from sequencer.bayes.data import OUTCOMES, contrast_se, median_se
from sequencer.bayes.predict import PosteriorArrays, linear_predictor, log_median
from sequencer.errors import NotInformedError
from sequencer.evidence.load import EvidenceBase
from sequencer.evidence.schema import ENDPOINTS, Arm, TrialRecord
from sequencer.io import write_atomic


@dataclass(frozen=True)
class CheckRow:
    kind: str  # "median" (months) or "hr"
    trial: str
    label: str
    endpoint: str
    reported: float
    predicted: float  # predictive median
    lower: float
    upper: float
    inside: bool | None  # None: not assessable
    percentile: float | None
    note: str


def _arm_eta(post: PosteriorArrays, evidence: EvidenceBase, record: TrialRecord, arm: Arm,
             trial_mode: str, rng: np.random.Generator) -> np.ndarray:
    trial = "new" if trial_mode == "new" else record.trial
    return linear_predictor(
        post, evidence.catalogue, arm.regimen, record.line, cps=arm.population.cps,
        her2="low" if arm.population.her2 == "low" else "positive", trial=trial, rng=rng,
    )


def _row(kind: str, record: TrialRecord, label: str, endpoint: str, reported: float,
         draws: np.ndarray, note: str) -> CheckRow:
    lo, mid, hi = np.quantile(draws, [0.025, 0.5, 0.975])
    return CheckRow(
        kind, record.trial, label, endpoint, float(reported), float(mid), float(lo), float(hi),
        bool(lo <= reported <= hi), float(np.mean(draws < reported)), note,
    )


def _not_assessable(kind: str, record: TrialRecord, label: str, endpoint: str,
                    reported: float, note: str) -> CheckRow:
    nan = float("nan")
    return CheckRow(kind, record.trial, label, endpoint, reported, nan, nan, nan, None, None, note)


def trial_rows(
    post: PosteriorArrays,
    evidence: EvidenceBase,
    record: TrialRecord,
    config: ModelConfig,
    rng: np.random.Generator,
    trial_mode: str = "fitted",
) -> list[CheckRow]:
    """Check rows for one trial's medians and HRs (``trial_mode``: "fitted" or "new")."""
    rows: list[CheckRow] = []
    etas: dict[str, np.ndarray | NotInformedError] = {}
    for arm in record.arms:
        try:
            etas[arm.id] = _arm_eta(post, evidence, record, arm, trial_mode, rng)
        except NotInformedError as exc:
            etas[arm.id] = exc
    for arm in record.arms:
        for endpoint in ENDPOINTS:
            summary = arm.survival(endpoint)
            if summary is None or summary.median is None:
                continue
            label = f"{arm.id} ({arm.regimen}, {arm.population.label})"
            se, rule = median_se(arm, endpoint, config.median_event_fraction)
            eta = etas[arm.id]
            if se is None or isinstance(eta, Exception):
                why = rule if se is None else str(eta)
                rows.append(_not_assessable("median", record, label, endpoint, summary.median, why))
                continue
            log_m = log_median(post, eta[:, OUTCOMES.index(endpoint)], endpoint)
            draws = np.exp(log_m + se * rng.standard_normal(log_m.shape))
            rows.append(_row("median", record, label, endpoint, summary.median, draws,
                             f"SE from {rule}"))
    for c in record.contrasts:
        label = f"{c.experimental} vs {c.reference}"
        se, rule = contrast_se(c)
        exp, ref = etas[c.experimental], etas[c.reference]
        if se is None or isinstance(exp, Exception) or isinstance(ref, Exception):
            why = rule if se is None else str(exp if isinstance(exp, Exception) else ref)
            rows.append(_not_assessable("hr", record, label, c.endpoint, c.hr, why))
            continue
        k = OUTCOMES.index(c.endpoint)
        log_hr = exp[:, k] - ref[:, k]
        draws = np.exp(log_hr + se * rng.standard_normal(log_hr.shape))
        rows.append(_row("hr", record, label, c.endpoint, c.hr, draws, f"SE from {rule}"))
    return rows


def posterior_predictive_check(
    idata: az.InferenceData, evidence: EvidenceBase, config: ModelConfig | None = None,
    seed: int = 2026,
) -> list[CheckRow]:
    """Rows for every reported median and HR of every trial in ``evidence``."""
    config = config or ModelConfig()
    post = PosteriorArrays.from_idata(idata)
    rng = np.random.default_rng(seed)
    rows: list[CheckRow] = []
    for record in evidence.trials:
        rows.extend(trial_rows(post, evidence, record, config, rng, "fitted"))
    return rows


def coverage(rows: list[CheckRow]) -> tuple[int, int]:
    """(inside, assessable)."""
    assessed = [r.inside for r in rows if r.inside is not None]
    return sum(assessed), len(assessed)


def format_table(rows: list[CheckRow]) -> str:
    head = (f"{'trial':<22} {'observation (medians in months)':<48} {'ep':<4} {'reported':>8} "
            f"{'95% predictive':>17}  in")
    lines = [head, "-" * len(head)]
    for r in rows:
        name = ("HR " if r.kind == "hr" else "median ") + r.label
        if r.inside is None:
            interval, flag = "not assessable", "-"
        else:
            interval, flag = f"{r.lower:7.2f}-{r.upper:<7.2f}", "yes" if r.inside else "NO"
        lines.append(
            f"{r.trial:<22} {name[:48]:<48} {r.endpoint:<4} {r.reported:>8.2f} "
            f"{interval:>17}  {flag}"
        )
    inside, total = coverage(rows)
    lines.append(
        f"inside 95% predictive interval: {inside}/{total} ({100 * inside / max(total, 1):.1f}%);"
        f" not assessable: {sum(r.inside is None for r in rows)}"
    )
    return "\n".join(lines)


def write_csv(rows: list[CheckRow], path: str | Path) -> Path:
    def writer(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(CheckRow.__dataclass_fields__))
            w.writeheader()
            for r in rows:
                w.writerow(asdict(r))

    return write_atomic(path, writer)


def forest_plot(rows: list[CheckRow], path: str | Path, title: str) -> Path:
    """Reported value (dot) against the 95% predictive interval (bar), medians and HRs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    panels = [("median", "median (months, log scale)"), ("hr", "hazard ratio (log scale)")]
    sizes = [max(1, sum(r.kind == k and r.inside is not None for r in rows)) for k, _ in panels]
    fig, axes = plt.subplots(
        2, 1, figsize=(9, 0.22 * sum(sizes) + 2.5), gridspec_kw={"height_ratios": sizes}
    )
    for ax, (kind, xlabel) in zip(axes, panels, strict=True):
        subset = [r for r in rows if r.kind == kind and r.inside is not None]
        ys = np.arange(len(subset))[::-1]
        for y, r in zip(ys, subset, strict=True):
            ax.plot([r.lower, r.upper], [y, y], color="0.55", lw=2)
            ax.plot(r.reported, y, "o", color="tab:green" if r.inside else "tab:red", ms=4)
        ax.set_yticks(ys, [f"{r.trial} {r.label[:40]} {r.endpoint}" for r in subset], fontsize=6)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel(xlabel)
        if kind == "hr":
            ax.axvline(1.0, color="0.8", lw=1, zorder=0)
    axes[0].set_title(title, fontsize=9)
    fig.tight_layout()
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
