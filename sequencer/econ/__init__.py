"""Health-economic kernels on arrays (pure numpy, no I/O): incremental cost-effectiveness
analysis with dominance and ICERs, net monetary benefit, acceptability curves and frontier,
and the expected value of perfect and partial perfect information."""

from sequencer.econ.acceptability import (
    AcceptabilityFrontier,
    acceptability_curve,
    acceptability_frontier,
    net_benefit,
)
from sequencer.econ.incremental import IncrementalAnalysis, incremental_analysis
from sequencer.econ.voi import EvppiResult, evpi, evppi

__all__ = [
    "AcceptabilityFrontier",
    "EvppiResult",
    "IncrementalAnalysis",
    "acceptability_curve",
    "acceptability_frontier",
    "evpi",
    "evppi",
    "incremental_analysis",
    "net_benefit",
]
