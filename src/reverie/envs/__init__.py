"""Batched simulators whose rules are pure functions of tensors, and their Gymnasium adapters."""
