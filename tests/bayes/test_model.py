"""Structural checks of the PyMC model and its numpy twin (fast: prior draws, no sampling)."""

from __future__ import annotations

import numpy as np
import pymc as pm

from sequencer.bayes.config import ModelConfig
from sequencer.bayes.data import build_model_data
from sequencer.bayes.model import build_pymc_model
from sequencer.bayes.predict import PosteriorArrays, linear_predictor


def _prior_as_posterior(model, draws=40, seed=5):
    with model:
        idata = pm.sample_prior_predictive(draws=draws, random_seed=seed)
    idata.add_groups(posterior=idata.prior)
    return idata


def test_numpy_linear_predictor_equals_pytensor(evidence):
    """Second implementation: predict.linear_predictor (numpy) must reproduce the model's arm
    log-hazards/logits (pytensor) for every arm of every trial, to float precision."""
    for likelihood in ("exponential", "weibull"):
        data = build_model_data(evidence)
        model = build_pymc_model(data, ModelConfig(likelihood=likelihood), keep_arm_eta=True)
        idata = _prior_as_posterior(model)
        post = PosteriorArrays.from_idata(idata)
        arm_eta = idata.posterior["arm_eta"].values.reshape(post.n_draws, len(data.arms.label), 4)
        row = 0
        for record in evidence.trials:
            for arm in record.arms:
                her2 = "low" if arm.population.her2 == "low" else "positive"
                eta = linear_predictor(post, evidence.catalogue, arm.regimen, record.line,
                                       cps=arm.population.cps, her2=her2, trial=record.trial)
                np.testing.assert_allclose(eta, arm_eta[:, row], rtol=1e-9, atol=1e-9)
                row += 1
        assert (post.weibull_shape is not None) == (likelihood == "weibull")


def test_model_dimensions_are_named(evidence):
    data = build_model_data(evidence)
    model = build_pymc_model(data)
    assert set(model.coords["trial"]) == {t.trial for t in evidence.trials}
    assert model.named_vars_to_dims["regimen_effect"] == ("regimen", "outcome")
    assert model.named_vars_to_dims["log_hr"] == ("hr_obs",)
    # chemotherapy is the reference class: its class mean is fixed at zero
    assert data.effect_classes[0] == "chemotherapy"


def test_config_hash_changes_with_priors():
    base = ModelConfig()
    assert base.sha256() == ModelConfig().sha256()
    assert base.sha256() != ModelConfig(likelihood="weibull").sha256()
    assert base.sha256() != ModelConfig(median_event_fraction=0.7).sha256()
