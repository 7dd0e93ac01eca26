"""Sample the model (nutpie by default) and save/load the posterior with its provenance hashes."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import arviz as az
import xarray as xr

from sequencer import __version__
from sequencer.bayes.config import Likelihood, ModelConfig, SamplerConfig
from sequencer.bayes.data import ModelData, build_model_data
from sequencer.bayes.model import build_pymc_model
from sequencer.errors import PosteriorMismatchError, StageError
from sequencer.evidence.load import EvidenceBase
from sequencer.io import write_atomic

if TYPE_CHECKING:  # pragma: no cover
    import pymc as pm

POSTERIOR_FILE = "posterior.nc"
FIT_COMMAND = "sequencer fit --seed 2026"


@dataclass(frozen=True)
class FitResult:
    """A fitted posterior with what produced it."""

    idata: az.InferenceData
    data: ModelData
    model_config: ModelConfig
    sampler_config: SamplerConfig
    wall_time: float


def sample_model(model: pm.Model, sampler: SamplerConfig, seed: int, progress: bool = False
                 ) -> az.InferenceData:
    """Draw from ``model`` with nutpie (default) or PyMC's own NUTS; same draws/tune/chains."""
    if sampler.sampler == "nutpie":
        import nutpie

        compiled = nutpie.compile_pymc_model(model)
        return nutpie.sample(
            compiled,
            draws=sampler.draws,
            tune=sampler.tune,
            chains=sampler.chains,
            cores=sampler.cores,
            seed=seed,
            target_accept=sampler.target_accept,
            save_warmup=False,
            progress_bar=progress,
        )
    import pymc as pm

    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pm.sample(
            draws=sampler.draws,
            tune=sampler.tune,
            chains=sampler.chains,
            cores=sampler.cores or 1,
            random_seed=seed,
            target_accept=sampler.target_accept,
            progressbar=progress,
            compute_convergence_checks=False,
        )


def fit(
    evidence: EvidenceBase,
    model_config: ModelConfig | None = None,
    sampler_config: SamplerConfig | None = None,
    seed: int = 2026,
    held_out: str | None = None,
    progress: bool = False,
) -> FitResult:
    """Fit the model to ``evidence``; the returned InferenceData carries provenance attributes."""
    model_config = model_config or ModelConfig()
    sampler_config = sampler_config or SamplerConfig()
    data = build_model_data(evidence, model_config.median_event_fraction)
    model = build_pymc_model(data, model_config)
    start = time.perf_counter()
    idata = sample_model(model, sampler_config, seed, progress)
    wall = time.perf_counter() - start
    idata["posterior"].attrs.update(
        {
            "evidence_sha256": evidence.sha256,
            "model_config_sha256": model_config.sha256(),
            "model_config_json": model_config.model_dump_json(),
            "sequencer_version": __version__,
            "likelihood": model_config.likelihood,
            "seed": seed,
            "sampler": sampler_config.sampler,
            "held_out_trial": held_out or "",
            "wall_time_s": wall,
            "trials": ",".join(data.trials),
        }
    )
    return FitResult(idata, data, model_config, sampler_config, wall)


def save_posterior(idata: az.InferenceData, path: str | Path) -> Path:
    """Write the posterior to NetCDF atomically (temp file in the same folder, then rename)."""
    keep = {g: getattr(idata, g) for g in ("posterior", "sample_stats") if hasattr(idata, g)}
    slim = az.InferenceData(**keep)
    return write_atomic(path, lambda tmp: slim.to_netcdf(str(tmp), engine="h5netcdf"))


def posterior_path(priors_dir: str | Path, likelihood: Likelihood = "exponential") -> Path:
    """Where the posterior of ``likelihood`` lives: ``posterior.nc`` (exponential) or
    ``posterior-<likelihood>.nc``."""
    name = POSTERIOR_FILE if likelihood == "exponential" else f"posterior-{likelihood}.nc"
    return Path(priors_dir) / name


def fit_command(likelihood: Likelihood = "exponential") -> str:
    """The command that fits (and saves) the posterior of ``likelihood``."""
    return FIT_COMMAND + ("" if likelihood == "exponential" else f" --likelihood {likelihood}")


def load_posterior(
    path: str | Path, evidence: EvidenceBase, model_config: ModelConfig | None = None
) -> az.InferenceData:
    """Load a saved posterior and refuse it unless it matches the evidence, the model
    configuration and the version.

    Parameters
    ----------
    path
        The posterior file (see ``posterior_path``).
    evidence
        The evidence on disk; its hash must equal the one the posterior was fitted to.
    model_config
        The configuration the posterior must have been fitted under; default ``ModelConfig()``
        (the exponential likelihood, the file ``posterior.nc``). Pass
        ``ModelConfig(likelihood="weibull")`` for ``posterior-weibull.nc``. The check always
        runs: a posterior fitted under another likelihood or other priors is refused.

    Raises
    ------
    StageError
        The file does not exist (the fit stage has not run).
    PosteriorMismatchError
        The file was fitted to other evidence, another model configuration (likelihood or
        priors), another version, or with a trial held out. The message names the file and the
        command that refits it.
    """
    path = Path(path)
    model_config = model_config or ModelConfig()
    command = fit_command(model_config.likelihood)
    if not path.exists():
        raise StageError(f"{path}: no fitted posterior; run `{command}` first")
    try:
        posterior = xr.open_dataset(path, group="posterior", engine="h5netcdf").load()
        stats = xr.open_dataset(path, group="sample_stats", engine="h5netcdf").load()
    except (OSError, ValueError) as exc:
        raise PosteriorMismatchError(
            f"{path}: not a readable posterior file ({exc}); run `{command}`"
        ) from None
    attrs = posterior.attrs
    fitted_with = attrs.get("likelihood")
    if fitted_with != model_config.likelihood:
        raise PosteriorMismatchError(
            f"{path}: the posterior does not match the model configuration: it was fitted with "
            f"the {fitted_with} likelihood, this file must hold the {model_config.likelihood} "
            f"one; run `{command}`"
        )
    expected = {
        "evidence_sha256": evidence.sha256,
        "model_config_sha256": model_config.sha256(),
        "sequencer_version": __version__,
    }
    for key, want in expected.items():
        got = attrs.get(key)
        if got != want:
            what = key.removesuffix("_sha256").replace("_", " ")
            raise PosteriorMismatchError(
                f"{path}: the posterior does not match the {what} "
                f"({key}: file {str(got)[:12]}, expected {str(want)[:12]}); run `{command}`"
            )
    if attrs.get("held_out_trial"):
        raise PosteriorMismatchError(
            f"{path}: this posterior was fitted with trial '{attrs['held_out_trial']}' held out; "
            f"run `{command}`"
        )
    return az.InferenceData(posterior=posterior, sample_stats=stats)
