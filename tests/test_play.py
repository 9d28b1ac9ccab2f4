"""The terminal game: session rules, exact undo, key mapping, and a real run inside tmux."""

from __future__ import annotations

import curses
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from reverie.envs.sokoban import rules
from reverie.envs.sokoban.levels import parse_xsb
from reverie.envs.sokoban.play import (
    DOWN, LEFT, NEXT, PREVIOUS, QUIT, RESTART, RIGHT, UNDO, UP, PlaySession, key_to_command,
)

SRC = Path(__file__).resolve().parents[1] / "src"

ONE_PUSH = "#####\n#@$.#\n#####"
# Pushing right twice puts the first box on a target, then pushes it off again.
ON_THEN_OFF = "########\n#@$. $.#\n#      #\n########"


def test_push_onto_last_target_solves_with_the_agents_reward():
    session = PlaySession(parse_xsb(ONE_PUSH))
    reward = session.act(RIGHT)
    assert reward == pytest.approx(rules.STEP_REWARD + rules.BOX_ON_REWARD + rules.SOLVED_REWARD)
    assert session.solved and session.over
    assert (session.moves, session.pushes, session.steps) == (1, 1, 1)
    assert session.text() == "#####\n# @*#\n#####"
    assert session.history == [RIGHT]


def test_moves_pushes_and_rewards_on_and_off_targets():
    session = PlaySession(parse_xsb(ON_THEN_OFF))
    assert session.act(UP) == pytest.approx(rules.STEP_REWARD)  # into a wall: a step, no move
    assert (session.moves, session.pushes, session.steps) == (0, 0, 1)
    assert session.act(RIGHT) == pytest.approx(rules.STEP_REWARD + rules.BOX_ON_REWARD)
    assert session.act(RIGHT) == pytest.approx(rules.STEP_REWARD + rules.BOX_OFF_REWARD)
    assert session.act(DOWN) == pytest.approx(rules.STEP_REWARD)
    assert (session.moves, session.pushes, session.steps) == (3, 2, 4)
    assert session.total_reward == pytest.approx(4 * rules.STEP_REWARD)
    assert not session.solved
    assert session.history == [UP, RIGHT, RIGHT, DOWN]
    assert session.text() == "########\n#  .$$.#\n#  @   #\n########"


def test_undo_after_a_push_is_exact():
    session = PlaySession(parse_xsb(ON_THEN_OFF))
    session.act(RIGHT)
    grid, reward = session.codes, session.total_reward
    session.act(RIGHT)  # pushes the box off its target
    assert session.undo()
    np.testing.assert_array_equal(session.codes, grid)
    assert session.total_reward == reward
    assert (session.moves, session.pushes, session.steps, session.history) == (1, 1, 1, [RIGHT])
    assert session.undo()
    np.testing.assert_array_equal(session.codes, session.level.codes)
    assert (session.moves, session.pushes, session.steps, session.total_reward) == (0, 0, 0, 0.0)
    # The player position is restored too: the same push works again after undoing.
    assert session.act(RIGHT) == pytest.approx(rules.STEP_REWARD + rules.BOX_ON_REWARD)


def test_undo_of_a_solving_push_reopens_the_level():
    session = PlaySession(parse_xsb(ONE_PUSH))
    session.act(RIGHT)
    assert session.undo()
    assert not session.solved and session.text() == ONE_PUSH


def test_undo_at_start_returns_false():
    session = PlaySession(parse_xsb(ONE_PUSH))
    assert session.undo() is False
    assert session.text() == ONE_PUSH


def test_restart_forgets_everything():
    session = PlaySession(parse_xsb(ON_THEN_OFF))
    for action in (RIGHT, RIGHT, DOWN):
        session.act(action)
    session.restart()
    np.testing.assert_array_equal(session.codes, session.level.codes)
    assert (session.moves, session.pushes, session.steps, session.total_reward) == (0, 0, 0, 0.0)
    assert session.history == [] and session.undo() is False


def test_finished_sessions_ignore_actions_until_undone():
    session = PlaySession(parse_xsb(ON_THEN_OFF), max_steps=2)
    session.act(LEFT)
    session.act(UP)
    assert session.out_of_steps and session.over
    assert session.act(RIGHT) == 0.0 and session.history == [LEFT, UP]
    assert session.undo() and not session.over
    solved = PlaySession(parse_xsb(ONE_PUSH))
    solved.act(RIGHT)
    assert solved.act(LEFT) == 0.0 and solved.history == [RIGHT]


def test_codes_is_a_copy():
    session = PlaySession(parse_xsb(ONE_PUSH))
    session.codes[:] = 0
    assert session.text() == ONE_PUSH


@pytest.mark.parametrize("action", [-1, 5, 1.0, True, "1"])
def test_bad_actions_are_refused(action):
    with pytest.raises(ValueError, match="action"):
        PlaySession(parse_xsb(ONE_PUSH)).act(action)


@pytest.mark.parametrize("key, command", [
    (curses.KEY_UP, UP), (curses.KEY_DOWN, DOWN), (curses.KEY_LEFT, LEFT), (curses.KEY_RIGHT, RIGHT),
    (ord("k"), UP), (ord("j"), DOWN), (ord("h"), LEFT), (ord("l"), RIGHT),
    (ord("w"), UP), (ord("s"), DOWN), (ord("a"), LEFT), (ord("d"), RIGHT), (ord("D"), RIGHT),
    (ord("u"), UNDO), (ord("r"), RESTART), (ord("q"), QUIT), (ord("n"), NEXT), (ord("p"), PREVIOUS),
    ("l", RIGHT), ("Q", QUIT),
    (ord("x"), None), (ord(" "), None), (-1, None), (curses.KEY_F1, None), ("", None), ("up", None),
])
def test_key_to_command(key, command):
    assert key_to_command(key) == command


# -- a real terminal, driven through tmux -------------------------------------------------

@pytest.fixture
def tmux(tmp_path):
    """Run commands in a private tmux server (its own socket), killed afterwards."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    socket = f"reverie-test-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    # remain-on-exit keeps the pane, and any traceback in it, after the game exits.
    config = tmp_path / "tmux.conf"
    config.write_text("set-option -g remain-on-exit on\n")

    def run(*args: str) -> str:
        done = subprocess.run(["tmux", "-L", socket, "-f", str(config), *args], env=env,
                              capture_output=True, text=True, timeout=10)
        return done.stdout

    yield run
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def _start_game(tmux, tmp_path: Path, size: tuple[int, int]) -> Path:
    """Start ``play_terminal`` on the one-push level; its return value lands in a file."""
    result = tmp_path / "solved.txt"
    code = (
        "from reverie.envs.sokoban.levels import parse_xsb\n"
        "from reverie.envs.sokoban.play import play_terminal\n"
        f"n = play_terminal([parse_xsb({ONE_PUSH!r}, 'tiny')])\n"
        f"open({str(result)!r}, 'w').write(str(n))\n"
    )
    command = f"env PYTHONPATH={shlex.quote(str(SRC))} {shlex.quote(sys.executable)} -c {shlex.quote(code)}"
    tmux("new-session", "-d", "-s", "game", "-x", str(size[0]), "-y", str(size[1]), command)
    return result


def _wait_for(predicate, what: str, tmux, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    screen = tmux("capture-pane", "-p", "-t", "game")
    raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{screen}")


def _screen_shows(tmux, text: str):
    return lambda: text in tmux("capture-pane", "-p", "-t", "game")


def test_terminal_game_solves_a_level_and_quits(tmux, tmp_path):
    result = _start_game(tmux, tmp_path, (80, 24))
    _wait_for(_screen_shows(tmux, "Level 1/1"), "the board", tmux)
    screen = tmux("capture-pane", "-p", "-t", "game")
    assert "#@$.#" in screen and "moves 0" in screen
    tmux("send-keys", "-t", "game", "Right")
    _wait_for(_screen_shows(tmux, "Solved in 1 move!"), "the solved message", tmux)
    assert "# @*#" in tmux("capture-pane", "-p", "-t", "game")
    tmux("send-keys", "-t", "game", "q")
    _wait_for(result.exists, "the game to quit", tmux)
    _wait_for(lambda: result.read_text() == "1", "the solved count", tmux)


def test_terminal_too_small_says_so_and_ctrl_c_quits(tmux, tmp_path):
    result = _start_game(tmux, tmp_path, (40, 4))
    _wait_for(_screen_shows(tmux, "Terminal too small"), "the too-small message", tmux)
    tmux("send-keys", "-t", "game", "C-c")
    _wait_for(result.exists, "the game to stop on Ctrl-C", tmux)
    _wait_for(lambda: result.read_text() == "0", "the solved count (written after the file appears)", tmux)
