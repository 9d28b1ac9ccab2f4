"""The seven cell codes every part of reverie's Sokoban shares.

A level, an environment state and a symbolic observation are all grids of these codes, so
the rules, the renderer and the level bank agree by construction. The codes are arranged so
that ``code = 1 + target + 2 * box + 4 * player`` for any non-wall cell.
"""

import numpy as np

WALL = 0
FLOOR = 1
TARGET = 2
BOX = 3
BOX_ON_TARGET = 4
PLAYER = 5
PLAYER_ON_TARGET = 6

NUM_CODES = 7
NAMES = ("wall", "floor", "target", "box", "box_on_target", "player", "player_on_target")

#: XSB character of each code (index = code).
CHARS = "# .$*@+"
#: XSB characters accepted on input; '-' and '_' are common spellings of floor.
CHAR_TO_CODE = {ch: code for code, ch in enumerate(CHARS)} | {"-": FLOOR, "_": FLOOR}

# Lookup tables indexed by code: which cells hold a target, a box, the player, or are free
# for a box or the player to move into.
IS_TARGET = np.array([0, 0, 1, 0, 1, 0, 1], dtype=bool)
IS_BOX = np.array([0, 0, 0, 1, 1, 0, 0], dtype=bool)
IS_PLAYER = np.array([0, 0, 0, 0, 0, 1, 1], dtype=bool)
IS_FREE = np.array([0, 1, 1, 0, 0, 0, 0], dtype=bool)
