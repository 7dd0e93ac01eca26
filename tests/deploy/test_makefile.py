"""The Makefile's targets do what README says: ``make bench`` runs every benchmark script,
``make lint`` and ``make typecheck`` exist, and the dev tools they call are pinned alike in
pyproject.toml and requirements/constraints.txt. ``make -n`` only prints the commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def dry_run(target: str) -> str:
    """The commands ``make <target>`` would run (nothing is executed)."""
    done = subprocess.run(["make", "-n", target, "PYTHON=python3"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, f"make -n {target}: {done.stderr}"
    return done.stdout


def test_bench_runs_every_benchmark_script():
    """Reference: the scripts in benchmarks/ (``_*.py`` would be shared helpers, not run)."""
    scripts = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "benchmarks").glob("*.py")
                     if not p.name.startswith("_"))
    assert len(scripts) >= 5
    commands = dry_run("bench")
    ran = re.findall(r"benchmarks/\w+\.py", commands)
    assert sorted(set(ran)) == scripts
    assert "set -e" in commands  # a failing benchmark fails the target


def test_lint_and_typecheck_targets():
    assert "ruff check sequencer tests benchmarks" in dry_run("lint")
    assert "mypy sequencer" in dry_run("typecheck")


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_dev_tools_are_pinned_in_both_files(tool):
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = [d for d in dev["dev"] if re.fullmatch(rf"{tool}==[\w.]+", d)]
    assert len(pins) == 1, f"pyproject.toml: dev extra must pin {tool} exactly, got {dev['dev']}"
    constraints = (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
    assert pins[0] in constraints, f"requirements/constraints.txt: expected {pins[0]}"
