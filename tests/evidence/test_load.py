"""Evidence loading: the committed base validates, and malformed files are rejected with
messages that name the file, the record and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sequencer.errors import EvidenceError
from sequencer.evidence.load import load_evidence

ISSUE_TRIALS = [  # trials issue 2 requires in the evidence base
    "ToGA", "HERXO", "KEYNOTE-811", "JACOB", "PANTHERA", "LOGiC", "T-ACT", "GATSBY", "TyTAN",
    "DESTINY-Gastric01", "DESTINY-Gastric02", "DESTINY-Gastric04", "DESTINY-Gastric06",
    "RC48-C008", "RC48-toripalimab", "CP-MGAH22-05", "MAHOGANY", "Zanidatamab-chemo-ph2",
    "KN026-monotherapy", "Afatinib-NCT01522768", "SWOG-S0413",
]


def test_committed_evidence_has_every_required_trial(evidence):
    ids = {t.trial for t in evidence.trials}
    assert set(ISSUE_TRIALS) <= ids
    kn811 = evidence.trial("keynote-811")
    assert {a.population.cps for a in kn811.arms} == {"all", ">=1"}
    assert any(a.regimen == "ramucirumab_paclitaxel"
               for a in evidence.trial("DESTINY-Gastric04").arms)


def test_catalogue_informed_by_matches_evidence(evidence):
    for regimen in evidence.catalogue.regimens.values():
        used = {t.trial for t in evidence.trials for a in t.arms if a.regimen == regimen.id}
        assert set(regimen.informed_by) == used, regimen.id


def _edit(priors: Path, name: str, change) -> Path:
    path = priors / "evidence" / name
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _error(priors: Path) -> str:
    with pytest.raises(EvidenceError) as info:
        load_evidence(priors)
    return str(info.value)


def test_ci_not_containing_median(priors_copy):
    path = _edit(priors_copy, "toga.yaml",
                 lambda d: d["arms"][0]["os"].update(lower=14.0, upper=16.0))
    message = _error(priors_copy)
    assert str(path) in message and "ToGA" in message
    assert "arm 'trastuzumab_chemo'" in message and "field 'os'" in message
    assert "does not contain the estimate 13.8" in message


def test_proportion_above_one(priors_copy):
    path = _edit(priors_copy, "destiny-gastric04.yaml",
                 lambda d: d["arms"][0]["orr"].update(proportion=44.3))
    message = _error(priors_copy)
    assert str(path) in message and "field 'orr.proportion'" in message and "44.3" in message


def test_non_positive_n(priors_copy):
    _edit(priors_copy, "jacob.yaml", lambda d: d["arms"][1].update(n=0))
    message = _error(priors_copy)
    assert "jacob.yaml" in message and "arm 'placebo'" in message and "field 'n'" in message


def test_unknown_regimen_lists_allowed_ids(priors_copy):
    _edit(priors_copy, "gatsby.yaml", lambda d: d["arms"][0].update(regimen="t_dm1"))
    message = _error(priors_copy)
    assert "gatsby.yaml" in message and "field 'regimen'" in message and "'t_dm1'" in message
    assert "trastuzumab_emtansine" in message  # the allowed values are listed


def test_contrast_naming_a_missing_arm(priors_copy):
    _edit(priors_copy, "toga.yaml", lambda d: d["contrasts"][0].update(reference="nobody"))
    message = _error(priors_copy)
    assert "toga.yaml" in message and "contrasts[0].reference" in message and "'nobody'" in message


def test_hazard_ratio_ci_and_units(priors_copy):
    _edit(priors_copy, "logic.yaml", lambda d: d["contrasts"][0].update(hr=0.5))
    message = _error(priors_copy)
    assert "logic.yaml" in message and re.search(r"contrast #1 \((os|pfs):", message)
    assert "does not contain the estimate 0.5" in message


def test_median_in_days_is_rejected(priors_copy):
    # 420 "months" is a median written in days: the unit check (<= 240 months) catches it.
    _edit(priors_copy, "herxo.yaml",
          lambda d: d["arms"][0]["os"].update(median=420, lower=None, upper=None))
    message = _error(priors_copy)
    assert "herxo.yaml" in message and "field 'os.median'" in message


def test_unknown_field_is_rejected(priors_copy):
    _edit(priors_copy, "toga.yaml", lambda d: d["arms"][0].update(median_os=13.8))
    message = _error(priors_copy)
    assert "field 'median_os'" in message and "Extra inputs are not permitted" in message


def test_duplicate_trial_and_catalogue_mismatch(priors_copy):
    text = (priors_copy / "evidence" / "toga.yaml").read_text()
    (priors_copy / "evidence" / "toga-copy.yaml").write_text(text)
    assert "also defined in" in _error(priors_copy)
    (priors_copy / "evidence" / "toga-copy.yaml").unlink()
    cat = priors_copy / "regimens.yaml"
    cat.write_text(cat.read_text().replace("informed_by: [LOGiC, ToGA]", "informed_by: [ToGA]"))
    message = _error(priors_copy)
    assert "regimens.yaml" in message and "regimen 'fp_platinum'" in message
    assert "informed_by" in message


def test_invalid_yaml(priors_copy):
    (priors_copy / "evidence" / "broken.yaml").write_text("trial: [unclosed\n")
    message = _error(priors_copy)
    assert "broken.yaml" in message and "not valid YAML" in message


def test_evidence_hash_changes_with_any_file(priors_copy, evidence):
    assert load_evidence(priors_copy).sha256 == evidence.sha256
    _edit(priors_copy, "toga.yaml", lambda d: d["notes"].append("a reviewer's note"))
    assert load_evidence(priors_copy).sha256 != evidence.sha256
