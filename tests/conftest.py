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
    """A copy of priors/ (catalogue and evidence only) that a test may break."""
    target = tmp_path / "priors"
    (target / "evidence").mkdir(parents=True)
    shutil.copy(DEFAULT_PRIORS_DIR / "regimens.yaml", target / "regimens.yaml")
    for path in (DEFAULT_PRIORS_DIR / "evidence").glob("*.yaml"):
        shutil.copy(path, target / "evidence" / path.name)
    return target


@pytest.fixture(scope="session")
def committed_posterior(evidence):
    from sequencer.bayes.config import ModelConfig
    from sequencer.bayes.fit import load_posterior

    return load_posterior(DEFAULT_PRIORS_DIR / "posterior.nc", evidence, ModelConfig())


@pytest.fixture(scope="module")
def shared_ray():
    """One local Ray (2 CPUs) for a module's tests: ``ray_session`` uses an initialised Ray as
    it is, so a run does not start and stop its own (about 5 s each). Not for tests comparing
    worker counts: with Ray initialised, ``workers`` is ignored."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
