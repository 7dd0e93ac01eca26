"""One vocabulary: adding a resistance mechanism is an entry in priors/vocabulary.yaml plus its
data in priors/parameters.yaml, and every surface picks it up: the model, the request schema and
the service, the CLI, the clinician page's vocabulary, the cohort file.

The expected numbers are closed forms of the values written into the temporary priors here
(fixed distributions), not values read from the code under test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sequencer.evidence.load import DEFAULT_PRIORS_DIR

NEW = "kras_amp"
PREVALENCE, ACQUIRED, MODIFIER = 0.10, 0.20, 1.5
NEW_PARAMETERS = {
    "baseline_alteration": {"dist": "fixed", "value": PREVALENCE},
    "acquisition": {"dist": "fixed", "value": ACQUIRED},
    "mechanism_modifier": {"dist": "fixed", "value": MODIFIER},
}


def _priors_with_mechanism(target: Path, *, parameters: tuple[str, ...] = tuple(NEW_PARAMETERS)
                           ) -> Path:
    shutil.copytree(DEFAULT_PRIORS_DIR, target, ignore=shutil.ignore_patterns("checks"))
    vocabulary = yaml.safe_load((target / "vocabulary.yaml").read_text())
    vocabulary["mechanisms"][NEW] = {"label": "KRAS amplification"}
    (target / "vocabulary.yaml").write_text(yaml.safe_dump(vocabulary, sort_keys=False))
    text = (target / "parameters.yaml").read_text()
    raw = yaml.safe_load(text)
    for group in parameters:
        raw[group][NEW] = {**NEW_PARAMETERS[group], "domain": "probability"
                           if group != "mechanism_modifier" else "positive",
                           "source": "assumption: a test mechanism"}
    (target / "parameters.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Path:
    return _priors_with_mechanism(tmp_path_factory.mktemp("vocab") / "priors")


@pytest.fixture(scope="module")
def extended_sources(extended):
    from sequencer.model.load import load_sources

    return load_sources(extended)


def test_vocabulary_file_lists_the_new_mechanism(extended):
    from sequencer.vocabulary import vocabulary_for

    terms = vocabulary_for(extended)
    assert terms.mechanism_ids[-1] == NEW
    assert NEW not in vocabulary_for(DEFAULT_PRIORS_DIR).mechanism_ids


def test_model_reads_the_new_mechanism(extended_sources):
    """Without testing, the chance that an untested alteration is present after the first
    progression on anti-HER2 therapy is 1 - (1 - p)(1 - a) = 1 - 0.9 x 0.8 = 0.28; a known
    alteration multiplies the HER2-directed hazard by M / (1 - p + p M) = 1.5 / 1.05."""
    from sequencer.model.line import hidden_belief
    from sequencer.model.states import State

    inputs = extended_sources.inputs()
    after = State(line=2, received=frozenset({"trastuzumab_fp_platinum"}),
                  progressed_on_her2=True)
    assert hidden_belief(inputs, after)[NEW] == pytest.approx(0.28, rel=1e-12)
    assert inputs.mechanism_factor(NEW, True) == pytest.approx(1.5 / 1.05, rel=1e-12)
    known = State(line=1, known=frozenset({NEW}))
    plain = State(line=1)
    ratio = (inputs.base_rates("trastuzumab_fp_platinum", known)[0]
             / inputs.base_rates("trastuzumab_fp_platinum", plain)[0])
    assert ratio == pytest.approx(1.0)  # base rates carry no modifier; the line mixes it in
    from sequencer.model.build import build_model, cohort_roots
    from sequencer.model.states import InformationStrategy

    ngs = extended_sources.inputs(info=InformationStrategy(baseline_ngs=True))
    roots = cohort_roots(ngs)
    assert any(NEW in s.known for s in roots)  # baseline NGS finds it
    model = build_model(ngs, roots)
    assert any(NEW in s.known for s in model.states)


def test_missing_data_for_the_mechanism_is_a_load_error(tmp_path):
    from sequencer.model.load import load_sources
    from sequencer.model.parameters import ParameterError

    priors = _priors_with_mechanism(tmp_path / "priors",
                                    parameters=("baseline_alteration", "acquisition"))
    with pytest.raises(ParameterError) as error:
        load_sources(priors)
    assert str(priors / "parameters.yaml") in str(error.value)
    assert f"mechanism_modifier.{NEW}" in str(error.value)


def test_misspelt_parameter_is_a_load_error_naming_file_and_key(tmp_path):
    from sequencer.model.parameters import ParameterError, load_parameters

    shutil.copytree(DEFAULT_PRIORS_DIR, tmp_path / "priors", ignore=shutil.ignore_patterns(
        "checks", "*.nc"))
    path = tmp_path / "priors" / "parameters.yaml"
    path.write_text(path.read_text().replace("  death_fraction:", "  death_fractoin:"))
    with pytest.raises(ParameterError) as error:
        load_parameters(path)
    message = str(error.value)
    assert str(path) in message and "line_end.death_fraction" in message  # missing
    assert "line_end.death_fractoin" in message  # and unknown


def test_service_schema_and_answers_pick_it_up(extended_sources, tmp_path):
    from fastapi.testclient import TestClient

    from sequencer.api.app import create_app
    from sequencer.api.settings import Settings

    settings = Settings(environment="development", api_keys=["k-0123456789"],
                        database_url=f"sqlite:///{tmp_path / 'jobs.sqlite3'}",
                        jobs_dir=tmp_path / "runs", job_workers=1, precompute=False)
    with TestClient(create_app(settings, sources=extended_sources)) as client:
        client.headers["X-API-Key"] = "k-0123456789"
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        assert NEW in schemas["Alteration"]["properties"]["name"]["enum"]
        terms = client.get("/v1/vocabulary", headers={"X-API-Key": ""}).json()
        assert {"id": NEW, "label": "KRAS amplification"} in terms["mechanisms"]
        body = {"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 2, "ecog": 1,
                "prior_regimens": ["trastuzumab_fp_platinum"],
                "known_alterations": [{"name": NEW, "source": "ctdna"}]}
        answer = client.post("/v1/recommendations", json=body)
        assert answer.status_code == 200, answer.text
        assert NEW in answer.json()["patient_state"]
        bad = client.post("/v1/recommendations", json={
            **body, "known_alterations": [{"name": "kras_amp2"}]})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"][:2] == ["body", "known_alterations"]


def test_cli_picks_it_up_from_the_priors_dir(extended):
    from typer.testing import CliRunner

    from sequencer.cli import app

    runner = CliRunner()
    args = ["explain", "--line", "2", "--received", "trastuzumab_fp_platinum", "--known", NEW]
    result = runner.invoke(app, [*args, "--priors-dir", str(extended)])
    assert result.exit_code == 0, result.output
    assert f"[{NEW}]" in result.output
    refused = runner.invoke(app, args)  # the packaged priors do not know it
    assert refused.exit_code == 2 and f"known: ['{NEW}'] not among" in refused.output


def test_cohort_file_picks_it_up(extended_sources, tmp_path):
    from sequencer.simulate.cohort_csv import CohortFileError, read_cohort
    from sequencer.simulate.study import StudySpec

    path = tmp_path / "cohort.csv"
    path.write_text(f"pdl1_cps,known_alterations\n5,{NEW}\n")
    states = read_cohort(path, extended_sources.evidence.catalogue.vocabulary)
    assert states[0].known == frozenset({NEW})
    with pytest.raises(CohortFileError, match="known_alterations"):
        read_cohort(path)
    spec = StudySpec(("guideline",), draws=1, patients=1, seed=1)
    extended = extended_sources.evidence.catalogue.vocabulary
    assert spec.with_cohort(str(path), extended).validate(extended).patients == 1
    with pytest.raises(CohortFileError, match="known_alterations"):
        spec.with_cohort(str(path))  # the packaged priors do not know the mechanism
