PYTHON ?= python3
INSTALL = $(PYTHON) -m pip install -c requirements/constraints.txt

.PHONY: demo test fit bench lint typecheck

demo:  ## install and print the line-specific estimates from the committed posterior
	$(INSTALL) -e . && $(PYTHON) -m sequencer estimates

test:  ## install with the dev extra and run every test (slow statistical checks included)
	$(INSTALL) -e ".[dev]" && $(PYTHON) -m pytest

fit:  ## refit the committed posterior
	$(PYTHON) -m sequencer fit --seed 2026

BENCHMARKS = $(sort $(wildcard benchmarks/bench_*.py))

bench:  ## run every benchmark in benchmarks/ (each prints its table; see benchmarks/README.md)
	set -e; for script in $(BENCHMARKS); do echo "== $$script"; $(PYTHON) $$script; done

lint:  ## ruff over the package, the tests and the benchmarks
	$(PYTHON) -m ruff check sequencer tests benchmarks

typecheck:  ## mypy over the package (the dev extra installs it)
	$(PYTHON) -m mypy sequencer --ignore-missing-imports
