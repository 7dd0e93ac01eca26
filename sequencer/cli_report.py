"""``sequencer report``: an HTML report with figures and tables of a finished cohort study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sequencer.cli import _fail, app
from sequencer.errors import SequencerError


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(
        help="run directory of a finished `sequencer cohort --out RUN_DIR` study")],
) -> None:
    """Write RUN_DIR/report/: report.html (self-contained), PNG figures and CSV tables.

    Everything is read from RUN_DIR/summary.json; the folder is replaced whole, so an old
    report stays intact until the new one is complete. Prints the path of report.html.
    """
    from sequencer.reports.html import write_report

    try:
        if not run_dir.is_dir():
            raise SequencerError(f"{run_dir}: no such run directory; run `sequencer cohort "
                                 f"--out {run_dir} ...` to simulate the study first")
        path = write_report(run_dir)
    except (SequencerError, OSError) as exc:
        _fail(exc)
    typer.echo(str(path))
