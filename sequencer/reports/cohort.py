"""Cohort study outputs: ``summary.json`` (a :class:`StudySummary`) and CSV tables in the run
directory, and the text table the ``cohort`` command prints. The summary carries the study
specification and the model provenance (posterior, parameters, package version)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from sequencer.io import write_atomic, write_text_atomic
from sequencer.simulate.shards import MAX_LINES
from sequencer.simulate.summary_schema import IncrementalRow, Interval, StudySummary


def finish_study(run_dir: Path, spec, sources, reference: str | None = None) -> StudySummary:
    """Summarise a finished study's shards and write its outputs; returns the summary."""
    from sequencer.simulate.study import draw_parameters
    from sequencer.simulate.summary import read_draws, summarise

    names, values = draw_parameters(sources, spec)
    summary = summarise(read_draws(run_dir, spec), spec, sources.provenance(),
                        list(sources.evidence.catalogue.regimens), values, names, reference)
    write_outputs(run_dir, summary)
    return summary


def clean_json(value):
    """``value`` with NaN and infinities as None (JSON has neither)."""
    return _clean(value)


def write_outputs(run_dir: Path, summary: StudySummary) -> list[Path]:
    """Write ``summary.json``, ``strategies.csv``, ``incremental.csv`` and ``ceac.csv``."""
    run_dir = Path(run_dir)
    written = [write_text_atomic(run_dir / "summary.json", summary.model_dump_json(indent=2))]
    rows = []
    for name, row in summary.strategies.items():
        flat: dict[str, str | float | None] = {"strategy": name}  # one strategies.csv row
        for key in type(row).model_fields:
            value = getattr(row, key)
            if isinstance(value, Interval):
                flat.update({key: value.mean, f"{key}_lower": value.lower,
                             f"{key}_upper": value.upper})
            elif key == "reach_line":
                flat.update({f"reach_line_{k}": v.mean for k, v in value.items()})
            elif key == "months_on_line":
                flat.update({f"months_on_line_{k}": v for k, v in value.items()})
        rows.append(flat)
    written.append(_csv(run_dir / "strategies.csv", rows))
    written.append(_csv(run_dir / "incremental.csv", [
        {"strategy": name, **_nan_for_undefined(row)}
        for name, row in zip(summary.strategies, summary.incremental)]))
    ceac = summary.ceac.by_strategy
    written.append(_csv(run_dir / "ceac.csv", [
        {"wtp": w, **{n: p[i] for n, p in ceac.items()}, "frontier": summary.ceaf.optimal[i],
         "evpi_per_patient": summary.evpi.per_patient[i]}
        for i, w in enumerate(summary.ceac.wtp)]))
    return written


def format_summary(summary: StudySummary) -> str:
    """Headline table: discounted QALYs and costs, median OS/PFS, lines reached, ICERs."""
    head = (f"{'strategy':<14} {'LY':>6} {'QALY (disc)':>21} {'cost GBP (disc)':>27} "
            f"{'median OS mo':>20} {'median PFS':>7} {'L2':>5} {'L3':>5}  status / ICER")
    lines = [head, "-" * len(head)]
    for (name, row), inc in zip(summary.strategies.items(), summary.incremental):
        q, c, o = row.qaly_disc, row.cost_disc, row.median_os_months
        icer = inc.icer
        status = inc.status + (f" {icer:,.0f}/QALY" if icer is not None else "")
        reach = row.reach_line
        lines.append(
            f"{name:<14} {row.ly.mean:>6.2f} {q.mean:>6.3f} ({q.lower:.3f}-"
            f"{q.upper:.3f}) {c.mean:>9,.0f} ({c.lower:,.0f}-{c.upper:,.0f}) "
            f"{o.mean:>5.1f} ({o.lower:.1f}-{o.upper:.1f}) "
            f"{row.median_pfs_months.mean:>7.1f} {reach[2].mean:>5.2f} "
            f"{reach[min(3, MAX_LINES)].mean:>5.2f}  {status}")
    price = summary.price_of_parameter_uncertainty
    if price:
        lines.append(f"price of parameter uncertainty (optimal re-optimised per draw minus the "
                     f"policy optimal at the means, {price.objective}): {price.mean:.4g} "
                     f"({price.lower:.4g} to {price.upper:.4g})")
    if summary.evppi:
        lines.append("EVPPI per patient at the study WTP: " + ", ".join(
            f"{g} {v.per_patient:,.2f}" for g, v in summary.evppi.items()) + " GBP")
    lines.append("95% credible intervals across posterior and parameter draws; QALYs and costs "
                 "discounted; L2/L3 = share of patients reaching the line")
    return "\n".join(lines)


def _clean(value):
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    return value


def _nan_for_undefined(row: IncrementalRow) -> dict:
    """The row with undefined ratios as NaN: incremental.csv has always written them 'nan'."""
    text = {"status", "comparator", "ref_label"}
    return {k: math.nan if v is None and k not in text else v for k, v in row.model_dump().items()}


def _csv(path: Path, rows: list[dict]) -> Path:
    fields = list(dict.fromkeys(k for row in rows for k in row))

    def write_rows(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    return write_atomic(path, write_rows)
