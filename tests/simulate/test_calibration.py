"""Calibration against the trials: the table reads reported medians from the evidence files
(reference: priors/evidence/*.yaml) and reports a miss as a miss."""

from __future__ import annotations

import dataclasses

import pytest

from sequencer.simulate.calibration import calibrate, load_calibration
from sequencer.solve.strategies import StrategyError


def test_reported_medians_come_from_the_evidence(sources):
    arms = load_calibration(sources)
    toga = {a.arm: a for a in arms if a.trial == "ToGA"}
    record = sources.evidence.trial("ToGA")
    for arm in record.arms:
        assert toga[arm.id].reported == {"os": arm.os.median, "pfs": arm.pfs.median}
        assert toga[arm.id].n == arm.n
    assert {a.trial for a in arms} == {"ToGA", "KEYNOTE-811", "DESTINY-Gastric04"}


def test_table_rows_and_a_wrong_reported_median_is_flagged(sources):
    arms = [a for a in load_calibration(sources) if a.trial == "ToGA"]
    wrong = dataclasses.replace(arms[0], reported={"os": 40.0})  # far outside any model median
    rows = calibrate(sources, draws=3, seed=1, arms=[arms[0], wrong])
    assert [r["endpoint"] for r in rows] == ["os", "pfs", "os"]
    for r in rows:
        assert r["trial_sized_lower"] <= r["model_median"] <= r["trial_sized_upper"]
        assert r["difference"] == pytest.approx(r["model_median"] - r["reported_median"])
    assert rows[2]["reported_in_interval"] is False


def test_a_bad_arm_is_named(sources, tmp_path):
    path = tmp_path / "calibration.yaml"
    path.write_text("trials:\n  - evidence: toga\n    arms:\n      - arm: nonsense\n"
                    "        steps: [{line: 1, options: [{regimen: fp_platinum}]}]\n")
    with pytest.raises(StrategyError, match=r"trials\[0\].arms\[0\]: arm: 'nonsense'"):
        load_calibration(sources, path)
