"""ParameterSet: the hand-off from the posterior to the decision model.

For one posterior draw (or the posterior mean) it holds, for every regimen x line x population,
the PFS and OS hazards (per month; with the Weibull sensitivity model also the shape), the ORR
and the grade >= 3 AE probability as plain numpy arrays. Estimates are for a typical trial
population (trial effect 0). Cells that the evidence does not inform hold NaN and asking for
them raises ``NotInformedError``, unless the catalogue declares a borrowing rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import arviz as az
import numpy as np

from sequencer import __version__
from sequencer.bayes.config import ModelConfig
from sequencer.bayes.data import OUTCOMES, build_model_data
from sequencer.bayes.predict import PosteriorArrays, expit, linear_predictor
from sequencer.errors import NotInformedError
from sequencer.evidence.load import EvidenceBase
from sequencer.vocabulary import EVIDENCE_LINES, LINES, evidence_line

POPULATIONS: tuple[tuple[str, str], ...] = (
    ("positive", "all"),
    ("positive", ">=1"),
    ("positive", "<1"),
    ("positive", ">=10"),
    ("low", "all"),
)
Quantity = Literal["pfs_hazard", "os_hazard", "orr", "grade3_ae"]


def informed_cells(
    evidence: EvidenceBase, regimens: tuple[str, ...], median_event_fraction: float
) -> tuple[np.ndarray, dict]:
    """(regimen, line, outcome) mask of cells that a used observation informs or that an explicit
    borrowing rule covers, and the rule text of each borrowed (regimen, line)."""
    data = build_model_data(evidence, median_event_fraction)
    cells = data.informed_cells()
    mask = np.zeros((len(regimens), len(EVIDENCE_LINES), len(OUTCOMES)), dtype=bool)
    for i, regimen in enumerate(regimens):
        for j, line in enumerate(EVIDENCE_LINES):
            for o, outcome in enumerate(OUTCOMES):
                mask[i, j, o] = (regimen, line, outcome) in cells
    borrowed: dict[tuple[str, int], str] = {}
    for i, regimen in enumerate(regimens):
        for rule in evidence.catalogue.regimens[regimen].borrowing:
            source = mask[i, EVIDENCE_LINES.index(rule.from_line)]
            target = EVIDENCE_LINES.index(rule.to_line)
            if source.any() and not mask[i, target].any():
                mask[i, target] = source
                borrowed[(regimen, rule.to_line)] = (
                    f"{rule.rule} from line {rule.from_line}: {rule.reason}"
                )
    return mask, borrowed


@dataclass(frozen=True)
class _ParameterArrays:
    """Fields shared by all draws (leading draw axis) and one draw (no draw axis)."""

    regimens: tuple[str, ...]
    pfs_hazard: np.ndarray  # per month
    os_hazard: np.ndarray  # per month
    orr: np.ndarray
    grade3_ae: np.ndarray
    weibull_shape: np.ndarray | None  # (endpoint,) per draw; None for the exponential model
    informed: np.ndarray  # (regimen, line, outcome)
    borrowed: dict[tuple[str, int], str]
    provenance: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PosteriorParameters(_ParameterArrays):
    """All draws at once: arrays shaped (draw, regimen, line, population)."""

    @property
    def n_draws(self) -> int:
        return self.pfs_hazard.shape[0]

    @classmethod
    def from_posterior(cls, idata: az.InferenceData, evidence: EvidenceBase) -> PosteriorParameters:
        post = PosteriorArrays.from_idata(idata)
        regimens = post.regimens
        shape = (post.n_draws, len(regimens), len(EVIDENCE_LINES), len(POPULATIONS))
        eta = np.empty((*shape, len(OUTCOMES)))
        for i, regimen in enumerate(regimens):
            for j, line in enumerate(EVIDENCE_LINES):
                for k, (her2, cps) in enumerate(POPULATIONS):
                    eta[:, i, j, k] = linear_predictor(
                        post, evidence.catalogue, regimen, line, cps=cps, her2=her2
                    )
        attrs = idata["posterior"].attrs
        config = ModelConfig.model_validate_json(attrs["model_config_json"])
        informed, borrowed = informed_cells(evidence, regimens, config.median_event_fraction)
        values = {
            "pfs_hazard": np.exp(eta[..., 0]),
            "os_hazard": np.exp(eta[..., 1]),
            "orr": expit(eta[..., 2]),
            "grade3_ae": expit(eta[..., 3]),
        }
        for o, array in enumerate(values.values()):
            blank = ~informed[None, :, :, None, o]
            array[np.broadcast_to(blank, array.shape)] = np.nan
        provenance = {
            "sequencer_version": __version__,
            "evidence_sha256": str(attrs.get("evidence_sha256", "")),
            "model_config_sha256": str(attrs.get("model_config_sha256", "")),
            "likelihood": str(attrs.get("likelihood", "")),
            "seed": str(attrs.get("seed", "")),
        }
        for regimen in regimens:
            trials = evidence.catalogue.regimens[regimen].informed_by
            provenance[f"trials:{regimen}"] = ", ".join(trials)
        return cls(
            regimens, **values, weibull_shape=post.weibull_shape, informed=informed,
            borrowed=borrowed, provenance=provenance,
        )

    def draw(self, index: int | Literal["mean"]) -> ParameterSet:
        """One posterior draw, or ``"mean"``: the posterior mean of each quantity."""
        if index == "mean":
            pick = {q: np.mean(getattr(self, q), axis=0) for q in _QUANTITIES}
            shape = None if self.weibull_shape is None else self.weibull_shape.mean(axis=0)
        else:
            if not 0 <= int(index) < self.n_draws:
                raise IndexError(f"draw {index} outside 0..{self.n_draws - 1}")
            pick = {q: getattr(self, q)[int(index)] for q in _QUANTITIES}
            shape = None if self.weibull_shape is None else self.weibull_shape[int(index)]
        return ParameterSet(
            self.regimens, **pick, weibull_shape=shape, informed=self.informed,
            borrowed=self.borrowed, draw=index, provenance=self.provenance,
        )


_QUANTITIES: tuple[Quantity, ...] = ("pfs_hazard", "os_hazard", "orr", "grade3_ae")


@dataclass(frozen=True)
class ParameterSet(_ParameterArrays):
    """One draw: arrays shaped (regimen, line, population)."""

    draw: int | str = "mean"

    def index(self, quantity: Quantity, regimen: str, line: int, her2: str = "positive",
              cps: str = "all") -> tuple[int, int, int]:
        """Array index of a cell; raises when the cell is not informed by evidence or a rule."""
        if quantity not in _QUANTITIES:
            raise ValueError(f"quantity must be one of {_QUANTITIES}, got {quantity!r}")
        if regimen not in self.regimens:
            raise NotInformedError(
                f"regimen '{regimen}' has no evidence in the fitted network; regimens with "
                f"evidence: {', '.join(self.regimens)}"
            )
        if line not in LINES:
            raise ValueError(f"line must be one of {list(LINES)}, got {line}")
        line = evidence_line(line)  # third or later lines share the third line's estimates
        if (her2, cps) not in POPULATIONS:
            raise ValueError(
                f"population (her2, cps) must be one of {POPULATIONS}, got {(her2, cps)}")
        i, j = self.regimens.index(regimen), EVIDENCE_LINES.index(line)
        if not self.informed[i, j, _QUANTITIES.index(quantity)]:
            raise NotInformedError(
                f"{quantity} of regimen '{regimen}' at line {line} is not informed by any trial "
                f"(trials: {self.trials_for(regimen)}) and priors/regimens.yaml declares no "
                f"borrowing rule for it"
            )
        return i, j, POPULATIONS.index((her2, cps))

    def trials_for(self, regimen: str) -> str:
        return self.provenance.get(f"trials:{regimen}", "none")

    def value(self, quantity: Quantity, regimen: str, line: int, her2: str = "positive",
              cps: str = "all") -> float:
        """One quantity (hazard per month, or probability) for a regimen, line and population."""
        cell = self.index(quantity, regimen, line, her2, cps)  # validates before any lookup
        return float(getattr(self, quantity)[cell])
