"""Sokoban as in the I2A paper: batched rules, levels, generator, solver and environments.

Names are imported on first use, so reading levels or solving them does not load torch.
"""

import importlib

_HOMES = {
    "Level": "levels", "parse_xsb": "levels", "to_xsb": "levels", "load_levels": "levels",
    "parse_level_file": "levels", "format_level_file": "levels",
    "LevelBank": "bank", "load_boxoban": "bank",
    "generate_levels": "generator",
    "solve": "solver", "Solution": "solver", "SolverTimeout": "solver",
    "SokobanVecEnv": "env",
    "NUM_ACTIONS": "rules", "ACTION_NAMES": "rules",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
