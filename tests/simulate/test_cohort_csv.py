"""A user's cohort from CSV: parsing, errors by row and column, and a study on it."""

from __future__ import annotations

import numpy as np
import pytest

from sequencer.model.build import build_model
from sequencer.model.states import State
from sequencer.simulate.cohort_csv import CohortFileError, read_cohort
from sequencer.simulate.runner import run_study
from sequencer.simulate.study import StudyError, StudySpec, draw_inputs, study_roots
from sequencer.simulate.summary import read_draws
from sequencer.solve.backward import sweep
from sequencer.solve.strategies import load_named, strategy_choice


def _write(tmp_path, text, name="patients.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rows_become_first_line_states(tmp_path):
    path = _write(tmp_path, "patient_id,PDL1_CPS,msi_high,known_alterations\n"
                            "a,0.5,no,\nb,5,MSI-H,met_amp\nc,12,false,pi3k;erbb2_mut\n")
    assert read_cohort(path) == [
        State(line=1, cps="<1"),
        State(line=1, cps="1-9", msi_high=True, known=frozenset({"met_amp"})),
        State(line=1, cps=">=10", known=frozenset({"pi3k", "erbb2_mut"})),
    ]
    bands = _write(tmp_path, "cps_band\n>=10\n<1\n", "bands.csv")
    assert [s.cps for s in read_cohort(bands)] == [">=10", "<1"]


def test_every_bad_cell_is_named_by_row_and_column(tmp_path):
    path = _write(tmp_path, "pdl1_cps,msi_high,known_alterations,her2_status\n"
                            "-1,no,,positive\n3,maybe,kras,positive\n4,no,,low\n")
    with pytest.raises(CohortFileError) as err:
        read_cohort(path)
    message = str(err.value)
    for expected in ("row 2, column pdl1_cps", "row 3, column msi_high",
                     "row 3, column known_alterations", "row 4, column her2_status"):
        assert expected in message
    with pytest.raises(CohortFileError, match="pdl1_cps"):
        read_cohort(_write(tmp_path, "age\n60\n", "nocps.csv"))


def test_a_study_on_a_given_cohort_matches_the_solver(tmp_path, sources, shared_ray):
    """Reference: the fixed-strategy sweep on draw 0's model gives the expected discounted QALYs
    of a CPS >= 10 patient; the study's 4,000 identical patients must match within 4 SE."""
    path = _write(tmp_path, "pdl1_cps\n" + "15\n" * 4000)
    spec = StudySpec(("guideline",), draws=1, patients=1, seed=3, chunk=1500,
                     histories=0).with_cohort(str(path)).validate()
    assert spec.patients == 4000
    run_dir = run_study(spec, tmp_path / "run", workers=1, sources=sources, progress=False)
    draws = read_draws(run_dir, spec)
    inputs = draw_inputs(sources, spec, 0)
    model = build_model(inputs, study_roots(spec, inputs))
    choice = strategy_choice(model, load_named("guideline", inputs.catalogue))
    parts = sweep(model, model.objective_reward([0, 1, 0, 0]), fixed=choice).parts
    expected = parts[model.index(State(line=1, cps=">=10")), 1]
    from sequencer.simulate.engine import OUTCOMES

    mean = draws.means[0, 0, OUTCOMES.index("qaly_disc")]
    # SE from the simulated patients' spread (shard sums of squares)
    import pyarrow.parquet as pq

    table = pq.read_table(run_dir / "shards").to_pydict()
    sumsq = sum(table["sumsq_qaly_disc"])
    sd = np.sqrt(sumsq / 4000 - mean**2)
    assert abs(mean - expected) <= 4 * sd / np.sqrt(4000)
    path.write_text("pdl1_cps\n" + "15\n" * 4000 + "3\n")
    with pytest.raises(StudyError, match="patients"):
        spec.validate()
