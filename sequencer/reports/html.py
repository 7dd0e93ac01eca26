"""The HTML report of a finished cohort study (``sequencer report RUN_DIR``).

Everything is read from ``RUN_DIR/summary.json`` (a :class:`StudySummary` written by
``sequencer cohort``, validated as it is read) and written
to ``RUN_DIR/report/``: a self-contained ``report.html`` (figures embedded as PNG data URIs),
the figures as PNG files and the tables as CSV. The folder is built next to the old one and
swapped in whole, so a reader never sees half a report.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import json
from pathlib import Path

import numpy as np

from sequencer.io import atomic_directory
from sequencer.reports import figures
from sequencer.simulate.summary_schema import (
    Interval,
    StrategyOutcomes,
    StudySummary,
    read_study_summary,
)
from sequencer.vocabulary import MAX_LINE

MAX_LINES = MAX_LINE
CAVEAT = ("Decision support, not a prescription: these are model-based expectations under the "
          "evidence base and its uncertainty; treatment decisions rest with the clinical team "
          "and the patient.")
_METRICS = (("ly", "LY", ".2f"), ("qaly_disc", "QALY (disc.)", ".3f"),
            ("cost_disc", "cost GBP (disc.)", ",.0f"), ("median_os_months", "median OS (months)",
                                                        ".1f"),
            ("median_pfs_months", "median PFS (months)", ".1f"))
_FIGURES = (("survival", ("OS and PFS by strategy; bands are 95% credible intervals across draws "
                         "(summary.json: survival).")),
            ("ce_plane", "Cost-effectiveness plane, one dot per draw (summary.json: draws)."),
            ("ceac", "Acceptability curves and frontier (summary.json: ceac, ceaf)."),
            ("evppi", "Expected value of partial perfect information (summary.json: evppi)."),
            ("flow", ("Regimens by line, patients pooled over draws; regimens at or below 1% of "
                     "a line's patients are grouped as 'other' (summary.json: flow).")))


def load_summary(run_dir: Path) -> StudySummary:
    """Read ``RUN_DIR/summary.json``; a :class:`StageError` names the field that is wrong."""
    return read_study_summary(Path(run_dir) / "summary.json")


def headline_rows(summary: StudySummary) -> list[dict]:
    """One flat row per strategy: means and 95% CrIs of the headline outcomes."""
    rmst = [k for k in StrategyOutcomes.model_fields if k.startswith("rmst_os_")]
    rows = []
    for name, row in summary.strategies.items():
        flat: dict = {"strategy": name}
        for key in [k for k, _, _ in _METRICS] + rmst + ["ae"]:
            flat.update(_interval(key, getattr(row, key)))
        for line in range(2, MAX_LINES + 1):
            flat.update(_interval(f"reach_line_{line}", row.reach_line.get(line)))
        for line in range(1, MAX_LINES + 1):
            flat[f"months_on_line_{line}"] = row.months_on_line.get(line)
        rows.append(flat)
    return rows


def incremental_rows(summary: StudySummary) -> list[dict]:
    """The incremental analysis records with their strategy names."""
    return [{"strategy": n, **r.model_dump()}
            for n, r in zip(summary.strategies, summary.incremental)]


def ceac_rows(summary: StudySummary) -> list[dict]:
    """Acceptability, frontier and EVPI per patient at each WTP of the grid."""
    ceac = summary.ceac.by_strategy
    return [{"wtp": w, **{n: p[i] for n, p in ceac.items()},
             "frontier": summary.ceaf.optimal[i],
             "frontier_probability": summary.ceaf.probability[i],
             "evpi_per_patient": summary.evpi.per_patient[i]}
            for i, w in enumerate(summary.ceac.wtp)]


def evppi_rows(summary: StudySummary) -> list[dict]:
    """EVPPI per patient by parameter group at the study WTP (empty when not computed)."""
    evppi = summary.evppi or {}
    return [{"group": g, "wtp": summary.wtp, **v.model_dump()} for g, v in evppi.items()]


def reference_strategy(summary: StudySummary) -> str:
    """The incremental analysis reference, else the strategy with the lowest mean cost."""
    names = list(summary.strategies)
    for name, rec in zip(names, summary.incremental):
        if rec.ref_label == "reference":
            return name
    return min(names, key=lambda n: summary.strategies[n].cost_disc.mean)


def evpi_at_wtp(summary: StudySummary) -> float:
    """EVPI per patient at the study WTP, interpolated on the WTP grid if needed."""
    return float(np.interp(summary.wtp, summary.evpi.wtp, summary.evpi.per_patient))


def write_report(run_dir: Path) -> Path:
    """Build ``RUN_DIR/report/`` (HTML, PNG figures, CSV tables); return ``report.html``."""
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    digest = hashlib.sha256((run_dir / "summary.json").read_bytes()).hexdigest()
    with atomic_directory(run_dir / "report") as tmp:
        pngs = _write_figures(summary, tmp)
        for stem, rows in (("headline", headline_rows(summary)),
                           ("incremental", incremental_rows(summary)),
                           ("ceac", ceac_rows(summary)), ("evppi", evppi_rows(summary))):
            _write_csv(tmp / f"{stem}.csv", rows, ["group", "wtp", "per_patient",
                                                   "standard_error", "parameters"])
        (tmp / "report.html").write_text(render_html(summary, run_dir, digest, pngs))
    return run_dir / "report" / "report.html"


def render_html(summary: StudySummary, run_dir: Path, digest: str, pngs: dict[str, bytes]) -> str:
    """The self-contained report page."""
    spec = summary.model_dump(mode="json", include={"spec"})["spec"]
    prov, wtp = summary.provenance.model_dump(), summary.wtp
    parts = [f"<h1>Cohort study report: {_e(Path(run_dir).name)}</h1>",
             f'<p class="caveat">{_e(CAVEAT)}</p>', "<h2>Provenance</h2>",
             (f"<p>Every number below is read from <code>{_e(Path(run_dir) / 'summary.json')}"
             f"</code> (sha256 <code>{digest}</code>), written by <code>sequencer cohort</code> "
             f"(sequencer {_e(prov['sequencer_version'])}) from the posterior and parameters "
             "below. Intervals are 95% credible intervals (2.5% and 97.5% quantiles) across "
             f"{_e(spec['draws'])} joint posterior and parameter draws of "
             f"{_e(spec['patients'])} simulated patients per strategy.</p>"),
             _table(["item", "value"], [[_e(k), f"<code>{_e(v)}</code>"] for k, v in prov.items()],
                    escape=False),
             "<h2>Study specification</h2>",
             _table(["option", "value"], [[k, json.dumps(v)] for k, v in sorted(spec.items())]),
             "<h2>Headline outcomes per strategy</h2>", _headline_table(summary),
             ("<p>L2-L4: share of patients reaching the line; months on line: mean time on the "
             "line among the patients who reach it (summary.json: strategies).</p>"),
             "<h2>Incremental analysis</h2>", _incremental_table(summary)]
    price = summary.price_of_parameter_uncertainty
    if price:
        parts.append(f"<p>Price of parameter uncertainty (strategy re-optimised per draw minus "
                     f"the policy optimal at the posterior means, {_e(price.objective)}): "
                     f"{_ci(price.model_dump(), '.4g')}.</p>")
    parts.append(f"<p>EVPI per patient at WTP {wtp:,.0f} per QALY: "
                 f"{_num(evpi_at_wtp(summary), ',.0f')} (summary.json: evpi).</p>")
    parts.append("<h2>EVPPI by parameter group</h2>")
    evppi = evppi_rows(summary)
    if evppi:
        parts.append(_table(["group", "parameters", "EVPPI per patient", "standard error"],
                            [[r["group"], r["parameters"], _num(r["per_patient"], ",.0f"),
                              _num(r["standard_error"], ",.2g")] for r in evppi]))
    else:
        parts.append("<p>Not computed for this run (EVPPI needs at least 50 draws); the EVPPI "
                     "figure below is a note only.</p>")
    parts.append("<h2>Figures</h2>")
    for stem, caption in _FIGURES:
        data = base64.b64encode(pngs[stem]).decode("ascii")
        parts.append(f'<figure><img alt="{stem}" src="data:image/png;base64,{data}">'
                     f"<figcaption>{_e(caption)}</figcaption></figure>")
    parts.append(f'<p class="caveat">{_e(CAVEAT)}</p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>sequencer report: {_e(Path(run_dir).name)}</title><style>{_CSS}</style>"
            "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}.caveat{font-weight:bold;color:#8a3b00}"
        "img{max-width:100%}figcaption{font-size:13px;color:#555}")


def _write_figures(summary: StudySummary, folder: Path) -> dict[str, bytes]:
    names, wtp = list(summary.strategies), summary.wtp
    figs = {"survival": figures.survival_figure(summary.survival),
            "ce_plane": figures.ce_plane_figure(names, summary.draws.cost_disc,
                                                summary.draws.qaly_disc,
                                                reference_strategy(summary), wtp),
            "ceac": figures.ceac_figure(summary.ceac, summary.ceaf, wtp),
            "evppi": figures.evppi_figure(summary.evppi, wtp)}
    figs["flow"] = figures.flow_figure(names, summary.flow.regimen_index_by_line,
                                       summary.flow.regimens)
    pngs = {stem: figures.png_bytes(fig) for stem, fig in figs.items()}
    for stem, data in pngs.items():
        (folder / f"{stem}.png").write_bytes(data)
    return pngs


def _headline_table(summary: StudySummary) -> str:
    rows = headline_rows(summary)
    rmst = next((k[:-5] for k in rows[0] if k.startswith("rmst_os_") and k.endswith("_mean")), None)
    keys = list(_METRICS)
    if rmst:
        keys.append((rmst, f"RMST OS {rmst.split('_')[2]} months", ".1f"))
    keys.append(("ae", "grade&ge;3 AE episodes", ".2f"))
    head = (["strategy"] + [label for _, label, _ in keys]
            + [f"L{k}" for k in range(2, MAX_LINES + 1)]
            + [f"months on L{k}" for k in range(1, MAX_LINES + 1)])
    body = []
    for r in rows:
        cells = [_e(r["strategy"])]
        cells += [_ci({s: r[f"{k}_{s}"] for s in ("mean", "lower", "upper")}, f)
                  for k, _, f in keys]
        cells += [_num(r[f"reach_line_{k}_mean"], ".0%") for k in range(2, MAX_LINES + 1)]
        cells += [_num(r[f"months_on_line_{k}"], ".1f") for k in range(1, MAX_LINES + 1)]
        body.append(cells)
    return _table(head, body, escape=False, head_escape=False)


def _incremental_table(summary: StudySummary) -> str:
    body = []
    for r in incremental_rows(summary):
        status = r["status"]
        if status == "frontier":
            icer = f"{_num(r['icer'], ',.0f')} per QALY vs {_e(r['comparator'])}"
        else:
            icer = _e(status)
        body.append([_e(r["strategy"]), _num(r["cost"], ",.0f"), _num(r["effect"], ".3f"),
                     _e(status), icer, _e(r.get("ref_label")),
                     _num(r.get("ref_icer"), ",.0f"), _num(r.get("nmb"), ",.0f")])
    ref = reference_strategy(summary)
    head = ["strategy", "cost GBP (disc.)", "QALY (disc.)", "status", "ICER along the frontier",
            f"vs {ref}", f"ICER vs {ref}", f"NMB at WTP {summary.wtp:,.0f}"]
    return _table(head, body, escape=False) + (
        "<p>Frontier ICERs compare each non-dominated strategy with the next less costly one; "
        "dominated and extendedly dominated strategies have no ICER (summary.json: incremental)."
        "</p>")


def _interval(key: str, value: Interval | None) -> dict:
    return {f"{key}_{s}": getattr(value, s, None) for s in ("mean", "lower", "upper")}


def _num(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return format(value, fmt)


def _ci(value: dict, fmt: str) -> str:
    return (f"{_num(value.get('mean'), fmt)} ({_num(value.get('lower'), fmt)} to "
            f"{_num(value.get('upper'), fmt)})")


def _e(value) -> str:
    return html.escape(str(value))


def _table(head: list, body: list[list], escape: bool = True, head_escape: bool = True) -> str:
    cell = _e if escape else str
    th = "".join(f"<th>{_e(h) if head_escape else h}</th>" for h in head)
    rows = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{rows}</tbody></table>"


def _write_csv(path: Path, rows: list[dict], empty_fields: list[str]) -> None:
    fields = list(dict.fromkeys(k for row in rows for k in row)) or empty_fields
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

