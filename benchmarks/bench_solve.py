"""Solve time versus model size: backward induction, GLOP, PDLP, the budgeted MILP and the
Lagrangian search, against pymdptoolbox's finite-horizon solver on the same problems (one run,
one process). Prints a table; run ``python benchmarks/bench_solve.py``."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sequencer.model.build import build_model, cohort_roots
from sequencer.model.load import load_sources
from sequencer.model.states import InformationStrategy, State
from sequencer.solve.backward import sweep
from sequencer.solve.lp import solve_lp
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.result import SolveStatus
from sequencer.solve.solver import solve
from tests.solve.conftest import random_layered_model
from tests.solve.test_solvers import _to_pymdptoolbox

QALY = Objective("qaly")


REPEAT = 30  # best of REPEAT runs for backward induction and pymdptoolbox alike


def best_of(fn, repeat=REPEAT):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def pymdptoolbox_time(model, reward):
    """pymdptoolbox's ``run`` time (best of REPEAT) per layout: dense (A, S, S) arrays up to
    2,500 states, and a list of sparse matrices; returns ({layout: seconds}, best solver).

    Its input check is skipped for the sparse layout: ``util.isStochastic`` subtracts a vector
    from a sparse row-sum matrix, which broadcasts to a dense n x n array (53 GiB at 84k
    states). Its values are compared with ours instead.
    """
    import mdptoolbox.mdp
    from mdptoolbox.mdp import FiniteHorizon

    times, best_fh = {}, None
    for sparse in ((False, True) if model.n_states <= 2500 else (True,)):
        P, R, gamma = _to_pymdptoolbox(model, reward, sparse=sparse)
        check = mdptoolbox.mdp._util.check
        if sparse:
            mdptoolbox.mdp._util.check = lambda *args: None
        try:
            layout = "sparse" if sparse else "dense"
            times[layout] = np.inf
            for _ in range(REPEAT):
                fh = FiniteHorizon(P, R, gamma, N=int(model.line.max()))
                start = time.perf_counter()
                fh.run()
                elapsed = time.perf_counter() - start
                if elapsed < min(times.values()):
                    best_fh = fh
                times[layout] = min(times[layout], elapsed)
        finally:
            mdptoolbox.mdp._util.check = check
    return times, best_fh


def main() -> None:
    sources = load_sources()
    cases = {
        "one patient (CPS 1-9)": (sources.inputs(), {State(line=1, cps="1-9"): 1.0}),
        "cohort, standard": (sources.inputs(), None),
        "cohort, opt-in": (sources.inputs(include_investigational=True), None),
        "cohort, all tests": (sources.inputs(info=InformationStrategy(True, True, True)), None),
        "cohort, all tests, opt-in": (
            sources.inputs(info=InformationStrategy(True, True, True),
                           include_investigational=True),
            None),
    }
    print(f"{'model':<27} {'states':>7} {'pairs':>7} {'entries':>8} {'build s':>8} {'BI ms':>7} "
          f"{'entries/s':>9} {'explicit/s':>10} {'GLOP s':>7} {'PDLP s':>7} {'budget s':>8} "
          f"{'MILP':>6} {'pymdp s':>8} {'pymdp/BI':>8} {'dense/BI':>9} "
          f"{'model+solution MB':>17}")
    for name, (inputs, roots) in cases.items():
        model = build_model(inputs, roots or cohort_roots(inputs))
        reward = model.objective_reward(QALY.weights())
        bi_s, bi = best_of(lambda m=model, r=reward: sweep(m, r, parts=False))
        rate = (model.n_entries + model.n_pairs) / bi_s
        explicit = model.n_entries / bi_s
        glop = solve_lp(model, reward, solver="glop").wall_time
        pdlp = solve_lp(model, reward, solver="pdlp").wall_time if model.n_pairs < 20000 else np.nan
        tox = float(model.initial @ sweep(model, reward).parts[:, 3])
        start = time.perf_counter()
        budgeted = solve(model, QALY, Budget(toxicity=0.85 * tox), time_limit=10)
        budget_s = time.perf_counter() - start
        milp = "opt" if budgeted.status is SolveStatus.OPTIMAL else "lagr"
        solution_mb = (model.nbytes() + 3 * model.n_states * 8 + model.n_pairs * 8
                       + model.n_states * 32) / 2**20
        times, fh = pymdptoolbox_time(model, reward)
        assert np.allclose(fh.V[:-1, 0], bi.value, rtol=1e-9)
        pm_s = min(times.values())
        ratio = f"{pm_s / bi_s:8.0f} {times.get('dense', np.nan) / bi_s:9.0f}"
        pm = f"{pm_s:8.3f}"
        mb = solution_mb
        print(f"{name:<27} {model.n_states:>7} {model.n_pairs:>7} {model.n_entries:>8} "
              f"{model.build_seconds:>8.2f} {bi_s * 1e3:>7.2f} {rate:>9.2e} {explicit:>10.2e} "
              f"{glop:>7.2f} {pdlp:>7.2f} {budget_s:>8.2f} {milp:>6} {pm} {ratio} {mb:>17.1f}")
    print()
    print("random sparse acyclic MDPs (5 layers, 5 actions, 10 successors)")
    print(f"{'states':>7} {'entries':>9} {'BI ms':>8} {'entries/s':>10} {'GLOP s':>7} "
          f"{'pymdp s':>8} {'pymdp/BI':>8}")
    for width in (20, 100, 400):
        model = random_layered_model(np.random.default_rng(width), 5, width, 5, 10, 0.0)
        reward = model.objective_reward([1.0, 0, 0, 0])
        bi_s, bi = best_of(lambda m=model, r=reward: sweep(m, r, parts=False))
        glop = solve_lp(model, reward).wall_time
        times, fh = pymdptoolbox_time(model, reward)
        pm_s = min(times.values())
        assert np.allclose(fh.V[:-1, 0], bi.value, rtol=1e-9)
        print(f"{model.n_states:>7} {model.n_entries:>9} {bi_s * 1e3:>8.2f} "
              f"{(model.n_entries + model.n_pairs) / bi_s:>10.2e} {glop:>7.2f} {pm_s:>8.3f} "
              f"{pm_s / bi_s:>8.0f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
