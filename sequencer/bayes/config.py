"""Model configuration (priors) and sampler settings, kept apart as pymc-marketing does.

Every prior is written down with its reason. The configuration hash goes into the saved
posterior so that a posterior fitted under other priors is refused on load.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Likelihood = Literal["exponential", "weibull"]


class Prior(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mu: float = 0.0
    sigma: float = Field(gt=0)
    reason: str


class PriorConfig(BaseModel):
    """Weakly informative priors. Scales: log-hazard per month (PFS, OS); logit (ORR, AE)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    intercept: dict[str, Prior] = {
        "pfs": Prior(
            mu=float(np.log(np.log(2) / 6.0)), sigma=1.0,
            reason="first-line fluoropyrimidine/platinum PFS in advanced gastric cancer is of the "
            "order of 4-7 months; centred on a 6-month median, sd 1 allows a factor of 7 either "
            "way at 95%",
        ),
        "os": Prior(
            mu=float(np.log(np.log(2) / 12.0)), sigma=1.0,
            reason="first-line chemotherapy OS of the order of 10-14 months; centred on 12 months, "
            "sd 1 on the log scale",
        ),
        "orr": Prior(mu=-0.5, sigma=1.0, reason="chemotherapy response of the order of 30-45%"),
        "ae": Prior(mu=0.0, sigma=1.5, reason="grade >= 3 AE rates anywhere from 20% to 80%"),
    }
    line_shift: Prior = Prior(
        mu=0.0, sigma=1.0,
        reason="change from line 1 to line 2 and to line 3+ (all outcomes); centred on no change "
        "so the data, not the prior, give the worse prognosis of later lines",
    )
    class_effect: Prior = Prior(
        mu=0.0, sigma=1.0,
        reason="class mean effect against chemotherapy (the reference class, fixed at 0); sd 1 "
        "covers hazard ratios from 0.14 to 7 at 95%",
    )
    regimen_sd: Prior = Prior(
        sigma=0.3,
        reason="half-normal scale of regimen effects around their class mean; regimens of one "
        "class rarely differ by more than a hazard ratio of 0.55-1.8",
    )
    trial_sd: Prior = Prior(
        sigma=0.3,
        reason="half-normal scale of trial (population, era, region) effects shared by the arms "
        "of a trial; cancels in within-trial contrasts",
    )
    population_modifier: Prior = Prior(
        mu=0.0, sigma=0.5,
        reason="PD-L1 CPS band for anti-PD-1 regimens and HER2-low for HER2-directed regimens, "
        "relative to the whole HER2-positive population; sd 0.5 (HR 0.37-2.7 at 95%)",
    )
    ae_all_cause: Prior = Prior(
        mu=0.5, sigma=0.5,
        reason="all-cause grade >= 3 AE rates exceed treatment-related ones; logit shift around "
        "0.5",
    )
    weibull_shape: Prior = Prior(
        mu=float(np.log(1.2)), sigma=0.15,
        reason="assumption: log-normal shape prior centred on 1.2 (hazards rising slowly after "
        "treatment start, as in advanced gastric cancer survival curves); informative because "
        "medians and HRs identify the shape only through median ratios",
    )


class ModelConfig(BaseModel):
    """What the model is: likelihood, priors and the observation rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    likelihood: Likelihood = "exponential"
    priors: PriorConfig = PriorConfig()
    median_event_fraction: float = Field(
        0.6, gt=0, le=1,
        description="rule for a median with neither CI nor events: SE = 1/(ln 2 sqrt(fraction n))",
    )

    def sha256(self) -> str:
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


class SamplerConfig(BaseModel):
    """How the model is sampled (not part of the model's identity)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    chains: int = Field(4, ge=1)
    draws: int = Field(1000, ge=10)
    tune: int = Field(1000, ge=10)
    target_accept: float = Field(0.95, gt=0.5, lt=1)
    cores: int | None = None
    sampler: Literal["nutpie", "pymc"] = "nutpie"
