"""The HTML report of a finished cohort study (``sequencer report RUN_DIR``).

Everything is read from ``RUN_DIR/summary.json`` (written by ``sequencer cohort``) and written
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

from sequencer.errors import StageError
from sequencer.io import atomic_directory
from sequencer.reports import figures

MAX_LINES = 4
CAVEAT = ("Decision support, not a prescription: these are model-based expectations under the "
          "evidence base and its uncertainty; treatment decisions rest with the clinical team "
          "and the patient.")
_REQUIRED = ("spec.strategies", "spec.draws", "spec.patients", "spec.seed", "spec.objective",
             "provenance.sequencer_version", "provenance.posterior", "provenance.evidence_sha256",
             "provenance.model_config_sha256", "provenance.parameters",
             "provenance.parameters_sha256", "strategies", "wtp", "survival.months",
             "survival.os", "survival.pfs", "draws.cost_disc", "draws.qaly_disc",
             "flow.regimen_index_by_line", "flow.regimens", "incremental", "ceac.wtp",
             "ceaf.optimal", "ceaf.probability", "evpi.wtp", "evpi.per_patient")
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


def load_summary(run_dir: Path) -> dict:
    """Read and check ``RUN_DIR/summary.json``; a :class:`StageError` names what is wrong."""
    path = Path(run_dir) / "summary.json"
    rerun = f"run `sequencer cohort --out {run_dir} ...` to simulate the study first"
    if not path.is_file():
        raise StageError(f"{path}: not found (not a finished cohort run directory); {rerun}")
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StageError(f"{path}: not valid JSON ({exc}); {rerun}") from None
    if not isinstance(summary, dict):
        raise StageError(f"{path}: expected a JSON object at the top level; {rerun}")
    for dotted in _REQUIRED:
        node = summary
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                raise StageError(f"{path}: field '{dotted}' is missing (incomplete run); {rerun}")
            node = node[key]
    names = list(summary["strategies"])
    checks = {"strategies": bool(names),
              "incremental": len(summary["incremental"]) == len(names),
              "draws.cost_disc": all(len(r) == len(names) for r in summary["draws"]["cost_disc"]),
              "draws.qaly_disc": all(len(r) == len(names) for r in summary["draws"]["qaly_disc"]),
              "flow.regimen_index_by_line": len(summary["flow"]["regimen_index_by_line"])
              == len(names),
              "survival.os": set(summary["survival"]["os"]) == set(names),
              "survival.pfs": set(summary["survival"]["pfs"]) == set(names),
              "ceac": all(n in summary["ceac"] for n in names)}
    for field, ok in checks.items():
        if not ok:
            raise StageError(f"{path}: field '{field}' does not match the strategies {names}; "
                             f"{rerun}")
    for name, row in summary["strategies"].items():
        for key in [k for k, _, _ in _METRICS] + ["ae", "reach_line", "months_on_line"]:
            if key not in row:
                raise StageError(f"{path}: field 'strategies.{name}.{key}' is missing; {rerun}")
    return summary


def headline_rows(summary: dict) -> list[dict]:
    """One flat row per strategy: means and 95% CrIs of the headline outcomes."""
    rows = []
    for name, row in summary["strategies"].items():
        flat: dict = {"strategy": name}
        rmst = [k for k in row if k.startswith("rmst_os_")]
        for key in [k for k, _, _ in _METRICS] + rmst + ["ae"]:
            flat.update(_interval(key, row[key]))
        for line in range(2, MAX_LINES + 1):
            flat.update(_interval(f"reach_line_{line}", _by_line(row["reach_line"], line)))
        for line in range(1, MAX_LINES + 1):
            flat[f"months_on_line_{line}"] = _by_line(row["months_on_line"], line)
        rows.append(flat)
    return rows


def incremental_rows(summary: dict) -> list[dict]:
    """The incremental analysis records with their strategy names."""
    return [{"strategy": n, **r} for n, r in zip(summary["strategies"], summary["incremental"])]


def ceac_rows(summary: dict) -> list[dict]:
    """Acceptability, frontier and EVPI per patient at each WTP of the grid."""
    ceac, names = summary["ceac"], list(summary["strategies"])
    return [{"wtp": w, **{n: ceac[n][i] for n in names}, "frontier": summary["ceaf"]["optimal"][i],
             "frontier_probability": summary["ceaf"]["probability"][i],
             "evpi_per_patient": summary["evpi"]["per_patient"][i]}
            for i, w in enumerate(ceac["wtp"])]


def evppi_rows(summary: dict) -> list[dict]:
    """EVPPI per patient by parameter group at the study WTP (empty when not computed)."""
    evppi = summary.get("evppi") or {}
    return [{"group": g, "wtp": summary["wtp"], **v} for g, v in evppi.items()]


def reference_strategy(summary: dict) -> str:
    """The incremental analysis reference, else the strategy with the lowest mean cost."""
    names = list(summary["strategies"])
    for name, rec in zip(names, summary["incremental"]):
        if rec.get("ref_label") == "reference":
            return name
    return min(names, key=lambda n: summary["strategies"][n]["cost_disc"]["mean"])


def evpi_at_wtp(summary: dict) -> float:
    """EVPI per patient at the study WTP, interpolated on the WTP grid if needed."""
    grid = figures.as_array(summary["evpi"]["wtp"])
    return float(np.interp(summary["wtp"], grid, figures.as_array(summary["evpi"]["per_patient"])))


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


def render_html(summary: dict, run_dir: Path, digest: str, pngs: dict[str, bytes]) -> str:
    """The self-contained report page."""
    spec, prov, wtp = summary["spec"], summary["provenance"], summary["wtp"]
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
             _table(["option", "value"], [[k, json.dumps(v)] for k, v in spec.items()]),
             "<h2>Headline outcomes per strategy</h2>", _headline_table(summary),
             ("<p>L2-L4: share of patients reaching the line; months on line: mean time on the "
             "line among the patients who reach it (summary.json: strategies).</p>"),
             "<h2>Incremental analysis</h2>", _incremental_table(summary)]
    price = summary.get("price_of_parameter_uncertainty")
    if price:
        parts.append(f"<p>Price of parameter uncertainty (strategy re-optimised per draw minus "
                     f"the policy optimal at the posterior means, {_e(price['objective'])}): "
                     f"{_ci(price, '.4g')}.</p>")
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


def _write_figures(summary: dict, folder: Path) -> dict[str, bytes]:
    names, wtp = list(summary["strategies"]), summary["wtp"]
    figs = {"survival": figures.survival_figure(summary["survival"]),
            "ce_plane": figures.ce_plane_figure(names, summary["draws"]["cost_disc"],
                                                summary["draws"]["qaly_disc"],
                                                reference_strategy(summary), wtp),
            "ceac": figures.ceac_figure(summary["ceac"], summary["ceaf"], wtp),
            "evppi": figures.evppi_figure(summary.get("evppi"), wtp)}
    figs["flow"] = figures.flow_figure(names, summary["flow"]["regimen_index_by_line"],
                                       summary["flow"]["regimens"])
    pngs = {stem: figures.png_bytes(fig) for stem, fig in figs.items()}
    for stem, data in pngs.items():
        (folder / f"{stem}.png").write_bytes(data)
    return pngs


def _headline_table(summary: dict) -> str:
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


def _incremental_table(summary: dict) -> str:
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
            f"vs {ref}", f"ICER vs {ref}", f"NMB at WTP {summary['wtp']:,.0f}"]
    return _table(head, body, escape=False) + (
        "<p>Frontier ICERs compare each non-dominated strategy with the next less costly one; "
        "dominated and extendedly dominated strategies have no ICER (summary.json: incremental)."
        "</p>")


def _interval(key: str, value) -> dict:
    value = value if isinstance(value, dict) else {}
    return {f"{key}_{s}": value.get(s) for s in ("mean", "lower", "upper")}


def _by_line(values: dict, line: int):
    return values.get(str(line), values.get(line)) if isinstance(values, dict) else None


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

