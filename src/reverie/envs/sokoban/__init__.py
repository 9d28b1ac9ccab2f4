"""Sokoban as in the I2A paper: batched rules, levels, generator, solver and environments."""

from .bank import LevelBank, load_boxoban
from .env import SokobanVecEnv
from .levels import Level, load_levels, parse_level_file, parse_xsb, to_xsb
from .rules import ACTION_NAMES, NUM_ACTIONS

__all__ = [
    "ACTION_NAMES", "NUM_ACTIONS", "Level", "LevelBank", "SokobanVecEnv", "load_boxoban",
    "load_levels", "parse_level_file", "parse_xsb", "to_xsb",
]
