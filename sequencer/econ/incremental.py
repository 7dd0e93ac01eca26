"""Deterministic incremental cost-effectiveness analysis: dominance, the efficiency frontier,
ICERs and net monetary benefit.

The algorithm is the standard one (Drummond MF, Sculpher MJ, Claxton K, Stoddart GL, Torrance
GW. *Methods for the Economic Evaluation of Health Care Programmes*, 4th ed., OUP 2015, ch. 4;
Cantor SB, Med Decis Making 1994;14:259-265): order strategies by cost, drop the strongly
dominated ones, repeatedly drop the extendedly dominated ones, and compute ICERs between
neighbours on what remains (the lower-right convex hull of the cost-effectiveness plane).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from sequencer.econ._validate import as_names, as_vector, frozen

REFERENCE = "reference"
FRONTIER = "frontier"
DOMINATED = "dominated"
EXTENDEDLY_DOMINATED = "extendedly dominated"

# ICERs equal within this relative tolerance count as equal, so strategies lying on one straight
# segment of the frontier (collinear) all stay on it rather than flip on rounding noise.
ICER_RTOL = 1e-9


@dataclass(frozen=True)
class IncrementalAnalysis:
    """Result of :func:`incremental_analysis`; every per-strategy field is in input order.

    Attributes
    ----------
    names : tuple of str
        Strategy names.
    cost, effect : ndarray, shape (n,)
        Mean cost and effect of each strategy.
    status : tuple of str
        ``"reference"`` (the least costly non-dominated strategy, where the frontier starts),
        ``"frontier"`` (other non-dominated strategies), ``"dominated"`` (strongly dominated)
        or ``"extendedly dominated"``.
    comparator : tuple of (str or None)
        For a ``"frontier"`` strategy, the next less costly strategy on the frontier it is
        compared with; ``None`` otherwise.
    inc_cost, inc_effect, icer : ndarray, shape (n,)
        Cost, effect and ICER (``inc_cost / inc_effect``) versus ``comparator``; NaN unless the
        status is ``"frontier"``. Along the frontier ICERs are positive and increase with cost.
    frontier : tuple of str
        Non-dominated strategies in order of increasing cost (and effect); strategies sharing
        a point appear together, in input order.
    reference : str
        The strategy the ``ref_*`` fields compare with.
    ref_inc_cost, ref_inc_effect : ndarray, shape (n,)
        ``cost - cost[reference]`` and ``effect - effect[reference]``.
    ref_icer : ndarray, shape (n,)
        ``ref_inc_cost / ref_inc_effect`` when the comparison is a trade-off (``ref_label`` is
        ``"more costly, more effective"``, the cost per unit of effect gained, or ``"less
        costly, less effective"``, the saving per unit of effect forgone); NaN otherwise.
    ref_label : tuple of str
        ``"reference"``, ``"dominant"`` (costs no more and is at least as effective as the
        reference, one strictly), ``"dominated"`` (the reverse), ``"identical"``, ``"more
        costly, more effective"`` or ``"less costly, less effective"``.
    wtp : float or None
        Willingness to pay per unit of effect used for ``nmb``.
    nmb : ndarray, shape (n,), or None
        Net monetary benefit ``wtp * effect - cost``; None when no ``wtp`` was given.
    """

    names: tuple[str, ...]
    cost: np.ndarray
    effect: np.ndarray
    status: tuple[str, ...]
    comparator: tuple[str | None, ...]
    inc_cost: np.ndarray
    inc_effect: np.ndarray
    icer: np.ndarray
    frontier: tuple[str, ...]
    reference: str
    ref_inc_cost: np.ndarray
    ref_inc_effect: np.ndarray
    ref_icer: np.ndarray
    ref_label: tuple[str, ...]
    wtp: float | None
    nmb: np.ndarray | None

    def to_frame(self) -> pd.DataFrame:
        """One row per strategy (index: name, input order); columns are the fields above."""
        data = {
            "cost": self.cost, "effect": self.effect, "status": self.status,
            "comparator": self.comparator, "inc_cost": self.inc_cost,
            "inc_effect": self.inc_effect, "icer": self.icer,
            "ref_inc_cost": self.ref_inc_cost, "ref_inc_effect": self.ref_inc_effect,
            "ref_icer": self.ref_icer, "ref_label": self.ref_label,
        }
        if self.nmb is not None:
            data["nmb"] = self.nmb
        return pd.DataFrame(data, index=pd.Index(self.names, name="strategy"))


def _frontier_points(cost: np.ndarray, effect: np.ndarray) -> tuple[list[int], list[int]]:
    """Indices (into distinct points) of the frontier, least costly first, and of the
    extendedly dominated points; every other point is strongly dominated."""
    order = np.lexsort((-effect, cost))  # by cost, ties: most effective first
    kept: list[int] = []
    best_effect = -np.inf
    for i in order:
        # Earlier points cost no more; with distinct points, one with effect >= this one's
        # either costs strictly less or (same cost) is strictly more effective.
        if effect[i] > best_effect:
            kept.append(int(i))
            best_effect = effect[i]
    extended: list[int] = []
    while len(kept) > 2:
        c, e = cost[kept], effect[kept]
        icers = np.diff(c) / np.diff(e)  # icers[j]: point kept[j + 1] versus kept[j]
        worse = icers[:-1] - icers[1:] > ICER_RTOL * np.abs(icers[1:])
        if not worse.any():
            break
        j = int(np.argmax(worse))  # the first kink: kept[j + 1] has a higher ICER than next
        extended.append(kept.pop(j + 1))
    return kept, extended


def _versus_reference(d_cost: float, d_effect: float, is_reference: bool) -> tuple[str, float]:
    if is_reference:
        return "reference", np.nan
    if d_cost == 0 and d_effect == 0:
        return "identical", np.nan
    if d_cost <= 0 and d_effect >= 0:
        return "dominant", np.nan
    if d_cost >= 0 and d_effect <= 0:
        return "dominated", np.nan
    label = "more costly, more effective" if d_effect > 0 else "less costly, less effective"
    return label, d_cost / d_effect


def incremental_analysis(
    names: Sequence[str],
    costs: ArrayLike,
    effects: ArrayLike,
    reference: str | None = None,
    *,
    wtp: float | None = None,
) -> IncrementalAnalysis:
    """Dominance, efficiency frontier, ICERs and net monetary benefit of mutually exclusive
    strategies.

    Parameters
    ----------
    names : sequence of str
        Distinct strategy names.
    costs, effects : array_like, shape (n,)
        Mean cost and mean effect (e.g. QALYs) of each strategy; finite.
    reference : str, optional
        Strategy for the ``ref_*`` comparisons; default the least costly non-dominated one.
    wtp : float, optional
        Willingness to pay per unit of effect (>= 0) for the net monetary benefit.

    Returns
    -------
    IncrementalAnalysis
        Frozen dataclass, fields in input order; ``.to_frame()`` gives a DataFrame.

    Notes
    -----
    1. Sort by cost (ties: most effective first).
    2. Strategy *i* is strongly dominated if some *j* has ``C_j <= C_i`` and ``E_j >= E_i``
       with one inequality strict.
    3. On the rest (strictly increasing in cost and effect), ``ICER_k = (C_k - C_{k-1}) /
       (E_k - E_{k-1})``; while some ``ICER_k > ICER_{k+1}``, strategy *k* is extendedly
       dominated (a mix of its neighbours is cheaper and more effective) and is removed,
       first kink first, then ICERs are recomputed. ICERs equal within a relative ``1e-9``
       count as equal, so collinear strategies stay on the frontier.
    4. Strategies with identical cost and effect share one point and so one status and one
       set of incremental values.

    ``nmb = wtp * effect - cost``; for any ``wtp >= 0`` the strategy with the highest NMB is on
    the frontier, namely the most costly one whose ICER is ``<= wtp``.

    References
    ----------
    Drummond MF et al. Methods for the Economic Evaluation of Health Care Programmes, 4th ed.
    Oxford University Press, 2015. Cantor SB. Med Decis Making 1994;14(3):259-265.
    """
    names_t = as_names(names)
    n = len(names_t)
    cost = as_vector(costs, "costs", size=n)
    effect = as_vector(effects, "effects", size=n)
    if reference is not None and reference not in names_t:
        raise ValueError(
            f"reference must be one of the strategy names {list(names_t)}; got {reference!r}"
        )
    if wtp is not None:
        if isinstance(wtp, bool) or not isinstance(wtp, (int, float, np.number)):
            raise ValueError(f"wtp must be a number or None; got {wtp!r}")
        if not np.isfinite(wtp) or wtp < 0:
            raise ValueError(f"wtp must be finite and >= 0; got {wtp!r}")

    points, point_of = np.unique(np.column_stack([cost, effect]), axis=0, return_inverse=True)
    point_of = point_of.reshape(-1)
    first_name: dict[int, str] = {}  # point -> first strategy at it
    for i, point in enumerate(point_of):
        first_name.setdefault(int(point), names_t[i])
    kept, extended = _frontier_points(points[:, 0], points[:, 1])

    point_status = {p: DOMINATED for p in range(len(points))}
    point_status.update({p: EXTENDEDLY_DOMINATED for p in extended})
    point_status.update({p: FRONTIER for p in kept})
    point_status[kept[0]] = REFERENCE
    previous = {b: a for a, b in pairwise(kept)}

    status: list[str] = []
    comparator: list[str | None] = []
    inc_cost, inc_effect = np.full(n, np.nan), np.full(n, np.nan)
    for i, point in enumerate(point_of):
        p = int(point)
        status.append(point_status[p])
        if p in previous:
            q = previous[p]
            comparator.append(first_name[q])
            inc_cost[i] = points[p, 0] - points[q, 0]
            inc_effect[i] = points[p, 1] - points[q, 1]
        else:
            comparator.append(None)
    with np.errstate(divide="ignore", invalid="ignore"):
        icer = inc_cost / inc_effect

    ref_name = reference if reference is not None else first_name[kept[0]]
    r = names_t.index(ref_name)
    ref_cost, ref_effect = cost - cost[r], effect - effect[r]
    labelled = [_versus_reference(dc, de, i == r)
                for i, (dc, de) in enumerate(zip(ref_cost, ref_effect))]

    return IncrementalAnalysis(
        names=names_t,
        cost=frozen(cost),
        effect=frozen(effect),
        status=tuple(status),
        comparator=tuple(comparator),
        inc_cost=frozen(inc_cost),
        inc_effect=frozen(inc_effect),
        icer=frozen(icer),
        frontier=tuple(names_t[i] for p in kept for i in np.flatnonzero(point_of == p)),
        reference=ref_name,
        ref_inc_cost=frozen(ref_cost),
        ref_inc_effect=frozen(ref_effect),
        ref_icer=frozen(np.array([v for _, v in labelled], dtype=float)),
        ref_label=tuple(label for label, _ in labelled),
        wtp=None if wtp is None else float(wtp),
        nmb=None if wtp is None else frozen(float(wtp) * effect - cost),
    )
