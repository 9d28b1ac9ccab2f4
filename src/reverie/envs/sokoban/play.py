"""Sokoban for a person at a terminal, on exactly the rules the agents play.

:class:`PlaySession` is the game without any screen: it steps a batch of one through the
shared :func:`.rules.step_`, so moves, pushes and rewards are the agent's to the last
decimal, and it keeps a stack of earlier grids so undo is exact. :func:`play_terminal` puts
a ``curses`` face on it; :func:`key_to_command` is the pure key mapping between the two, so
the keys can be tested without a terminal.

Try it with ``python -m reverie.envs.sokoban.play [LEVEL_FILE_OR_FOLDER]``.
"""

from __future__ import annotations

import argparse
import curses
from typing import Sequence

import numpy as np
import torch

from . import cells, rules
from .levels import Level, load_levels, parse_level_file, to_xsb

UP, DOWN, LEFT, RIGHT = 1, 2, 3, 4
UNDO, RESTART, QUIT, NEXT, PREVIOUS, RESIZE = "undo", "restart", "quit", "next", "previous", "resize"


class PlaySession:
    """One person's attempt at one level: act, undo, restart, and the counters to show.

    Every action is one step of the agent's clock, charged the agent's reward, even when
    the player bumps into a wall (a step that changes no cell): ``steps`` counts those,
    ``moves`` only the steps where the player moved, ``pushes`` those that moved a box.
    ``undo`` takes back the last step, whatever it was. Once the level is solved, or
    ``max_steps`` steps are used up (the agent's truncation), further actions are ignored.
    """

    def __init__(self, level: Level, max_steps: int | None = None) -> None:
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {max_steps}")
        self.level = level
        self.max_steps = max_steps
        self._tables = rules.make_tables(level.shape[1])
        self.restart()

    def restart(self) -> None:
        """Back to the level's start, with an empty history (restart itself is not undoable)."""
        self._codes = torch.from_numpy(self.level.codes.reshape(1, -1).copy())
        self._player = rules.player_index(self._codes)
        self._steps = self._moves = self._pushes = 0
        self._total_reward = 0.0
        self._solved = self.level.is_solved()
        self.history: list[int] = []
        # One entry per step: everything the step changed, as it was before it.
        self._undo_stack: list[tuple[torch.Tensor, int, int, int, float, bool]] = []

    def act(self, action: int) -> float:
        """Take one action (0 no-op, 1 up, 2 down, 3 left, 4 right); return its reward."""
        if isinstance(action, bool) or not isinstance(action, (int, np.integer)) \
                or not 0 <= action < rules.NUM_ACTIONS:
            raise ValueError(f"action must be an integer in 0..{rules.NUM_ACTIONS - 1}, got {action!r}")
        if self.over:
            return 0.0
        self._undo_stack.append((self._codes.clone(), self._moves, self._pushes, self._steps,
                                 self._total_reward, self._solved))
        before = int(self._player)
        result = rules.step_(self._codes, self._player, torch.tensor([int(action)]), self._tables)
        reward = float(result.reward[0])
        self._steps += 1
        self._moves += int(self._player) != before
        self._pushes += bool(result.pushed[0])
        self._total_reward += reward
        self._solved = bool(result.solved[0])
        self.history.append(int(action))
        return reward

    def undo(self) -> bool:
        """Take back the last step exactly; False when there is nothing to take back."""
        if not self._undo_stack:
            return False
        codes, self._moves, self._pushes, self._steps, self._total_reward, self._solved = \
            self._undo_stack.pop()
        self._codes = codes
        self._player = rules.player_index(codes)
        self.history.pop()
        return True

    @property
    def codes(self) -> np.ndarray:
        """The current [H, W] grid of cell codes (a copy)."""
        return self._codes.numpy().reshape(self.level.shape).copy()

    @property
    def moves(self) -> int:
        return self._moves

    @property
    def pushes(self) -> int:
        return self._pushes

    @property
    def steps(self) -> int:
        return self._steps

    @property
    def total_reward(self) -> float:
        return self._total_reward

    @property
    def solved(self) -> bool:
        return self._solved

    @property
    def out_of_steps(self) -> bool:
        """The agent's episode would have been cut off here (and the level is unsolved)."""
        return self.max_steps is not None and self._steps >= self.max_steps and not self._solved

    @property
    def over(self) -> bool:
        return self._solved or self.out_of_steps

    def text(self) -> str:
        """The current position in XSB."""
        return to_xsb(self.codes)


# -- keys -------------------------------------------------------------------------------

_KEYS: dict[int, str | int] = {
    curses.KEY_UP: UP, curses.KEY_DOWN: DOWN, curses.KEY_LEFT: LEFT, curses.KEY_RIGHT: RIGHT,
    curses.KEY_RESIZE: RESIZE,
}
_LETTERS: dict[str, str | int] = {
    "k": UP, "j": DOWN, "h": LEFT, "l": RIGHT,  # vi
    "w": UP, "s": DOWN, "a": LEFT, "d": RIGHT,  # games
    "u": UNDO, "r": RESTART, "q": QUIT, "n": NEXT, "p": PREVIOUS,
}


def key_to_command(key: int | str) -> str | int | None:
    """What a key does: an action number (1-4), a command name, or None for other keys.

    ``key`` is what ``getch`` returns (an int, curses ``KEY_*`` codes included) or a
    one-character string; letters work in either case so Caps Lock does not lock the game.
    """
    if isinstance(key, str):
        if len(key) != 1:
            return None
        key = ord(key)
    if key in _KEYS:
        return _KEYS[key]
    if 0 <= key < 0x110000:
        return _LETTERS.get(chr(key).lower())
    return None


# -- the terminal -----------------------------------------------------------------------

HELP = "arrows/hjkl/wasd move  u undo  r restart  n/p level  q quit"
STATUS_LINES = 3  # title, counters, help or message


def play_terminal(levels: Sequence[Level], start: int = 0, max_steps: int | None = None) -> int:
    """Play ``levels`` in the terminal from index ``start``; return how many were solved.

    ``curses.wrapper`` restores the terminal however the game ends; Ctrl-C counts as quit.
    Each level starts afresh when entered; a level solved twice counts once.
    """
    levels = list(levels)
    if not levels:
        raise ValueError("no levels to play")
    if not 0 <= start < len(levels):
        raise ValueError(f"start must be in 0..{len(levels) - 1}, got {start}")
    return curses.wrapper(_game, levels, start, max_steps)


def _game(screen: curses.window, levels: list[Level], index: int, max_steps: int | None) -> int:
    _hide_cursor()
    screen.keypad(True)
    colours = _colours()
    solved: set[int] = set()
    session = PlaySession(levels[index], max_steps)
    message = ""
    try:
        while True:
            _draw(screen, session, index, len(levels), message, colours)
            command = key_to_command(screen.getch())
            message = ""
            if command == QUIT:
                break
            if isinstance(command, int):
                if not session.over:
                    session.act(command)
                    if session.solved:
                        solved.add(index)
            elif command == UNDO:
                if not session.undo():
                    message = "Nothing to undo."
            elif command == RESTART:
                session.restart()
            elif command in (NEXT, PREVIOUS):
                step = 1 if command == NEXT else -1
                if 0 <= index + step < len(levels):
                    index += step
                    session = PlaySession(levels[index], max_steps)
                else:
                    message = "That is the last level." if step > 0 else "That is the first level."
    except KeyboardInterrupt:
        pass
    return len(solved)


def _hide_cursor() -> None:
    try:
        curses.curs_set(0)
    except curses.error:  # some terminals cannot hide the cursor; it only looks worse
        pass


def _colours() -> list[int]:
    """A curses attribute for each cell code: colours where the terminal has them."""
    attrs = [curses.A_NORMAL] * cells.NUM_CODES
    attrs[cells.WALL] = curses.A_BOLD
    if not curses.has_colors():
        return attrs
    curses.start_color()
    try:
        curses.use_default_colors()
        background = -1
    except curses.error:
        background = curses.COLOR_BLACK
    scheme = {
        cells.WALL: (curses.COLOR_BLUE, curses.A_BOLD),
        cells.TARGET: (curses.COLOR_RED, curses.A_NORMAL),
        cells.BOX: (curses.COLOR_YELLOW, curses.A_BOLD),
        cells.BOX_ON_TARGET: (curses.COLOR_GREEN, curses.A_BOLD),
        cells.PLAYER: (curses.COLOR_CYAN, curses.A_BOLD),
        cells.PLAYER_ON_TARGET: (curses.COLOR_CYAN, curses.A_BOLD),
    }
    for pair, (code, (colour, extra)) in enumerate(scheme.items(), start=1):
        curses.init_pair(pair, colour, background)
        attrs[code] = curses.color_pair(pair) | extra
    return attrs


def _draw(screen: curses.window, session: PlaySession, index: int, count: int,
          message: str, colours: list[int]) -> None:
    screen.erase()
    rows, cols = screen.getmaxyx()
    height, width = session.level.shape
    if rows < height + STATUS_LINES or cols < width + 1:
        _put(screen, 0, f"Terminal too small: this level needs {width + 1}x{height + STATUS_LINES}, "
                        f"the terminal is {cols}x{rows}. Enlarge it, or press q to quit.", cols)
        screen.refresh()
        return
    _put(screen, 0, f"Level {index + 1}/{count}: {session.level.name}", cols, curses.A_BOLD)
    limit = f"/{session.max_steps}" if session.max_steps is not None else ""
    _put(screen, 1, f"moves {session.moves}  pushes {session.pushes}  steps {session.steps}{limit}  "
                    f"reward {session.total_reward:+.1f}", cols)
    for r, row in enumerate(session.codes):
        for c, code in enumerate(row):
            screen.addch(2 + r, c, cells.CHARS[code], colours[code])
    if session.solved:
        more = "n: next level, " if index + 1 < count else "that was the last level; "
        moves = f"{session.moves} move" + "s" * (session.moves != 1)
        message = message or f"Solved in {moves}! {more}r: replay, q: quit"
    elif session.out_of_steps:
        message = message or "Out of steps (the agent's limit): u undo, r restart"
    _put(screen, 2 + height, message or HELP, cols, curses.A_REVERSE if message else curses.A_DIM)
    screen.refresh()


def _put(screen: curses.window, row: int, text: str, cols: int, attr: int = curses.A_NORMAL) -> None:
    """Write a line cut to the screen's width (curses errors on the bottom-right cell)."""
    try:
        screen.addnstr(row, 0, text, max(cols - 1, 0), attr)
    except curses.error:
        pass


# -- running it by hand -----------------------------------------------------------------

DEMO_LEVELS = """\
; tiny
#####
#@$.#
#####

; corner
######
#    #
# $  #
#  .@#
######

; two boxes
#######
#     #
# $.$ #
#  .@ #
#######
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Play Sokoban in the terminal.")
    parser.add_argument("levels", nargs="?", help="XSB level file or folder (default: built-in demo levels)")
    parser.add_argument("--start", type=int, default=1, help="first level to play, counting from 1")
    parser.add_argument("--max-steps", type=int, default=None, help="the agent's step limit, if wanted")
    args = parser.parse_args(argv)
    levels = load_levels(args.levels, pad=True) if args.levels else parse_level_file(DEMO_LEVELS, "demo")
    solved = play_terminal(levels, args.start - 1, args.max_steps)
    print(f"Solved {solved} of {len(levels)} levels.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
