"""Load and validate the evidence base: every trial file plus the regimen catalogue."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from sequencer.errors import EvidenceError
from sequencer.evidence.catalogue import Catalogue, load_catalogue
from sequencer.evidence.formatting import format_validation_error
from sequencer.evidence.schema import TrialRecord
from sequencer.vocabulary import vocabulary_for

DEFAULT_PRIORS_DIR = Path(__file__).resolve().parents[2] / "priors"


@dataclass(frozen=True)
class EvidenceBase:
    """All trial records, the catalogue, and a hash of the files they came from."""

    trials: tuple[TrialRecord, ...]
    catalogue: Catalogue
    files: tuple[Path, ...]
    sha256: str

    def trial(self, trial_id: str) -> TrialRecord:
        wanted = trial_id.casefold()
        for record in self.trials:
            if record.trial.casefold() == wanted:
                return record
        raise EvidenceError(
            f"unknown trial '{trial_id}'; known trials: {', '.join(t.trial for t in self.trials)}"
        )

    def without(self, trial_id: str) -> EvidenceBase:
        """The evidence base with one trial held out (for leave-one-trial-out validation)."""
        held = self.trial(trial_id)
        kept = tuple(t for t in self.trials if t is not held)
        digest = hashlib.sha256(f"{self.sha256}-without-{held.trial}".encode()).hexdigest()
        return EvidenceBase(kept, self.catalogue, self.files, digest)


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def load_trial_file(path: Path, catalogue: Catalogue) -> TrialRecord:
    """Read one trial file; every error names the file, the record and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvidenceError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise EvidenceError(
            f"{path}: expected a mapping with a 'trial' key, got {type(raw).__name__}")
    try:
        record = TrialRecord.model_validate(raw)
    except ValidationError as exc:
        raise EvidenceError(format_validation_error(path, exc, raw)) from None
    for arm in record.arms:
        if arm.regimen not in catalogue.regimens:
            raise EvidenceError(
                f"{path}: {record.trial}: arm '{arm.id}': field 'regimen': '{arm.regimen}' is not "
                f"in the regimen catalogue (allowed: {', '.join(sorted(catalogue.regimens))})"
            )
    return record


def _check_catalogue_trials(trials: list[TrialRecord], catalogue: Catalogue,
                            cat_path: Path) -> None:
    used: dict[str, set[str]] = {}
    for record in trials:
        for arm in record.arms:
            used.setdefault(arm.regimen, set()).add(record.trial)
    for regimen in catalogue.regimens.values():
        declared, actual = set(regimen.informed_by), used.get(regimen.id, set())
        if declared != actual:
            raise EvidenceError(
                f"{cat_path}: regimen '{regimen.id}': field 'informed_by' lists "
                f"{sorted(declared)} but the evidence files use it in {sorted(actual)}"
            )


def load_evidence(priors_dir: str | Path = DEFAULT_PRIORS_DIR) -> EvidenceBase:
    """Load ``priors_dir/vocabulary.yaml``, ``priors_dir/regimens.yaml`` (validated against the
    vocabulary) and every ``priors_dir/evidence/*.yaml``.

    Raises
    ------
    EvidenceError
        On the first malformed file, naming the file, the record (arm or contrast) and the field.
    """
    priors_dir = Path(priors_dir)
    cat_path = priors_dir / "regimens.yaml"
    catalogue = load_catalogue(cat_path, vocabulary_for(priors_dir))
    paths = sorted((priors_dir / "evidence").glob("*.yaml"))
    if not paths:
        raise EvidenceError(f"{priors_dir / 'evidence'}: no trial files (*.yaml)")
    trials = [load_trial_file(path, catalogue) for path in paths]
    seen: dict[str, Path] = {}
    for path, record in zip(paths, trials, strict=True):
        key = record.trial.casefold()
        if key in seen:
            raise EvidenceError(f"{path}: trial '{record.trial}' is also defined in {seen[key]}")
        seen[key] = path
    _check_catalogue_trials(trials, catalogue, cat_path)
    return EvidenceBase(
        trials=tuple(trials),
        catalogue=catalogue,
        files=tuple(paths),
        sha256=_hash_files([cat_path, *paths]),
    )
