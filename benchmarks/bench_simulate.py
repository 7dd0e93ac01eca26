"""Patient simulation throughput and cohort-study wall time. Prints tables; run
``python benchmarks/bench_simulate.py [--draws 1000] [--patients 10000]``.

1. The engine alone (one thread): patient trajectories per second (a trajectory is one patient
   through all lines), including the random numbers, for the optimal and the guideline policy,
   against numpy's own exponential sampler on the same number of draws as a same-process
   reference of what one vectorised numpy call costs.
2. A cohort study through Ray on 1 and 2 workers (trajectories per second per worker).
3. The full study (default 1000 draws x 10,000 patients) of fixed policies, and with the policy
   re-optimised per draw (``optimal`` brings ``optimal-mean``), wall time and peak memory of the
   driver and of each worker (from ``run_stats.json``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sequencer.model.build import build_model, cohort_roots
from sequencer.model.load import load_sources
from sequencer.simulate.engine import simulate
from sequencer.simulate.runner import run_study
from sequencer.simulate.study import StudySpec
from sequencer.simulate.tables import policy_tables
from sequencer.solve.backward import solve_backward
from sequencer.solve.objective import Objective
from sequencer.solve.strategies import load_named, strategy_choice


def engine(sources) -> None:
    inputs = sources.inputs()
    model = build_model(inputs, cohort_roots(inputs))
    policies = {"optimal": solve_backward(model, Objective("qaly").weights()).choice,
                "guideline": strategy_choice(model, load_named("guideline", inputs.catalogue))}
    n = 1_000_000
    print(f"engine alone, one thread, {n:,} patients (best of 3)")
    print(f"{'policy':<10} {'seconds':>8} {'trajectories/s':>15} {'lines/patient':>14} "
          f"{'numpy exponential(5n) s':>24} {'ratio':>6}")
    for name, choice in policies.items():
        tables = policy_tables(model, choice)
        simulate(tables, 10, 0)  # compile
        best = min(_timed(lambda t=tables: simulate(t, n, 1)) for _ in range(3))
        lines = simulate(tables, 100_000, 2).column("lines").mean()
        rng = np.random.default_rng(0)
        ref = min(_timed(lambda g=rng: g.exponential(size=5 * n)) for _ in range(3))
        print(f"{name:<10} {best:>8.3f} {n / best:>15,.0f} {lines:>14.2f} {ref:>24.3f} "
              f"{best / ref:>6.1f}")


def study(sources, strategies, draws, patients, workers, label) -> dict:
    spec = StudySpec(tuple(strategies), draws, patients, seed=1, chunk=min(patients, 10_000),
                     histories=1000)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    try:
        start = time.perf_counter()
        run_study(spec, tmp / "run", workers=workers, sources=sources, progress=False)
        wall = time.perf_counter() - start
        stats = json.loads((tmp / "run" / "run_stats.json").read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    trajectories = draws * patients * len(spec.all_strategies)
    workers_mb = stats["worker_peak_rss_mb"].values()
    print(f"{label:<34} {workers:>7} {len(spec.all_strategies):>10} {trajectories:>13,} "
          f"{wall:>8.1f} {trajectories / wall / workers:>16,.0f} "
          f"{stats['driver_peak_rss_mb']:>10.0f} {max(workers_mb):>10.0f}")
    return stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    sources = load_sources()
    engine(sources)
    print()
    print("cohort studies through Ray (wall time includes starting Ray, model builds per draw, "
          "policy tables and writing the shards)")
    print(f"{'study':<34} {'workers':>7} {'strategies':>10} {'trajectories':>13} {'wall s':>8} "
          f"{'traj/s/worker':>16} {'driver MB':>10} {'worker MB':>10}")
    fixed = ["guideline", "toga-era", "adc-first"]
    for workers in (1, 2):
        study(sources, fixed, 100, 10_000, workers, "fixed policies, 100 x 10,000")
    study(sources, fixed, args.draws, args.patients, 2,
          f"fixed policies, {args.draws} x {args.patients:,}")
    study(sources, ["optimal", "guideline"], args.draws, args.patients, 2,
          f"re-optimised per draw, {args.draws} x {args.patients:,}")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
