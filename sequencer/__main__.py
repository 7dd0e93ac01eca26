"""``python -m sequencer``: the same as the ``sequencer`` console script."""

from sequencer.cli import app

app(prog_name="sequencer")
