"""Decision-model states (DESIGN.md section 3), information strategies and initial profiles.

A ``State`` is what is *known* at the start of a line: the line, the observed HER2 status, the
PD-L1 CPS band, MSI status, the alterations found by testing, the regimens already received, the
contraindications acquired, and whether the first progression on anti-HER2 therapy (the moment
resistance mechanisms are acquired and, with testing, looked for) has happened. Alterations that
were not found are not part of the state; the model carries them as a belief that is a function
of the state and the information strategy (``hidden_belief`` in ``sequencer.model.line``).
Performance status enters as attrition: a patient not fit for another line leaves to supportive
care, which is terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import product

from sequencer.evidence.catalogue import (
    CONTRAINDICATIONS,
    CPS_BANDS,
    HER2_STATUSES,
    MAX_LINE,
    MECHANISMS,
)

RESISTANCE = ("pending", "assessed")


class StateError(ValueError):
    """A state or information strategy has a field outside its allowed values."""


@dataclass(frozen=True, order=True)
class State:
    line: int
    her2: str = "positive"
    cps: str = ">=10"
    msi_high: bool = False
    known: frozenset[str] = field(default_factory=frozenset)
    received: frozenset[str] = field(default_factory=frozenset)
    contraindications: frozenset[str] = field(default_factory=frozenset)
    resistance: str = "pending"

    def __post_init__(self) -> None:
        checks = (
            ("line", self.line, range(1, MAX_LINE + 1)),
            ("her2", self.her2, HER2_STATUSES),
            ("cps", self.cps, CPS_BANDS),
            ("resistance", self.resistance, RESISTANCE),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise StateError(f"{name}: {value!r} is not one of {list(allowed)}")
        for name, values, allowed in (
            ("known", self.known, MECHANISMS),
            ("contraindications", self.contraindications, CONTRAINDICATIONS),
        ):
            bad = sorted(set(values) - set(allowed))
            if bad:
                raise StateError(f"{name}: {bad} not among {list(allowed)}")
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
        if self.resistance == "assessed":
            parts.append("after-HER2-progression")
        if self.contraindications:
            parts.append("no:" + ",".join(sorted(self.contraindications)))
        return " ".join(parts)

    def derive(self, **changes) -> State:
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
        on = [n for n in ("baseline_ngs", "ctdna", "rebiopsy") if getattr(self, n)]
        return "+".join(on) if on else "no testing"

    @classmethod
    def parse(cls, text: str) -> InformationStrategy:
        """``"none"`` or a comma list of baseline_ngs, ctdna, rebiopsy."""
        names = [t.strip() for t in text.split(",") if t.strip() and t.strip() != "none"]
        allowed = ("baseline_ngs", "ctdna", "rebiopsy")
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


def profiles(values: dict[str, float]) -> list[Profile]:
    """HER2-positive profiles by CPS band and MSI status; prevalences sum to one."""
    ge1 = values["prevalence.cps_ge1"]
    ge10 = ge1 * values["prevalence.cps_ge10_given_ge1"]
    cps = {"<1": 1.0 - ge1, "1-9": ge1 - ge10, ">=10": ge10}
    msi = values["prevalence.msi_high"]
    return [
        Profile(band, flag, share * (msi if flag else 1.0 - msi))
        for band, share in cps.items()
        for flag in (False, True)
    ]


def initial_distribution(
    profile: Profile, values: dict[str, float], info: InformationStrategy
) -> dict[State, float]:
    """First-line states of a profile: with baseline NGS, each alteration present at diagnosis is
    found with the NGS sensitivity, independently."""
    root = State(line=1, cps=profile.cps, msi_high=profile.msi_high)
    if not info.baseline_ngs:
        return {root: 1.0}
    sens = values["testing.ngs_sensitivity"]
    found = [values[f"baseline_alteration.{m}"] * sens for m in MECHANISMS]
    out: dict[State, float] = {}
    for flags in product((False, True), repeat=len(MECHANISMS)):
        prob = 1.0
        for flag, p in zip(flags, found):
            prob *= p if flag else 1.0 - p
        known = frozenset(m for m, flag in zip(MECHANISMS, flags) if flag)
        out[replace(root, known=known)] = prob
    return out
