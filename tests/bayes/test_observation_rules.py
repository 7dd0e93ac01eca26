"""Observation rules of sequencer.bayes.data against independent references."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from sequencer.bayes.data import build_model_data, contrast_se, median_se
from sequencer.evidence.schema import Arm, Contrast

RATE = np.log(2) / 8.0  # exponential with an 8-month median


def _simulate_arm(rng, n=250, rate=RATE, accrual=24.0, cut=48.0):
    entry = rng.uniform(0, accrual, n)
    t = rng.exponential(1 / rate, n)
    follow = cut - entry
    observed = np.minimum(t, follow)
    event = t <= follow
    kmf = KaplanMeierFitter().fit(observed, event)
    ci = median_survival_times(kmf.confidence_interval_).to_numpy().ravel()
    return float(kmf.median_survival_time_), float(ci[0]), float(ci[1]), int(event.sum())


def test_median_se_rules_match_simulated_exponential_samples():
    """The SD of ln(KM median) over simulated trials is the quantity the log-median likelihood's
    SE stands for. References: the empirical SD over 400 simulated trials (lifelines'
    Kaplan-Meier median and its 95% CI on exponential samples with uniform accrual and
    administrative censoring), and the closed-form asymptotic SD of a log sample median under
    exponential survival, 1/(ln 2 sqrt(n)) (no censoring before the median here).
    Tolerance 15%: 400 replicates give the SD to about +/-3.5%, and the rules are asymptotic."""
    rng = np.random.default_rng(11)
    sims = [_simulate_arm(rng) for _ in range(400)]
    log_medians = np.log([s[0] for s in sims])
    empirical_sd = log_medians.std(ddof=1)
    ci_rule, events_rule = [], []
    for median, lower, upper, events in sims:
        arm_ci = Arm(id="a", regimen="r", n=250,
                     os={"median": median, "lower": lower, "upper": upper})
        arm_ev = Arm(id="a", regimen="r", n=250, os={"median": median, "events": events})
        ci_rule.append(median_se(arm_ci, "os", 0.6)[0])
        events_rule.append(median_se(arm_ev, "os", 0.6)[0])
    closed_form = 1 / (np.log(2) * np.sqrt(250))
    assert empirical_sd == pytest.approx(closed_form, rel=0.15)
    assert np.mean(ci_rule) == pytest.approx(empirical_sd, rel=0.15)
    assert np.mean(events_rule) == pytest.approx(empirical_sd, rel=0.15)
    # Without CI or events the stated rule 1/(ln 2 sqrt(0.6 n)) is used; with nothing, unusable.
    assert median_se(Arm(id="a", regimen="r", n=100, os={"median": 9.0}), "os", 0.6) == (
        pytest.approx(1 / (np.log(2) * np.sqrt(60))), "rule")
    assert median_se(Arm(id="a", regimen="r", os={"median": 9.0}), "os", 0.6)[0] is None


def test_contrast_se_from_ci_level_and_p_value():
    """SE = (ln U - ln L) / (2 z_level); from a p-value SE = |ln HR| / z(1 - p/2) (Tierney et al.,
    Trials 2007). Reference values computed by hand with z_0.975 = 1.959964, z_0.90 = 1.281552."""
    c95 = Contrast(endpoint="os", experimental="a", reference="b", hr=0.74, lower=0.60, upper=0.91)
    assert contrast_se(c95)[0] == pytest.approx((np.log(0.91) - np.log(0.60)) / (2 * 1.959964),
                                                rel=1e-6)
    c80 = Contrast(endpoint="pfs", experimental="a", reference="b", hr=0.91, lower=0.67, upper=1.22,
                   ci_level=0.80)
    assert contrast_se(c80)[0] == pytest.approx((np.log(1.22) - np.log(0.67)) / (2 * 1.281552),
                                                rel=1e-6)
    cp = Contrast(endpoint="os", experimental="a", reference="b", hr=0.74, p_value=0.0046)
    # z(0.9977) = 2.834 by interpolation in a normal table (Phi(2.83) = .99767, Phi(2.84) = .99774)
    assert contrast_se(cp) == (pytest.approx(abs(np.log(0.74)) / 2.834, rel=1e-3), "p-value")


def test_real_evidence_covariances(evidence):
    data = build_model_data(evidence)
    for obs in (data.medians, data.hrs):
        np.linalg.cholesky(obs.cov)  # positive definite
        assert np.allclose(np.sqrt(np.diag(obs.cov)), obs.se)
    # KEYNOTE-811: the CPS >= 1 OS HR and the whole-population OS HR are nested estimates, so
    # they covary by the variance of the whole-population estimate (the smaller variance).
    labels = data.hrs.label
    i = labels.index("KEYNOTE-811:pembro/placebo:os")
    j = labels.index("KEYNOTE-811:pembro_cps1/placebo_cps1:os")
    assert data.hrs.cov[i, j] == pytest.approx(min(data.hrs.cov[i, i], data.hrs.cov[j, j]))
    # Trials are independent of each other.
    k = labels.index("ToGA:trastuzumab_chemo/chemo:os")
    assert data.hrs.cov[i, k] == 0.0
    # Observations that cannot be weighed are listed, not silently dropped.
    assert any("Afatinib" in u for u in data.unused)


def test_multi_arm_contrasts_covary_through_the_shared_arm():
    """Contrasts of a three-arm trial: each log-HR is a difference of independent arm log-rate
    estimates with Var(ln rate) = 1/d, so two contrasts covary by +1/d of the shared arm when it
    is on the same side of both and by -1/d when it changes side."""
    from sequencer.evidence.catalogue import Catalogue
    from sequencer.evidence.load import EvidenceBase
    from sequencer.evidence.schema import TrialRecord

    record = TrialRecord.model_validate({
        "trial": "THREE", "phase": "3", "design": "randomised", "line": 2, "region": "global",
        "citation": {"authors": "test", "journal": "none", "year": 2026},
        "arms": [
            {"id": "a", "regimen": "ra", "n": 200, "os": {"median": 9.0, "events": 150}},
            {"id": "b", "regimen": "rb", "n": 200, "os": {"median": 8.0, "events": 160}},
            {"id": "c", "regimen": "rc", "n": 200, "os": {"median": 7.0, "events": 170}},
        ],
        "contrasts": [
            {"endpoint": "os", "experimental": "a", "reference": "c", "hr": 0.8, "lower": 0.64,
             "upper": 1.0},
            {"endpoint": "os", "experimental": "b", "reference": "c", "hr": 0.9, "lower": 0.72,
             "upper": 1.12},
            {"endpoint": "os", "experimental": "b", "reference": "a", "hr": 1.12, "lower": 0.9,
             "upper": 1.4},
        ],
    })
    catalogue = Catalogue.model_validate({
        "effect_classes": {"chemotherapy": "ref"},
        "regimens": {r: {"name": r, "drugs": [r], "drug_classes": ["chemotherapy"],
                         "effect_class": "chemotherapy", "informed_by": ["THREE"]}
                     for r in ("ra", "rb", "rc")},
    })
    data = build_model_data(EvidenceBase((record,), catalogue, (), "three"))
    cov = data.hrs.cov
    assert cov[0, 1] == pytest.approx(1 / 170)   # a-c and b-c: c is the reference of both
    assert cov[0, 2] == pytest.approx(-1 / 150)  # a-c and b-a: a changes side
    assert cov[1, 2] == pytest.approx(1 / 160)   # b-c and b-a: b is experimental in both


def test_subgroup_binomial_used_only_when_the_whole_population_lacks_it(evidence):
    """KEYNOTE-811 reports ORR only in the CPS >= 1 subgroup, so those counts are used;
    73% and 58% of 298 and 296 patients (as published) give 218 and 172 responders."""
    data = build_model_data(evidence)
    binomial = dict(zip(data.binomial.label, zip(data.binomial.k, data.binomial.n, strict=True),
                        strict=True))
    assert binomial["KEYNOTE-811:pembro_cps1:orr"] == (218, 298)
    assert binomial["KEYNOTE-811:placebo_cps1:orr"] == (172, 296)
