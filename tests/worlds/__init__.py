"""Worlds defined outside ``src/``: the proof that a world plugs in through its spec alone."""
