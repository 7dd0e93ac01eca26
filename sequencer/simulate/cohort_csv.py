"""A user's cohort of HER2-positive patients from a CSV file, as first-line states.

Columns (header names, case-insensitive; others are ignored):

- ``pdl1_cps``: PD-L1 combined positive score, a number >= 0 (or ``cps_band``: ``<1``, ``1-9``,
  ``>=10``); required, one of the two;
- ``msi_high``: ``true``/``false`` (also ``yes``/``no``, ``1``/``0``, ``MSI-H``/``MSS``);
  optional, default false;
- ``known_alterations``: alterations found at diagnosis, separated by ``;``, among the
  vocabulary's mechanisms (``priors/vocabulary.yaml``: ``met_amp``, ``fgfr2_amp``, ``pi3k``,
  ``erbb2_mut``); optional;
- ``her2_status``: optional; the decision model's cohort is HER2-positive, so any other value is
  refused.

Every problem is reported with its row (the file's line number) and column, all at once.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sequencer.model.states import State
from sequencer.vocabulary import CPS_BANDS, Vocabulary, cps_band, default_vocabulary, ids

_TRUE = {"true", "yes", "1", "msi-h", "msi_high", "y"}
_FALSE = {"false", "no", "0", "mss", "msi-l", "n", ""}


class CohortFileError(ValueError):
    """The cohort CSV has bad rows; the message lists each row and column."""


def read_cohort(path: str | Path, vocabulary: Vocabulary | None = None) -> list[State]:
    """First-line states of the patients in ``path``, in file order (alterations checked
    against ``vocabulary``, by default the packaged one)."""
    path = Path(path)
    mechanisms = (vocabulary or default_vocabulary()).mechanism_ids
    if not path.is_file():
        raise CohortFileError(f"cohort: {path} is not a file")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = {name.strip().lower(): name for name in reader.fieldnames or []}
        if "pdl1_cps" not in header and "cps_band" not in header:
            raise CohortFileError(f"{path}: needs a 'pdl1_cps' or a 'cps_band' column; found "
                                  f"{sorted(header) or 'no header'}")
        states, problems = [], []
        for row_no, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            state, errors = _state(row, mechanisms)
            problems += [f"row {row_no}, column {e}" for e in errors]
            if state is not None:
                states.append(state)
    if problems:
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more"
                                             if len(problems) > 20 else "")
        raise CohortFileError(f"{path}: {shown}")
    if not states:
        raise CohortFileError(f"{path}: no patients (only a header)")
    return states


def _state(row: dict, mechanisms: tuple[str, ...]) -> tuple[State | None, list[str]]:
    errors = []
    band = None
    if row.get("pdl1_cps", ""):
        try:
            cps = float(row["pdl1_cps"])
            if not cps >= 0:
                raise ValueError
            band = cps_band(cps)
        except ValueError:
            errors.append(f"pdl1_cps: {row['pdl1_cps']!r} is not a number >= 0")
    elif row.get("cps_band", ""):
        band = row["cps_band"].replace(" ", "")
        if band not in ids(CPS_BANDS):
            errors.append(f"cps_band: {row['cps_band']!r} is not one of {ids(CPS_BANDS)}")
    else:
        errors.append("pdl1_cps: empty (give the CPS or a cps_band)")
    msi = row.get("msi_high", "").lower()
    if msi not in _TRUE | _FALSE:
        errors.append(f"msi_high: {row['msi_high']!r} is not true/false")
    known = [a.strip() for a in row.get("known_alterations", "").replace(",", ";").split(";")
             if a.strip()]
    bad = [a for a in known if a not in mechanisms]
    if bad:
        errors.append(f"known_alterations: {bad} not among {list(mechanisms)}")
    her2 = row.get("her2_status", "positive").lower() or "positive"
    if her2 not in ("positive", "her2+", "her2-positive"):
        errors.append(f"her2_status: {row['her2_status']!r}; the cohort model is HER2-positive")
    if errors or band is None:  # every path that leaves no band has recorded an error
        return None, errors
    return State(line=1, cps=band, msi_high=msi in _TRUE, known=frozenset(known)), []
