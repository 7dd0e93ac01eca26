"""What the model decides for one patient beyond the solve: performance status, caveats, the
budgets of a query and the joined policy table. References: the published ECOG scale (trials
enrolled ECOG 0-1, some 2), policies/budgets.yaml read here with PyYAML, and csv reading of
each policy's own table."""

from __future__ import annotations

import csv
import io

import pytest
import yaml

from sequencer.model.states import State
from sequencer.solve.objective import Budget
from sequencer.solve.recommendation import Answer, Estimate, PlanStep, for_patient
from sequencer.solve.strategies import DEFAULT_POLICIES, resolve_budget


def _answer(**changes) -> Answer:
    estimate = Estimate(1.0, 0.5, 1.5, 20)
    from sequencer.solve.recommendation import Alternative

    alternative = Alternative("trastuzumab_fp_platinum", "T + chemo", True, "guideline", 1.0,
                              estimate, estimate, estimate, estimate, "ToGA")
    values = {"state": State(line=1, cps="<1"), "recommended": "trastuzumab_fp_platinum",
              "alternatives": (alternative,), "plan": PlanStep(1, "L1", "trastuzumab_fp_platinum"),
              "trials": (), "interval_draws": 20, "model_states": 95, **changes}
    return Answer(**values)


@pytest.mark.parametrize(("ecog", "recommended", "words"), [
    (0, "trastuzumab_fp_platinum", None), (1, "trastuzumab_fp_platinum", None),
    (2, "trastuzumab_fp_platinum", "ECOG 2"), (3, "best_supportive_care", "ECOG performance"),
    (4, "best_supportive_care", "ECOG performance"),
])
def test_performance_status_rules(ecog, recommended, words):
    rec = for_patient(_answer(), ecog=ecog, include_investigational=False, discount_rate=0.0,
                      total_draws=20, provenance={})
    assert rec.recommended == recommended
    ecog_caveats = [c for c in rec.caveats if "ECOG" in c]
    assert (words is None and not ecog_caveats) or any(words in c for c in ecog_caveats)
    assert any("investigational options are opt-in" in c for c in rec.caveats)
    assert "not a prescription" in rec.caveats[0]


def test_caveats_say_when_intervals_use_fewer_draws_and_budgets_bind():
    rec = for_patient(_answer(interval_draws=4, model_states=70_000, budget_status="optimal"),
                      ecog=1, include_investigational=True, discount_rate=0.035,
                      total_draws=20, provenance={"sequencer_version": "x"})
    assert any("use 4 of 20 posterior draws" in c and "70,000" in c for c in rec.caveats)
    assert any(c.startswith("Budget: optimal") for c in rec.caveats)
    assert not any("opt-in" in c for c in rec.caveats)
    assert rec.units["qalys"] == "QALYs (discounted)"


def test_an_explicit_budget_of_zero_is_not_replaced_by_the_preset():
    presets = yaml.safe_load((DEFAULT_POLICIES / "budgets.yaml").read_text())["presets"]
    frail = presets["frail"]
    assert resolve_budget(0.0, None, "frail") == Budget(0.0, float(frail["cost"]))
    assert resolve_budget(None, 0.0, "frail") == Budget(float(frail["toxicity"]), 0.0)
    assert resolve_budget(None, None, "frail") == Budget(frail["toxicity"], frail["cost"])
    assert resolve_budget(0.5, None) == Budget(0.5, None)


def test_joined_policy_table_has_one_header_and_every_policy(standard_model):
    from sequencer.solve.backward import solve_backward
    from sequencer.solve.objective import Objective
    from sequencer.solve.policy import Policy, policies_csv

    qaly, ly = Objective("qaly"), Objective("ly")
    policies = [Policy.from_sweep(standard_model, goal, solve_backward(standard_model,
                                                                       goal.weights()), name)
                for goal, name in ((qaly, "qaly"), (ly, "ly"))]
    joined = list(csv.DictReader(io.StringIO(policies_csv(policies))))
    each = [row for p in policies for row in csv.DictReader(io.StringIO(p.to_csv()))]
    assert joined == each and {r["strategy"] for r in joined} == {"qaly", "ly"}


def test_ecog_groups_are_the_statuses_answered_alike():
    """Statuses in one group get the same recommendation and caveats (the service keys its
    serialised answers by group)."""
    from sequencer.solve.recommendation import ecog_group

    def seen(ecog):
        rec = for_patient(_answer(), ecog=ecog, include_investigational=False, discount_rate=0.0,
                          total_draws=20, provenance={})
        return rec.recommended, rec.caveats

    groups = {}
    for ecog in range(5):
        groups.setdefault(ecog_group(ecog), set()).add(seen(ecog))
    assert len(groups) == 3 and all(len(answers) == 1 for answers in groups.values())


def test_alternatives_and_trials_as_data_equal_dataclasses_asdict():
    """The service's quick conversion against the standard library's (the reference)."""
    from dataclasses import asdict

    from sequencer.solve.recommendation import TrialRef

    alternative = _answer().alternatives[0]
    assert alternative.as_dict() == asdict(alternative)
    trial = TrialRef("ToGA", "3", 1, "Bang YJ et al. Lancet 2010.", None, ("a", "b"))
    assert trial.as_dict() == {**asdict(trial), "regimens": ["a", "b"]}
