"""Decision-model fixtures shared with the solver tests."""

from tests.solve.conftest import sources, standard_inputs, standard_model  # noqa: F401

