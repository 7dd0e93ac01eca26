"""Figures of a cohort study report, drawn from ``summary.json``.

Every function takes parts of the :class:`StudySummary` and returns a
:class:`matplotlib.figure.Figure` that is not attached to pyplot (no display, no global state),
so figures can be drawn in any thread. :func:`png_bytes` renders one to PNG with the Agg canvas.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from sequencer.simulate.summary_schema import (
    Acceptability,
    AcceptabilityFrontier,
    ParameterGroupValue,
    SurvivalCurves,
)

#: a regimen below this share of a line's patients (in every strategy) is drawn as "other"
MIN_FLOW_SHARE = 0.01
_OTHER = "other"


def as_array(values) -> np.ndarray:
    """A float array from a JSON list, ``null`` (a NaN written by ``cohort``) becoming NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def png_bytes(fig: Figure, dpi: int = 120) -> bytes:
    """The figure rendered as PNG bytes."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def survival_figure(survival: SurvivalCurves) -> Figure:
    """OS and PFS curves by strategy with their 95% credible bands.

    Parameters
    ----------
    survival : SurvivalCurves
        ``StudySummary.survival``: ``months`` and, for ``os`` and ``pfs``, per strategy the
        ``survival`` curve with its ``lower`` and ``upper`` band.
    """
    fig = Figure(figsize=(10, 4.2))
    months = as_array(survival.months)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (key, title) in zip(axes, [("os", "Overall survival"), ("pfs", ("Progression-free "
                                                                         "survival (line 1)"))]):
        for k, (name, curve) in enumerate(getattr(survival, key).items()):
            color = f"C{k % 10}"
            ax.fill_between(months, as_array(curve.lower), as_array(curve.upper),
                            color=color, alpha=0.15, lw=0)
            ax.plot(months, as_array(curve.survival), color=color, lw=1.6, label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("months since start of line 1")
        ax.set_xlim(months[0], months[-1])
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("proportion of patients")
    axes[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def ce_plane_figure(names: list[str], cost: list, effect: list, reference: str,
                    wtp: float) -> Figure:
    """Per-draw incremental discounted cost against incremental discounted QALYs.

    Parameters
    ----------
    names : list of str
        Strategy names in the column order of ``cost`` and ``effect``.
    cost, effect : list of list of float
        ``StudySummary.draws.cost_disc`` and ``.qaly_disc``, shape (draw, strategy).
    reference : str
        The strategy every other one is compared with (drawn at the origin).
    wtp : float
        Willingness to pay per QALY, drawn as the line ``cost = wtp * QALY``.
    """
    c = np.array([as_array(row) for row in cost])
    e = np.array([as_array(row) for row in effect])
    r = names.index(reference)
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    d_e, d_c = e - e[:, [r]], c - c[:, [r]]
    for k, name in enumerate(names):
        if k == r:
            continue
        color = f"C{k % 10}"
        ax.scatter(d_e[:, k], d_c[:, k], s=10, alpha=0.45, color=color, lw=0, label=name)
        ax.scatter(np.nanmean(d_e[:, k]), np.nanmean(d_c[:, k]), s=70, marker="D",
                   color=color, edgecolor="black", zorder=3)
    finite = d_e[np.isfinite(d_e)]
    lo, hi = min(0.0, *finite) if finite.size else -1.0, max(0.0, *finite) if finite.size else 1.0
    pad = 0.1 * (hi - lo or 1.0)
    x = np.array([lo - pad, hi + pad])
    ax.plot(x, wtp * x, color="0.3", ls="--", lw=1, label=f"WTP {wtp:,.0f} per QALY")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_xlim(float(x[0]), float(x[1]))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel(f"incremental discounted QALYs vs {reference}")
    ax.set_ylabel(f"incremental discounted cost vs {reference}")
    ax.set_title("Cost-effectiveness plane (dots: draws; diamonds: means)", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def ceac_figure(ceac: Acceptability, ceaf: AcceptabilityFrontier, wtp: float) -> Figure:
    """Acceptability curves by strategy, with the acceptability frontier (CEAF) marked.

    Parameters
    ----------
    ceac : Acceptability
        ``StudySummary.ceac``: the ``wtp`` grid and, per strategy, the probability of being
        the most cost-effective.
    ceaf : AcceptabilityFrontier
        ``StudySummary.ceaf``: the ``optimal`` strategy (highest expected net benefit) at
        each WTP and its ``probability``.
    wtp : float
        The study's willingness to pay, marked by a vertical line.
    """
    grid = as_array(ceac.wtp)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    curves = ceac.by_strategy
    names = list(curves)
    for k, name in enumerate(names):
        ax.plot(grid, as_array(curves[name]), color=f"C{k % 10}", lw=1.4, label=name)
    probability, optimal = as_array(ceaf.probability), list(ceaf.optimal)
    for k, name in enumerate(names):
        at = np.array([o == name for o in optimal], dtype=bool)
        if at.any():
            ax.plot(grid[at], probability[at], ls="none", marker="o", ms=8, mfc="none", mew=1.5,
                    mec=f"C{k % 10}", label=f"frontier (CEAF): {name} optimal")
    ax.axvline(wtp, color="0.4", ls=":", lw=1, label=f"study WTP {wtp:,.0f}")
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel("willingness to pay per QALY")
    ax.set_ylabel("probability most cost-effective")
    ax.set_title("Cost-effectiveness acceptability curves and frontier", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def evppi_figure(evppi: dict[str, ParameterGroupValue] | None, wtp: float) -> Figure:
    """EVPPI per patient of each parameter group, with +/- 1.96 standard errors.

    Parameters
    ----------
    evppi : dict of ParameterGroupValue, or None
        ``StudySummary.evppi``: per group ``per_patient``, ``standard_error``, ``parameters``.
        When absent or empty (the study had fewer than 50 draws) the figure is a note.
    wtp : float
        The willingness to pay the EVPPI was computed at (for the title).
    """
    if not evppi:
        fig = Figure(figsize=(7, 1.6))
        fig.text(0.5, 0.5, "EVPPI was not computed for this run (it needs at least 50 draws):\n"
                 "rerun `sequencer cohort` with --draws 50 or more.", ha="center", va="center",
                 fontsize=10)
        return fig
    groups = list(evppi)
    values = as_array([evppi[g].per_patient for g in groups])
    errors = 1.96 * as_array([evppi[g].standard_error for g in groups])
    fig = Figure(figsize=(7, 0.45 * len(groups) + 1.6))
    ax = fig.subplots()
    y = np.arange(len(groups))[::-1]
    ax.barh(y, values, xerr=errors, color="C0", alpha=0.8, capsize=3)
    ax.set_yticks(y, [f"{g} ({evppi[g].parameters})" for g in groups], fontsize=8)
    if np.nanmin(values, initial=0.0) >= 0:
        ax.set_xlim(left=0)
    ax.set_xlabel("EVPPI per patient (monetary units)")
    ax.set_title(f"EVPPI by parameter group at WTP {wtp:,.0f} (bars: +/- 1.96 SE)", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def flow_shares(counts: list, regimens: list[str]) -> tuple[np.ndarray, list[str]]:
    """Share of each line's patients per regimen, rare regimens pooled as ``"other"``.

    Parameters
    ----------
    counts : list
        ``StudySummary.flow.regimen_index_by_line``, shape (strategy, line, regimen).
    regimens : list of str
        Regimen ids in the index order of the last axis.

    Returns
    -------
    shares : ndarray, shape (strategy, line, kept regimens [+ other])
        Row shares (0 where no patient reached the line).
    labels : list of str
        The regimen of each share column; ``"other"`` last when some were pooled.
    """
    x = np.nan_to_num(np.array([[as_array(line) for line in s] for s in counts]))
    totals = x.sum(axis=2, keepdims=True)
    share = np.divide(x, totals, out=np.zeros_like(x), where=totals > 0)
    keep = share.max(axis=(0, 1)) > MIN_FLOW_SHARE
    labels = [regimens[j] if j < len(regimens) else f"regimen {j}" for j in np.flatnonzero(keep)]
    out = share[:, :, keep]
    rest = share[:, :, ~keep].sum(axis=2)
    if rest.max(initial=0.0) > 0:
        out = np.concatenate([out, rest[:, :, None]], axis=2)
        labels.append(_OTHER)
    return out, labels


def flow_figure(names: list[str], counts: list, regimens: list[str]) -> Figure:
    """Regimens patients receive at each line: one stacked bar per strategy and line.

    Lines no patient reached are left out. Regimens with at most 1% of a line's patients in
    every strategy are pooled as "other".
    """
    shares, labels = flow_shares(counts, regimens)
    lines = [k for k in range(shares.shape[1]) if shares[:, k].sum() > 0] or [0]
    fig = Figure(figsize=(12, 1.2 + 0.42 * len(names) * len(lines)))
    axes = np.atleast_1d(fig.subplots(len(lines), 1, sharex=True))
    colors = {lab: (f"C{j % 10}" if j < 10 else _tab20(j)) for j, lab in enumerate(labels)}
    colors[_OTHER] = "0.75"
    y = np.arange(len(names))[::-1]
    for ax, line in zip(axes, lines):
        left = np.zeros(len(names))
        for j, label in enumerate(labels):
            width = shares[:, line, j]
            ax.barh(y, width, left=left, color=colors[label], edgecolor="white", lw=0.5,
                    label=label)
            for yy, lo, w in zip(y, left, width):
                if w >= 0.1:
                    text = label if w >= 0.25 else label[: int(w * 120)]
                    ax.text(lo + w / 2, yy, text, ha="center", va="center", fontsize=6)
            left += width
        ax.set_yticks(y, names, fontsize=8)
        ax.set_ylabel(f"line {line + 1}", fontsize=9)
        ax.set_xlim(0, 1)
    axes[-1].set_xlabel("share of the patients treated at the line")
    axes[0].set_title("Regimens by line (draw-pooled simulated patients)", fontsize=10)
    handles, names_ = axes[0].get_legend_handles_labels()
    fig.legend(handles, names_, loc="center right", fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.77, 1))
    return fig


def _tab20(j: int):
    from matplotlib import colormaps

    return colormaps["tab20b"]((j - 10) % 20)
