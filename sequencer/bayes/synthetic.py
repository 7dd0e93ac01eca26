"""Synthetic evidence networks simulated from known hazards (parameter recovery, benchmarks).

Each arm's patients are simulated as exponential event times with uniform accrual and an
administrative cut; the arm then reports what a publication would: the median as ``ln 2 / rate``
with the rate ``events / exposure``, its 95% CI ``median * exp(-/+ 1.96 / sqrt(d))``, and each
contrast's HR with CI ``exp(+/- 1.96 * sqrt(1/d1 + 1/d2))``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from sequencer.evidence.catalogue import Catalogue
from sequencer.evidence.load import EvidenceBase
from sequencer.evidence.schema import TrialRecord

Z975 = 1.959963984540054


def _catalogue(regimen_classes: dict[str, str]) -> Catalogue:
    classes = sorted(set(regimen_classes.values()) | {"chemotherapy"})
    return Catalogue.model_validate(
        {
            "effect_classes": {c: c for c in classes},
            "regimens": {
                r: {"name": r, "drugs": [r], "drug_classes": [c], "effect_class": c}
                for r, c in regimen_classes.items()
            },
        }
    )


def _arm_summary(rng: np.random.Generator, rate: float, n: int, accrual: float, cut: float
                 ) -> tuple[int, float]:
    entry = rng.uniform(0.0, accrual, n)
    times = rng.exponential(1.0 / rate, n)
    follow = cut - entry
    events = int((times <= follow).sum())
    exposure = float(np.minimum(times, follow).sum())
    est_rate = max(events, 1) / exposure
    return events, est_rate


def simulate_network(
    design: list[dict],
    regimen_classes: dict[str, str],
    log_hazard: dict[tuple[str, int, str], float],
    seed: int,
    accrual: float = 24.0,
    cut: float = 60.0,
) -> EvidenceBase:
    """Simulate published summaries for a network of trials.

    Parameters
    ----------
    design
        One dict per trial: ``{"trial": str, "line": int, "arms": [(regimen, n), ...]}``; the
        last arm is the reference of every contrast.
    regimen_classes
        regimen id -> effect class (the reference class is ``chemotherapy``).
    log_hazard
        (regimen, line, endpoint) -> true log-hazard per month.
    seed
        Seed of the simulation.
    """
    rng = np.random.default_rng(seed)
    records = []
    for spec in design:
        arms, rates = [], {}
        for k, (regimen, n) in enumerate(spec["arms"]):
            arm = {"id": f"arm{k}", "regimen": regimen, "n": n}
            for endpoint in ("pfs", "os"):
                rate = float(np.exp(log_hazard[(regimen, spec["line"], endpoint)]))
                d, est = _arm_summary(rng, rate, n, accrual, cut)
                median = float(np.log(2) / est)
                half = Z975 / np.sqrt(max(d, 1))
                arm[endpoint] = {
                    "median": median,
                    "lower": median * float(np.exp(-half)),
                    "upper": median * float(np.exp(half)),
                    "events": d,
                }
                rates[(k, endpoint)] = (est, d)
            arms.append(arm)
        contrasts = []
        ref = len(arms) - 1
        for k in range(ref):
            for endpoint in ("pfs", "os"):
                (r1, d1), (r0, d0) = rates[(k, endpoint)], rates[(ref, endpoint)]
                hr = r1 / r0
                half = Z975 * np.sqrt(1 / max(d1, 1) + 1 / max(d0, 1))
                contrasts.append(
                    {
                        "endpoint": endpoint, "experimental": f"arm{k}", "reference": f"arm{ref}",
                        "hr": hr, "lower": hr * float(np.exp(-half)),
                        "upper": hr * float(np.exp(half)),
                    }
                )
        records.append(
            TrialRecord.model_validate(
                {
                    "trial": spec["trial"], "phase": "3" if contrasts else "2",
                    "design": "randomised" if contrasts else "single-arm", "line": spec["line"],
                    "region": "global",
                    "citation": {"authors": "synthetic", "journal": "none", "year": 2026},
                    "arms": arms, "contrasts": contrasts,
                }
            )
        )
    digest = hashlib.sha256(repr((design, sorted(log_hazard.items()), seed)).encode()).hexdigest()
    return EvidenceBase(tuple(records), _catalogue(regimen_classes), (), digest)
