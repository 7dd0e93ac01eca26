"""The model's linear predictor in numpy, evaluated over posterior draws.

This is the second implementation of the formula in ``sequencer.bayes.model`` (a test checks
they agree). It serves the posterior predictive check, leave-one-trial-out prediction and the
ParameterSet, which must not depend on PyMC at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import xarray as xr

from sequencer.bayes.data import OUTCOMES, line_index
from sequencer.errors import NotInformedError
from sequencer.evidence.catalogue import Catalogue
from sequencer.vocabulary import CPS_POPULATIONS, PD1_DRUG_CLASS, is_her2_directed


def _stack(post: xr.Dataset, name: str) -> np.ndarray:
    values = post[name].values
    return values.reshape(-1, *values.shape[2:])


@dataclass(frozen=True)
class PosteriorArrays:
    """Posterior draws flattened over (chain, draw), with their coordinate labels."""

    regimens: tuple[str, ...]
    effect_classes: tuple[str, ...]
    trials: tuple[str, ...]
    mu: np.ndarray  # (S, outcome)
    line: np.ndarray  # (S, 3, outcome), line 1 = 0
    class_mean: np.ndarray  # (S, class, outcome)
    regimen_effect: np.ndarray  # (S, regimen, outcome)
    sd_regimen: np.ndarray  # (S, outcome)
    sd_trial: np.ndarray  # (S, outcome)
    trial_effect: np.ndarray  # (S, trial, outcome)
    cps: np.ndarray  # (S, 4 bands, outcome), band "all" = 0
    her2_low: np.ndarray  # (S, outcome)
    ae_all_cause: np.ndarray  # (S,)
    weibull_shape: np.ndarray | None  # (S, 2) or None for the exponential model

    @property
    def n_draws(self) -> int:
        return self.mu.shape[0]

    @classmethod
    def from_idata(cls, idata: az.InferenceData) -> PosteriorArrays:
        post = idata["posterior"]
        n = post.sizes["chain"] * post.sizes["draw"]
        zeros = np.zeros((n, 1, len(OUTCOMES)))
        sd_trial = _stack(post, "sd_trial")
        return cls(
            regimens=tuple(str(r) for r in post["regimen"].values),
            effect_classes=tuple(str(c) for c in post["effect_class"].values),
            trials=tuple(str(t) for t in post["trial"].values),
            mu=_stack(post, "mu"),
            line=np.concatenate([zeros, _stack(post, "line_shift")], axis=1),
            class_mean=_stack(post, "class_mean"),
            regimen_effect=_stack(post, "regimen_effect"),
            sd_regimen=_stack(post, "sd_regimen"),
            sd_trial=sd_trial,
            trial_effect=sd_trial[:, None, :] * _stack(post, "z_trial"),
            cps=np.concatenate([zeros, _stack(post, "cps_modifier")], axis=1),
            her2_low=_stack(post, "her2_low_modifier"),
            ae_all_cause=(
                _stack(post, "ae_all_cause_shift") if "ae_all_cause_shift" in post
                else np.zeros(n)
            ),
            weibull_shape=_stack(post, "weibull_shape") if "weibull_shape" in post else None,
        )


def regimen_draws(
    post: PosteriorArrays, catalogue: Catalogue, regimen: str, rng: np.random.Generator | None
) -> np.ndarray:
    """Regimen effect draws (S, outcome); a regimen outside the fitted network is drawn from its
    class (class mean + regimen sd x N(0, 1)), which needs ``rng``."""
    if regimen in post.regimens:
        return post.regimen_effect[:, post.regimens.index(regimen)]
    effect_class = catalogue.regimen(regimen).effect_class
    if effect_class not in post.effect_classes or rng is None:
        raise NotInformedError(
            f"regimen '{regimen}' (class '{effect_class}') is not in the fitted evidence network"
        )
    mean = post.class_mean[:, post.effect_classes.index(effect_class)]
    return mean + post.sd_regimen * rng.standard_normal(mean.shape)


def linear_predictor(
    post: PosteriorArrays,
    catalogue: Catalogue,
    regimen: str,
    line: int,
    cps: str = "all",
    her2: str = "positive",
    trial: str | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``eta`` draws (S, outcome) for one regimen, line and population.

    ``trial``: a fitted trial's name adds that trial's effect; ``"new"`` adds a new trial's
    effect drawn from N(0, sd_trial) (needs ``rng``); ``None`` gives the typical trial (0).
    """
    entry = catalogue.regimen(regimen)
    eta = post.mu + post.line[:, line_index(line)] + regimen_draws(post, catalogue, regimen, rng)
    if PD1_DRUG_CLASS in entry.drug_classes:
        eta = eta + post.cps[:, CPS_POPULATIONS.index(cps)]
    if her2 == "low" and is_her2_directed(entry):
        eta = eta + post.her2_low
    if trial == "new":
        if rng is None:
            raise ValueError("a new trial's effect needs an rng")
        eta = eta + post.sd_trial * rng.standard_normal(post.sd_trial.shape)
    elif trial is not None:
        eta = eta + post.trial_effect[:, post.trials.index(trial)]
    return eta


def log_median(post: PosteriorArrays, eta_survival: np.ndarray, endpoint: str) -> np.ndarray:
    """ln(median) from log-hazard draws: ln ln 2 - eta, divided by the Weibull shape if any."""
    value = np.log(np.log(2.0)) - eta_survival
    if post.weibull_shape is not None:
        value = value / post.weibull_shape[:, ("pfs", "os").index(endpoint)]
    return value


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
