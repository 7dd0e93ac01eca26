"""Human-readable rendering of one trial's evidence records."""

from __future__ import annotations

from sequencer.evidence.schema import SurvivalSummary, TrialRecord


def _survival(s: SurvivalSummary | None) -> str:
    if s is None:
        return "-"
    if s.not_reached:
        text = "NR"
    elif s.median is None:
        text = "-"
    else:
        text = f"{s.median:g}"
        if s.lower is not None:
            upper = "NE" if s.upper_not_reached else f"{s.upper:g}"
            text += f" ({s.lower:g}-{upper})"
    if s.events is not None:
        text += f" [{s.events} events]"
    return text


def format_trial(t: TrialRecord) -> str:
    c = t.citation
    lines = [
        f"{t.trial}: phase {t.phase}, {t.design}, line {t.line}"
        + (f" ({t.line_note})" if t.line_note else "") + f", region {t.region}",
        f"  citation: {c.authors} {c.title or ''} {c.journal} {c.year}"
        + (f" doi:{c.doi}" if c.doi else "") + (f" [{c.seed}]" if c.seed else ""),
    ]
    if t.setting:
        lines.append(f"  setting: {t.setting}")
    if t.analysis:
        lines.append(f"  analysis: {t.analysis}")
    if t.followup_months:
        lines.append(f"  median follow-up: {t.followup_months:g} months")
    lines.append("  arms (medians in months, 95% CI):")
    for a in t.arms:
        orr = f"{100 * a.orr.proportion:.1f}%" if a.orr else "-"
        ae = (f"{100 * a.grade3_ae.proportion:.1f}% ({a.grade3_ae.definition})"
              if a.grade3_ae else "-")
        lines.append(
            f"    {a.id}: {a.regimen} [{a.population.label}] n={a.n if a.n else 'not published'}"
        )
        lines.append(f"      PFS {_survival(a.pfs)}; OS {_survival(a.os)}; ORR {orr}; "
                     f"grade>=3 AE {ae}")
        for named in a.named_aes:
            lines.append(
                f"      {named.name} (grade {named.grade}): {100 * named.proportion:.1f}%"
            )
    if t.contrasts:
        lines.append("  hazard ratios (experimental vs reference):")
    for k in t.contrasts:
        ci = (f" ({k.lower:g}-{k.upper:g}, {100 * k.ci_level:g}% CI)"
              if k.lower is not None else " (no CI)")
        p = f", p={k.p_value:g}" if k.p_value is not None else ""
        lines.append(
            f"    {k.endpoint.upper()}: {k.experimental} vs {k.reference}: HR {k.hr:g}{ci}{p}"
        )
    for note in t.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)
