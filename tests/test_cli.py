"""The command line: every subcommand has --help, and errors are messages, not tracebacks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sequencer.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args", [[], ["evidence"], ["evidence", "list"], ["evidence", "show"],
                                  ["evidence", "check"], ["fit"], ["estimates"], ["ppc"]])
def test_help(args):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_evidence_commands():
    listed = runner.invoke(app, ["evidence", "list"])
    assert listed.exit_code == 0 and "DESTINY-Gastric04" in listed.output and "21 trials" in listed.output
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
