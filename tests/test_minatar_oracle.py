"""Step-for-step agreement of reverie's Breakout rules with the ``minatar`` package's own game.

The package (PyPI ``minatar``, installed by the test extra; skipped where absent) is the
oracle: a batch of its games is played with a paddle-tracking policy that sometimes acts at
random (so episodes last, bricks run out and come back, and the ball meets bricks twice in a
row), with MinAtar's sticky actions on. Its random draws (the ball's start side, whether the
last action repeats) are read from the oracle and given to reverie's rules, which must then
show the same observation, reward and episode end at every step.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reverie.envs.minatar import breakout

minatar = pytest.importorskip("minatar")

GAMES, STEPS = 40, 300  # 12,000 compared steps


def _oracle_frame(game) -> np.ndarray:
    return np.transpose(game.state(), (2, 0, 1)).astype(np.float32)  # [10, 10, 4] -> [4, 10, 10]


def _tracking_action(game, rng: np.random.Generator) -> int:
    """Move the paddle under the ball most of the time, at random otherwise (reverie's action ids)."""
    if rng.random() < 0.03:
        return int(rng.integers(3))
    inner = game.env
    target = min(max(inner.ball_x + (-1, 1, 1, -1)[inner.ball_dir], 0), 9)  # where the ball goes next
    return 0 if target == inner.pos else (1 if target < inner.pos else 2)


def _start(game, i: int, rng: np.random.Generator) -> breakout.BreakoutState:
    """The reverie state of an oracle game just reset; every third game keeps only 2 bricks
    (in both), so that bricks run out and come back within the test."""
    if i % 3 == 0:
        keep = rng.choice(30, size=2, replace=False) + 10
        game.env.brick_map[:] = 0
        game.env.brick_map.flat[keep] = 1
    state = breakout.initial_state(torch.tensor([game.env.ball_x == 9]))
    state.bricks[0] = torch.from_numpy(game.env.brick_map.flatten() > 0)
    return state


def test_reverie_breakout_agrees_with_minatar_step_for_step():
    rng = np.random.default_rng(0)
    games = []
    for i in range(GAMES):
        game = minatar.Environment("breakout", sticky_action_prob=0.1 if i % 2 else 0.0)
        game.seed(1000 + i)
        game.reset()
        games.append(game)
    state = breakout.initial_state(torch.zeros(GAMES, dtype=torch.bool))
    for i, g in enumerate(games):
        state.assign(torch.tensor([i]), _start(g, i, rng))
    assert np.array_equal(breakout.observe(state).numpy(), np.stack([_oracle_frame(g) for g in games]))
    seen = {"bricks": 0, "lost": 0, "refills": 0, "pass_through": 0}
    for _ in range(STEPS):
        chosen = [_tracking_action(g, rng) for g in games]
        rewards, ends, played = [], [], []
        for g, a in zip(games, chosen):
            before = g.env.strike
            bricks_before = np.count_nonzero(g.env.brick_map)
            reward, end = g.act(breakout.MINATAR_ACTIONS[a])
            played.append(breakout.MINATAR_ACTIONS.index(g.last_action))
            rewards.append(reward)
            ends.append(end)
            seen["refills"] += int(bricks_before == 0 and np.count_nonzero(g.env.brick_map) > 0)
            seen["pass_through"] += int(before and g.env.strike)
        state, events = breakout.step(state, torch.tensor(played))
        expected = np.stack([_oracle_frame(g) for g in games])
        assert np.array_equal(breakout.observe(state).numpy(), expected)
        assert events[:, 0].tolist() == rewards
        assert events[:, 1].bool().tolist() == ends
        seen["bricks"] += sum(rewards)
        seen["lost"] += sum(ends)
        for i, g in enumerate(games):
            if ends[i]:
                g.reset()
                state.assign(torch.tensor([i]), _start(g, i, rng))
    # the comparison covered the rules that matter, not only easy steps
    assert seen["bricks"] > 500 and seen["lost"] > 20 and seen["refills"] > 0 and seen["pass_through"] > 0, seen
