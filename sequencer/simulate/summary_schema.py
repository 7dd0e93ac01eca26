"""``StudySummary``: the typed, versioned hand-off from a cohort study to its readers.

The simulation stage (``summary.summarise``) builds it; ``summary.json`` in the run directory
is its ``model_dump_json``; the HTML report, the cohort tables and the service's job results
read it back with :func:`read_study_summary` / ``StudySummary.model_validate_json``, so the
shape is checked once, here, and not again by each reader. The JSON field names are those of
the dict this model replaces.

``schema_version`` changes whenever a field is added, removed or changes meaning; a file of
another version is refused with a message that says how to write it again.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Final, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from sequencer.errors import StageError
from sequencer.simulate.study import StudySpec
from sequencer.vocabulary import ObjectiveId

SummarySchemaVersion = Literal[1]  # the version this sequencer writes and reads
SUMMARY_SCHEMA_VERSION: Final[int] = get_args(SummarySchemaVersion)[0]


class SummaryFileError(StageError):
    """A ``summary.json`` is missing, malformed or of another schema version."""


def _finite_or_none(value: object) -> object:
    """NaN and infinities (undefined ICERs, say) become None: JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


OptionalFloat = Annotated[float | None, BeforeValidator(_finite_or_none)]


class _Part(BaseModel):
    # every float must be finite unless declared OptionalFloat (which maps NaN to None)
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Interval(_Part):
    """Mean across draws and the 95% credible interval (2.5% and 97.5% quantiles)."""

    mean: float
    lower: float
    upper: float


class StrategyOutcomes(_Part):
    """Mean outcomes per patient of one strategy, with their intervals across draws."""

    ly: Interval
    ly_disc: Interval
    qaly: Interval
    qaly_disc: Interval
    cost: Interval
    cost_disc: Interval
    ae: Interval  # grade >= 3 adverse-event episodes
    lines: Interval  # treatment lines received
    median_os_months: Interval
    median_pfs_months: Interval
    rmst_os_60_months: Interval  # restricted mean OS to summary.RMST_HORIZON (60 months)
    reach_line: dict[int, Interval]  # share of patients reaching line k (1-based)
    months_on_line: dict[int, OptionalFloat]  # mean months on line k among those reaching it


class SurvivalBand(_Part):
    """A survival curve (all draws pooled) and the 2.5% / 97.5% quantiles of per-draw curves."""

    survival: list[float]
    lower: list[float]
    upper: list[float]


class SurvivalCurves(_Part):
    months: list[float]
    os: dict[str, SurvivalBand]
    pfs: dict[str, SurvivalBand]


class DrawOutcomes(_Part):
    """Per-draw mean discounted cost and QALYs, shape (draw, strategy)."""

    cost_disc: list[list[float]]
    qaly_disc: list[list[float]]


class Flow(_Part):
    """Patients per (strategy, line, regimen), pooled over draws; regimens in index order."""

    regimen_index_by_line: list[list[list[float]]]
    regimens: list[str]


class IncrementalRow(_Part):
    """One strategy's row of the incremental analysis (``econ.incremental_analysis``), in
    the order of ``StudySummary.strategies``; undefined ratios are None."""

    cost: float
    effect: float
    status: str
    comparator: str | None
    inc_cost: OptionalFloat
    inc_effect: OptionalFloat
    icer: OptionalFloat
    ref_inc_cost: OptionalFloat
    ref_inc_effect: OptionalFloat
    ref_icer: OptionalFloat
    ref_label: str
    nmb: OptionalFloat = None


class Acceptability(_Part):
    """The CEAC: the ``wtp`` grid and, under each strategy's name, its probability of being
    the most cost-effective at each grid point."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, list[float]]
    wtp: list[float]

    @property
    def by_strategy(self) -> dict[str, list[float]]:
        return dict(self.__pydantic_extra__)


class AcceptabilityFrontier(_Part):
    """The CEAF: the strategy of highest expected net benefit at each WTP, and its CEAC."""

    optimal: list[str]
    probability: list[float]


class ValueOfInformation(_Part):
    """EVPI per patient at each WTP of the grid."""

    wtp: list[float]
    per_patient: list[float]


class ParameterGroupValue(_Part):
    """EVPPI per patient of one parameter group at the study WTP."""

    per_patient: float
    standard_error: OptionalFloat
    parameters: int


class PriceOfUncertainty(_Part):
    """Mean per-draw gain of re-optimising over the policy optimal at the means."""

    objective: ObjectiveId
    mean: float
    lower: float
    upper: float


class Provenance(_Part):
    sequencer_version: str
    posterior: str
    evidence_sha256: str
    model_config_sha256: str
    parameters: str
    parameters_sha256: str


class StudySummary(_Part):
    """Every headline number of a finished cohort study (see the module doc)."""

    schema_version: SummarySchemaVersion  # required: a file without one is older
    spec: StudySpec
    provenance: Provenance
    strategies: dict[str, StrategyOutcomes]
    wtp: float
    survival: SurvivalCurves
    draws: DrawOutcomes
    flow: Flow
    incremental: list[IncrementalRow]
    ceac: Acceptability
    ceaf: AcceptabilityFrontier
    evpi: ValueOfInformation
    evppi: dict[str, ParameterGroupValue] | None = None  # None below 50 draws
    price_of_parameter_uncertainty: PriceOfUncertainty | None = None  # with optimal only

    @model_validator(mode="after")
    def _per_strategy_parts_match(self) -> StudySummary:
        names = list(self.strategies)
        n = len(names)
        checks = {
            "strategies": n > 0,
            "incremental": len(self.incremental) == n,
            "draws.cost_disc": all(len(row) == n for row in self.draws.cost_disc),
            "draws.qaly_disc": all(len(row) == n for row in self.draws.qaly_disc),
            "flow.regimen_index_by_line": len(self.flow.regimen_index_by_line) == n,
            "survival.os": list(self.survival.os) == names,
            "survival.pfs": list(self.survival.pfs) == names,
            "ceac": list(self.ceac.by_strategy) == names,
        }
        for field, ok in checks.items():
            if not ok:
                raise ValueError(f"field '{field}' does not match the strategies {names}")
        return self


def read_study_summary(path: str | Path) -> StudySummary:
    """Read ``summary.json`` at ``path``, refusing a missing, malformed or other-version file.

    Raises
    ------
    SummaryFileError
        Naming the file, the field and what was expected, and how to write the file again.
    """
    path = Path(path)
    rerun = (f"re-run `sequencer cohort ... --out {path.parent}` with the study's options to "
             "write it again")
    if not path.is_file():
        raise SummaryFileError(f"{path}: not found (not a finished cohort run directory); "
                               f"{rerun}")
    try:
        return StudySummary.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise SummaryFileError(f"{path}: {describe_errors(exc)}; {rerun}") from None


def describe_errors(exc: ValidationError, limit: int = 3) -> str:
    """The validation errors of a summary as 'field ...: what was expected', version first."""
    errors = exc.errors(include_url=False)
    version = [e for e in errors if e["loc"] == ("schema_version",)]
    if version:  # another version: the other errors follow from it
        e = version[0]
        got = ("is missing (written before summaries were versioned)" if e["type"] == "missing"
               else f"is {e['input']!r}")
        return (f"field 'schema_version' {got}, expected {SUMMARY_SCHEMA_VERSION} (this "
                "sequencer's summary schema)")
    parts = []
    for e in errors[:limit]:
        field = ".".join(str(k) for k in e["loc"])
        if e["type"] == "json_invalid":
            parts.append(f"not valid JSON ({e['msg']})")
        elif e["type"] == "missing":
            parts.append(f"field '{field}' is missing")
        elif e["type"] == "value_error" and not field:  # the strategies check above
            parts.append(e["msg"].removeprefix("Value error, "))
        elif not field:
            parts.append(f"expected a JSON object of a study summary: {e['msg']}")
        else:
            parts.append(f"field '{field}': {e['msg']}, got {_short(e.get('input'))}")
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
