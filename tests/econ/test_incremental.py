"""Incremental analysis: dominance, extended dominance, ICERs along the frontier, comparisons
with a named reference and net monetary benefit.

References: hand arithmetic (in each docstring); the R package dampack (DARTH-git/dampack on
GitHub), whose ``calculate_icers`` test and vignette data give published ICERs and dominance
labels; and the theorem that for every willingness to pay the strategy with the highest NMB lies
on the frontier (Stinnett & Mullahy, Med Decis Making 1998;18:S68-S80).
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.econ import incremental_analysis


def _by_name(result, field):
    return dict(zip(result.names, getattr(result, field)))


def test_strong_dominance_hand_computed():
    """A (100, 1.0); B (150, 0.9): costs more, less effective than A -> dominated.
    C (100, 0.8): same cost as A, less effective -> dominated (A costs no more, strictly more
    effective). D (200, 1.0): same effect as A, costs more -> dominated. E (300, 1.5): more
    effective than everything, so on the frontier; ICER vs A = (300-100)/(1.5-1.0) = 400."""
    r = incremental_analysis(["A", "B", "C", "D", "E"], [100, 150, 100, 200, 300],
                             [1.0, 0.9, 0.8, 1.0, 1.5])
    assert r.status == ("reference", "dominated", "dominated", "dominated", "frontier")
    assert r.frontier == ("A", "E")
    assert r.comparator == (None, None, None, None, "A")
    assert r.inc_cost[4] == 200 and r.inc_effect[4] == pytest.approx(0.5)
    assert r.icer[4] == pytest.approx(400.0)
    assert np.isnan(r.icer[:4]).all()


def test_extended_dominance_needs_two_passes():
    """Sorted by cost: A (0, 0), B (200, 1), C (500, 1.5), D (600, 2), E (700, 2.5).
    Pass 1 ICERs: B 200/1 = 200, C 300/0.5 = 600, D 100/0.5 = 200, E 100/0.5 = 200; first kink
    C (600 > 200) -> C extendedly dominated. Pass 2: B 200, D vs B 400/1 = 400, E 200; kink at D
    (400 > 200) -> D extendedly dominated. Pass 3: B 200, E vs B 500/1.5 = 333.33...; increasing,
    done. Frontier A, B, E."""
    r = incremental_analysis(list("ABCDE"), [0, 200, 500, 600, 700], [0, 1, 1.5, 2, 2.5])
    assert r.status == ("reference", "frontier", "extendedly dominated",
                        "extendedly dominated", "frontier")
    assert r.frontier == ("A", "B", "E")
    icer = _by_name(r, "icer")
    assert icer["B"] == pytest.approx(200.0)
    assert icer["E"] == pytest.approx(500 / 1.5)
    assert _by_name(r, "comparator")["E"] == "B"
    assert _by_name(r, "inc_cost")["E"] == 500 and _by_name(r, "inc_effect")["E"] == 1.5


def test_collinear_and_identical_strategies_stay_on_the_frontier():
    """A (0, 0), B (100, 1), C (200, 2): ICERs 100 and 100 (equal, no kink) -> all frontier.
    B2 has B's cost and effect, so it shares B's point, status and ICER (100/1 = 100)."""
    r = incremental_analysis(["C", "B", "A", "B2"], [200, 100, 0, 100], [2, 1, 0, 1])
    assert r.status == ("frontier", "frontier", "reference", "frontier")
    assert r.frontier == ("A", "B", "B2", "C")
    np.testing.assert_allclose(r.icer, [100, 100, np.nan, 100])
    # 0.1 + 0.2 is not 0.3 in floating point, yet the three points are collinear.
    r = incremental_analysis(["x", "y", "z"], [0.0, 0.1 + 0.2, 0.6], [0.0, 0.3, 0.6])
    assert r.status == ("reference", "frontier", "frontier")


def test_inputs_are_not_modified_and_results_are_read_only():
    costs, effects = np.array([1.0, 2.0]), np.array([1.0, 3.0])
    r = incremental_analysis(["A", "B"], costs, effects)
    costs[0] = 5.0  # the caller's arrays stay writeable and the result does not alias them
    assert r.cost[0] == 1.0 and not r.cost.flags.writeable


def test_single_strategy():
    r = incremental_analysis(["only"], [5.0], [1.0], wtp=10.0)
    assert r.status == ("reference",) and r.reference == "only"
    assert r.ref_label == ("reference",) and np.isnan(r.icer[0])
    assert r.nmb[0] == 5.0  # 10 * 1 - 5


def test_comparisons_with_a_named_reference_are_labelled():
    """Reference R (1000, 2.0). Versus R:
    P (800, 2.5): dC = -200, dE = +0.5 -> dominant (no ICER);
    Q (1500, 1.5): dC = +500, dE = -0.5 -> dominated (no ICER);
    S (2000, 3.0): dC = +1000, dE = +1.0 -> more costly, more effective, ICER 1000;
    T (400, 1.0): dC = -600, dE = -1.0 -> less costly, less effective, ICER 600 (saved per
    unit forgone); U (1000, 2.0): identical."""
    r = incremental_analysis(list("RPQSTU"), [1000, 800, 1500, 2000, 400, 1000],
                             [2.0, 2.5, 1.5, 3.0, 1.0, 2.0], reference="R")
    assert r.reference == "R"
    assert r.ref_label == ("reference", "dominant", "dominated", "more costly, more effective",
                           "less costly, less effective", "identical")
    np.testing.assert_allclose(r.ref_icer, [np.nan, np.nan, np.nan, 1000.0, 600.0, np.nan])
    np.testing.assert_allclose(r.ref_inc_cost, [0, -200, 500, 1000, -600, 0])
    np.testing.assert_allclose(r.ref_inc_effect, [0, 0.5, -0.5, 1.0, -1.0, 0])
    # Default reference: the least costly non-dominated strategy, T.
    assert incremental_analysis(list("RPQSTU"), r.cost, r.effect).reference == "T"


def test_net_monetary_benefit_hand_computed():
    """wtp 20000: A 20000*1.2 - 10000 = 14000; B 20000*1.5 - 18000 = 12000. The ICER of B vs A
    is 8000/0.3 = 26666.7 > 20000, so A (higher NMB) is preferred, as the ICER rule says."""
    r = incremental_analysis(["A", "B"], [10000, 18000], [1.2, 1.5], wtp=20000)
    np.testing.assert_allclose(r.nmb, [14000.0, 12000.0])
    assert r.icer[1] == pytest.approx(8000 / 0.3)
    frame = r.to_frame()
    assert list(frame.index) == ["A", "B"] and frame.loc["B", "nmb"] == 12000.0
    assert incremental_analysis(["A"], [1], [1]).nmb is None


def test_dampack_herc_example():
    """dampack, tests/testthat/test_calculate_icers.R (DARTH-git/dampack, commit 2d6a64d3),
    "example from herc.research.va.gov ... cost-effectiveness-analysis": cost (55000, 35000,
    25000, 10000, 12000, 5000), effect (5, 4, 3, 2, 1.5, 1) for E, D, C, B, A, UC. Expected:
    UC, B, D, E non-dominated with Inc_Cost (NA, 5000, 25000, 20000), Inc_Effect (NA, 1, 2, 1),
    ICER (NA, 5000, 12500, 20000); C extendedly dominated ("ED"); A dominated ("D")."""
    r = incremental_analysis(["E", "D", "C", "B", "A", "UC"],
                             [55000, 35000, 25000, 10000, 12000, 5000], [5, 4, 3, 2, 1.5, 1])
    assert r.frontier == ("UC", "B", "D", "E")
    status = _by_name(r, "status")
    assert status["C"] == "extendedly dominated" and status["A"] == "dominated"
    assert status["UC"] == "reference"
    for name, dc, de, icer in [("B", 5000, 1, 5000), ("D", 25000, 2, 12500),
                               ("E", 20000, 1, 20000)]:
        assert _by_name(r, "inc_cost")[name] == dc
        assert _by_name(r, "inc_effect")[name] == de
        assert _by_name(r, "icer")[name] == pytest.approx(icer)


# dampack vignettes/cdiff_icers.csv (DARTH-git/dampack, commit 8aae73f8): the ICER table of the
# C. difficile example in vignettes/basic_cea.Rmd (Rajasingham et al., Clin Infect Dis 2020;
# 70:754-762). Columns: Strategy, Cost, Effect, Inc_Cost, Inc_Effect, ICER, Status.
CDIFF = [
    ("s3", 57336.0059896538, 12.9399639202408, None, None, None, "ND"),
    ("s27", 57541.2526373815, 13.0140640696275, 205.246647727639, 0.0741001493866911,
     2769.85470915263, "ND"),
    ("s33", 57642.2587507842, 13.0389116321918, 101.006113402713, 0.0248475625643216,
     4065.03105249231, "ND"),
    ("s31", 57934.0743411241, 13.0966257932217, 291.815590339931, 0.0577141610298533,
     5056.2216470406, "ND"),
    ("s43", 58072.1137208494, 13.11285766912, 138.039379725262, 0.0162318758983169,
     8504.2160616553, "ND"),
    ("s44", 58665.7823044647, 13.1283328397025, 593.668583615326, 0.0154751705825014,
     38362.6519947134, "ND"),
    ("s39", 57814.6470919581, 13.0462790163185, None, None, None, "ED"),
    ("s4", 57887.481549326, 12.9970657153765, None, None, None, "D"),
    ("s13", 58018.6252420203, 13.0650412387992, None, None, None, "D"),
    ("s37", 58081.7947984323, 13.1029711156978, None, None, None, "D"),
    ("s20", 58634.2026441398, 13.1100568867995, None, None, None, "D"),
]


def test_dampack_cdiff_vignette_table():
    """Reproduce every label, incremental cost/effect and ICER of dampack's published table
    (see CDIFF above), with the strategies given in a different (alphabetical) order."""
    rows = sorted(CDIFF)
    r = incremental_analysis([row[0] for row in rows], [row[1] for row in rows],
                             [row[2] for row in rows])
    expected_status = {"ND": "frontier", "ED": "extendedly dominated", "D": "dominated"}
    for name, _, _, inc_cost, inc_effect, icer, status in CDIFF:
        i = r.names.index(name)
        want = "reference" if name == "s3" else expected_status[status]
        assert r.status[i] == want, name
        if inc_cost is None:
            assert math.isnan(r.icer[i])
        else:
            assert r.inc_cost[i] == pytest.approx(inc_cost, rel=1e-9)
            assert r.inc_effect[i] == pytest.approx(inc_effect, rel=1e-9)
            assert r.icer[i] == pytest.approx(icer, rel=1e-9)
    assert r.frontier == ("s3", "s27", "s33", "s31", "s43", "s44")


def test_dampack_three_strategy_reference():
    """dampack test_calculate_icers.R, "default reference strategy": No Treat (163771.0,
    6.48273), Treat all (164848.7, 6.52861), Test & treat (163765.1, 6.52861); dampack puts
    Test & treat first (the reference). By hand: Test & treat is cheapest and at least as
    effective as both others, so both are strongly dominated."""
    r = incremental_analysis(["No Treat", "Treat all", "Test & treat"],
                             [163771.0, 164848.7, 163765.1], [6.48273, 6.52861, 6.52861])
    assert r.reference == "Test & treat"
    assert r.status == ("dominated", "dominated", "reference")
    assert r.ref_label == ("dominated", "dominated", "reference")


points = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=12
)


@settings(max_examples=200, deadline=None)
@given(points, st.floats(0.01, 100.0))
def test_frontier_properties(pairs, wtp):
    """Theory checks on random integer cost/effect tables (Drummond et al. 2015, ch. 4):
    every dominated strategy has a dominator; frontier ICERs are positive and increasing; every
    extendedly dominated strategy lies strictly above the frontier's piecewise-linear cost at
    its effect; and the highest NMB at any wtp > 0 is attained on the frontier."""
    cost = np.array([p[0] for p in pairs], dtype=float)
    effect = np.array([p[1] for p in pairs], dtype=float)
    names = [f"s{i}" for i in range(len(pairs))]
    r = incremental_analysis(names, cost, effect, wtp=wtp)
    on = np.array([s in ("reference", "frontier") for s in r.status])
    for i, status in enumerate(r.status):
        if status == "dominated":
            better = ((cost <= cost[i]) & (effect >= effect[i])
                      & ((cost < cost[i]) | (effect > effect[i])))
            assert better.any()
    front = [r.names.index(n) for n in r.frontier]
    fc, fe = cost[front], effect[front]
    assert (np.diff(fc) >= 0).all() and (np.diff(fe) >= 0).all()
    finite = r.icer[np.isfinite(r.icer)]
    assert (finite > 0).all()
    ordered = [r.icer[i] for i in front if np.isfinite(r.icer[i])]
    assert all(b >= a * (1 - 1e-9) for a, b in pairwise(ordered))
    for i, status in enumerate(r.status):
        if status == "extendedly dominated":
            assert cost[i] > np.interp(effect[i], fe, fc)
    assert r.nmb[on].max() == pytest.approx(r.nmb.max(), rel=1e-12, abs=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"names": "AB"}, "names must be a sequence"),
        ({"names": ["A", "A"]}, "names must be distinct; 'A'"),
        ({"names": ["A", ""]}, "names must be non-empty strings"),
        ({"costs": [1.0]}, "costs must have one entry per strategy \\(2\\); got 1"),
        ({"effects": [1.0, float("nan")]}, "effects must be finite; got nan at index 1"),
        ({"costs": [[1.0, 2.0]]}, "costs must be a non-empty 1-D array; got shape \\(1, 2\\)"),
        ({"costs": ["a", "b"]}, "costs must be numeric"),
        ({"reference": "Z"}, "reference must be one of .* got 'Z'"),
        ({"wtp": -1.0}, "wtp must be finite and >= 0; got -1.0"),
        ({"wtp": "1"}, "wtp must be a number or None"),
    ],
)
def test_validation_names_the_argument(kwargs, match):
    args = {"names": ["A", "B"], "costs": [1.0, 2.0], "effects": [1.0, 2.0]} | kwargs
    with pytest.raises(ValueError, match=match):
        incremental_analysis(**args)
