"""Long-running jobs of the service: records (``store``) and execution (``runner``)."""
