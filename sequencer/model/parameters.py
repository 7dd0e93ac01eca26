"""priors/parameters.yaml: the decision model's parameters beyond the trials.

Every leaf is a distribution with a source. ``load_parameters`` validates each distribution, its
arguments and its support against the parameter's domain, and checks that the file has every
parameter the model reads (and nothing it does not know). ``ModelParameters.values("mean")``
gives the expected value of each parameter; ``values(rng)`` one joint draw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from sequencer.errors import SequencerError

DEFAULT_PARAMETERS = Path(__file__).resolve().parents[2] / "priors" / "parameters.yaml"
Domain = Literal["probability", "positive", "utility"]
_Z95 = 1.959963984540054


class ParameterError(SequencerError):
    """priors/parameters.yaml is malformed, incomplete or has a distribution outside its domain."""


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    domain: Domain
    source: str = Field(min_length=5)

    def support(self) -> tuple[float, float]:
        raise NotImplementedError

    def mean(self) -> float:
        raise NotImplementedError

    @model_validator(mode="after")
    def _inside_domain(self):
        low, high = self.support()
        allowed = {"probability": (0.0, 1.0), "positive": (0.0, np.inf), "utility": (-np.inf, 1.0)}
        lo, hi = allowed[self.domain]
        if low < lo or high > hi:
            raise ValueError(
                f"support [{low}, {high}] of this {self.dist} lies outside the {self.domain} "
                f"domain [{lo}, {hi}]"
            )
        return self


class Beta(_Dist):
    dist: Literal["beta"]
    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)

    def support(self):
        return (0.0, 1.0)

    def mean(self):
        return self.alpha / (self.alpha + self.beta)

    def sample(self, rng):
        return float(rng.beta(self.alpha, self.beta))


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="before")
    @classmethod
    def _ordered(cls, data):
        if isinstance(data, dict) and data.get("low", 0) >= data.get("high", 1):
            raise ValueError("uniform needs low < high")
        return data

    def support(self):
        return (self.low, self.high)

    def mean(self):
        return 0.5 * (self.low + self.high)

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))


class LogNormal(_Dist):
    """Log-normal from a median and a 95% interval: sigma = ln(upper/lower) / (2 x 1.96)."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    lower: float = Field(gt=0)
    upper: float = Field(gt=0)

    @model_validator(mode="before")
    @classmethod
    def _ordered(cls, data):
        if isinstance(data, dict) and not (
            data.get("lower", 0) < data.get("median", 0) < data.get("upper", 0)
        ):
            raise ValueError("lognormal needs lower < median < upper")
        centre = np.sqrt(data["lower"] * data["upper"])
        if abs(np.log(data["median"] / centre)) > 0.05:
            raise ValueError(
                f"lognormal interval [{data['lower']}, {data['upper']}] is not centred on the "
                f"median {data['median']} on the log scale (geometric centre {centre:.3g})"
            )
        return data

    @property
    def sigma(self) -> float:
        return float(np.log(self.upper / self.lower) / (2 * _Z95))

    def support(self):
        return (0.0, np.inf)

    def mean(self):
        return float(self.median * np.exp(0.5 * self.sigma**2))

    def sample(self, rng):
        return float(self.median * np.exp(self.sigma * rng.standard_normal()))


class Gamma(_Dist):
    dist: Literal["gamma"]
    mean_: float = Field(gt=0, alias="mean")
    sd: float = Field(gt=0)

    def support(self):
        return (0.0, np.inf)

    def mean(self):
        return self.mean_

    def sample(self, rng):
        shape = (self.mean_ / self.sd) ** 2
        return float(rng.gamma(shape, self.mean_ / shape))


class Fixed(_Dist):
    dist: Literal["fixed"]
    value: float

    def support(self):
        return (self.value, self.value)

    def mean(self):
        return self.value

    def sample(self, rng):
        return self.value


Distribution = Annotated[Beta | Uniform | LogNormal | Gamma | Fixed, Field(discriminator="dist")]
_ADAPTER = TypeAdapter(Distribution)

#: every parameter the decision model reads, as dotted paths (``*`` = one per listed key)
REQUIRED: tuple[str, ...] = (
    "prevalence.cps_ge1", "prevalence.cps_ge10_given_ge1", "prevalence.msi_high",
    *(f"baseline_alteration.{m}" for m in ("pi3k", "met_amp", "fgfr2_amp", "erbb2_mut")),
    *(f"acquisition.{m}" for m in ("her2_loss", "her2_loss_to_ihc0", "pi3k", "met_amp",
                                    "fgfr2_amp", "erbb2_mut")),
    *(f"mechanism_modifier.{m}" for m in ("her2_loss", "pi3k", "met_amp", "fgfr2_amp", "erbb2_mut")),
    "line_end.death_fraction", "line_end.discontinuation_given_grade3_ae",
    "attrition.after_line_1", "attrition.after_line_2", "attrition.after_line_3",
    "supportive_care.median_os_months",
    "testing.ngs_sensitivity", "testing.her2_heterogeneity", "testing.biopsy_miss_if_heterogeneous",
    "testing.ctdna_sensitivity", "testing.ctdna_attrition_relative_risk",
    "utility.first_line", "utility.later_line", "utility.supportive_care",
    "utility.grade3_ae_disutility", "utility.grade3_ae_duration_months",
    "cost.administration_per_attendance", "cost.grade3_ae_episode", "cost.supportive_care_per_month",
    "cost.ngs_panel", "cost.rebiopsy", "cost.ctdna_per_month",
)
#: groups whose keys are open (regimen ids, drug classes); their contents are checked by the model
OPEN_GROUPS = ("prior_exposure_modifier", "contraindication_rate", "regimen_cost",
               "grade3_ae_fallback", "investigational")


@dataclass(frozen=True)
class ModelParameters:
    """Validated parameter file: dotted path -> distribution, plus the file's meta block."""

    distributions: dict[str, _Dist]
    meta: dict
    path: str
    sha256: str

    def values(self, how: Literal["mean"] | np.random.Generator = "mean") -> dict[str, float]:
        """Expected value of every parameter (``"mean"``) or one draw from a ``Generator``."""
        if isinstance(how, str):
            if how != "mean":
                raise ValueError(f"how must be 'mean' or a numpy Generator, got {how!r}")
            return {key: float(d.mean()) for key, d in self.distributions.items()}
        return {key: d.sample(how) for key, d in self.distributions.items()}

    def source(self, key: str) -> str:
        return self.distributions[key].source

    def keys_under(self, prefix: str) -> list[str]:
        return [k for k in self.distributions if k.startswith(prefix + ".")]


def _leaves(node, prefix: str, out: dict, path: Path) -> None:
    if isinstance(node, dict) and "dist" in node:
        try:
            out[prefix] = _ADAPTER.validate_python(node)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:]) or 'dist'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ParameterError(f"{path}: parameter '{prefix}': {problems}") from None
        return
    if not isinstance(node, dict):
        raise ParameterError(
            f"{path}: parameter '{prefix}' must be a mapping with 'dist' (one of beta, uniform, "
            f"lognormal, gamma, fixed), got {node!r}"
        )
    for key, child in node.items():
        _leaves(child, f"{prefix}.{key}" if prefix else str(key), out, path)


def load_parameters(path: str | Path = DEFAULT_PARAMETERS) -> ModelParameters:
    """Read and validate a parameter file; errors name the file, the parameter and the field."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"{path}: parameter file not found")
    text = path.read_bytes()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("meta"), dict):
        raise ParameterError(f"{path}: must be a mapping with a 'meta' block")
    meta = raw.pop("meta")
    for key in ("currency", "discount_rate_default", "willingness_to_pay_default"):
        if key not in meta:
            raise ParameterError(f"{path}: meta.{key} is missing")
    distributions: dict[str, _Dist] = {}
    _leaves(raw, "", distributions, path)
    missing = [key for key in REQUIRED if key not in distributions]
    if missing:
        raise ParameterError(f"{path}: missing parameters: {', '.join(missing)}")
    known_groups = {key.split(".")[0] for key in REQUIRED} | set(OPEN_GROUPS)
    unknown = sorted(
        key for key in distributions
        if key not in REQUIRED and key.split(".")[0] not in OPEN_GROUPS
    )
    if unknown:
        raise ParameterError(
            f"{path}: unknown parameters: {', '.join(unknown)}; groups: {sorted(known_groups)}"
        )
    return ModelParameters(distributions, meta, str(path), hashlib.sha256(text).hexdigest())

