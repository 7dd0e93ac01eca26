"""Policy: a regimen for every reachable state, its expected value and the value's parts.

Printable as a tree from any state (what to give now, and next for each likely way the line
ends) and exportable as a (strategy, line, state, regimen) table.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sequencer.io import write_text_atomic
from sequencer.model.build import DecisionModel
from sequencer.model.states import State
from sequencer.solve.backward import Sweep
from sequencer.solve.objective import Objective
from sequencer.vocabulary import REWARD_PARTS

PART_NAMES = REWARD_PARTS


@dataclass(frozen=True)
class Policy:
    model: DecisionModel
    objective: Objective
    choice: np.ndarray  # (state,) chosen pair
    value: np.ndarray  # (state,) objective value
    parts: np.ndarray  # (state, 4)
    name: str = "optimal"

    @classmethod
    def from_sweep(cls, model: DecisionModel, objective: Objective, result: Sweep,
                   name: str = "optimal") -> Policy:
        return cls(model, objective, result.choice, result.value, result.require_parts(), name)

    def regimen(self, state: State | int) -> str:
        s = state if isinstance(state, int) else self.model.index(state)
        return self.model.regimens[self.model.pair_regimen[self.choice[s]]]

    @property
    def cohort_value(self) -> float:
        return float(self.model.initial @ self.value)

    @property
    def cohort_parts(self) -> dict[str, float]:
        return dict(zip(PART_NAMES, (self.model.initial @ self.parts).tolist()))

    def reach(self, start: np.ndarray | None = None) -> np.ndarray:
        """Probability of ever reaching each state under the policy (undiscounted)."""
        m = self.model
        reach = (m.initial if start is None else start).astype(float).copy()
        for s in range(m.n_states):  # states are in line order: predecessors come first
            if reach[s] == 0.0:
                continue
            p = self.choice[s]
            lo, hi = m.succ_ptr[p], m.succ_ptr[p + 1]
            np.add.at(reach, m.succ_state[lo:hi], reach[s] * m.succ_prob[lo:hi])
        return reach

    def rows(self) -> list[dict[str, str | int | float]]:
        """One row per reachable state: strategy, line, state, regimen, reach probability, parts;
        by line, then the most likely state first."""
        reach = self.reach()
        keyed: list[tuple[int, float, dict[str, str | int | float]]] = []
        for s in np.flatnonzero(reach > 0):
            state = self.model.states[s]
            probability = float(reach[s])
            row: dict[str, str | int | float] = {
                "strategy": self.name, "line": state.line, "state": state.label(),
                "regimen": self.regimen(int(s)), "reach_probability": probability,
                "value": float(self.value[s])}
            row.update(zip(PART_NAMES, self.parts[s].tolist()))
            keyed.append((state.line, -probability, row))
        keyed.sort(key=lambda k: (k[0], k[1]))
        return [row for _, _, row in keyed]

    def to_csv(self, path: str | Path | None = None) -> str:
        text = policies_csv([self])
        if path is not None:
            write_text_atomic(path, text)
        return text

    def tree(self, root: State | int, depth: int = 3, min_probability: float = 0.02) -> str:
        """Text tree: the regimen in ``root``, then for each likely next state its regimen."""
        m = self.model
        lines: list[str] = []

        def visit(s: int, prob: float, level: int, prefix: str) -> None:
            p = self.choice[s]
            parts = self.parts[s]
            lines.append(
                f"{prefix}{m.states[s].label()}  ->  {self.regimen(s)}"
                f"  [p={prob:.2f}; LY {parts[0]:.2f}, QALY {parts[1]:.2f}, "
                f"cost {parts[2]:,.0f}, grade>=3 AE {parts[3]:.2f}]"
            )
            if level >= depth:
                return
            lo, hi = m.succ_ptr[p], m.succ_ptr[p + 1]
            kids = sorted(zip(m.succ_prob[lo:hi], m.succ_state[lo:hi]), reverse=True)
            shown = [(q, t) for q, t in kids if prob * q >= min_probability]
            pad = prefix.replace("-", " ").replace("+", "|") if prefix else ""
            if m.p_death[p] > 0 and level < depth:
                lines.append(f"{pad}  . dies on this line: {m.p_death[p]:.2f}; "
                             f"to supportive care: {m.p_supportive[p]:.2f}")
            for q, t in shown:
                visit(int(t), prob * q, level + 1, pad + "  +- ")
            hidden = sum(q for q, _ in kids) - sum(q for q, _ in shown)
            if hidden > 0:
                lines.append(f"{pad}  . {len(kids) - len(shown)} less likely states: {hidden:.2f}")

        visit(root if isinstance(root, int) else m.index(root), 1.0, 1, "")
        return "\n".join(lines)


def policies_csv(policies: list[Policy]) -> str:
    """The policy tables of several policies as one CSV (one header; a ``strategy`` column
    tells them apart)."""
    rows = [row for policy in policies for row in policy.rows()]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["strategy"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()

