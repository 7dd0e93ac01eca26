"""The sequencer service: FastAPI app, versioned routes under ``/v1``, settings, jobs."""
