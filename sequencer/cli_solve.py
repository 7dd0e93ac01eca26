"""``sequencer solve`` and ``sequencer explain``: the decision model on the command line."""

from __future__ import annotations

from enum import Enum, StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sequencer.cli import PriorsDir, _default_priors, _fail, app
from sequencer.errors import SequencerError
from sequencer.vocabulary import (
    CPS_BANDS,
    HER2_STATUSES,
    LINES,
    OBJECTIVE_KINDS,
    default_vocabulary,
    ids,
)

if TYPE_CHECKING:  # pragma: no cover
    from sequencer.model.inputs import ModelInputs
    from sequencer.model.load import ModelSources
    from sequencer.model.states import InformationStrategy

# the choices are the vocabulary's objective kinds (one enumeration); mypy cannot read the
# members of a functional Enum built from a computed mapping
ObjectiveChoice = Enum(  # type: ignore[misc]
    "ObjectiveChoice", {k: k for k in ids(OBJECTIVE_KINDS)}, type=str)
_QALY = ObjectiveChoice("qaly")  # the commands' default objective
_DEFAULT_TERMS = default_vocabulary()
_LINES = ", ".join(str(line) for line in LINES)
_HER2 = ", ".join(ids(HER2_STATUSES))
_CPS = ", ".join(ids(CPS_BANDS))
_MECHANISMS = ", ".join(_DEFAULT_TERMS.mechanism_ids)
_CONTRA = ", ".join(_DEFAULT_TERMS.contraindication_ids)


class MethodChoice(StrEnum):
    auto = "auto"
    backward = "backward"
    lp = "lp"


ObjectiveOpt = Annotated[ObjectiveChoice, typer.Option(help="; ".join(
    f"{o.id}: {o.summary.format(wtp='--wtp')}" for o in OBJECTIVE_KINDS))]
WtpOpt = Annotated[float, typer.Option("--wtp", help="willingness to pay per QALY (nmb objective)")]
DiscountOpt = Annotated[
    float | None, typer.Option(help="annual discount rate (default: parameters meta, NICE 3.5%)")
]
InfoOpt = Annotated[
    str, typer.Option("--info", help="'none' or a comma list of baseline_ngs, ctdna, rebiopsy")
]
InvestigationalOpt = Annotated[
    bool, typer.Option("--investigational", help="also offer phase II and investigational regimens")
]
MaxLinesOpt = Annotated[int, typer.Option(help=f"active lines before supportive care ({_LINES})")]
ParametersOpt = Annotated[
    Path | None,
    typer.Option("--parameters", help="parameter file (default priors/parameters.yaml)"),
]


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _inputs(priors_dir: Path | None, parameters: Path | None, info: str, investigational: bool,
            max_lines: int, discount: float | None) -> tuple[ModelSources, ModelInputs]:
    from sequencer.model.load import load_sources
    from sequencer.model.states import InformationStrategy

    sources = load_sources(priors_dir or _default_priors(), parameters)
    inputs = partial(sources.inputs, info=InformationStrategy.parse(info),
                     include_investigational=investigational, max_lines=max_lines)
    # no discount given: the parameter file's default
    return sources, inputs() if discount is None else inputs(discount_rate=discount)


@app.command()
def solve(
    objective: ObjectiveOpt = _QALY,
    wtp: WtpOpt = 30000.0,
    discount: DiscountOpt = None,
    info: InfoOpt = "none",
    investigational: InvestigationalOpt = False,
    max_lines: MaxLinesOpt = 3,
    profile: Annotated[
        str, typer.Option(help="'all' or a comma list of cps<1, cps1-9, cps>=10")] = "all",
    budget_toxicity: Annotated[
        float | None, typer.Option(help="max expected grade>=3 AE episodes per patient")] = None,
    budget_cost: Annotated[
        float | None, typer.Option(help="max discounted cost per patient")] = None,
    budget_preset: Annotated[
        str | None, typer.Option(help="a preset of policies/budgets.yaml")] = None,
    method: Annotated[
        MethodChoice, typer.Option(help="backward induction or the occupation LP")
    ] = MethodChoice.auto,
    lp_solver: Annotated[str, typer.Option(help="glop, pdlp or highs")] = "glop",
    milp_solver: Annotated[str, typer.Option(
        help="highs, scip, or branch (branch and bound over the states' choices; the same "
             "optimum, faster)")] = "highs",
    strategy: Annotated[
        str | None, typer.Option(help="comma list of named strategies to evaluate too")] = None,
    tree: Annotated[
        bool, typer.Option("--tree", help="print the policy tree of each profile")] = False,
    depth: Annotated[int, typer.Option(help="tree depth (lines)")] = 3,
    table: Annotated[
        Path | None, typer.Option(help="write the policy table (CSV) here")] = None,
    voi: Annotated[
        bool, typer.Option("--voi", help="value of information of each test strategy")] = False,
    priors_dir: PriorsDir = None,
    parameters: ParametersOpt = None,
) -> None:
    """Optimal adaptive sequence for the HER2-positive cohort (and each biomarker profile)."""
    from sequencer.io import write_text_atomic
    from sequencer.model.build import DecisionModel, build_model, cohort_roots
    from sequencer.reports.solve import format_solve, format_voi
    from sequencer.solve.objective import Objective
    from sequencer.solve.policy import policies_csv
    from sequencer.solve.solver import solve as run_solve
    from sequencer.solve.strategies import named_strategy_policies, resolve_budget
    from sequencer.solve.testing_value import value_of_testing

    try:
        goal = Objective(objective.value, wtp)
        budget = resolve_budget(budget_toxicity, budget_cost, budget_preset)
        sources, inputs = _inputs(priors_dir, parameters, info, investigational, max_lines,
                                  discount)
        model = build_model(inputs, cohort_roots(inputs))
        result = run_solve(model, goal, budget, method.value, lp_solver, milp_solver)

        def with_investigational() -> DecisionModel:
            full = sources.inputs(info=inputs.info, include_investigational=True,
                                  max_lines=max_lines, discount_rate=inputs.discount_rate)
            return build_model(full, cohort_roots(full))

        policies = [result.policy, *named_strategy_policies(model, _split(strategy), goal,
                                                            with_investigational)]
        wanted = None if profile == "all" else _split(profile)
        typer.echo(format_solve(result, policies, goal, budget, wanted, tree, depth))
        if table is not None:
            write_text_atomic(table, policies_csv(policies))
            typer.echo(f"wrote {table}")
        if voi:
            def make(strategy_info: InformationStrategy) -> ModelInputs:
                return sources.inputs(info=strategy_info, include_investigational=investigational,
                                      max_lines=max_lines, discount_rate=inputs.discount_rate)
            typer.echo(format_voi(value_of_testing(make, goal), goal))
    except (SequencerError, ValueError) as exc:
        _fail(exc)


@app.command()
def explain(
    line: Annotated[int, typer.Option(help=f"line about to start ({_LINES})")] = 1,
    her2: Annotated[str, typer.Option(help=f"HER2 status: {_HER2}")] = "positive",
    cps: Annotated[str, typer.Option(help=f"PD-L1 CPS band: {_CPS}")] = ">=10",
    msi_high: Annotated[bool, typer.Option("--msi-high", help="MSI-high tumour")] = False,
    known: Annotated[str, typer.Option(help="comma list of known alterations, among the priors' "
                                            f"vocabulary.yaml mechanisms ({_MECHANISMS})")] = "",
    received: Annotated[str, typer.Option(help="comma list of regimens of earlier lines")] = "",
    contraindications: Annotated[str, typer.Option(
        help=f"comma list among the priors' vocabulary.yaml contraindications ({_CONTRA})")] = "",
    progressed_on_her2: Annotated[bool, typer.Option(
        "--progressed-on-her2", help="has progressed on anti-HER2 therapy (default: whether a "
                                     "received regimen is HER2-directed)")] = False,
    objective: ObjectiveOpt = _QALY,
    wtp: WtpOpt = 30000.0,
    discount: DiscountOpt = None,
    info: InfoOpt = "none",
    investigational: InvestigationalOpt = False,
    max_lines: MaxLinesOpt = 3,
    tree: Annotated[bool, typer.Option("--tree", help="also print the adaptive plan")] = False,
    priors_dir: PriorsDir = None,
    parameters: ParametersOpt = None,
) -> None:
    """For one patient state: every regimen at this line, its value and the parts of it."""
    from sequencer.model.build import build_model
    from sequencer.model.states import patient_state
    from sequencer.reports.solve import format_explain
    from sequencer.solve.backward import solve_backward
    from sequencer.solve.explain import explain_state
    from sequencer.solve.objective import Objective
    from sequencer.solve.policy import Policy

    try:
        goal = Objective(objective.value, wtp)
        _, inputs = _inputs(priors_dir, parameters, info, investigational, max_lines, discount)
        state = patient_state(
            inputs.catalogue, line=line, her2=her2, cps=cps, msi_high=msi_high,
            known=_split(known), received=_split(received),
            contraindications=_split(contraindications),
            progressed_on_her2=True if progressed_on_her2 else None)
        model = build_model(inputs, {state: 1.0})
        rows = explain_state(inputs, state, goal, model)
        typer.echo(format_explain(state, rows, goal, inputs))
        if tree:
            policy = Policy.from_sweep(model, goal, solve_backward(model, goal.weights()))
            typer.echo("\nadaptive plan:\n" + policy.tree(state, depth=3))
    except (SequencerError, ValueError) as exc:
        _fail(exc)
