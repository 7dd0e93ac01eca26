"""Load the fitted posterior and the parameter file into ``ModelInputs`` (one call for CLI,
service and notebooks). The posterior must match the evidence on disk, the model configuration
of its likelihood and the version; a missing posterior is a ``StageError`` that names the command
to run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Unpack, get_args

import numpy as np

from sequencer import __version__
from sequencer.bayes.config import Likelihood, ModelConfig
from sequencer.evidence.load import DEFAULT_PRIORS_DIR, EvidenceBase, load_evidence
from sequencer.model.cache import EligibilityCache
from sequencer.model.inputs import ModelInputs, ModelOptions
from sequencer.model.parameter_set import PosteriorParameters
from sequencer.model.parameters import ModelParameters, load_parameters

LIKELIHOODS = get_args(Likelihood)


@dataclass(frozen=True)
class ModelSources:
    """The evidence, posterior draws and parameter file one analysis uses."""

    evidence: EvidenceBase
    posterior: PosteriorParameters
    parameters: ModelParameters
    posterior_path: str
    # shared by the inputs of every draw (eligibility does not depend on the draw)
    eligibility: EligibilityCache = field(default_factory=EligibilityCache, compare=False,
                                          repr=False)

    def inputs(self, draw: int | Literal["mean"] = "mean",
               parameters: Literal["mean"] | np.random.Generator = "mean",
               **options: Unpack[ModelOptions]) -> ModelInputs:
        """``ModelInputs`` for one posterior draw (or the mean), with the parameter file's means
        or one draw of every parameter from the generator ``parameters`` (probabilistic
        sensitivity analysis)."""
        values = self.parameters.values(parameters)
        if "discount_rate" not in options:
            options["discount_rate"] = self.parameters.meta.discount_rate_default
        return ModelInputs.create(
            self.evidence.catalogue, self.posterior.draw(draw), values,
            provenance=self.provenance(), eligibility=self.eligibility, **options,
        )

    def provenance(self) -> dict[str, str]:
        return {
            "sequencer_version": __version__,
            "posterior": self.posterior_path,
            "evidence_sha256": self.posterior.provenance.get("evidence_sha256", ""),
            "model_config_sha256": self.posterior.provenance.get("model_config_sha256", ""),
            "parameters": self.parameters.path,
            "parameters_sha256": self.parameters.sha256,
        }


def load_sources(
    priors_dir: str | Path = DEFAULT_PRIORS_DIR,
    parameters_path: str | Path | None = None,
    likelihood: Likelihood = "exponential",
) -> ModelSources:
    """Evidence, posterior and parameters from ``priors_dir``.

    The posterior of ``likelihood`` (``posterior.nc`` or ``posterior-weibull.nc``) is checked
    against the evidence, the default ``ModelConfig`` of that likelihood and the version, so a
    file fitted under another likelihood or other priors is refused (``PosteriorMismatchError``,
    naming the file and the command that refits it).
    """
    from sequencer.bayes.fit import load_posterior, posterior_path

    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood: expected one of {list(LIKELIHOODS)}, got {likelihood!r}")
    priors_dir = Path(priors_dir)
    evidence = load_evidence(priors_dir)
    path = posterior_path(priors_dir, likelihood)
    idata = load_posterior(path, evidence, ModelConfig(likelihood=likelihood))
    posterior = PosteriorParameters.from_posterior(idata, evidence)
    parameters = load_parameters(parameters_path or priors_dir / "parameters.yaml",
                                 evidence.catalogue.vocabulary, evidence.catalogue)
    return ModelSources(evidence, posterior, parameters, str(path))
