"""One draw's shards: simulate each strategy on each patient chunk and write the aggregates.

A shard file (parquet, one row per strategy) holds what the study summary needs, so results
stream to disk and the driver never holds patients in memory: patient count; sums and sums of
squares of the per-patient outcomes; histograms of overall and progression-free survival on a
fine grid (simulated patients are followed to death, so the Kaplan-Meier curve is the empirical
survival function and its histogram is exact to the grid); how many patients reach each line;
the time spent on each line; and the flow of patients across regimens by line. Files are written
to a temporary name and renamed, so a shard is either complete or absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sequencer.io import write_atomic
from sequencer.model.build import DecisionModel, build_model
from sequencer.model.load import ModelSources
from sequencer.simulate.cohort_csv import read_cohort
from sequencer.simulate.engine import LINE_FIELDS, OUTCOMES, SimulationResult, simulate
from sequencer.simulate.study import (
    StudyPlan,
    StudySpec,
    draw_inputs,
    strategy_choices,
    study_roots,
)
from sequencer.simulate.tables import PairTable, PolicyTables, policy_tables
from sequencer.vocabulary import MAX_LINE

GRID_STEP = 0.25  # months per histogram bin
GRID_MAX = 240.0  # months; later times fall in the last (open) bin
N_BINS = int(GRID_MAX / GRID_STEP) + 1
MAX_LINES = MAX_LINE  # lines counted per patient (the vocabulary's lines)

# one strategy's aggregates on one chunk: counts, sums, and per-bin / per-line lists
ShardRow = dict[str, int | float | list[int] | list[float]]


def shard_path(run_dir: Path, draw: int, chunk: int) -> Path:
    return Path(run_dir) / "shards" / f"draw{draw:05d}-chunk{chunk:04d}.parquet"


def shard_seed(spec: StudySpec, draw: int, chunk: int) -> np.random.SeedSequence:
    """The random stream of one shard: keyed by the shard, never by the worker."""
    return np.random.SeedSequence(spec.seed, spawn_key=(draw, chunk))


def run_draw(sources: ModelSources, spec: StudySpec, draw: int, chunks: list[tuple[int, int]],
             plan: StudyPlan, run_dir: Path) -> int:
    """Simulate the pending ``chunks`` [(chunk, patients)] of ``draw``; returns patients done."""
    inputs = draw_inputs(sources, spec, draw)
    model = build_model(inputs, study_roots(spec, inputs))
    given = read_cohort(spec.cohort, inputs.vocabulary) if spec.cohort else None
    shared: dict[int, PairTable] = {}
    tables = {name: policy_tables(model, choice, name, shared)
              for name, choice in strategy_choices(model, spec, plan).items()}
    done = 0
    for chunk, n in chunks:
        rows = []
        keep = draw == 0 and chunk == 0 and spec.histories > 0
        for name, table in tables.items():
            start = None
            if given is not None:  # the chunk's rows of the cohort file, in order
                first = chunk * spec.chunk
                start = np.array([model.index(s) for s in given[first:first + n]])
            result = simulate(table, n, np.random.default_rng(shard_seed(spec, draw, chunk)),
                              keep_lines=True, start=start)
            rows.append(aggregate(result, table, len(model.regimens)) | {
                "draw": draw, "chunk": chunk, "strategy": name})
            if keep:
                write_histories(run_dir, name, result, model, min(n, spec.histories))
        _write_atomic(pa.Table.from_pylist(rows), shard_path(run_dir, draw, chunk))
        done += n
    return done


def aggregate(result: SimulationResult, tables: PolicyTables, n_regimens: int) -> ShardRow:
    """Sums, histograms and line counts of one strategy on one chunk (see the module doc)."""
    out = result.outcomes
    lines = _kept_lines(result)
    edges = np.append(np.arange(N_BINS) * GRID_STEP, np.inf)
    row: ShardRow = {"n": int(out.shape[0])}
    for k, name in enumerate(OUTCOMES):
        row[f"sum_{name}"] = float(out[:, k].sum())
        row[f"sumsq_{name}"] = float((out[:, k] ** 2).sum())
    row["os_hist"] = np.histogram(result.column("os"), edges)[0].tolist()
    row["pfs_hist"] = np.histogram(result.column("pfs"), edges)[0].tolist()
    state = lines[:, :, LINE_FIELDS.index("state")]
    active = state >= 0
    line_no = np.where(active, tables.line[np.where(active, state, 0).astype(np.int64)], 0)
    active &= ~tables.supportive[np.where(active, state, 0).astype(np.int64)]
    length = lines[:, :, LINE_FIELDS.index("end")] - lines[:, :, LINE_FIELDS.index("start")]
    row["reach"] = [int((active & (line_no == k)).any(axis=1).sum())
                    for k in range(1, MAX_LINES + 1)]
    row["line_months"] = [float(np.where(active & (line_no == k), length, 0.0).sum())
                          for k in range(1, MAX_LINES + 1)]
    regimen = lines[:, :, LINE_FIELDS.index("regimen")]
    flow = np.zeros((MAX_LINES, n_regimens), dtype=np.int64)
    np.add.at(flow, (line_no[active] - 1, regimen[active].astype(np.int64)), 1)
    row["flow"] = flow.ravel().tolist()
    return row


def write_histories(run_dir: Path, strategy: str, result: SimulationResult,
                    model: DecisionModel, n: int) -> None:
    """Line-by-line histories of the first ``n`` patients: regimen ids, the state at the line's
    start (its label shows the alterations known, so what each line acquired), times, how the
    line ended, grade >= 3 AE, QALYs and costs (discounted and not)."""
    lines = _kept_lines(result)[:n]
    patient, step = np.nonzero(~np.isnan(lines[:, :, 0]))
    rows = lines[patient, step]
    state = rows[:, LINE_FIELDS.index("state")].astype(np.int64)
    event_names = ("death", "progression", "toxicity", "supportive care")
    # alterations found when the line ended: known in the next state, not in this one
    known = [model.states[s].known if s >= 0 else frozenset() for s in state]
    acquired = []
    for k, (p, st) in enumerate(zip(patient, step)):
        nxt = k + 1 < len(rows) and patient[k + 1] == p and step[k + 1] == st + 1
        acquired.append(",".join(sorted(known[k + 1] - known[k])) if nxt else "")
    table = pa.table({
        "strategy": [strategy] * len(rows),
        "patient": patient,
        "step": step,
        "line": [int(model.states[s].line) if s >= 0 else None for s in state],
        "state": [model.states[s].label() if s >= 0 else "supportive care" for s in state],
        "regimen": [model.regimens[int(r)] for r in rows[:, LINE_FIELDS.index("regimen")]],
        "start_months": rows[:, LINE_FIELDS.index("start")],
        "end_months": rows[:, LINE_FIELDS.index("end")],
        "ending": [event_names[int(e)] for e in rows[:, LINE_FIELDS.index("event")]],
        "alterations_found": acquired,
        "grade3_ae": rows[:, LINE_FIELDS.index("ae")].astype(np.int8),
        "qaly": rows[:, LINE_FIELDS.index("qaly")],
        "qaly_discounted": rows[:, LINE_FIELDS.index("qaly_disc")],
        "cost_gbp": rows[:, LINE_FIELDS.index("cost")],
        "cost_discounted": rows[:, LINE_FIELDS.index("cost_disc")],
    })
    _write_atomic(table, Path(run_dir) / "histories" / f"{strategy}.parquet")


def _kept_lines(result: SimulationResult) -> np.ndarray:
    if result.lines is None:
        raise ValueError(f"result.lines: policy {result.policy!r} was simulated without "
                         "keep_lines=True; the shard aggregates need each patient's lines")
    return result.lines


def _write_atomic(table: pa.Table, path: Path) -> None:
    write_atomic(path, lambda tmp: pq.write_table(table, str(tmp)))
