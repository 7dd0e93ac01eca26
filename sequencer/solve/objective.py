"""The objective of a query: life-years, QALYs, or net monetary benefit at a willingness to pay."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sequencer.vocabulary import (
    BUDGET_PARTS,
    OBJECTIVE_KINDS,
    REWARD_PARTS,
    ObjectiveId,
    VocabularyError,
    ids,
    objective_kind,
)

OBJECTIVES = tuple(ids(OBJECTIVE_KINDS))
#: one budget as the solvers take it: (name, reward column, limit)
BudgetRow = tuple[str, int, float]


class ObjectiveError(ValueError):
    """An objective or budget has a value outside its allowed range."""


@dataclass(frozen=True)
class Objective:
    """An objective kind of the vocabulary (``vocabulary.OBJECTIVE_KINDS``: ``ly`` and ``qaly``
    maximise discounted life-years or QALYs; ``nmb`` maximises ``wtp x QALY - cost``, net
    monetary benefit, Stinnett and Mullahy 1998) at a willingness to pay per QALY."""

    kind: ObjectiveId = "qaly"
    willingness_to_pay: float = 30000.0

    def __post_init__(self) -> None:
        try:
            objective_kind(self.kind)
        except VocabularyError as exc:
            raise ObjectiveError(str(exc)) from None
        if not self.willingness_to_pay >= 0:
            raise ObjectiveError(
                f"willingness_to_pay: {self.willingness_to_pay} must be >= 0 (currency per QALY)"
            )

    @property
    def uses_wtp(self) -> bool:
        return objective_kind(self.kind).uses_wtp

    def weights(self) -> np.ndarray:
        """Weights over the reward parts (``vocabulary.REWARD_PARTS``)."""
        return objective_kind(self.kind).weight_vector(self.willingness_to_pay)

    def label(self) -> str:
        return objective_kind(self.kind).summary.format(wtp=f"{self.willingness_to_pay:,.0f}")


@dataclass(frozen=True)
class Budget:
    """Upper limits per patient on expected grade >= 3 AE episodes and/or discounted cost."""

    toxicity: float | None = None
    cost: float | None = None

    def __post_init__(self) -> None:
        for name in BUDGET_PARTS:
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ObjectiveError(f"budget {name}: {value} must be >= 0")

    def constraints(self) -> list[BudgetRow]:
        """[(name, reward column, limit)] for the budgets that are set."""
        return [(name, REWARD_PARTS.index(name), float(getattr(self, name)))
                for name in BUDGET_PARTS if getattr(self, name) is not None]

    @property
    def empty(self) -> bool:
        return self.toxicity is None and self.cost is None
