"""The arm-based hierarchical model (NICE DSU TSD2 style GLM with trial effects), in PyMC.

For arm ``a`` of trial ``t`` with regimen ``r`` at line ``l`` and outcome ``o``
(PFS and OS on the log-hazard scale, ORR and grade >= 3 AE on the logit scale)::

    eta[a, o] = mu[o] + line[l, o] + regimen[r, o] + trial[t, o]
                + cps[band(a), o] * pd1(r) + her2_low[o] * low(a) * her2(r)
    regimen[r, o] = class_mean[class(r), o] + sd_regimen[o] * z_regimen[r, o]   (exchangeable)
    trial[t, o]   = sd_trial[o] * z_trial[t, o]

with the chemotherapy class mean fixed at 0 and line 1 at 0. Likelihoods:

* log-median (exponential): ``ln(m) ~ N(ln ln 2 - eta, se)``; Weibull with shape ``k``
  (``S(t) = exp(-e^eta t^k)``): ``ln(m) ~ N((ln ln 2 - eta) / k, se)``;
* log-HR: ``ln(HR) ~ N(eta[exp] - eta[ref], se)``; both as multivariate normals with the
  within-trial covariances of ``sequencer.bayes.data``;
* ORR, AE: ``k ~ Binomial(n, logit^-1(eta (+ all-cause shift for AE)))``.

The same linear predictor is written in numpy in ``sequencer.bayes.predict`` for posterior
predictive checks and the ParameterSet; a test checks that the two agree.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from sequencer.bayes.config import ModelConfig
from sequencer.bayes.data import OUTCOMES, ModelData
from sequencer.vocabulary import CPS_POPULATIONS

LINES = ("1", "2", "3+")


def coords_of(data: ModelData) -> dict[str, list[str]]:
    return {
        "outcome": list(OUTCOMES),
        "endpoint": ["pfs", "os"],
        "line": list(LINES),
        "later_line": list(LINES[1:]),
        "regimen": data.regimens,
        "effect_class": data.effect_classes,
        "non_reference_class": data.effect_classes[1:],
        "trial": data.trials,
        "cps_band": list(CPS_POPULATIONS[1:]),
        "median_obs": data.medians.label,
        "hr_obs": data.hrs.label,
        "binomial_obs": data.binomial.label,
    }


def build_pymc_model(
    data: ModelData, config: ModelConfig | None = None, keep_arm_eta: bool = False
) -> pm.Model:
    """Build the PyMC model for ``data``; returns an unsampled ``pm.Model``.

    ``keep_arm_eta`` records the arm-level linear predictor as a deterministic (``arm_eta``),
    for checking the numpy implementation; the saved posterior does not need it.
    """
    config = config or ModelConfig()
    pri = config.priors
    arms = data.arms
    with pm.Model(coords=coords_of(data)) as model:
        mu = pm.Normal(
            "mu",
            mu=np.array([pri.intercept[o].mu for o in OUTCOMES]),
            sigma=np.array([pri.intercept[o].sigma for o in OUTCOMES]),
            dims="outcome",
        )
        later = pm.Normal(
            "line_shift", pri.line_shift.mu, pri.line_shift.sigma, dims=("later_line", "outcome")
        )
        line = pt.concatenate([pt.zeros((1, len(OUTCOMES))), later], axis=0)
        class_free = pm.Normal(
            "class_mean_free", pri.class_effect.mu, pri.class_effect.sigma,
            dims=("non_reference_class", "outcome"),
        )
        class_mean = pm.Deterministic(
            "class_mean",
            pt.concatenate([pt.zeros((1, len(OUTCOMES))), class_free], axis=0),
            dims=("effect_class", "outcome"),
        )
        sd_regimen = pm.HalfNormal("sd_regimen", pri.regimen_sd.sigma, dims="outcome")
        z_regimen = pm.Normal("z_regimen", 0.0, 1.0, dims=("regimen", "outcome"))
        regimen = pm.Deterministic(
            "regimen_effect",
            class_mean[data.regimen_class] + sd_regimen * z_regimen,
            dims=("regimen", "outcome"),
        )
        sd_trial = pm.HalfNormal("sd_trial", pri.trial_sd.sigma, dims="outcome")
        z_trial = pm.Normal("z_trial", 0.0, 1.0, dims=("trial", "outcome"))
        trial = sd_trial * z_trial
        cps_free = pm.Normal(
            "cps_modifier", pri.population_modifier.mu, pri.population_modifier.sigma,
            dims=("cps_band", "outcome"),
        )
        cps = pt.concatenate([pt.zeros((1, len(OUTCOMES))), cps_free], axis=0)
        her2_low = pm.Normal(
            "her2_low_modifier", pri.population_modifier.mu, pri.population_modifier.sigma,
            dims="outcome",
        )
        eta = (
            mu
            + line[arms.line]
            + regimen[arms.regimen]
            + trial[arms.trial]
            + cps[arms.cps_band] * data.regimen_pd1[arms.regimen][:, None]
            + her2_low * (arms.her2_low * data.regimen_her2[arms.regimen])[:, None]
        )
        if keep_arm_eta:
            model.add_coord("arm", data.arms.label)
            pm.Deterministic("arm_eta", eta, dims=("arm", "outcome"))
        _survival_likelihoods(data, config, eta)
        _binomial_likelihood(data, config, eta)
    return model


def _survival_likelihoods(data: ModelData, config: ModelConfig, eta: pt.TensorVariable) -> None:
    med, hrs = data.medians, data.hrs
    log_ln2 = float(np.log(np.log(2.0)))
    eta_med = eta[med.arm, med.outcome]
    if config.likelihood == "weibull":
        shape = config.priors.weibull_shape
        k = pm.LogNormal("weibull_shape", shape.mu, shape.sigma, dims="endpoint")
        mean_med = (log_ln2 - eta_med) / k[med.outcome]
    else:
        mean_med = log_ln2 - eta_med
    if len(med.y):
        pm.MvNormal("log_median", mu=mean_med, cov=med.cov, observed=med.y, dims="median_obs")
    if len(hrs.y):
        mean_hr = eta[hrs.arm, hrs.outcome] - eta[hrs.ref_arm, hrs.outcome]
        pm.MvNormal("log_hr", mu=mean_hr, cov=hrs.cov, observed=hrs.y, dims="hr_obs")


def _binomial_likelihood(data: ModelData, config: ModelConfig, eta: pt.TensorVariable) -> None:
    obs = data.binomial
    if not len(obs.k):
        return
    shift = config.priors.ae_all_cause
    ae_shift = pm.Normal("ae_all_cause_shift", shift.mu, shift.sigma)
    logit_p = eta[obs.arm, obs.outcome] + ae_shift * obs.all_cause
    pm.Binomial("responders", n=obs.n, logit_p=logit_p, observed=obs.k, dims="binomial_obs")
