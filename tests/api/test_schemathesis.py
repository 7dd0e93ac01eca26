"""Property-based tests of the API against its own OpenAPI document (schemathesis), and
regression cases for what they found. Every call carries a valid API key (negative cases may
replace it); the checks are: no 5xx, the status code and content type are documented, and the
body conforms to the documented schema.

``/v1/recommendations`` solves a model per new patient state, once at the means and once per
posterior draw. The app under test gets a recommender with 2 draws instead of 20 (same code,
shorter run) and the property test leaves out investigational regimens combined with ctDNA
surveillance or re-biopsy: that model has ~56,000 states and one request takes 1.5-2.5 min with
20 draws, far beyond a test budget (a known performance limit, not a conformance question)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sequencer.api.app import create_app
from sequencer.api.settings import Settings
from sequencer.solve.recommend import Recommender
from tests.api.conftest import KEY

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
HEADERS = {"X-API-Key": KEY}
SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
CPS10 = {"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 1, "ecog": 1}
# Examples per operation and mode; the recommendation route solves a model per new state.
EXAMPLES = {"POST /v1/recommendations": {"positive": 60, "negative": 30}}
DEFAULT_EXAMPLES = {"positive": 10, "negative": 5}
# A longer hunt (e.g. nightly): SEQUENCER_SCHEMATHESIS_SCALE=20 multiplies every count.
SCALE = float(os.environ.get("SEQUENCER_SCHEMATHESIS_SCALE", "1"))


# Another module's routes: their POSTs start Ray jobs, so they get their own tests.
SKIPPED_TAGS = {"jobs"}


def _examples(n: int) -> int:
    return max(1, round(n * SCALE))


def _operations() -> list[str]:
    """``METHOD /path`` of every documented operation; ``openapi()`` needs no loaded model."""
    paths = create_app(Settings(api_keys=[KEY])).openapi()["paths"]
    return [f"{m.upper()} {p}" for p, methods in paths.items() for m, op in methods.items()
            if not SKIPPED_TAGS & set(op.get("tags", []))]


@pytest.fixture(scope="session")
def api_schema(settings, sources):
    app = create_app(settings, sources=sources)
    app.state.recommender = Recommender(sources, draws=2)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _tractable(case) -> bool:
    options = case.body.get("options") if isinstance(case.body, dict) else None
    if not isinstance(options, dict) or options.get("include_investigational") is not True:
        return True
    return not (options.get("ctdna_surveillance") is True
                or options.get("rebiopsy_at_progression") is True)


@pytest.mark.schemathesis
@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("label", _operations())
def test_operation_conforms_to_the_schema(api_schema, label, mode):
    """Driven through hypothesis: ``schemathesis.pytest.from_fixture`` (4.32.5) sets
    ``Item._nodeid``, which pytest 9.2 no longer has."""
    method, path = label.split(" ")
    operation = api_schema[path][method]
    if mode == "negative" and not (operation.path_parameters or operation.query
                                   or operation.headers or operation.body):
        pytest.skip("nothing to make invalid")
    strategy = operation.as_strategy(generation_mode=GenerationMode(mode)).filter(_tractable)

    @given(case=strategy)
    @settings(max_examples=_examples(EXAMPLES.get(label, DEFAULT_EXAMPLES)[mode]), deadline=None,
              suppress_health_check=SLOW_OK, database=None)
    def check(case):
        case.call_and_validate(headers=HEADERS, checks=CHECKS, timeout=60)

    check()


def _patients(sources) -> st.SearchStrategy[dict]:
    """Valid requests (real regimen ids, a consistent history), so that the solver runs:
    schemathesis' own bodies mostly stop at the catalogue check (422)."""
    regimens = {r: min(e.lines) for r, e in sources.evidence.catalogue.regimens.items()
                if e.lines}
    terms = sources.evidence.catalogue.vocabulary.as_json()  # the values requests may use
    mechanisms = [t["id"] for t in terms["mechanisms"]]
    contraindications = [t["id"] for t in terms["contraindications"]]

    @st.composite
    def patient(draw) -> dict:
        line = draw(st.integers(1, 4))
        history = sorted(r for r, first in regimens.items() if first < line)
        ihc = draw(st.sampled_from([t["id"] for t in terms["her2_ihc"]]))
        investigational = draw(st.booleans())
        ctdna, rebiopsy = draw(st.booleans()), draw(st.booleans())
        if investigational:  # see the module docstring
            ctdna = rebiopsy = False
        return {
            "her2_ihc": ihc,
            "her2_ish": draw(st.sampled_from(["positive", "negative"]
                                             + ([None] if ihc != "2+" else []))),
            "pdl1_cps": draw(st.one_of(st.sampled_from([0, 1, 9.999, 10, 100]),
                                       st.floats(0, 100))),
            "msi_high": draw(st.booleans()),
            "known_alterations": draw(st.lists(st.fixed_dictionaries({
                "name": st.sampled_from(mechanisms),
                "source": st.sampled_from([t["id"] for t in terms["alteration_sources"]])}),
                max_size=2)),
            "current_line": line,
            "prior_regimens": draw(st.lists(st.sampled_from(history), unique=True,
                                            max_size=line - 1)) if history else [],
            "contraindications": draw(st.lists(st.sampled_from(contraindications), unique=True)),
            "ecog": draw(st.integers(0, 4)),
            "objective": {"kind": draw(st.sampled_from([o["id"] for o in terms["objectives"]])),
                          "willingness_to_pay": draw(st.floats(0, 1e7))},
            "budget": draw(st.sampled_from([{}, {"toxicity": 0.5}, {"toxicity": 2.0},
                                            {"cost": 20_000.0}, {"cost": 1e8}])),
            "options": {"include_investigational": investigational,
                        "baseline_ngs": draw(st.booleans()), "ctdna_surveillance": ctdna,
                        "rebiopsy_at_progression": rebiopsy,
                        "discount_rate": draw(st.sampled_from([0.0, 0.035]))},
        }

    return patient()


@pytest.mark.schemathesis
def test_valid_patients_get_a_conforming_answer(api_schema, sources):
    operation = api_schema["/v1/recommendations"]["POST"]

    @given(body=_patients(sources))
    @settings(max_examples=_examples(60), deadline=None, suppress_health_check=SLOW_OK,
              database=None)
    def check(body):
        response = operation.Case(body=body, media_type="application/json").call_and_validate(
            headers=HEADERS, checks=CHECKS, timeout=60)
        assert response.status_code in (200, 422), response.text
        if response.status_code == 422:  # only an infeasible budget is refused
            assert body["budget"] and "infeasible" in response.text, response.text

    check()


def test_openapi_documents_the_error_responses(client):
    """Every /v1 route needs a key and says so, except the vocabulary the page's form is built
    from before a key is typed (its terms hold no patient data)."""
    paths = client.get("/openapi.json").json()["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            if path.startswith("/v1/") and path != "/v1/vocabulary":
                assert "401" in codes, (method, path)
    assert client.get("/v1/vocabulary", headers={"X-API-Key": ""}).status_code == 200
    assert {"404", "422"} <= set(paths["/v1/evidence/{trial}"]["get"]["responses"])
    post = paths["/v1/recommendations"]["post"]["responses"]
    assert {"200", "401", "413", "422"} <= set(post)
    assert post["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RecommendationOut"}


def test_recommendation_response_keeps_its_shape(client):
    """The response model must not add keys: plan steps carry ``probability`` except at the
    root, and the per-line probabilities except at the last step shown."""
    body = client.post("/v1/recommendations", json=CPS10).json()
    assert set(body) == {"patient_state", "her2_status", "recommended", "alternatives", "plan",
                         "evidence", "model", "caveats", "units"}
    plan = body["plan"]
    assert "probability" not in plan and "probability_death_on_line" in plan
    leaf = plan["then"][0]
    while leaf["then"]:
        leaf = leaf["then"][0]
    assert "probability" in leaf and "probability_death_on_line" not in leaf


def _post_raw(client, text: str):
    return client.post("/v1/recommendations", content=text.encode(),
                       headers={"Content-Type": "application/json"})


# Regression cases for what schemathesis found (each was a 500 before).

@pytest.mark.parametrize("text", [
    '{"her2_ihc": "3+", "pdl1_cps": NaN, "current_line": 1, "ecog": 1}',
    '{"her2_ihc": "3+", "pdl1_cps": Infinity, "current_line": 1, "ecog": 1}',
    '{"her2_ihc": "3+", "pdl1_cps": 1e999, "current_line": 1, "ecog": 1}',
    ('{"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 1, "ecog": 1,'
     ' "objective": {"willingness_to_pay": -Infinity}}'),
    ('{"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 1, "ecog": 1,'
     ' "budget": {"toxicity": NaN}}'),
], ids=["nan", "infinity", "overflow", "minus-infinity-wtp", "nan-budget"])
def test_non_finite_numbers_are_a_422(client, text):
    """The 422 echoes each bad input; NaN and Infinity cannot be written as strict JSON."""
    r = _post_raw(client, text)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][1] in ("pdl1_cps", "objective", "budget")


@pytest.mark.parametrize("text", [
    '{"her2_ihc": "\\ud800", "pdl1_cps": 15, "current_line": 1, "ecog": 1}',
    '{"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 1, "ecog": 1, "x\\udfff": 1}',
    ('{"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 2, "ecog": 1,'
     ' "prior_regimens": ["\\ud83d", "\\u0000\\u202e\\ufeff"]}'),
], ids=["literal-field", "extra-key", "prior-regimens"])
def test_lone_surrogates_are_a_422(client, text):
    """A lone surrogate is valid JSON but cannot be encoded as UTF-8 when echoed back."""
    r = _post_raw(client, text)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] == "body"


def test_an_infeasible_budget_is_a_422_naming_the_budget(client):
    r = client.post("/v1/recommendations", json={**CPS10, "budget": {"cost": 1.0}})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "budget"] and "infeasible" in error["msg"]


def test_a_non_ascii_api_key_is_a_401(client):
    anonymous = TestClient(client.app)
    r = anonymous.get("/v1/model", headers={"X-API-Key": "\xe9t\xe9".encode("latin-1")})
    assert r.status_code == 401


def test_a_body_that_is_not_utf8_is_a_documented_4xx(client):
    r = client.post("/v1/recommendations", content=b"\xed\xa0\x80\xff",
                    headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422)


def test_two_budgets_are_solved_or_refused_with_a_422(client):
    """Two budgets need the exact search; the route once asked the solver to skip it (500).
    The second request was refused (422) while the MILP answered it: its 1e-5 relative margin
    inside each budget left no policy, yet one meets both (cost 59,999.97 <= 60,000, checked
    by its own evaluation). Budgets each feasible are always jointly feasible here (best
    supportive care has the least cost and toxicity at once), so the 422 left is the single
    infeasible budget, named."""
    both = client.post("/v1/recommendations",
                       json={**CPS10, "budget": {"cost": 1e8, "toxicity": 10}})
    assert both.status_code == 200, both.text
    assert both.json()["recommended"] == "pembrolizumab_trastuzumab_chemo"  # budgets not binding
    tight = client.post("/v1/recommendations", json={
        **CPS10, "pdl1_cps": 0, "budget": {"cost": 60_000, "toxicity": 1.5},
        "options": {"ctdna_surveillance": True}})
    assert tight.status_code == 200, tight.text
    assert "Budget: optimal;" in " ".join(tight.json()["caveats"])
    too_cheap = client.post("/v1/recommendations", json={
        **CPS10, "budget": {"cost": 1_000, "toxicity": 1.5}})
    assert too_cheap.status_code == 422, too_cheap.text
    error = too_cheap.json()["detail"][0]
    assert error["loc"] == ["body", "budget"]
    assert "budget cost <= 1000 is infeasible" in error["msg"]


def test_the_model_inputs_cache_is_bounded(sources, monkeypatch):
    """``discount_rate`` is any float in [0, 0.2]: one cache entry per value grew without end."""
    from sequencer.api.request_schemas import RecommendationRequest
    from sequencer.api.routes.recommendations import to_query
    from sequencer.solve import recommend

    monkeypatch.setattr(recommend, "OPTION_SETS", 2)
    rec = Recommender(sources, draws=2)
    for rate in (0.01, 0.02, 0.03, 0.04):
        body = RecommendationRequest(**CPS10, options={"discount_rate": rate})
        rec.recommend(to_query(body, sources.evidence.catalogue))
    assert len(rec._option_sets) == 2  # two option sets, each the means and two draws
