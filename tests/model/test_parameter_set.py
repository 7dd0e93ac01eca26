"""ParameterSet: the hand-off arrays, their provenance and the not-informed rule."""

from __future__ import annotations

import numpy as np
import pytest

from sequencer.errors import NotInformedError
from sequencer.evidence.catalogue import Borrowing
from sequencer.evidence.load import EvidenceBase
from sequencer.model.parameter_set import PosteriorParameters


@pytest.fixture(scope="module")
def params(committed_posterior, evidence):
    return PosteriorParameters.from_posterior(committed_posterior, evidence)


def test_hazard_is_the_exponentiated_linear_predictor(params, committed_posterior):
    """Reference: the posterior arrays read directly from the InferenceData,
    h = exp(mu + regimen_effect) for line 1 in the whole population (trial effect 0)."""
    post = committed_posterior.posterior
    mu = post["mu"].sel(outcome="os").values.ravel()
    reg = post["regimen_effect"].sel(regimen="trastuzumab_fp_platinum", outcome="os").values.ravel()
    i = params.regimens.index("trastuzumab_fp_platinum")
    np.testing.assert_allclose(params.os_hazard[:, i, 0, 0], np.exp(mu + reg), rtol=1e-12)
    mean = params.draw("mean")
    assert mean.value("os_hazard", "trastuzumab_fp_platinum", 1) == pytest.approx(
        np.exp(mu + reg).mean())
    one = params.draw(17)
    assert one.value("os_hazard", "trastuzumab_fp_platinum", 1) == pytest.approx(
        np.exp(mu + reg)[17])


def test_all_informed_values_are_valid(params):
    for name in ("pfs_hazard", "os_hazard"):
        values = getattr(params, name)
        assert np.all(values[~np.isnan(values)] > 0)
    for name in ("orr", "grade3_ae"):
        values = getattr(params, name)
        finite = values[~np.isnan(values)]
        assert np.all((finite >= 0) & (finite <= 1))


def test_uninformed_cells_raise_and_say_why(params):
    mean = params.draw("mean")
    with pytest.raises(NotInformedError, match="no borrowing rule"):
        mean.value("os_hazard", "trastuzumab_emtansine", 3)  # GATSBY is line 2 only
    # ramucirumab + paclitaxel at line 3 is allowed only by the catalogue's explicit rule
    assert mean.value("os_hazard", "ramucirumab_paclitaxel", 3) > 0
    assert "same_regimen_adjacent_line from line 2" in mean.borrowed[("ramucirumab_paclitaxel", 3)]
    with pytest.raises(NotInformedError, match="pfs_hazard of regimen 'lapatinib'"):
        mean.value("pfs_hazard", "lapatinib", 1)  # SWOG S0413 reported OS, not PFS
    with pytest.raises(NotInformedError, match="no evidence in the fitted network"):
        mean.value("os_hazard", "best_supportive_care", 2)
    with pytest.raises(ValueError, match="line must be one of"):
        mean.value("os_hazard", "trastuzumab_deruxtecan", 5)
    with pytest.raises(ValueError, match="quantity must be one of"):
        mean.value("median", "trastuzumab_deruxtecan", 2)
    assert np.isnan(params.os_hazard[:, params.regimens.index("trastuzumab_emtansine"), 2]).all()


def test_borrowing_rule_opens_a_line(committed_posterior, evidence):
    rule = Borrowing(to_line=3, from_line=2, rule="same_regimen_adjacent_line",
                     reason="test: later-line use of a second-line regimen")
    regimens = dict(evidence.catalogue.regimens)
    regimens["trastuzumab_emtansine"] = regimens["trastuzumab_emtansine"].model_copy(
        update={"borrowing": [rule]})
    catalogue = evidence.catalogue.model_copy(update={"regimens": regimens})
    borrowed = EvidenceBase(evidence.trials, catalogue, evidence.files, evidence.sha256)
    params = PosteriorParameters.from_posterior(committed_posterior, borrowed)
    mean = params.draw("mean")
    line3 = mean.value("os_hazard", "trastuzumab_emtansine", 3)
    line2 = mean.value("os_hazard", "trastuzumab_emtansine", 2)
    assert line3 > 0 and line3 != line2  # the line-3 shift applies
    assert "same_regimen_adjacent_line from line 2" in params.borrowed[("trastuzumab_emtansine", 3)]


def test_provenance_names_model_and_trials(params):
    assert len(params.provenance["evidence_sha256"]) == 64
    assert params.provenance["likelihood"] == "exponential"
    assert "DESTINY-Gastric04" in params.draw("mean").trials_for("trastuzumab_deruxtecan")
    # three evidence lines (first, second, third or later) by four outcomes (DESIGN.md 2)
    assert params.informed.shape == (len(params.regimens), 3, 4)
