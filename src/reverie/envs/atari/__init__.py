"""Atari games from pixels, through ale-py's own vectorised env (optional: pip install ale-py)."""
