"""The Ray runner: results independent of the number of workers, and a resumed run equal to an
uninterrupted one (reference: the same study run in one go)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from sequencer.simulate.runner import RunDirectoryError, run_study
from sequencer.simulate.shards import shard_path
from sequencer.simulate.study import StudyError, StudySpec
from sequencer.simulate.summary import read_draws
from tests.conftest import draw_task_pids, stop_shared_ray

SPEC = StudySpec(("optimal", "guideline"), draws=3, patients=1200, seed=5, chunk=400,
                 histories=50)


def _table(run_dir):
    table = pq.read_table(f"{run_dir}/shards")
    return table.sort_by([("draw", "ascending"), ("chunk", "ascending"),
                          ("strategy", "ascending")])


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory, sources):
    """The study on a Ray of its own with one CPU."""
    stop_shared_ray()
    return run_study(SPEC, tmp_path_factory.mktemp("w1"), workers=1, sources=sources,
                     progress=False)


def test_same_results_on_one_and_two_workers(one_worker, tmp_path, sources):
    stop_shared_ray()
    two = run_study(SPEC, tmp_path / "w2", workers=2, sources=sources, progress=False)
    a, b = _table(one_worker), _table(two)
    assert a.num_rows == len(SPEC.shards()) * len(SPEC.all_strategies)
    assert a.equals(b)
    hist_a = pq.read_table(one_worker / "histories" / "optimal.parquet").to_pandas()
    hist_b = pq.read_table(two / "histories" / "optimal.parquet").to_pandas()
    assert hist_a.equals(hist_b)


def test_interrupted_then_resumed_run_equals_an_uninterrupted_run(one_worker, tmp_path, sources,
                                                                  shared_ray):
    run_dir = tmp_path / "resumed"
    run_study(SPEC, run_dir, workers=2, sources=sources, progress=False)
    # an interrupted run: some shards never finished (a killed worker leaves at most a hidden
    # temporary file, which the reader ignores)
    lost = SPEC.shards()[1::2]
    for draw, chunk, _ in lost:
        shard_path(run_dir, draw, chunk).unlink()
    (run_dir / "shards" / ".draw00000-chunk0001.parquet.123.tmp").write_bytes(b"partial")
    kept = shard_path(run_dir, 0, 0)
    before = os.stat(kept).st_mtime_ns
    with pytest.raises(ValueError, match="no shard yet"):
        read_draws(run_dir, SPEC)
    run_study(SPEC, run_dir, workers=2, sources=sources, progress=False)
    assert os.stat(kept).st_mtime_ns == before  # finished shards are not redone
    assert _table(one_worker).equals(_table(run_dir))
    np.testing.assert_array_equal(read_draws(run_dir, SPEC).means,
                                  read_draws(one_worker, SPEC).means)


def test_a_run_directory_of_another_study_is_refused(one_worker, sources):
    other = StudySpec(("guideline",), draws=2, patients=100, seed=5)
    with pytest.raises(RunDirectoryError, match="different study"):
        run_study(other, one_worker, sources=sources, progress=False)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("strategies", ("nonsense",), "strategies"),
    ("draws", 0, "draws"),
    ("patients", -5, "patients"),
    ("seed", -1, "seed"),
])
def test_bad_study_fields_are_named(field, value, message):
    spec = StudySpec(**{**SPEC.__dict__, field: value})
    with pytest.raises(StudyError, match=message):
        spec.validate()


PROGRESS = re.compile(rb"simulated ([\d,]+)/([\d,]+) patient trajectories")


def _await_output(stream, pattern: re.Pattern, timeout_s: float = 180.0) -> re.Match:
    """Read a child's output as it comes until ``pattern`` matches: the match is the event;
    ``select`` bounds each wait only as a safety net. Raw reads, since the progress line is
    redrawn with a carriage return and has no newline to wait for."""
    fd, seen = stream.fileno(), b""
    while (match := pattern.search(seen)) is None:
        if not select.select([fd], [], [], timeout_s)[0]:
            raise AssertionError(f"no {pattern.pattern!r} in {timeout_s} s: {seen[-500:]!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError(f"the child ended before {pattern.pattern!r}: {seen[-2000:]!r}")
        seen += chunk
    return match


@pytest.mark.slow  # two CLI processes, each importing the package and starting Ray: 30-40 s
def test_a_run_stopped_with_ctrl_c_resumes_to_the_uninterrupted_result(tmp_path, sources,
                                                                       shared_ray):
    """A real interruption: ``sequencer cohort`` in a subprocess gets SIGINT when its progress
    line first reports a finished draw (of 8, on one worker); the same command then finishes the
    study, and the shards equal those of a run that was never interrupted (reference:
    ``run_study`` in one go)."""
    spec = StudySpec(("guideline",), draws=8, patients=2000, seed=9, chunk=500, histories=0)
    args = [sys.executable, "-m", "sequencer", "cohort", "--strategies", "guideline", "--draws",
            "8", "--patients", "2000", "--seed", "9", "--chunk", "500", "--histories", "0",
            "--workers", "1", "--out", str(tmp_path / "stopped")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        done, total = _await_output(proc.stderr, PROGRESS).groups()
        assert 0 < int(done.replace(b",", b"")) < int(total.replace(b",", b""))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    written = len(list((tmp_path / "stopped" / "shards").glob("*.parquet")))
    assert 0 < written < len(spec.shards()), "the run was not stopped part-way"
    rerun = subprocess.run([*args, "--quiet"], check=False, capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    reference = run_study(spec, tmp_path / "whole", workers=1, sources=sources, progress=False)
    assert _table(tmp_path / "stopped").equals(_table(reference))


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds Ray workers through /proc")
def test_a_shard_whose_worker_dies_is_retried(tmp_path, sources, shared_ray):
    """Fault injection: a worker is killed (SIGKILL) while it runs a draw; Ray retries the task
    on a new worker and the study ends with the same shards as a run without the failure.
    The kill is driven by the runner's progress hook: when a draw's result arrives, the one
    worker is already running the next draw (it is killed then; if it has not picked it up yet,
    the next result tries again)."""
    spec = StudySpec(("guideline",), draws=6, patients=3000, seed=13, chunk=1000, histories=0)
    killed = []

    def kill_a_busy_worker(done, total):
        if killed or done == total:
            return
        for pid in draw_task_pids():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    run_study(spec, tmp_path / "faulty", workers=1, sources=sources, progress=False,
              on_progress=kill_a_busy_worker)
    assert killed, "no worker was caught running a task"
    reference = run_study(spec, tmp_path / "whole", workers=1, sources=sources, progress=False)
    assert _table(tmp_path / "faulty").equals(_table(reference))
