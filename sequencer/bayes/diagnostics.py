"""Sampler diagnostics: rank R-hat, bulk and tail ESS, divergences and BFMI (ArviZ)."""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import xarray as xr

RHAT_MAX = 1.01
ESS_MIN = 400
BFMI_MIN = 0.3
# Deterministic transforms of the free parameters are diagnosed through those parameters.
DERIVED = ("class_mean", "regimen_effect")


@dataclass(frozen=True)
class ParameterDiagnostic:
    name: str
    rhat: float
    ess_bulk: float
    ess_tail: float

    @property
    def ok(self) -> bool:
        return self.rhat < RHAT_MAX and self.ess_bulk >= ESS_MIN and self.ess_tail >= ESS_MIN


@dataclass(frozen=True)
class Diagnostics:
    parameters: tuple[ParameterDiagnostic, ...]
    divergences: int
    bfmi: tuple[float, ...]
    chains: int
    draws: int

    @property
    def failing(self) -> tuple[ParameterDiagnostic, ...]:
        return tuple(p for p in self.parameters if not p.ok)

    @property
    def ok(self) -> bool:
        return not self.failing and self.divergences == 0

    @property
    def worst(self) -> dict[str, float]:
        return {
            "max_rhat": max(p.rhat for p in self.parameters),
            "min_ess_bulk": min(p.ess_bulk for p in self.parameters),
            "min_ess_tail": min(p.ess_tail for p in self.parameters),
            "divergences": float(self.divergences),
            "min_bfmi": min(self.bfmi) if self.bfmi else float("nan"),
        }

    def report(self) -> str:
        w = self.worst
        lines = [
            (f"chains {self.chains} x draws {self.draws}: max rank R-hat {w['max_rhat']:.4f} "
            f"(< {RHAT_MAX}), min bulk ESS {w['min_ess_bulk']:.0f}, min tail ESS "
            f"{w['min_ess_tail']:.0f} (>= {ESS_MIN}), divergences {self.divergences}, "
            f"min BFMI {w['min_bfmi']:.2f}")
        ]
        for p in self.failing:
            lines.append(
                f"  FAIL {p.name}: R-hat {p.rhat:.4f}, bulk ESS {p.ess_bulk:.0f}, "
                f"tail ESS {p.ess_tail:.0f}"
            )
        if any(b < BFMI_MIN for b in self.bfmi):
            lines.append(f"  warning: BFMI below {BFMI_MIN} in a chain: {self.bfmi}")
        return "\n".join(lines)


def _flatten(name: str, values: xr.DataArray) -> list[tuple[str, float]]:
    arr = values.values
    if arr.ndim == 0:
        return [(name, float(arr))]
    out = []
    coords = [values.coords[d].values for d in values.dims]
    for index in np.ndindex(arr.shape):
        label = ",".join(str(coords[k][i]) for k, i in enumerate(index))
        out.append((f"{name}[{label}]", float(arr[index])))
    return out


def diagnose(idata: az.InferenceData) -> Diagnostics:
    """Compute diagnostics for every free parameter element of the posterior."""
    post = idata["posterior"]
    names = [v for v in map(str, post.data_vars) if v not in DERIVED and not v.endswith("__")]
    rhat = az.rhat(post[names], method="rank")
    bulk = az.ess(post[names], method="bulk")
    tail = az.ess(post[names], method="tail")
    params = []
    for name in names:
        for (label, r), (_, b), (_, t) in zip(
            _flatten(name, rhat[name]), _flatten(name, bulk[name]), _flatten(name, tail[name]),
            strict=True,
        ):
            params.append(ParameterDiagnostic(label, r, b, t))
    stats = idata["sample_stats"]
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    bfmi = tuple(float(b) for b in az.bfmi(idata)) if "energy" in stats else ()
    return Diagnostics(
        parameters=tuple(params),
        divergences=divergences,
        bfmi=bfmi,
        chains=post.sizes["chain"],
        draws=post.sizes["draw"],
    )
