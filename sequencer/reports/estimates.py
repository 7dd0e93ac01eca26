"""Line-specific estimates table: the summary a user reads after fitting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sequencer.evidence.load import EvidenceBase
from sequencer.model.parameter_set import POPULATIONS, PosteriorParameters
from sequencer.vocabulary import EVIDENCE_LINES, PD1_DRUG_CLASS, is_her2_directed


@dataclass(frozen=True)
class EstimateRow:
    regimen: str
    line: int
    population: str
    median_pfs: tuple[float, float, float]
    median_os: tuple[float, float, float]
    orr: tuple[float, float, float]
    grade3_ae: tuple[float, float, float]
    trials: str


def _summary(draws: np.ndarray) -> tuple[float, float, float]:
    if np.isnan(draws).all():
        return (np.nan, np.nan, np.nan)  # not informed: printed as "no evidence"
    lo, mid, hi = np.quantile(draws, [0.025, 0.5, 0.975])
    return float(mid), float(lo), float(hi)


def _median_months(hazard: np.ndarray, shape: np.ndarray | None) -> np.ndarray:
    """Median of S(t) = exp(-h t^k): (ln 2 / h)^(1/k); k = 1 for the exponential model."""
    base = np.log(2.0) / hazard
    return base if shape is None else base ** (1.0 / shape)


def estimate_rows(params: PosteriorParameters, evidence: EvidenceBase) -> list[EstimateRow]:
    """One row per informed (regimen, line) in the whole HER2-positive population, plus the
    CPS >= 1 population for anti-PD-1 regimens and HER2-low where a trial reported it."""
    cat = evidence.catalogue
    low_regimens = {
        arm.regimen for t in evidence.trials for arm in t.arms if arm.population.her2 == "low"
    }
    rows = []
    for i, regimen in enumerate(params.regimens):
        entry = cat.regimens[regimen]
        pops = [("positive", "all")]
        if PD1_DRUG_CLASS in entry.drug_classes:
            pops.append(("positive", ">=1"))
        if regimen in low_regimens and is_her2_directed(entry):
            pops.append(("low", "all"))
        for j, line in enumerate(EVIDENCE_LINES):
            if not params.informed[i, j].any():
                continue
            for pop in pops:
                k = POPULATIONS.index(pop)
                pfs_shape = None if params.weibull_shape is None else params.weibull_shape[:, 0]
                os_shape = None if params.weibull_shape is None else params.weibull_shape[:, 1]
                note = params.borrowed.get((regimen, line))
                rows.append(
                    EstimateRow(
                        regimen, line, f"HER2 {pop[0]}, CPS {pop[1]}",
                        _summary(_median_months(params.pfs_hazard[:, i, j, k], pfs_shape)),
                        _summary(_median_months(params.os_hazard[:, i, j, k], os_shape)),
                        _summary(params.orr[:, i, j, k]),
                        _summary(params.grade3_ae[:, i, j, k]),
                        ", ".join(entry.informed_by) + (f" (borrowed: {note})" if note else ""),
                    )
                )
    return rows


def format_estimates(rows: list[EstimateRow], provenance: dict[str, str]) -> str:
    def fmt(v, pct=False):
        mid, lo, hi = v
        if np.isnan(mid):
            return "no evidence"
        if pct:
            return f"{100 * mid:4.0f}% ({100 * lo:.0f}-{100 * hi:.0f})"
        return f"{mid:5.1f} ({lo:.1f}-{hi:.1f})"

    head = (
        f"{'regimen':<36} {'line':<4} {'population':<22} {'median PFS, mo':<18} "
        f"{'median OS, mo':<18} {'ORR':<15} {'grade>=3 AE':<15} trials"
    )
    out = [
        ("Line-specific posterior estimates (posterior median and 95% credible interval; typical "
        "trial population)"),
        head,
        "-" * len(head),
    ]
    for r in rows:
        out.append(
            f"{r.regimen:<36} {r.line:<4} {r.population:<22} {fmt(r.median_pfs):<18} "
            f"{fmt(r.median_os):<18} {fmt(r.orr, True):<15} {fmt(r.grade3_ae, True):<15} {r.trials}"
        )
    out.append(
        "source: priors/posterior.nc (likelihood {likelihood}, seed {seed}); evidence sha256 "
        "{evidence_sha256:.12}; model config sha256 {model_config_sha256:.12}; sequencer "
        "{sequencer_version}".format(**provenance)
    )
    return "\n".join(out)
