"""Shared fixtures: the real evidence base, a writable copy of priors/, the committed posterior."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from sequencer.evidence.load import DEFAULT_PRIORS_DIR, load_evidence

warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(scope="session")
def evidence():
    return load_evidence(DEFAULT_PRIORS_DIR)


@pytest.fixture()
def priors_copy(tmp_path: Path) -> Path:
    """A copy of priors/ (vocabulary, catalogue and evidence only) that a test may break."""
    target = tmp_path / "priors"
    (target / "evidence").mkdir(parents=True)
    for name in ("regimens.yaml", "vocabulary.yaml"):
        shutil.copy(DEFAULT_PRIORS_DIR / name, target / name)
    for path in (DEFAULT_PRIORS_DIR / "evidence").glob("*.yaml"):
        shutil.copy(path, target / "evidence" / path.name)
    return target


@pytest.fixture(scope="session")
def committed_posterior(evidence):
    from sequencer.bayes.config import ModelConfig
    from sequencer.bayes.fit import load_posterior

    return load_posterior(DEFAULT_PRIORS_DIR / "posterior.nc", evidence, ModelConfig())


@pytest.fixture()
def weibull_as_exponential(priors_copy: Path) -> Path:
    """A priors folder whose posterior.nc is the committed Weibull posterior (copied over it),
    with the parameter file: every exponential path must refuse it."""
    shutil.copy(DEFAULT_PRIORS_DIR / "parameters.yaml", priors_copy / "parameters.yaml")
    shutil.copy(DEFAULT_PRIORS_DIR / "posterior-weibull.nc", priors_copy / "posterior.nc")
    return priors_copy
