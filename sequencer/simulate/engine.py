"""Patient-level, event-driven simulation of a policy: one step per line, compiled with numba.

Each patient starts in a first-line state drawn from the model's initial distribution. On a
line, the patient draws the hidden configuration (``Component``), the time on the line
(exponential with the configuration's rate), then how the line ends (death, supportive care, or
the next state). A patient not fit for another line spends an exponential time in supportive
care. Rewards follow the decision model exactly, so the mean of the simulated discounted
outcomes is the solver's expected value (``tests/simulate/test_engine.py`` checks it):

- life-years ``T / 12``, discounted ``e^{-d t0} (1 - e^{-d T}) / (12 d)`` at continuous monthly
  rate ``d`` from the line's start ``t0``; QALYs the same times the line's utility;
- drug, administration and monitoring costs per month on the line, the same way;
- a grade >= 3 AE episode (counted, and discounted from the line's start as the solver's
  toxicity is) with the line's probability (certain when the line ends for toxicity,
  so the mean stays the trial's rate), with its cost and QALY loss at the line's start;
- one-off costs at the line's start (baseline NGS) and at a tested progression (re-biopsy).

Random numbers are drawn up front from a ``numpy.random.Generator`` (one row per patient), so a
result depends only on the generator's seed, never on threads or workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from sequencer.simulate.tables import PolicyTables

OUTCOMES = ("os", "pfs", "ly", "ly_disc", "qaly", "qaly_disc", "cost", "cost_disc", "ae",
            "ae_disc", "lines")
LINE_FIELDS = ("state", "regimen", "start", "end", "event", "ae", "qaly_disc", "cost_disc",
               "qaly", "cost")
_PER_STEP = 5  # uniforms per line: configuration, time, ending, AE, supportive-care time


@dataclass(frozen=True)
class SimulationResult:
    """Per patient: ``outcomes`` (patient, len(OUTCOMES)); per patient and line step: ``lines``
    (patient, step, len(LINE_FIELDS)), event codes as ``tables.EVENTS`` plus 3 = supportive care,
    unused steps NaN. Months for times; ``lines`` counts active lines (not supportive care)."""

    policy: str
    outcomes: np.ndarray
    lines: np.ndarray | None

    def column(self, name: str) -> np.ndarray:
        return self.outcomes[:, OUTCOMES.index(name)]


def _discounted(t0: float, length: float, d: float) -> float:  # pragma: no cover - compiled
    if d == 0.0:
        return length
    return np.exp(-d * t0) * (1.0 - np.exp(-d * length)) / d


_discounted_jit = numba.njit(cache=True)(_discounted)


@numba.njit(cache=True)
def _kernel(initial_cum: np.ndarray, line: np.ndarray, supportive: np.ndarray,
            utility: np.ndarray, monthly_cost: np.ndarray, p_ae: np.ndarray,
            ae_cost: np.ndarray, ae_qaly_loss: np.ndarray, start_cost: np.ndarray,
            progression_cost: np.ndarray, comp_ptr: np.ndarray, comp_cum: np.ndarray,
            comp_rate: np.ndarray, out_ptr: np.ndarray, out_cum: np.ndarray,
            out_kind: np.ndarray, out_event: np.ndarray, out_target: np.ndarray,
            bsc_rate: float, bsc_utility: float, bsc_cost: float, d: float,
            uniforms: np.ndarray, start: np.ndarray, outcomes: np.ndarray, lines: np.ndarray,
            keep_lines: bool) -> None:  # pragma: no cover - compiled
    n_patients, steps = uniforms.shape[0], (uniforms.shape[1] - 1) // 5
    for i in range(n_patients):
        u = uniforms[i]
        if start.shape[0] > 0:  # a given cohort: each patient's first-line state
            s = start[i]
        else:
            s = np.searchsorted(initial_cum, u[0], side="right")
        t = 0.0
        pfs = -1.0
        ly = lyd = qaly = qalyd = cost = costd = 0.0
        n_ae = n_ae_disc = 0.0
        n_lines = 0.0
        for k in range(steps):
            base = 1 + 5 * k
            c0, c1 = comp_ptr[s], comp_ptr[s + 1]
            c = c0 + np.searchsorted(comp_cum[c0:c1], u[base] * comp_cum[c1 - 1], side="right")
            if c >= c1:
                c = c1 - 1
            length = -np.log(1.0 - u[base + 1]) / comp_rate[c]
            o0, o1 = out_ptr[c], out_ptr[c + 1]
            o = o0 + np.searchsorted(out_cum[o0:o1], u[base + 2] * out_cum[o1 - 1], side="right")
            if o >= o1:
                o = o1 - 1
            kind, event = out_kind[o], out_event[o]
            disc_time = _discounted_jit(t, length, d)
            start_disc = np.exp(-d * t)
            ae = 0.0
            if not supportive[s]:
                n_lines += 1.0
                q_tox = 0.0  # P(ending for toxicity) is the same in every configuration
                for j in range(o0, o1):
                    if out_event[j] == 2:
                        q_tox += out_cum[j] - (out_cum[j - 1] if j > o0 else 0.0)
                q_tox /= out_cum[o1 - 1]
                # a toxicity ending implies an episode; otherwise one with the probability that
                # keeps the line's mean at p_ae
                p_other = (p_ae[s] - q_tox) / (1.0 - q_tox) if q_tox < 1.0 else 0.0
                if event == 2 or u[base + 3] < p_other:
                    ae = 1.0
            line_cost = monthly_cost[s] * disc_time + start_disc * (start_cost[s] + ae * ae_cost[s])
            line_cost_undisc = monthly_cost[s] * length + start_cost[s] + ae * ae_cost[s]
            line_qaly = utility[s] * disc_time / 12.0 - start_disc * ae * ae_qaly_loss[s]
            if event == 1 and progression_cost[s] > 0.0:
                line_cost += progression_cost[s] * np.exp(-d * (t + length))
                line_cost_undisc += progression_cost[s]
            ly += length / 12.0
            lyd += disc_time / 12.0
            qaly += utility[s] * length / 12.0 - ae * ae_qaly_loss[s]
            qalyd += line_qaly
            cost += line_cost_undisc
            costd += line_cost
            n_ae += ae
            n_ae_disc += ae * start_disc
            if keep_lines:
                row = lines[i, k]
                row[0] = s
                row[1] = -1.0
                row[2] = t
                row[3] = t + length
                row[4] = 3.0 if supportive[s] else event
                row[5] = ae
                row[6] = line_qaly
                row[7] = line_cost
                row[8] = utility[s] * length / 12.0 - ae * ae_qaly_loss[s]
                row[9] = line_cost_undisc
            t += length
            if pfs < 0.0 and (event == 0 or event == 1):
                pfs = t
            if kind == 2:
                s = out_target[o]
                continue
            if kind == 1:  # not fit for another line: supportive care until death
                extra = -np.log(1.0 - u[base + 4]) / bsc_rate
                bsc_disc = _discounted_jit(t, extra, d)
                ly += extra / 12.0
                lyd += bsc_disc / 12.0
                qaly += bsc_utility * extra / 12.0
                qalyd += bsc_utility * bsc_disc / 12.0
                cost += bsc_cost * extra
                costd += bsc_cost * bsc_disc
                if keep_lines and k + 1 < steps:
                    row = lines[i, k + 1]
                    row[0] = -1.0
                    row[1] = -1.0
                    row[2] = t
                    row[3] = t + extra
                    row[4] = 3.0
                    row[5] = 0.0
                    row[6] = bsc_utility * bsc_disc / 12.0
                    row[7] = bsc_cost * bsc_disc
                    row[8] = bsc_utility * extra / 12.0
                    row[9] = bsc_cost * extra
                t += extra
            break
        if pfs < 0.0:
            pfs = t
        out = outcomes[i]
        out[0] = t
        out[1] = pfs
        out[2] = ly
        out[3] = lyd
        out[4] = qaly
        out[5] = qalyd
        out[6] = cost
        out[7] = costd
        out[8] = n_ae
        out[9] = n_ae_disc
        out[10] = n_lines


def simulate(tables: PolicyTables, n_patients: int, rng: np.random.Generator | int,
             keep_lines: bool = False, start: np.ndarray | None = None) -> SimulationResult:
    """Simulate ``n_patients`` through the tabulated policy with generator (or seed) ``rng``.

    Patients start in states drawn from the model's initial distribution, or in ``start``
    (model state indices, one per patient: a given cohort). ``keep_lines`` also returns each
    patient's line history (``LINE_FIELDS``)."""
    if not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise ValueError(f"n_patients: expected a positive integer, got {n_patients!r}")
    if start is None:
        start = np.empty(0, dtype=np.int64)
    else:
        start = np.asarray(start, dtype=np.int64)
        if start.shape != (n_patients,) or (start < 0).any() or (start >= len(tables.line)).any():
            raise ValueError(f"start: expected {n_patients} state indices of the model, got "
                             f"shape {start.shape}")
        if (tables.regimen[start] < 0).any():
            raise ValueError("start: a state the policy tables do not reach (tabulate the "
                             "policy on a model built from these states)")
    rng = np.random.default_rng(rng)
    steps = int(tables.line.max()) + 1  # every line, then supportive care
    uniforms = rng.random((n_patients, 1 + _PER_STEP * steps))
    outcomes = np.empty((n_patients, len(OUTCOMES)))
    lines = np.full((n_patients if keep_lines else 0, steps + 1, len(LINE_FIELDS)), np.nan)
    t = tables
    _kernel(t.initial_cum, t.line, t.supportive, t.utility, t.monthly_cost, t.p_ae, t.ae_cost,
            t.ae_qaly_loss, t.start_cost, t.progression_cost, t.comp_ptr, t.comp_cum,
            t.comp_rate, t.out_ptr, t.out_cum, t.out_kind, t.out_event, t.out_target,
            t.supportive_rate, t.supportive_utility, t.supportive_cost, t.monthly_discount,
            uniforms, start, outcomes, lines, keep_lines)
    if keep_lines:  # regimen of each step; supportive care after leaving has no state (-1)
        state = lines[:, :, 0]
        valid = state >= 0
        regimen = t.regimen[np.where(valid, state, 0).astype(np.int64)]
        lines[:, :, 1] = np.where(valid, regimen, np.where(state == -1, t.supportive_regimen,
                                                           np.nan))
    return SimulationResult(t.name, outcomes, lines if keep_lines else None)
