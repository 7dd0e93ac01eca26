PYTHON ?= python3
INSTALL = $(PYTHON) -m pip install -c requirements/constraints.txt

.PHONY: demo test fit bench lint

demo:  ## install and print the line-specific estimates from the committed posterior
	$(INSTALL) -e . && $(PYTHON) -m sequencer estimates

test:  ## install with the dev extra and run every test (slow statistical checks included)
	$(INSTALL) -e ".[dev]" && $(PYTHON) -m pytest

fit:  ## refit the committed posterior
	$(PYTHON) -m sequencer fit --seed 2026

bench:
	$(PYTHON) benchmarks/bench_fit.py

lint:
	$(PYTHON) -m ruff check sequencer tests benchmarks
