"""``StudySummary``: the typed hand-off of a cohort study survives JSON whole, and a
``summary.json`` of another schema version, or with a field missing or of the wrong shape, is
refused with a message naming the file, the field and the command that writes it again.

The summary is built by ``summarise`` from a small synthetic draw table (no simulation): the
tests are about the shape of the hand-off, not its numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from sequencer.reports.cohort import write_outputs
from sequencer.simulate.engine import OUTCOMES
from sequencer.simulate.shards import GRID_STEP, MAX_LINES, N_BINS
from sequencer.simulate.study import StudySpec
from sequencer.simulate.summary import DrawTable, summarise
from sequencer.simulate.summary_schema import (
    SUMMARY_SCHEMA_VERSION,
    StudySummary,
    SummaryFileError,
    read_study_summary,
)

NAMES = ("guideline", "toga-era")
PROVENANCE = {"sequencer_version": "0.1.0", "posterior": "priors/posterior.nc",
              "evidence_sha256": "e" * 64, "model_config_sha256": "m" * 64,
              "parameters": "priors/parameters.yaml", "parameters_sha256": "p" * 64}
REGIMENS = ["fp_platinum", "ramucirumab_paclitaxel", "trastuzumab_deruxtecan"]


def _draw_table(draws: int, patients: int = 200) -> DrawTable:
    rng = np.random.default_rng(12)
    shape = (len(NAMES), draws)
    edges = np.append(np.arange(N_BINS) * GRID_STEP, np.inf)

    def hist(median):
        times = rng.exponential(median / np.log(2), shape + (patients,))
        return np.apply_along_axis(lambda t: np.histogram(t, edges)[0], -1, times)

    reach = np.stack([np.full(shape, patients)] + [rng.integers(0, patients, shape)
                                                   for _ in range(MAX_LINES - 1)], -1)
    reach[..., -1] = 0  # nobody reaches line 4: its mean time on line is undefined (None)
    return DrawTable(NAMES, np.full(shape, float(patients)),
                     rng.uniform(0.5, 2.0, shape + (len(OUTCOMES),)),
                     hist(14.0), hist(6.0), reach.astype(float),
                     reach * rng.uniform(2.0, 8.0, reach.shape),
                     rng.integers(0, 50, (len(NAMES), MAX_LINES, len(REGIMENS))).astype(float))


@pytest.fixture(scope="module")
def summary() -> StudySummary:
    spec = StudySpec(NAMES, draws=6, patients=200, seed=1)
    return summarise(_draw_table(6), spec, PROVENANCE, REGIMENS)


def test_a_summary_round_trips_through_json(summary):
    again = StudySummary.model_validate_json(summary.model_dump_json())
    assert again == summary
    assert again.spec == summary.spec and isinstance(again.spec, StudySpec)
    assert summary.schema_version == SUMMARY_SCHEMA_VERSION
    # the reference row's ICER is undefined (NaN in the analysis): None, and null in JSON
    reference = [r for r in summary.incremental if r.ref_label == "reference"]
    assert len(reference) == 1 and reference[0].ref_icer is None
    assert summary.strategies["guideline"].months_on_line[4] is None
    assert json.loads(summary.model_dump_json())["strategies"]["guideline"]["reach_line"]["2"]


def test_summary_json_is_the_model_and_reads_back(summary, tmp_path):
    write_outputs(tmp_path, summary)
    assert read_study_summary(tmp_path / "summary.json") == summary
    assert {"strategies.csv", "incremental.csv", "ceac.csv"} <= {
        p.name for p in tmp_path.iterdir()}


def _refused(tmp_path, data) -> str:
    path = tmp_path / "summary.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(SummaryFileError) as info:
        read_study_summary(path)
    message = str(info.value)
    assert str(path) in message
    assert f"sequencer cohort ... --out {tmp_path}" in message  # how to write it again
    return message


def test_another_schema_version_is_refused(summary, tmp_path):
    data = json.loads(summary.model_dump_json())
    message = _refused(tmp_path, {**data, "schema_version": 99})
    assert "field 'schema_version' is 99, expected 1" in message
    del data["schema_version"]  # a summary.json written before summaries had a version
    message = _refused(tmp_path, data)
    assert "field 'schema_version' is missing" in message


def test_a_missing_or_malformed_field_is_named(summary, tmp_path):
    data = json.loads(summary.model_dump_json())
    del data["strategies"]["toga-era"]["qaly_disc"]
    assert "field 'strategies.toga-era.qaly_disc' is missing" in _refused(tmp_path, data)
    data = json.loads(summary.model_dump_json())
    data["ceaf"]["probability"][0] = "high"
    assert "field 'ceaf.probability.0'" in _refused(tmp_path, data)
    data = json.loads(summary.model_dump_json())
    data["incremental"] = data["incremental"][:1]
    assert "field 'incremental' does not match the strategies" in _refused(tmp_path, data)
    assert "not valid JSON" in _refused(tmp_path, "{not json")
    assert "not found" in str(pytest.raises(SummaryFileError, read_study_summary,
                                            tmp_path / "none" / "summary.json").value)


def test_an_undefined_number_where_one_is_required_is_refused_when_built(summary):
    data = summary.model_dump()
    data["survival"]["months"][3] = math.nan
    with pytest.raises(ValidationError, match="survival.months.3"):
        StudySummary.model_validate(data)
