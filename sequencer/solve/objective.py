"""The objective of a query: life-years, QALYs, or net monetary benefit at a willingness to pay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

OBJECTIVES = ("ly", "qaly", "nmb")


class ObjectiveError(ValueError):
    """An objective or budget has a value outside its allowed range."""


@dataclass(frozen=True)
class Objective:
    """``ly`` and ``qaly`` maximise discounted life-years or QALYs; ``nmb`` maximises
    ``wtp x QALY - cost`` (net monetary benefit, Stinnett and Mullahy 1998)."""

    kind: Literal["ly", "qaly", "nmb"] = "qaly"
    willingness_to_pay: float = 30000.0

    def __post_init__(self) -> None:
        if self.kind not in OBJECTIVES:
            raise ObjectiveError(f"objective: {self.kind!r} is not one of {list(OBJECTIVES)}")
        if not self.willingness_to_pay >= 0:
            raise ObjectiveError(
                f"willingness_to_pay: {self.willingness_to_pay} must be >= 0 (currency per QALY)"
            )

    def weights(self) -> np.ndarray:
        """Weights over the reward parts (LY, QALY, cost, toxicity)."""
        if self.kind == "ly":
            return np.array([1.0, 0.0, 0.0, 0.0])
        if self.kind == "qaly":
            return np.array([0.0, 1.0, 0.0, 0.0])
        return np.array([0.0, self.willingness_to_pay, -1.0, 0.0])

    def label(self) -> str:
        if self.kind == "nmb":
            return f"net monetary benefit at {self.willingness_to_pay:,.0f} per QALY"
        return {"ly": "discounted life-years", "qaly": "discounted QALYs"}[self.kind]


@dataclass(frozen=True)
class Budget:
    """Upper limits per patient on expected grade >= 3 AE episodes and/or discounted cost."""

    toxicity: float | None = None
    cost: float | None = None

    def __post_init__(self) -> None:
        for name in ("toxicity", "cost"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ObjectiveError(f"budget {name}: {value} must be >= 0")

    def constraints(self) -> list[tuple[str, int, float]]:
        """[(name, reward column, limit)] for the budgets that are set."""
        out = []
        if self.toxicity is not None:
            out.append(("toxicity", 3, float(self.toxicity)))
        if self.cost is not None:
            out.append(("cost", 2, float(self.cost)))
        return out

    @property
    def empty(self) -> bool:
        return self.toxicity is None and self.cost is None
