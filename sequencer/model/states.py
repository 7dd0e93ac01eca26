"""Decision-model states (DESIGN.md section 3), information strategies and initial profiles.

A ``State`` is what is *known* at the start of a line: the line, the observed HER2 status, the
PD-L1 CPS band, MSI status, the alterations found by testing, the regimens already received, the
contraindications acquired, and whether the patient has progressed on anti-HER2 therapy (the first
such progression is the moment resistance mechanisms are acquired and, with testing, looked
for). A patient's state is built, and checked against the vocabulary and the catalogue, by
``patient_state`` (the service and the CLI use it alike). Alterations that
were not found are not part of the state; the model carries them as a belief that is a function
of the state and the information strategy (``hidden_belief`` in ``sequencer.model.line``).
Performance status enters as attrition: a patient not fit for another line leaves to supportive
care, which is terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import product
from typing import TYPE_CHECKING

from sequencer.vocabulary import (
    CPS_BANDS,
    HER2_STATUSES,
    INFORMATION_TESTS,
    LINES,
    ids,
    is_her2_directed,
)

if TYPE_CHECKING:  # pragma: no cover
    from sequencer.evidence.catalogue import Catalogue
    from sequencer.model.parameter_values import ParameterValues


class StateError(ValueError):
    """A state or information strategy has a field outside its allowed values. ``problems``
    lists (field, message) pairs, every one found."""

    def __init__(self, problems: list[tuple[str, str]] | str) -> None:
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in problems))


@dataclass(frozen=True, order=True)
class State:
    line: int
    her2: str = "positive"
    cps: str = ">=10"
    msi_high: bool = False
    known: frozenset[str] = field(default_factory=frozenset)
    received: frozenset[str] = field(default_factory=frozenset)
    contraindications: frozenset[str] = field(default_factory=frozenset)
    progressed_on_her2: bool = False

    def __post_init__(self) -> None:
        checks = (("line", self.line, LINES), ("her2", self.her2, ids(HER2_STATUSES)),
                  ("cps", self.cps, ids(CPS_BANDS)))
        problems = [(name, f"{value!r} is not one of {list(allowed)}")
                    for name, value, allowed in checks if value not in allowed]
        if problems:
            raise StateError(problems)
        # the fields' own values are checked against the vocabulary by ``patient_state``
        for name in ("known", "received", "contraindications"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))

    def label(self) -> str:
        """Short human-readable description, e.g. ``L2 HER2+ CPS>=10 [met_amp] ild``."""
        her2 = {"positive": "HER2+", "low": "HER2-low", "negative": "HER2-0"}[self.her2]
        parts = [f"L{self.line}", her2, f"CPS{self.cps}"]
        if self.msi_high:
            parts.append("MSI-H")
        if self.known:
            parts.append("[" + ",".join(sorted(self.known)) + "]")
        if self.progressed_on_her2:
            parts.append("after-HER2-progression")
        if self.contraindications:
            parts.append("no:" + ",".join(sorted(self.contraindications)))
        return " ".join(parts)

    def derive(self, **changes: object) -> State:
        """A copy with ``changes`` applied, without re-validation (for values the model itself
        derived from a valid state; user input goes through the constructor)."""
        new = object.__new__(State)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new


@dataclass(frozen=True)
class InformationStrategy:
    """What is tested: NGS at diagnosis, ctDNA surveillance, tissue re-biopsy at progression."""

    baseline_ngs: bool = False
    ctdna: bool = False
    rebiopsy: bool = False

    @property
    def tests_at_progression(self) -> bool:
        return self.ctdna or self.rebiopsy

    def label(self) -> str:
        on = [n for n in ids(INFORMATION_TESTS) if getattr(self, n)]
        return "+".join(on) if on else "no testing"

    @classmethod
    def parse(cls, text: str) -> InformationStrategy:
        """``"none"`` or a comma list of the tests (``vocabulary.INFORMATION_TESTS``)."""
        names = [t.strip() for t in text.split(",") if t.strip() and t.strip() != "none"]
        allowed = ids(INFORMATION_TESTS)
        bad = [n for n in names if n not in allowed]
        if bad:
            raise StateError(f"information strategy: {bad} not among {list(allowed)} or 'none'")
        return cls(**{n: True for n in names})


@dataclass(frozen=True)
class Profile:
    """A biomarker profile at diagnosis with its prevalence among HER2-positive patients."""

    cps: str
    msi_high: bool
    prevalence: float

    def label(self) -> str:
        return f"HER2+ CPS{self.cps}" + (" MSI-H" if self.msi_high else "")


def profiles(values: ParameterValues) -> list[Profile]:
    """HER2-positive profiles by CPS band and MSI status; prevalences sum to one."""
    ge1 = values.prevalence.cps_ge1
    ge10 = ge1 * values.prevalence.cps_ge10_given_ge1
    cps = {"<1": 1.0 - ge1, "1-9": ge1 - ge10, ">=10": ge10}
    msi = values.prevalence.msi_high
    return [
        Profile(band, flag, share * (msi if flag else 1.0 - msi))
        for band, share in cps.items()
        for flag in (False, True)
    ]


def initial_distribution(
    profile: Profile, values: ParameterValues, info: InformationStrategy
) -> dict[State, float]:
    """First-line states of a profile: with baseline NGS, each alteration present at diagnosis is
    found with the NGS sensitivity, independently."""
    root = State(line=1, cps=profile.cps, msi_high=profile.msi_high)
    if not info.baseline_ngs:
        return {root: 1.0}
    sens = values.testing.ngs_sensitivity
    mechanisms = list(values.baseline_alteration)
    found = [values.baseline_alteration[m] * sens for m in mechanisms]
    out: dict[State, float] = {}
    for flags in product((False, True), repeat=len(mechanisms)):
        prob = 1.0
        for flag, p in zip(flags, found):
            prob *= p if flag else 1.0 - p
        known = frozenset(m for m, flag in zip(mechanisms, flags) if flag)
        out[replace(root, known=known)] = prob
    return out


def patient_state(catalogue: Catalogue, *, line: int, her2: str, cps: str,
                  msi_high: bool = False, known: Iterable[str] = (),
                  received: Iterable[str] = (), contraindications: Iterable[str] = (),
                  progressed_on_her2: bool | None = None) -> State:
    """A patient's state, every field checked against the vocabulary and the catalogue before
    any work starts (``StateError`` lists every problem with its field).

    ``received`` are the regimens of earlier lines: each must be one the catalogue offers at a
    line before ``line``, at most one per earlier line. ``progressed_on_her2`` defaults to
    whether one of them is HER2-directed (a later line after anti-HER2 therapy follows its
    progression, or its stopping for toxicity)."""
    vocabulary = catalogue.vocabulary
    known, received = list(known), list(received)
    contraindications = list(contraindications)
    problems: list[tuple[str, str]] = []
    for name, value, allowed in (("line", line, LINES), ("her2", her2, ids(HER2_STATUSES)),
                                 ("cps", cps, ids(CPS_BANDS))):
        if value not in allowed:
            problems.append((name, f"{value!r} is not one of {list(allowed)}"))
    for name, values, choices in (("known", known, vocabulary.mechanism_ids),
                                  ("contraindications", contraindications,
                                   vocabulary.contraindication_ids)):
        bad = sorted(set(values) - set(choices))
        if bad:
            problems.append((name, f"{bad} not among {list(choices)}"))
    offered = sorted(r for r, e in catalogue.regimens.items() if e.lines)
    for regimen in received:
        entry = catalogue.regimens.get(regimen)
        if entry is None or not entry.lines:
            problems.append(("received", (f"unknown regimen id {regimen!r}; allowed: "
                                         f"{', '.join(offered)}")))
        elif isinstance(line, int) and min(entry.lines) >= line:
            problems.append(("received", (f"{regimen!r} is given from line {min(entry.lines)}, "
                                         f"so it cannot precede line {line}")))
    if isinstance(line, int) and len(received) > line - 1:
        problems.append(("received", f"{len(received)} earlier regimens but the line is {line}"))
    if len(set(received)) != len(received):
        problems.append(("received", "a regimen is listed twice"))
    if problems:
        raise StateError(problems)
    if progressed_on_her2 is None:
        progressed_on_her2 = any(is_her2_directed(catalogue.regimens[r]) for r in received)
    return State(line=line, her2=her2, cps=cps, msi_high=msi_high, known=frozenset(known),
                 received=frozenset(received), contraindications=frozenset(contraindications),
                 progressed_on_her2=progressed_on_her2)
