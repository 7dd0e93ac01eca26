"""The command line: every subcommand has --help, and errors are messages, not tracebacks."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from sequencer.cli import app

runner = CliRunner()


def _command_paths(command=None, path=()) -> list[tuple[str, ...]]:
    """Every command and sub-command registered on the typer app, read from the app itself
    (the click group typer builds), so a new command is covered without editing this file."""
    command = command if command is not None else typer.main.get_command(app)
    paths = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths += _command_paths(sub, (*path, name))
    return paths


COMMANDS = _command_paths()


def test_every_command_is_enumerated():
    """At least the 15 known on 2026-12-06: the app itself, its 11 commands (calibrate, cohort,
    estimates, evidence, explain, fit, ppc, report, serve, solve, trial) and evidence's 3
    (list, show, check); fewer means the enumeration broke and test_help would pass vacuously."""
    assert len(COMMANDS) >= 15
    assert {("evidence", "check"), ("serve",), ("trial",)} <= set(COMMANDS)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda path: " ".join(path) or "sequencer")
def test_help(args):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    # "Usage: <program> evidence show [OPTIONS] ...": the help is that command's own
    assert usage.split("Usage:")[1].split()[1:1 + len(args)] == list(args)


def test_evidence_commands():
    listed = runner.invoke(app, ["evidence", "list"])
    assert listed.exit_code == 0
    assert "DESTINY-Gastric04" in listed.output and "21 trials" in listed.output
    shown = runner.invoke(app, ["evidence", "show", "toga"])
    assert shown.exit_code == 0 and "HR 0.74 (0.6-0.91, 95% CI)" in shown.output
    missing = runner.invoke(app, ["evidence", "show", "NOPE-1"])
    assert missing.exit_code == 2 and "unknown trial 'NOPE-1'" in missing.output
    assert runner.invoke(app, ["evidence", "check"]).exit_code == 0


def test_estimates_print_provenance():
    result = runner.invoke(app, ["estimates"])
    assert result.exit_code == 0
    assert "trastuzumab_deruxtecan" in result.output and "evidence sha256" in result.output


def test_estimates_refuse_missing_posterior(priors_copy):
    result = runner.invoke(app, ["estimates", "--priors-dir", str(priors_copy)])
    assert result.exit_code == 2 and "run `sequencer fit --seed 2026` first" in result.output


def test_solve_prints_the_policy_and_compares_strategies(tmp_path):
    from typer.testing import CliRunner

    from sequencer.cli import app

    table = tmp_path / "policy.csv"
    result = CliRunner().invoke(app, ["solve", "--tree", "--depth", "2", "--profile", "cps>=10",
                                      "--strategy", "guideline", "--table", str(table)])
    assert result.exit_code == 0, result.output
    assert "pembrolizumab_trastuzumab_chemo" in result.output
    assert "trastuzumab_deruxtecan" in result.output  # second line in the tree
    assert "Decision support, not a prescription" in result.output
    header = table.read_text().splitlines()[0]
    assert header.startswith("strategy,line,state,regimen,reach_probability")
    assert any(line.startswith("guideline,") for line in table.read_text().splitlines())


def test_explain_lists_every_regimen_and_rejects_bad_fields():
    from typer.testing import CliRunner

    from sequencer.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["explain", "--line", "2", "--cps", "1-9", "--progressed-on-her2",
                                 "--received", "pembrolizumab_trastuzumab_chemo"])
    assert result.exit_code == 0, result.output
    assert "* trastuzumab_deruxtecan" in result.output
    assert "ramucirumab_paclitaxel" in result.output
    assert "not eligible" in result.output  # e.g. opt-in phase II regimens
    bad = runner.invoke(app, ["explain", "--cps", "5"])
    assert bad.exit_code == 2 and "cps: '5' is not one of" in bad.output
    bad = runner.invoke(app, ["explain", "--received", "tdxd"])
    assert bad.exit_code == 2 and "received: unknown regimen id 'tdxd'" in bad.output
    bad = runner.invoke(app, ["solve", "--budget-cost", "1"])
    assert bad.exit_code == 2 and "least achievable" in bad.output


@pytest.mark.parametrize("command", [["solve"], ["cohort", "--draws", "2", "--patients", "10"]])
def test_solve_and_cohort_refuse_a_posterior_of_another_likelihood(command, weibull_as_exponential,
                                                                   tmp_path):
    """posterior.nc replaced by the Weibull posterior: an error message naming the file and the
    command to run, exit code 2, no traceback, nothing simulated."""
    out = tmp_path / "run"
    args = [*command, "--priors-dir", str(weibull_as_exponential)]
    if command[0] == "cohort":
        args += ["--out", str(out), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "weibull likelihood" in result.output
    assert str(weibull_as_exponential / "posterior.nc") in result.output
    assert "run `sequencer fit --seed 2026`" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not out.exists()


def test_serve_refuses_a_posterior_of_another_likelihood(weibull_as_exponential, monkeypatch):
    """`sequencer serve` checks the model files before it starts uvicorn: the message, exit 2."""
    monkeypatch.setenv("SEQUENCER_PRIORS_DIR", str(weibull_as_exponential))
    monkeypatch.setattr("sequencer.api.workers.serve",
                        lambda *args, **kwargs: pytest.fail("uvicorn was started"))
    result = runner.invoke(app, ["serve", "--port", "8765"])
    assert result.exit_code == 2, result.output
    assert "cannot start" in result.output and "weibull likelihood" in result.output
    assert "run `sequencer fit --seed 2026`" in result.output
