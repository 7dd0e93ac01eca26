"""Solvers of the decision model: backward induction (the reference), the occupation-measure
LP and MILP, branch and bound and the Lagrangian search under budgets, behind one entry point,
``sequencer.solve.solver.solve``."""
