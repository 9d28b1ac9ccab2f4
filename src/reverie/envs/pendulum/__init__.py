"""Pendulum swing-up (Gymnasium's ``Pendulum-v1`` rules) as batched tensors: ``pendulum`` and ``pendulum-pixels``."""
