"""MiniPacman for a person at a terminal, on exactly the env the agents play.

:class:`PlaySession` is the game without a screen: a batched env of one game (the agents'
rules, rewards and episodes), the score, level and power to show, and the board as text.
:func:`play_terminal` puts a turn-based ``curses`` face on it (one key, one step: the ghosts
wait for you); :func:`play_keys` / :func:`play_text` play a string of keys without a terminal
(``reverie play minipacman --keys ...``); :func:`key_to_command` is the pure key mapping.

Try it with ``python -m reverie.envs.minipacman.play --task hunt``.
"""

from __future__ import annotations

import argparse
import curses
from typing import Sequence

import torch

from ...core.errors import ReverieError
from .gym_env import make_batched_env
from .spec import FRAME_CAP, MAX_GHOSTS

STAY, RIGHT, UP, LEFT, DOWN = range(5)
NEW_GAME, QUIT, RESIZE = "new game", "quit", "resize"
#: Board characters: wall, food, power pill, player, ghost, edible ghost, empty.
WALL, FOOD, PILL, PLAYER, GHOST, EDIBLE, EMPTY = "#", ".", "o", "@", "G", "g", " "


class PlaySession:
    """One person's games of one task: act, start a new game, and the counters to show.

    ``act`` plays one step and returns its reward; once the player is killed or the frame
    cap is reached the game is ``over`` and further actions are ignored until ``new_game``.
    Games are the split's episodes drawn from ``seed`` (the same seed, the same games).
    """

    def __init__(self, task: str = "regular", seed: int = 0, split: str = "train", max_steps: int = FRAME_CAP,
                 timer: str = "paper", max_ghosts: int = MAX_GHOSTS) -> None:
        self.task = task
        self.env = make_batched_env(task, split, 1, seed, "cpu", "symbolic", max_steps, timer, max_ghosts)
        self.env.reset(seed=seed)
        self._start()

    def _start(self) -> None:
        self._frame = self.env.observe()[0]
        self.score, self.steps, self.games = 0.0, 0, getattr(self, "games", 0) + 1
        self.level, self.power = int(self.env.state.level[0]), 0
        self.killed = self.truncated = False

    def new_game(self) -> None:
        """Start the next game (the env has one ready when the last ended; else abandon this one)."""
        if not self.over:
            self.env.reset()
        self._start()

    @property
    def over(self) -> bool:
        return self.killed or self.truncated

    @property
    def episode(self) -> int:
        return int(self.env.episode[0])

    def act(self, action: int) -> float:
        """One step: 0 stay, 1 right, 2 up, 3 left, 4 down; its reward (0 once the game is over)."""
        if isinstance(action, bool) or not isinstance(action, int) or not 0 <= action < 5:
            raise ReverieError(f"action must be an integer in 0..4, got {action!r}")
        if self.over:
            return 0.0
        obs, reward, terminated, truncated, info = self.env.step(torch.tensor([action]))
        ended = info["final_index"].numel() > 0
        self._frame = (info["final_obs"] if ended else obs)[0]
        self.killed, self.truncated = bool(terminated[0]), bool(truncated[0])
        self.steps += 1
        self.score += float(reward[0])
        self.level = int(info["level"][0])
        self.power = 0 if ended else int(self.env.state.power[0])
        return float(reward[0])

    def board(self) -> list[str]:
        """The board as text, one string a row (see the module's characters)."""
        walls, food, player, ghost, edible, pill = (self._frame > 0).unbind(0)
        ghost = ghost | edible
        rows = []
        for r in range(walls.shape[0]):
            line = []
            for c in range(walls.shape[1]):
                if player[r, c]:
                    line.append(PLAYER)
                elif ghost[r, c]:
                    line.append(EDIBLE if edible[r, c] else GHOST)
                elif pill[r, c]:
                    line.append(PILL)
                elif food[r, c]:
                    line.append(FOOD)
                else:
                    line.append(WALL if walls[r, c] else EMPTY)
            rows.append("".join(line))
        return rows

    def status(self) -> str:
        return (f"{self.task}  score {self.score:+.1f}  level {self.level}  power {self.power}  "
                f"steps {self.steps}")

    def verdict(self) -> str:
        if self.killed:
            return f"Caught by a ghost: score {self.score:+.1f}."
        if self.truncated:
            return f"Out of time (frame cap): score {self.score:+.1f}."
        return ""


# -- keys -------------------------------------------------------------------------------

_KEYS: dict[int, str | int] = {
    curses.KEY_UP: UP, curses.KEY_DOWN: DOWN, curses.KEY_LEFT: LEFT, curses.KEY_RIGHT: RIGHT,
    curses.KEY_RESIZE: RESIZE,
}
_LETTERS: dict[str, str | int] = {
    "k": UP, "j": DOWN, "h": LEFT, "l": RIGHT,  # vi
    "w": UP, "s": DOWN, "a": LEFT, "d": RIGHT,  # games
    " ": STAY, ".": STAY,
    "n": NEW_GAME, "r": NEW_GAME, "q": QUIT,
}


def key_to_command(key: int | str) -> str | int | None:
    """What a key does: an action number (0-4), a command name, or None for other keys."""
    if isinstance(key, str):
        if len(key) != 1:
            return None
        key = ord(key)
    if key in _KEYS:
        return _KEYS[key]
    if 0 <= key < 0x110000:
        return _LETTERS.get(chr(key).lower())
    return None


KEYS_HELP = "w/a/s/d or h/j/k/l move, . stays"


def play_keys(session: PlaySession, keys: str) -> int:
    """Play the moves in ``keys`` (``KEYS_HELP``; other commands and unknown keys are errors)
    until they run out or the game ends; return how many steps were played."""
    actions = []
    for key in keys:
        command = key_to_command(key)
        if not isinstance(command, int):
            raise ReverieError(f"unknown move {key!r} in the keys; {KEYS_HELP}")
        actions.append(command)
    played = 0
    for action in actions:
        if session.over:
            break
        session.act(action)
        played += 1
    return played


# -- the terminal -----------------------------------------------------------------------

HELP = "arrows/wasd/hjkl move  space/. stay  n new game  q quit"
STATUS_LINES = 3  # title, counters, help or message


def play_terminal(session: PlaySession) -> float:
    """Play ``session``'s games in the terminal; return the best score of the games played.

    ``curses.wrapper`` restores the terminal however the game ends; Ctrl-C counts as quit."""
    return curses.wrapper(_game, session)


def _game(screen: curses.window, session: PlaySession) -> float:
    try:
        curses.curs_set(0)
    except curses.error:  # some terminals cannot hide the cursor
        pass
    screen.keypad(True)
    colours = _colours()
    best = float("-inf")
    try:
        while True:
            _draw(screen, session, colours)
            command = key_to_command(screen.getch())
            if command == QUIT:
                break
            if isinstance(command, int):
                session.act(command)
            elif command == NEW_GAME:
                best = max(best, session.score)
                session.new_game()
    except KeyboardInterrupt:
        pass
    return max(best, session.score)


def _colours() -> dict[str, int]:
    attrs = {ch: curses.A_NORMAL for ch in (WALL, FOOD, PILL, PLAYER, GHOST, EDIBLE, EMPTY)}
    attrs[WALL] = curses.A_BOLD
    if not curses.has_colors():
        return attrs
    curses.start_color()
    try:
        curses.use_default_colors()
        background = -1
    except curses.error:
        background = curses.COLOR_BLACK
    scheme = {WALL: (curses.COLOR_WHITE, curses.A_BOLD), FOOD: (curses.COLOR_BLUE, curses.A_BOLD),
              PILL: (curses.COLOR_CYAN, curses.A_BOLD), PLAYER: (curses.COLOR_GREEN, curses.A_BOLD),
              GHOST: (curses.COLOR_RED, curses.A_BOLD), EDIBLE: (curses.COLOR_YELLOW, curses.A_BOLD)}
    for pair, (ch, (colour, extra)) in enumerate(scheme.items(), start=1):
        curses.init_pair(pair, colour, background)
        attrs[ch] = curses.color_pair(pair) | extra
    return attrs


def _draw(screen: curses.window, session: PlaySession, colours: dict[str, int]) -> None:
    screen.erase()
    rows, cols = screen.getmaxyx()
    board = session.board()
    height, width = len(board), len(board[0])
    if rows < height + STATUS_LINES or cols < width + 1:
        _put(screen, 0, f"Terminal too small: MiniPacman needs {width + 1}x{height + STATUS_LINES}, "
                        f"the terminal is {cols}x{rows}. Enlarge it, or press q to quit.", cols)
        screen.refresh()
        return
    _put(screen, 0, f"MiniPacman, game {session.games} (episode {session.episode})", cols, curses.A_BOLD)
    _put(screen, 1, session.status(), cols)
    for r, line in enumerate(board):
        for c, ch in enumerate(line):
            screen.addch(2 + r, c, ch, colours[ch])
    message = f"{session.verdict()} n: new game, q: quit" if session.over else ""
    _put(screen, 2 + height, message or HELP, cols, curses.A_REVERSE if message else curses.A_DIM)
    screen.refresh()


def _put(screen: curses.window, row: int, text: str, cols: int, attr: int = curses.A_NORMAL) -> None:
    """Write a line cut to the screen's width (curses errors on the bottom-right cell)."""
    try:
        screen.addnstr(row, 0, text, max(cols - 1, 0), attr)
    except curses.error:
        pass


# -- running it -------------------------------------------------------------------------

def play_text(session: PlaySession, keys: str) -> str:
    """Play ``keys`` without a terminal and return the final board and counters as text."""
    played = play_keys(session, keys)
    lines = [*session.board(), session.status()]
    if session.over:
        lines.append(f"{session.verdict()} (after {played} of {len(keys)} keys)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Play MiniPacman in the terminal.")
    parser.add_argument("--task", default="regular", help="regular, avoid, hunt, ambush or rush")
    parser.add_argument("--seed", type=int, default=0, help="seed of the games (default: 0)")
    parser.add_argument("--keys", help=f"play these keys without a terminal ({KEYS_HELP})")
    args = parser.parse_args(argv)
    session = PlaySession(args.task, args.seed)
    if args.keys is not None:
        print(play_text(session, args.keys))
        return 0
    print(f"best score {play_terminal(session):+.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
