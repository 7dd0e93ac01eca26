"""Plain-text tables for ``sequencer solve`` and ``sequencer explain``."""

from __future__ import annotations

import numpy as np

from sequencer.model.inputs import ModelInputs
from sequencer.model.states import State
from sequencer.solve.explain import ExplainRow
from sequencer.solve.objective import Budget, Objective
from sequencer.solve.policy import Policy
from sequencer.solve.solver import SolveResult
from sequencer.solve.testing_value import TestingValueRow, profile_label, profile_values

DISCLAIMER = ("Decision support, not a prescription: estimates come from trial-level evidence "
              "and stated assumptions; check eligibility and the evidence level of every option.")


def _profile_key(label: str) -> str:
    return label.replace("HER2+ ", "").lower().replace(" ", "-")


def _provenance(inputs: ModelInputs) -> str:
    p = inputs.provenance
    return (f"source: {p.get('posterior', '')} "
            f"(evidence sha256 {p.get('evidence_sha256', '')[:12]}); "
            f"parameters {p.get('parameters', '')} "
            f"(sha256 {p.get('parameters_sha256', '')[:12]}); "
            f"sequencer {p.get('sequencer_version', '')}")


def format_solve(result: SolveResult, policies: list[Policy], objective: Objective,
                 budget: Budget, wanted: list[str] | None, tree: bool, depth: int) -> str:
    model = result.policy.model
    inputs = model.inputs
    out = [
        f"objective: {objective.label()}; discount {inputs.discount_rate:.1%}/year; "
        f"information: {inputs.info.label()}; regimens: "
        + ("all (investigational opted in)" if inputs.include_investigational else
           "guideline / positive phase III only"),
        (f"model: {model.n_states} states, {model.n_pairs} (state, regimen) pairs, "
        f"{model.n_entries} transitions; built in {model.build_seconds:.2f} s; solved by "
        f"{result.method} in {result.wall_time:.3f} s ({result.describe()})"),
        "",
        (f"{'strategy':<22} {'profile':<18} {'share':>6}  {'first line':<36} {'value':>10} "
        f"{'LY':>6} {'QALY':>6} {'cost':>10} {'AE>=3':>6}"),
    ]
    for policy in policies:
        per_value = profile_values(policy.model, policy.value)
        parts: dict[str, np.ndarray] = {}
        shares: dict[str, float] = {}
        firsts: dict[str, str] = {}
        pm = policy.model
        for s in range(pm.n_states):
            w = pm.initial[s]
            if w > 0:
                label = profile_label(pm.states[s])
                parts[label] = parts.get(label, 0) + w * policy.parts[s]
                shares[label] = shares.get(label, 0) + w
                if not pm.states[s].known:
                    firsts[label] = policy.regimen(s)
        for label in sorted(per_value):
            if wanted and _profile_key(label) not in wanted:
                continue
            pp = parts[label] / shares[label]
            out.append(
                f"{policy.name:<22} {label:<18} {shares[label]:>6.1%}  "
                f"{firsts.get(label, ''):<36} {per_value[label]:>10.4g} {pp[0]:>6.2f} "
                f"{pp[1]:>6.2f} {pp[2]:>10,.0f} {pp[3]:>6.2f}"
            )
        c = policy.cohort_parts
        out.append(
            f"{policy.name:<22} {'cohort':<18} {1:>6.0%}  {'':<36} {policy.cohort_value:>10.4g} "
            f"{c['ly']:>6.2f} {c['qaly']:>6.2f} {c['cost']:>10,.0f} {c['toxicity']:>6.2f}"
        )
    if not budget.empty:
        out += ["", "budgets: " + ", ".join(f"{n} <= {lim:g} (used {result.budget_use[n]:.4g})"
                                             for n, _, lim in budget.constraints())]
        out.append(f"randomised optimum {result.randomised_value:.6g}; deterministic (MILP) "
                   f"{result.value:.6g}; price of determinism {result.price_of_determinism:.3g}"
                   + (f"; Lagrange multiplier {result.multiplier:.4g}"
                      if result.multiplier is not None else ""))
    if tree:
        seen = set()
        for s in range(model.n_states):
            state = model.states[s]
            label = profile_label(state)
            if model.initial[s] > 0 and not state.known and label not in seen:
                if wanted and _profile_key(label) not in wanted:
                    continue
                seen.add(label)
                out += ["", f"policy tree, {label}:", result.policy.tree(s, depth=depth)]
    out += ["", DISCLAIMER, _provenance(inputs)]
    return "\n".join(out)


def format_voi(rows: list[TestingValueRow], objective: Objective) -> str:
    out = ["", f"value of information ({objective.label()}; gain over no testing)",
           (f"{'information':<14} {'profile':<18} {'optimal value':>14} "
            f"{'value of information':>21}  first line")]
    for r in rows:
        out.append(f"{r.information:<14} {r.profile:<18} {r.value:>14.5g} "
                   f"{r.value_of_testing:>21.4g}  {r.first_line}")
    return "\n".join(out)


def format_explain(state: State, rows: list[ExplainRow], objective: Objective,
                   inputs: ModelInputs) -> str:
    out = [
        f"state: {state.label()}; received: {', '.join(sorted(state.received)) or 'none'}",
        f"objective: {objective.label()} (this regimen now, the optimal sequence afterwards)",
        "",
        (f"{'':2}{'regimen':<36} {'value':>10} {'LY':>6} {'QALY':>6} {'cost':>10} {'AE>=3':>6} "
        f"{'months':>6} {'P(death/prog/tox)':>18}  evidence"),
    ]
    for r in rows:
        if r.eligible:
            value, parts, months, ev = r.estimates()
            out.append(
                f"{'* ' if r.best else '  '}{r.regimen:<36} {value:>10.4g} {parts['ly']:>6.2f} "
                f"{parts['qaly']:>6.2f} {parts['cost']:>10,.0f} {parts['toxicity']:>6.2f} "
                f"{months:>6.1f} {ev['death']:>6.2f}/{ev.get('progression', 0):.2f}/"
                f"{ev.get('toxicity', 0):.2f}  {r.evidence_level}; {r.sources}"
            )
        else:
            out.append(f"  {r.regimen:<36} not eligible: {r.reason}")
    out += ["", ("* = recommended; months = expected time on the line; AE>=3 = expected grade >= 3 "
            "AE episodes over this and later lines"), DISCLAIMER, _provenance(inputs)]
    return "\n".join(out)
