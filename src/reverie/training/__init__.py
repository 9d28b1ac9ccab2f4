"""Training loops and the run infrastructure they share: checkpoints and metrics."""
