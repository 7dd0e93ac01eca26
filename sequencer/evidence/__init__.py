"""Trial-level evidence: schema, regimen catalogue, loading and validation."""

from sequencer.evidence.catalogue import Catalogue, Regimen, load_catalogue
from sequencer.evidence.load import DEFAULT_PRIORS_DIR, EvidenceBase, load_evidence
from sequencer.evidence.schema import Arm, Contrast, TrialRecord

__all__ = [
    "DEFAULT_PRIORS_DIR",
    "Arm",
    "Catalogue",
    "Contrast",
    "EvidenceBase",
    "Regimen",
    "TrialRecord",
    "load_catalogue",
    "load_evidence",
]
