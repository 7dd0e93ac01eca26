"""The ``sequencer`` command line: evidence, fit, estimates, ppc."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from sequencer.errors import SequencerError

app = typer.Typer(
    help="Treatment-sequencing optimisation for HER2-positive advanced gastric/GEJ cancer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
evidence_app = typer.Typer(help="Inspect and validate the trial evidence base.",
                           no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")

PriorsDir = Annotated[
    Path | None,
    typer.Option("--priors-dir", help="folder holding regimens.yaml, evidence/ and posteriors"),
]


class LikelihoodChoice(StrEnum):
    exponential = "exponential"
    weibull = "weibull"


class SamplerChoice(StrEnum):
    nutpie = "nutpie"
    pymc = "pymc"


def _default_priors() -> Path:
    from sequencer.evidence.load import DEFAULT_PRIORS_DIR

    return DEFAULT_PRIORS_DIR


def _fail(exc: Exception | str) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


@evidence_app.command("list")
def evidence_list(priors_dir: PriorsDir = None) -> None:
    """One line per trial: phase, design, line, region, arms, contrasts, citation."""
    from sequencer.evidence.load import load_evidence

    try:
        ev = load_evidence(priors_dir or _default_priors())
    except SequencerError as exc:
        _fail(exc)
    typer.echo(f"{'trial':<22} {'phase':<5} {'design':<10} {'line':<4} {'region':<8} "
               "arms  HRs  citation")
    for t in ev.trials:
        cit = f"{t.citation.authors.split(',')[0]}, {t.citation.journal} {t.citation.year}"
        typer.echo(
            f"{t.trial:<22} {t.phase:<5} {t.design:<10} {t.line:<4} {t.region:<8} "
            f"{len(t.arms):>4} {len(t.contrasts):>4}  {cit}"
        )
    typer.echo(f"{len(ev.trials)} trials; evidence sha256 {ev.sha256[:12]}")


@evidence_app.command("show")
def evidence_show(
    trial: Annotated[str, typer.Argument(help="trial id, e.g. KEYNOTE-811 (case-insensitive)")],
    priors_dir: PriorsDir = None,
) -> None:
    """Every record of one trial: arms, contrasts, citation and notes."""
    from sequencer.evidence.load import load_evidence
    from sequencer.reports.evidence import format_trial

    try:
        typer.echo(format_trial(load_evidence(priors_dir or _default_priors()).trial(trial)))
    except SequencerError as exc:
        _fail(exc)


@evidence_app.command("check")
def evidence_check(priors_dir: PriorsDir = None) -> None:
    """Validate every evidence file and the regimen catalogue; exit 1 on the first error."""
    from sequencer.evidence.check import main

    raise typer.Exit(code=main([str(priors_dir or _default_priors())]))


@app.command()
def fit(
    seed: Annotated[int, typer.Option(help="sampler seed")] = 2026,
    likelihood: Annotated[
        LikelihoodChoice, typer.Option(help="survival likelihood")
    ] = LikelihoodChoice.exponential,
    hold_out: Annotated[
        str | None,
        typer.Option("--hold-out",
                     help="refit without this trial and report where its results fall"),
    ] = None,
    draws: Annotated[int, typer.Option(help="draws per chain after tuning")] = 1000,
    tune: Annotated[int, typer.Option(help="tuning draws per chain")] = 1000,
    chains: Annotated[int, typer.Option(help="chains (>= 4 for the diagnostics thresholds)")] = 4,
    sampler: Annotated[
        SamplerChoice, typer.Option(help="NUTS implementation")
    ] = SamplerChoice.nutpie,
    priors_dir: PriorsDir = None,
    checks_dir: Annotated[
        Path | None,
        typer.Option(help="where the check tables and plots go (default PRIORS_DIR/checks)"),
    ] = None,
) -> None:
    """Fit the Bayesian model to the evidence, check it, and save the posterior."""
    from sequencer.bayes import ppc
    from sequencer.bayes.config import ModelConfig, SamplerConfig
    from sequencer.bayes.diagnostics import diagnose
    from sequencer.bayes.fit import fit as run_fit
    from sequencer.bayes.fit import posterior_path, save_posterior
    from sequencer.bayes.holdout import hold_out as run_hold_out
    from sequencer.evidence.load import load_evidence

    priors_dir = priors_dir or _default_priors()
    checks_dir = checks_dir or priors_dir / "checks"
    config = ModelConfig(likelihood=likelihood.value)
    sampler_config = SamplerConfig(draws=draws, tune=tune, chains=chains, sampler=sampler.value)
    try:
        ev = load_evidence(priors_dir)
        if hold_out:
            result, rows = run_hold_out(ev, hold_out, config, sampler_config, seed)
        else:
            result = run_fit(ev, config, sampler_config, seed)
    except SequencerError as exc:
        _fail(exc)
    typer.echo(
        f"fitted {len(result.data.trials)} trials ({len(result.data.medians.y)} medians, "
        f"{len(result.data.hrs.y)} HRs, {len(result.data.binomial.k)} binomial counts) with "
        f"{sampler.value}, {likelihood.value} likelihood, seed {seed}: {result.wall_time:.1f} s"
    )
    if result.data.unused:
        typer.echo("observations not used (cannot be weighed):\n  "
                   + "\n  ".join(result.data.unused))
    diag = diagnose(result.idata)
    typer.echo(diag.report())
    if hold_out:
        name = f"holdout-{hold_out.lower()}"
        ppc.write_csv(rows, checks_dir / f"{name}.csv")
        typer.echo(ppc.format_table(rows))
        typer.echo(f"wrote {checks_dir / (name + '.csv')}")
    else:
        rows = ppc.posterior_predictive_check(result.idata, ev, config, seed)
        suffix = "" if likelihood.value == "exponential" else f"-{likelihood.value}"
        ppc.write_csv(rows, checks_dir / f"ppc{suffix}.csv")
        ppc.forest_plot(rows, checks_dir / f"ppc{suffix}.png",
                        f"Posterior predictive check ({likelihood.value})")
        typer.echo(ppc.format_table(rows))
        typer.echo(f"wrote {checks_dir / f'ppc{suffix}.csv'} and "
                   f"{checks_dir / f'ppc{suffix}.png'}")
    if not diag.ok:
        typer.echo("diagnostics FAILED: the posterior was not saved", err=True)
        raise typer.Exit(code=1)
    if not hold_out:
        path = save_posterior(result.idata, posterior_path(priors_dir, likelihood.value))
        typer.echo(f"wrote {path}")


@app.command()
def estimates(
    likelihood: Annotated[
        LikelihoodChoice, typer.Option(help="which fitted posterior")
    ] = LikelihoodChoice.exponential,
    priors_dir: PriorsDir = None,
) -> None:
    """Print line-specific estimates (median PFS/OS, ORR, grade >= 3 AEs) from the posterior."""
    from sequencer.bayes.config import ModelConfig
    from sequencer.bayes.fit import load_posterior, posterior_path
    from sequencer.evidence.load import load_evidence
    from sequencer.model.parameter_set import PosteriorParameters
    from sequencer.reports.estimates import estimate_rows, format_estimates

    priors_dir = priors_dir or _default_priors()
    try:
        ev = load_evidence(priors_dir)
        idata = load_posterior(
            posterior_path(priors_dir, likelihood.value), ev,
            ModelConfig(likelihood=likelihood.value),
        )
    except SequencerError as exc:
        _fail(exc)
    params = PosteriorParameters.from_posterior(idata, ev)
    typer.echo(format_estimates(estimate_rows(params, ev), params.provenance))


@app.command("ppc")
def ppc_command(
    likelihood: Annotated[
        LikelihoodChoice, typer.Option(help="which fitted posterior")
    ] = LikelihoodChoice.exponential,
    seed: Annotated[int, typer.Option(help="seed of the predictive draws")] = 2026,
    priors_dir: PriorsDir = None,
) -> None:
    """Posterior predictive check of the saved posterior against every reported median and HR."""
    from sequencer.bayes import ppc
    from sequencer.bayes.config import ModelConfig
    from sequencer.bayes.fit import load_posterior, posterior_path
    from sequencer.evidence.load import load_evidence

    priors_dir = priors_dir or _default_priors()
    config = ModelConfig(likelihood=likelihood.value)
    try:
        ev = load_evidence(priors_dir)
        idata = load_posterior(posterior_path(priors_dir, likelihood.value), ev, config)
    except SequencerError as exc:
        _fail(exc)
    typer.echo(ppc.format_table(ppc.posterior_predictive_check(idata, ev, config, seed)))


# the other commands register themselves on ``app`` (they import it, so they come last)
from sequencer import cli_report, cli_serve, cli_simulate, cli_solve  # noqa: E402, F401


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
