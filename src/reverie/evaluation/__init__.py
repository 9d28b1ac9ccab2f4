"""Held-out evaluation and the pictures and pages that report it."""
