"""POST /v1/recommendations. References: the solver (``explain_state`` on the same state, at the
means), the consensus HER2 rule (as published in the ASCO/CAP gastric guideline), the catalogue
and the request itself for validation."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from sequencer.model.line import median_months
from sequencer.model.states import State
from sequencer.solve.explain import explain_state
from sequencer.solve.objective import Objective
from sequencer.solve.recommend import linear_quantiles
from sequencer.vocabulary import her2_status

CPS10 = {"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 1, "ecog": 1}


def test_request_schema_lists_the_vocabulary_files_terms(client):
    """The OpenAPI enums of the request are the ids in priors/vocabulary.yaml, read here with
    PyYAML (the file the model loads), not from the code under test."""
    import yaml

    from sequencer.evidence.load import DEFAULT_PRIORS_DIR

    terms = yaml.safe_load((DEFAULT_PRIORS_DIR / "vocabulary.yaml").read_text())
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["Alteration"]["properties"]["name"]["enum"] == list(terms["mechanisms"])
    contra = schemas["RecommendationRequest"]["properties"]["contraindications"]
    assert contra["items"]["enum"] == list(terms["contraindications"])


@pytest.mark.parametrize(("ihc", "ish", "status"), [
    ("3+", None, "positive"), ("2+", "positive", "positive"), ("2+", "negative", "low"),
    ("1+", None, "low"), ("0", None, "negative"), ("3+", "negative", "positive"),
])
def test_her2_consensus_rule(ihc, ish, status):
    assert her2_status(ihc, ish) == status


def test_median_of_an_exponential_mixture():
    """Closed form for one component (ln 2 / rate); for two, the survival at the bisected
    median is one half (substituted back) and the median lies between the components'."""
    from sequencer.model.line import Component

    assert median_months([Component(1.0, 0.1, ())]) == pytest.approx(10 * 0.6931471805599453)
    two = median_months([Component(0.5, 0.1, ()), Component(0.5, 0.2, ())])
    assert 0.5 * np.exp(-0.1 * two) + 0.5 * np.exp(-0.2 * two) == pytest.approx(0.5, abs=1e-12)
    assert 0.6931471805599453 / 0.2 < two < 0.6931471805599453 / 0.1


@pytest.mark.parametrize("n", [4, 7, 20])
def test_interval_quantiles_match_numpy(n):
    """``linear_quantiles`` against ``np.quantile`` (its default, linear method)."""
    values = np.random.default_rng(n).lognormal(size=(5, 4, n))
    lower, upper = linear_quantiles(values, (0.025, 0.975))
    expected = np.quantile(values, [0.025, 0.975], axis=2)
    np.testing.assert_allclose(lower, expected[0], rtol=1e-13)
    np.testing.assert_allclose(upper, expected[1], rtol=1e-13)


def test_cps10_first_line_recommendation_matches_the_solver(client, sources):
    body = client.post("/v1/recommendations", json=CPS10).json()
    assert body["recommended"] == "pembrolizumab_trastuzumab_chemo"
    assert body["her2_status"] == "positive"
    inputs = sources.inputs(discount_rate=0.0, max_lines=4)
    rows = [r for r in explain_state(inputs, State(line=1, cps=">=10"), Objective("qaly"))
            if r.eligible]
    by_regimen = {a["regimen"]: a for a in body["alternatives"]}
    assert set(by_regimen) == {r.regimen for r in rows}
    for r in rows:
        a = by_regimen[r.regimen]
        assert a["qalys"]["estimate"] == pytest.approx(r.parts["qaly"], rel=1e-12)
        assert a["life_years"]["lower"] <= a["life_years"]["upper"]
        assert 0 <= a["probability_grade3_ae"]["lower"] <= a["probability_grade3_ae"]["upper"] <= 1
    plan = body["plan"]
    assert plan["regimen"] == "pembrolizumab_trastuzumab_chemo"
    assert plan["then"][0]["regimen"] == "trastuzumab_deruxtecan"  # the guideline's second line
    trials = {t["trial"] for t in body["evidence"]}
    assert {"KEYNOTE-811", "ToGA"} <= trials
    assert body["model"]["evidence_sha256"] == sources.provenance()["evidence_sha256"]
    assert any("not a prescription" in c for c in body["caveats"])


def test_investigational_options_are_opt_in(client):
    state = {**CPS10, "current_line": 2, "prior_regimens": ["pembrolizumab_trastuzumab_chemo"],
             "known_alterations": [{"name": "erbb2_mut", "source": "ctdna"}]}
    default = client.post("/v1/recommendations", json=state).json()
    assert "erbb2_directed_tki" not in {a["regimen"] for a in default["alternatives"]}
    opted = client.post("/v1/recommendations",
                        json={**state, "options": {"include_investigational": True}}).json()
    assert "erbb2_directed_tki" in {a["regimen"] for a in opted["alternatives"]}


@pytest.mark.parametrize(("change", "field"), [
    ({"pdl1_cps": -1}, "pdl1_cps"),
    ({"her2_ihc": "4+"}, "her2_ihc"),
    ({"her2_ihc": "2+"}, "her2_ish"),
    ({"prior_regimens": ["nonsense"]}, "prior_regimens"),
    ({"current_line": 2, "prior_regimens": ["trastuzumab_deruxtecan"]}, "prior_regimens"),
    ({"current_line": 7}, "current_line"),
    ({"contraindications": ["gout"]}, "contraindications"),
    ({"ecog": 5}, "ecog"),
    ({"objective": {"kind": "money"}}, "objective"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_input_is_a_422_naming_the_field(client, change, field):
    r = client.post("/v1/recommendations", json={**CPS10, **change})
    assert r.status_code == 422
    assert any(field in json.dumps(e["loc"]) or field in e["msg"] for e in r.json()["detail"])


def test_no_request_value_reaches_the_log(client, caplog):
    logger = logging.getLogger("sequencer.api")
    handler_records = []

    class Keep(logging.Handler):
        def emit(self, record):
            handler_records.append(self.format(record) + json.dumps(
                getattr(record, "fields", {})))

    keep = Keep()
    logger.addHandler(keep)
    try:
        body = {**CPS10, "pdl1_cps": 37.4817, "current_line": 2, "ecog": 2,
                "prior_regimens": ["pembrolizumab_trastuzumab_chemo"],
                "known_alterations": [{"name": "fgfr2_amp", "source": "ctdna"}],
                "contraindications": ["neuropathy"]}
        assert client.post("/v1/recommendations", json=body).status_code == 200
        assert client.post("/v1/recommendations", json={**body, "pdl1_cps": -3}).status_code == 422
    finally:
        logger.removeHandler(keep)
    text = "\n".join(handler_records)
    assert "/recommendations" in text  # the request was logged ...
    for value in ("37.4817", "fgfr2", "neuropathy", "pembrolizumab", "-3"):  # ... without its data
        assert value not in text
