"""``sequencer cohort``: a cohort policy study simulated on Ray."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from sequencer.cli import PriorsDir, _default_priors, _fail, app
from sequencer.cli_solve import (
    InfoOpt,
    InvestigationalOpt,
    ObjectiveChoice,
    ObjectiveOpt,
    WtpOpt,
)
from sequencer.errors import SequencerError

_DEFAULT_OBJECTIVE = ObjectiveChoice("qaly")  # the member by value: its members are built at import


def _ray_address() -> str | None:
    """The Ray cluster the command line runs on: ``RAY_ADDRESS`` (Ray's own variable), or
    None for a local Ray."""
    return os.environ.get("RAY_ADDRESS") or None


@app.command()
def cohort(
    out: Annotated[Path, typer.Option(
        "--out", help="run directory (created; resumed if it exists)")],
    strategies: Annotated[str, typer.Option(
        help="comma list: optimal (re-optimised per draw; adds optimal-mean), optimal-mean, or "
             "names in policies/")] = "optimal,guideline",
    draws: Annotated[int, typer.Option(help="joint posterior and parameter draws")] = 1000,
    patients: Annotated[int, typer.Option(help="simulated patients per draw and strategy")] = 10000,
    seed: Annotated[int, typer.Option(help="seed of every random stream of the study")] = 2026,
    chunk: Annotated[int, typer.Option(help="patients per shard")] = 10000,
    workers: Annotated[int | None, typer.Option(
        help="local Ray CPUs (default: all; a cluster at RAY_ADDRESS uses its own)")] = None,
    objective: ObjectiveOpt = _DEFAULT_OBJECTIVE,
    wtp: WtpOpt = 30000.0,
    info: InfoOpt = "none",
    investigational: InvestigationalOpt = False,
    reference: Annotated[str | None, typer.Option(
        help="strategy the incremental results are against (default: the cheapest)")] = None,
    histories: Annotated[int, typer.Option(
        help="patients of draw 0 whose line histories are kept")] = 1000,
    cohort_file: Annotated[Path | None, typer.Option(
        "--cohort", help="CSV of patients (pdl1_cps or cps_band, msi_high, known_alterations); "
                         "default: drawn from the prevalences")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress line")] = False,
    priors_dir: PriorsDir = None,
) -> None:
    """Simulate patients through each strategy under posterior and parameter uncertainty."""
    from sequencer.model.load import load_sources
    from sequencer.reports.cohort import finish_study, format_summary
    from sequencer.simulate.runner import run_study
    from sequencer.simulate.study import StudySpec

    try:
        spec = StudySpec(tuple(s.strip() for s in strategies.split(",") if s.strip()), draws,
                         patients, seed, chunk, objective.value, wtp, info, investigational,
                         histories)
        sources = load_sources(priors_dir or _default_priors())
        vocabulary = sources.evidence.catalogue.vocabulary
        if cohort_file is not None:
            spec = spec.with_cohort(str(cohort_file), vocabulary)
        spec = spec.validate(vocabulary)
        if reference is not None and reference not in spec.all_strategies:
            raise SequencerError(f"reference: {reference!r} is not one of the study's "
                                 f"strategies {list(spec.all_strategies)}")
        run_dir = run_study(spec, out, workers=workers, sources=sources, progress=not quiet,
                            address=_ray_address())
        summary = finish_study(run_dir, spec, sources, reference)
    except (SequencerError, ValueError) as exc:
        _fail(exc)
    typer.echo(format_summary(summary))
    typer.echo(f"\nwritten to {run_dir}: summary.json, strategies.csv, incremental.csv, ceac.csv, "
               "shards/, histories/")


@app.command()
def trial(
    arm_a: Annotated[str, typer.Option("--arm-a", help="control arm: a strategy name or optimal")],
    arm_b: Annotated[str, typer.Option("--arm-b", help="experimental arm")],
    n_per_arm: Annotated[int, typer.Option(help="patients per arm")] = 300,
    accrual_months: Annotated[float, typer.Option(help="uniform accrual period")] = 24.0,
    follow_up_months: Annotated[float, typer.Option(
        help="follow-up after the last patient enters")] = 12.0,
    reps: Annotated[int, typer.Option(help="simulated trials")] = 2000,
    draws: Annotated[int, typer.Option(
        help="posterior and parameter draws the trials spread over")] = 100,
    alpha: Annotated[float, typer.Option(
        help="two-sided significance level of the log-rank test")] = 0.05,
    target_power: Annotated[float, typer.Option(
        help="power the sample-size search aims for")] = 0.8,
    n_max: Annotated[int, typer.Option(
        help="largest n per arm the sample-size search tries")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of every random stream")] = 2026,
    workers: Annotated[int | None, typer.Option(help="local Ray CPUs (default: all)")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="write trial.json here (a directory)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress line")] = False,
    priors_dir: PriorsDir = None,
) -> None:
    """Simulated sequencing trials: power, HR and medians per arm, sample size for a power."""
    import json
    from dataclasses import asdict

    from sequencer.io import write_text_atomic
    from sequencer.model.load import load_sources
    from sequencer.simulate.runner import run_trial
    from sequencer.simulate.trial import TrialSpec, summarise_trial

    try:
        spec = TrialSpec(arm_a, arm_b, n_per_arm, accrual_months, follow_up_months, reps, seed,
                         draws, alpha, target_power, max(n_max, n_per_arm)).validate()
        sources = load_sources(priors_dir or _default_priors())
        result = summarise_trial(run_trial(spec, workers, sources, progress=not quiet,
                                           address=_ray_address()), spec)
    except (SequencerError, ValueError) as exc:
        _fail(exc)
    hr = result.hr
    typer.echo(f"{reps} simulated trials, {n_per_arm} patients per arm, accrual "
               f"{accrual_months:g} months, follow-up {follow_up_months:g} months, "
               f"{result.events:.0f} deaths at the analysis on average")
    typer.echo(f"power of the log-rank test at alpha {alpha:g}: {result.power:.3f} "
               f"(Monte Carlo SE {result.power_se:.3f}), under the posterior")
    typer.echo(f"estimated HR ({arm_b} vs {arm_a}): median {hr['median']:.3f}, 95% of trials "
               f"{hr['lower']:.3f} to {hr['upper']:.3f}")
    for name, m in result.median_os.items():
        typer.echo(f"median OS {name}: {m['mean']:.1f} months (95% of trials {m['lower']:.1f} "
                   f"to {m['upper']:.1f})")
    size = result.sample_size
    typer.echo(f"patients per arm for {target_power:.0%} power: "
               + (f"{size}" if size else f"more than {spec.n_max} (raise --n-max)"))
    if out is not None:
        payload = {"spec": json.loads(spec.to_json()), "provenance": sources.provenance(),
                   **asdict(result)}
        write_text_atomic(out / "trial.json", json.dumps(payload, indent=2))


@app.command()
def calibrate(
    draws: Annotated[int, typer.Option(help="joint posterior and parameter draws")] = 200,
    seed: Annotated[int, typer.Option(help="seed of every random stream")] = 2026,
    out: Annotated[Path | None, typer.Option(
        "--out", help="write calibration.csv here (a directory)")] = None,
    priors_dir: PriorsDir = None,
) -> None:
    """Simulated vs reported median OS and PFS of the trial-like sequences in
    policies/calibration.yaml."""
    import csv

    from sequencer.io import write_atomic
    from sequencer.model.load import load_sources
    from sequencer.simulate.calibration import calibrate as run_calibration
    from sequencer.simulate.calibration import format_calibration

    try:
        if draws < 1:
            raise SequencerError(f"draws: expected a positive integer, got {draws}")
        sources = load_sources(priors_dir or _default_priors())
        rows = run_calibration(sources, draws, seed)
    except (SequencerError, ValueError) as exc:
        _fail(exc)
    typer.echo(format_calibration(rows))
    if out is not None:
        def write_rows(tmp: Path) -> None:
            with tmp.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)

        write_atomic(out / "calibration.csv", write_rows)
