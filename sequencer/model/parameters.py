"""priors/parameters.yaml: the decision model's parameters beyond the trials.

Every leaf is a distribution with a source. ``load_parameters`` validates each distribution, its
arguments and its support against the parameter's domain, and checks once that the file has
every parameter the model reads for the vocabulary (``parameter_values.required_keys``) and
nothing it does not know, naming the file and the key. ``ModelParameters.values("mean")`` gives
the expected value of each parameter as a typed ``ParameterValues``; ``values(rng)`` one joint
draw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from sequencer.errors import SequencerError
from sequencer.model.parameter_values import (
    REGIMEN_FIELDS,
    ParameterValues,
    field_names,
    key_problem,
    required_keys,
)
from sequencer.vocabulary import Vocabulary, default_vocabulary

if TYPE_CHECKING:  # pragma: no cover
    from sequencer.evidence.catalogue import Catalogue

DEFAULT_PARAMETERS = Path(__file__).resolve().parents[2] / "priors" / "parameters.yaml"
Domain = Literal["probability", "positive", "utility"]
_Z95 = 1.959963984540054


class ParameterError(SequencerError):
    """priors/parameters.yaml is malformed, incomplete or has a distribution outside its domain."""


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    dist: str
    domain: Domain
    source: str = Field(min_length=5)

    def support(self) -> tuple[float, float]:
        raise NotImplementedError

    def mean(self) -> float:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> float:
        raise NotImplementedError

    @model_validator(mode="after")
    def _inside_domain(self) -> _Dist:
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

    def support(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.beta(self.alpha, self.beta))


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="before")
    @classmethod
    def _ordered(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("low", 0) >= data.get("high", 1):
            raise ValueError("uniform needs low < high")
        return data

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


class LogNormal(_Dist):
    """Log-normal from a median and a 95% interval: sigma = ln(upper/lower) / (2 x 1.96)."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    lower: float = Field(gt=0)
    upper: float = Field(gt=0)

    @model_validator(mode="before")
    @classmethod
    def _ordered(cls, data: Any) -> Any:
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

    def support(self) -> tuple[float, float]:
        return (0.0, np.inf)

    def mean(self) -> float:
        return float(self.median * np.exp(0.5 * self.sigma**2))

    def sample(self, rng: np.random.Generator) -> float:
        return float(self.median * np.exp(self.sigma * rng.standard_normal()))


class Gamma(_Dist):
    dist: Literal["gamma"]
    mean_: float = Field(gt=0, alias="mean")
    sd: float = Field(gt=0)

    def support(self) -> tuple[float, float]:
        return (0.0, np.inf)

    def mean(self) -> float:
        return self.mean_

    def sample(self, rng: np.random.Generator) -> float:
        shape = (self.mean_ / self.sd) ** 2
        return float(rng.gamma(shape, self.mean_ / shape))


class Fixed(_Dist):
    dist: Literal["fixed"]
    value: float

    def support(self) -> tuple[float, float]:
        return (self.value, self.value)

    def mean(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator) -> float:
        return self.value


Distribution = Annotated[Beta | Uniform | LogNormal | Gamma | Fixed, Field(discriminator="dist")]
_ADAPTER = TypeAdapter(Distribution)

@dataclass(frozen=True)
class ModelParameters:
    """Validated parameter file: dotted path -> distribution, plus the file's meta block."""

    distributions: dict[str, _Dist]
    meta: ParameterMeta
    path: str
    sha256: str
    vocabulary: Vocabulary

    def flat_values(self, how: Literal["mean"] | np.random.Generator = "mean"
                    ) -> dict[str, float]:
        """Expected value of every parameter (``"mean"``) or one joint draw from a
        ``Generator`` (one sample per parameter, in file order), by dotted key."""
        if isinstance(how, str):
            if how != "mean":
                raise ValueError(f"how must be 'mean' or a numpy Generator, got {how!r}")
            return {key: float(d.mean()) for key, d in self.distributions.items()}
        return {key: d.sample(how) for key, d in self.distributions.items()}

    def values(self, how: Literal["mean"] | np.random.Generator = "mean") -> ParameterValues:
        """``flat_values(how)`` as the typed object the decision model reads."""
        return ParameterValues.from_flat(self.flat_values(how), self.vocabulary)

    def source(self, key: str) -> str:
        return self.distributions[key].source

    def keys_under(self, prefix: str) -> list[str]:
        return [k for k in self.distributions if k.startswith(prefix + ".")]


def _leaves(node: Any, prefix: str, out: dict[str, _Dist], path: Path) -> None:
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


class ParameterMeta(BaseModel):
    """The file's ``meta`` block: currency, perspective and the analysis defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    currency: str
    perspective: str = ""
    discount_rate_default: float = Field(ge=0, le=0.2)
    willingness_to_pay_default: float = Field(ge=0)


def load_parameters(path: str | Path = DEFAULT_PARAMETERS, vocabulary: Vocabulary | None = None,
                    catalogue: Catalogue | None = None) -> ModelParameters:
    """Read and validate a parameter file for ``vocabulary`` (default: the packaged one); with
    ``catalogue``, regimen ids and drug classes of the open groups are checked against it too.
    Errors name the file, the parameter and the field."""
    vocabulary = vocabulary or default_vocabulary()
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
    try:
        meta = ParameterMeta.model_validate(raw.pop("meta"))
    except ValidationError as exc:
        meta_problems = "; ".join(f"meta.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                  for e in exc.errors())
        raise ParameterError(f"{path}: {meta_problems}") from None
    distributions: dict[str, _Dist] = {}
    _leaves(raw, "", distributions, path)
    missing = [key for key in required_keys(vocabulary) if key not in distributions]
    regimens: list[str] | None = None
    drug_classes: set[str] | None = None
    if catalogue is not None:
        regimens = list(catalogue.regimens)
        drug_classes = {c for r in catalogue.regimens.values() for c in r.drug_classes}
    problems = [f"'{key}': {why}" for key in distributions
                if (why := key_problem(key, vocabulary, regimens, drug_classes)) is not None]
    problems += _incomplete(distributions)
    if missing:
        problems.insert(0, f"missing parameters: {', '.join(missing)}")
    if problems:
        raise ParameterError(f"{path}: " + "; ".join(problems))
    return ModelParameters(distributions, meta, str(path), hashlib.sha256(text).hexdigest(),
                           vocabulary)


def _incomplete(distributions: dict[str, _Dist]) -> list[str]:
    """Regimens of ``regimen_cost`` or ``investigational`` missing one of their fields."""
    out = []
    for group, kind in REGIMEN_FIELDS.items():
        found: dict[str, set[str]] = {}
        for key in distributions:
            parts = key.split(".")
            if parts[0] == group and len(parts) == 3:
                found.setdefault(parts[1], set()).add(parts[2])
        for regimen, names in found.items():
            for name in field_names(kind):
                if name not in names:
                    out.append(f"'{group}.{regimen}.{name}': missing (every {group} entry has "
                               f"{field_names(kind)})")
    return out

