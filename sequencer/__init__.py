"""sequencer: treatment-sequencing optimisation for HER2-positive advanced gastric cancer."""

__version__ = "0.1.0"
