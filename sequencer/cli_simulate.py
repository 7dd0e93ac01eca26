"""``sequencer cohort``: a cohort policy study simulated on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sequencer.cli import PriorsDir, _default_priors, _fail, app
from sequencer.cli_solve import InfoOpt, InvestigationalOpt, ObjectiveChoice, ObjectiveOpt, WtpOpt
from sequencer.errors import SequencerError


@app.command()
def cohort(
    out: Annotated[Path, typer.Option("--out", help="run directory (created; resumed if it exists)")],
    strategies: Annotated[str, typer.Option(
        help="comma list: optimal (re-optimised per draw; adds optimal-mean), optimal-mean, or "
             "names in policies/")] = "optimal,guideline",
    draws: Annotated[int, typer.Option(help="joint posterior and parameter draws")] = 1000,
    patients: Annotated[int, typer.Option(help="simulated patients per draw and strategy")] = 10000,
    seed: Annotated[int, typer.Option(help="seed of every random stream of the study")] = 2026,
    chunk: Annotated[int, typer.Option(help="patients per shard")] = 10000,
    workers: Annotated[int | None, typer.Option(
        help="local Ray CPUs (default: all; a cluster at RAY_ADDRESS uses its own)")] = None,
    objective: ObjectiveOpt = ObjectiveChoice.qaly,
    wtp: WtpOpt = 30000.0,
    info: InfoOpt = "none",
    investigational: InvestigationalOpt = False,
    reference: Annotated[str | None, typer.Option(
        help="strategy the incremental results are against (default: the cheapest)")] = None,
    histories: Annotated[int, typer.Option(help="patients of draw 0 whose line histories are kept")] = 1000,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress line")] = False,
    priors_dir: PriorsDir = None,
) -> None:
    """Simulate patients through each strategy under posterior and parameter uncertainty."""
    from sequencer.model.load import load_sources
    from sequencer.reports.cohort import format_summary, write_outputs
    from sequencer.simulate.runner import run_study
    from sequencer.simulate.study import StudySpec, draw_parameters
    from sequencer.simulate.summary import read_draws, summarise

    try:
        spec = StudySpec(tuple(s.strip() for s in strategies.split(",") if s.strip()), draws,
                         patients, seed, chunk, objective.value, wtp, info, investigational,
                         histories).validate()
        if reference is not None and reference not in spec.all_strategies:
            raise SequencerError(f"reference: {reference!r} is not one of the study's "
                                 f"strategies {list(spec.all_strategies)}")
        sources = load_sources(priors_dir or _default_priors())
        run_dir = run_study(spec, out, workers=workers, sources=sources, progress=not quiet)
        names, values = draw_parameters(sources, spec)
        summary = summarise(read_draws(run_dir, spec), spec, values, names, reference)
        write_outputs(run_dir, summary, spec.to_json(), sources.provenance())
    except (SequencerError, ValueError) as exc:
        _fail(exc)
    typer.echo(format_summary(summary))
    typer.echo(f"\nwritten to {run_dir}: summary.json, strategies.csv, incremental.csv, ceac.csv, "
               "shards/, histories/")
