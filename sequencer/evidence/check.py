"""``python -m sequencer.evidence.check [PRIORS_DIR]``: validate the evidence base, exit 1 on
error."""

from __future__ import annotations

import sys

from sequencer.errors import EvidenceError
from sequencer.evidence.load import DEFAULT_PRIORS_DIR, load_evidence


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    priors_dir = argv[0] if argv else DEFAULT_PRIORS_DIR
    try:
        evidence = load_evidence(priors_dir)
    except EvidenceError as exc:
        print(f"evidence check failed:\n{exc}", file=sys.stderr)
        return 1
    n_arms = sum(len(t.arms) for t in evidence.trials)
    n_contrasts = sum(len(t.contrasts) for t in evidence.trials)
    print(f"ok: {len(evidence.trials)} trials, {n_arms} arm records, {n_contrasts} contrasts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
