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


def start_shared_ray():
    """The session's local Ray (2 CPUs), started by the first test that asks and then kept:
    ``ray_session`` uses an initialised Ray as it is, so a run does not start and stop its own
    (about 5 s each). Ray shuts it down when the test process exits."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    return ray


def stop_shared_ray() -> None:
    """For a test comparing worker counts: with Ray initialised, ``workers`` would be ignored,
    so its runs must start Rays of their own (the next ``shared_ray`` user starts it again)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture()
def shared_ray():
    """See ``start_shared_ray``."""
    return start_shared_ray()


def draw_task_pids() -> list[int]:
    """Ray workers executing a draw task now (Ray sets a busy worker's process title to
    ``ray::_draw_task``, an idle one's to ``ray::IDLE``), found through /proc."""
    from pathlib import Path

    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::_draw_task"):
            pids.append(int(proc.name))
    return pids


def await_exit(pids: list[int], timeout_s: float = 60.0) -> None:
    """Block until every process in ``pids`` has exited: a pidfd becomes readable when its
    process ends (Linux >= 5.3), so this waits for the exits, not for a time; the timeout is
    only a safety net."""
    import os
    import select

    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:  # already gone
            continue
        try:
            if not select.select([fd], [], [], timeout_s)[0]:
                raise AssertionError(f"process {pid} still running after {timeout_s} s")
        finally:
            os.close(fd)
