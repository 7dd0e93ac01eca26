"""Leave-one-trial-out predictive validity: refit without a trial, predict what it reported."""

from __future__ import annotations

import numpy as np

from sequencer.bayes.config import ModelConfig, SamplerConfig
from sequencer.bayes.fit import FitResult, fit
from sequencer.bayes.ppc import CheckRow, trial_rows
from sequencer.bayes.predict import PosteriorArrays
from sequencer.evidence.load import EvidenceBase


def hold_out(
    evidence: EvidenceBase,
    trial: str,
    model_config: ModelConfig | None = None,
    sampler_config: SamplerConfig | None = None,
    seed: int = 2026,
) -> tuple[FitResult, list[CheckRow]]:
    """Fit without ``trial`` and place its reported medians and HRs in the predictive
    distribution of a new trial (new trial effect; regimens absent from the reduced network are
    drawn from their class)."""
    model_config = model_config or ModelConfig()
    record = evidence.trial(trial)
    result = fit(evidence.without(record.trial), model_config, sampler_config, seed, record.trial)
    post = PosteriorArrays.from_idata(result.idata)
    rng = np.random.default_rng(seed)
    rows = trial_rows(post, evidence, record, model_config, rng, trial_mode="new")
    return result, rows
