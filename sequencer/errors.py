"""Exception and warning classes shared by every stage.

Each stage raises its own subclass so that callers (CLI, service) can turn them into clear
messages without catching unrelated bugs.
"""


class SequencerError(Exception):
    """Base class of every error sequencer raises on purpose."""


class EvidenceError(SequencerError):
    """An evidence file or the regimen catalogue is malformed or inconsistent."""


class StageError(SequencerError):
    """A stage was asked to run before the stage it depends on (names the command to run)."""


class PosteriorMismatchError(StageError):
    """A saved posterior does not match the evidence, model configuration or version on disk."""


class NotInformedError(SequencerError):
    """A (regimen, line) has no evidence and the catalogue declares no borrowing rule for it."""
