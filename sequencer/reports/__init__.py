"""Text reports built from the stages' outputs."""
