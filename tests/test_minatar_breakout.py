"""MinAtar Breakout: the rules one by one, the batched env, the perfect model, the spec and Gymnasium ids."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from reverie.core.errors import ReverieError
from reverie.envs.minatar import breakout
from reverie.envs.minatar.breakout import BreakoutState
from reverie.envs.minatar.env import BreakoutVecEnv
from reverie.envs.minatar.model import encode_frames
from reverie.envs.registry import env_ids, get_spec, make_env

NOOP, LEFT, RIGHT = 0, 1, 2
UP_LEFT, UP_RIGHT, DOWN_RIGHT, DOWN_LEFT = 0, 1, 2, 3


def game(x: int, y: int, direction: int, paddle: int = 4, bricks: list[tuple[int, int]] | None = None,
         strike: bool = False, last: tuple[int, int] | None = None) -> BreakoutState:
    """One game with the ball at column ``x``, row ``y`` (bricks: the default three rows)."""
    state = breakout.initial_state(torch.tensor([False]))
    state.ball_x[0], state.ball_y[0], state.direction[0], state.paddle[0] = x, y, direction, paddle
    state.last_x[0], state.last_y[0] = last if last is not None else (x, y)
    state.strike[0] = strike
    if bricks is not None:
        state.bricks.zero_()
        for r, c in bricks:
            state.bricks[0, r * 10 + c] = True
    return state


def play(state: BreakoutState, action: int = NOOP, sticky: bool | None = None):
    flag = None if sticky is None else torch.tensor([sticky])
    after, events = breakout.step(state, torch.tensor([action]), flag)
    return after, events[0].tolist()


def ball(state: BreakoutState) -> tuple[int, int, int]:
    return int(state.ball_x[0]), int(state.ball_y[0]), int(state.direction[0])


# -- the rules ----------------------------------------------------------------------------------

def test_new_game_layout():
    state = breakout.initial_state(torch.tensor([False, True]))
    obs = breakout.observe(state)
    assert obs.shape == (2, 4, 10, 10) and obs.dtype == torch.float32
    assert obs[:, 3].sum().item() == 60 and obs[:, 3, 1:4].all()               # three rows of bricks
    assert obs[0, 1, 3, 0] == 1 and obs[1, 1, 3, 9] == 1                        # the ball in row 3 at a wall
    assert state.direction.tolist() == [DOWN_RIGHT, DOWN_LEFT]
    assert obs[:, 0, 9, 4].all() and obs[:, 0].sum().item() == 2                 # the paddle in column 4
    assert torch.equal(obs[:, 1], obs[:, 2])                                     # trail under the ball


def test_diagonal_move_leaves_a_trail():
    state, events = play(game(5, 5, DOWN_RIGHT, bricks=[]))
    assert ball(state) == (6, 6, DOWN_RIGHT) and events == [0, 0]
    assert (int(state.last_x[0]), int(state.last_y[0])) == (5, 5)


def test_side_wall_flips_horizontally_and_the_ball_moves_straight():
    state, _ = play(game(0, 5, UP_LEFT, bricks=[]))
    assert ball(state) == (0, 4, UP_RIGHT)
    state, _ = play(game(9, 5, DOWN_RIGHT, bricks=[]))
    assert ball(state) == (9, 6, DOWN_LEFT)


def test_ceiling_flips_vertically_and_the_ball_moves_sideways():
    state, _ = play(game(5, 0, UP_RIGHT, bricks=[]))
    assert ball(state) == (6, 0, DOWN_RIGHT)
    state, _ = play(game(0, 0, UP_LEFT, bricks=[]))   # a corner: both flips, the ball stays
    assert ball(state) == (0, 0, DOWN_RIGHT)


def test_brick_hit_scores_removes_the_brick_and_keeps_the_row():
    state, events = play(game(5, 4, UP_RIGHT, bricks=[(3, 6), (3, 7)]))
    assert events == [1, 0] and ball(state) == (6, 4, DOWN_RIGHT)
    assert not state.bricks[0, 36] and state.bricks[0, 37] and state.strike[0]


def test_a_brick_met_right_after_a_hit_is_passed_through():
    state = game(6, 4, UP_RIGHT, bricks=[(3, 7)], strike=True)
    state, events = play(state)
    assert events == [0, 0] and ball(state) == (7, 3, UP_RIGHT) and state.bricks[0, 37] and state.strike[0]
    state, events = play(state)                        # no brick now: the flag clears
    assert ball(state) == (8, 2, UP_RIGHT) and not state.strike[0]


def test_paddle_straight_bounce_when_the_ball_was_above_it():
    state, events = play(game(4, 8, DOWN_RIGHT, paddle=4, bricks=[]))
    assert events == [0, 0] and ball(state) == (5, 8, UP_RIGHT)


def test_paddle_corner_bounce_sends_the_ball_back():
    state, events = play(game(3, 8, DOWN_RIGHT, paddle=4, bricks=[]))
    assert events == [0, 0] and ball(state) == (4, 8, UP_LEFT)


def test_the_paddle_moves_before_the_ball_lands():
    state, events = play(game(3, 8, DOWN_RIGHT, paddle=5, bricks=[]), LEFT)
    assert int(state.paddle[0]) == 4 and events == [0, 0] and ball(state)[2] == UP_LEFT


def test_missed_ball_is_lost():
    state, events = play(game(2, 8, DOWN_RIGHT, paddle=6, bricks=[(1, 1)]))
    assert events == [0, 1] and ball(state)[:2] == (3, 9)


def test_bricks_come_back_when_the_ball_reaches_the_bottom_row_of_an_empty_wall():
    state, events = play(game(2, 8, DOWN_RIGHT, paddle=6, bricks=[]))
    assert events == [0, 1] and state.bricks.view(10, 10)[1:4].all() and state.bricks.sum() == 30
    state, _ = play(game(2, 7, DOWN_RIGHT, bricks=[]))   # not yet at the bottom row: still empty
    assert state.bricks.sum() == 0


def test_paddle_stops_at_the_walls():
    assert int(play(game(5, 5, DOWN_RIGHT, paddle=0, bricks=[]), LEFT)[0].paddle[0]) == 0
    assert int(play(game(5, 5, DOWN_RIGHT, paddle=9, bricks=[]), RIGHT)[0].paddle[0]) == 9


def test_sticky_step_repeats_the_last_action():
    state = game(5, 5, DOWN_RIGHT, bricks=[])
    state, _ = play(state, LEFT)
    repeated, _ = play(state, RIGHT, sticky=True)
    assert int(repeated.paddle[0]) == 2 and int(repeated.last_action[0]) == LEFT
    chosen, _ = play(state, RIGHT, sticky=False)
    assert int(chosen.paddle[0]) == 4 and int(chosen.last_action[0]) == RIGHT


def test_steps_of_many_games_equal_steps_one_at_a_time():
    env = BreakoutVecEnv("train", 64, seed=3, sticky=0.0)
    env.reset()
    gen = torch.Generator().manual_seed(1)
    for _ in range(30):
        env.step(torch.randint(0, 3, (64,), generator=gen))
    state = env.state.clone()
    actions = torch.randint(0, 3, (64,), generator=gen)
    batch, events = breakout.step(state, actions)
    for i in (0, 17, 63):
        one, one_events = breakout.step(state.index(torch.tensor([i])), actions[i:i + 1])
        assert torch.equal(one_events[0], events[i])
        assert torch.equal(breakout.observe(one)[0], breakout.observe(batch)[i])


# -- the env --------------------------------------------------------------------------------------

def rollout(env, steps: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(torch.randint(0, 3, (env.num_envs,), generator=gen))
        out += [obs, reward, terminated, truncated]
    return out


def test_an_episode_id_plays_the_same_game_in_any_batch():
    alone = BreakoutVecEnv("test", 1, seed=0)
    alone.reset_to(torch.tensor([7]))
    many = BreakoutVecEnv("test", 3, seed=0)
    many.reset_to(torch.tensor([5, 7, 9]))
    gen = torch.Generator().manual_seed(0)
    for _ in range(15):
        a = torch.randint(0, 3, (1,), generator=gen)
        o1, r1, *_ = alone.step(a)
        o3, r3, *_ = many.step(torch.cat([torch.tensor([2]), a, torch.tensor([1])]))
        assert torch.equal(o1[0], o3[1]) and r1[0] == r3[1]


def test_sticky_actions_happen_at_the_configured_rate():
    env = BreakoutVecEnv("train", 4096, seed=0, sticky=0.25)
    env.reset()
    env.step(torch.full((4096,), RIGHT))          # a new game's last action is noop
    assert 0.22 < (env.state.last_action == NOOP).float().mean().item() < 0.28
    env.step(torch.full((4096,), LEFT))           # right repeats where it was played and sticks
    assert 0.16 < (env.state.last_action == RIGHT).float().mean().item() < 0.21


def test_same_seed_same_games_and_exact_resume():
    a = make_env("minatar-breakout", "train", 8, seed=11)
    b = make_env("minatar-breakout", "train", 8, seed=11)
    a.reset(), b.reset()
    assert all(torch.equal(x, y) for x, y in zip(rollout(a, 40), rollout(b, 40)))
    saved = a.get_state()
    first = rollout(a, 60, seed=5)
    c = make_env("minatar-breakout", "train", 8, seed=99)
    c.set_state(saved)
    assert all(torch.equal(x, y) for x, y in zip(first, rollout(c, 60, seed=5)))


def test_auto_reset_reports_the_episode_that_ended():
    env = make_env("minatar-breakout", "train", 16, seed=0, sticky=0.0)
    env.reset()
    total = torch.zeros(16)
    for _ in range(200):
        obs, reward, terminated, truncated, info = env.step(torch.zeros(16, dtype=torch.long))  # never moves
        total += reward
        ended = info["final_index"]
        if ended.numel():
            assert terminated[ended].all() and torch.equal(info["episode_return"][ended], total[ended])
            assert (info["final_obs"][:, 1, 9].sum(1) == 1).all()       # the ball lost in the bottom row
            assert (obs[ended, 1, 3].sum(1) == 1).all()                         # a new game's ball in row 3
            total[ended] = 0
            return
    pytest.fail("a paddle that never moves never lost the ball")


def test_frame_cap_truncates():
    env = make_env("minatar-breakout", "train", 2, seed=0, max_steps=3)
    env.reset()
    for _ in range(2):
        assert not env.step(torch.zeros(2, dtype=torch.long))[3].any()
    _, _, terminated, truncated, info = env.step(torch.zeros(2, dtype=torch.long))
    assert truncated.all() and not terminated.any() and info["episode_length"].tolist() == [3, 3]


@pytest.mark.parametrize("options, message", [
    ({"sticky": 1.5}, "sticky must be a probability"),
    ({"sticky": "x"}, "sticky must be a probability"),
    ({"max_steps": 0}, "max_steps must be an integer"),
    ({"observation": "rgb"}, "one observation"),
    ({"ghosts": 2}, "takes no option ghosts"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ReverieError, match=message):
        make_env("minatar-breakout", "train", 2, **options)


def test_bad_actions_and_splits_are_one_line_errors():
    env = make_env("minatar-breakout", "train", 2)
    with pytest.raises(ReverieError, match="call reset"):
        env.step(torch.zeros(2, dtype=torch.long))
    env.reset()
    with pytest.raises(ReverieError, match="in 0..2"):
        env.step(torch.tensor([0, 3]))
    with pytest.raises(ReverieError, match="2 integers"):
        env.step(torch.tensor([0.0, 1.0]))
    with pytest.raises(ReverieError, match="splits"):
        make_env("minatar-breakout", "holdout", 2)
    with pytest.raises(ReverieError, match="needs"):
        env.set_state({"episode": torch.zeros(2)})


# -- the perfect model ------------------------------------------------------------------------------

def tracking_actions(state: BreakoutState, gen: torch.Generator, noise: float) -> torch.Tensor:
    target = (state.ball_x + torch.tensor([-1, 1, 1, -1])[state.direction]).clamp(0, 9)
    act = torch.where(target == state.paddle, NOOP, torch.where(target < state.paddle, LEFT, RIGHT))
    random = torch.randint(0, 3, act.shape, generator=gen)
    return torch.where(torch.rand(act.shape, generator=gen) < noise, random, act)


def imagine_beside_the_env(model, games: int, steps: int, seed: int, noise: float) -> tuple[float, float, float]:
    """Step ``model`` from each real frame of a tracking policy's games (sticky off): the share
    of exactly imagined next frames, of right rewards and ends, and of directions ``encode`` reads."""
    env = get_spec("minatar-breakout", sticky=0.0).make_env("train", games, seed=0)
    obs, _ = env.reset()
    gen = torch.Generator().manual_seed(seed)
    exact = rewards = direction = 0
    for _ in range(steps):
        direction += (encode_frames(obs).direction == env.state.direction).sum().item()
        action = tracking_actions(env.state, gen, noise)
        imagined, reward, done = model.step(obs, action)
        obs, real_reward, terminated, _, info = env.step(action)
        real = obs.clone()
        real[info["final_index"]] = info["final_obs"]
        exact += (imagined == real).flatten(1).all(1).sum().item()
        rewards += ((reward == real_reward) & (done == terminated)).sum().item()
    total = games * steps
    return exact / total, rewards / total, direction / total


def test_perfect_model_imagines_one_step_exactly_almost_always():
    model = get_spec("minatar-breakout", sticky=0.0).make_perfect_model()
    exact, rewards, direction = imagine_beside_the_env(model, 256, 200, seed=0, noise=0.1)
    assert exact > 0.99 and rewards > 0.995 and direction > 0.97


def test_perfect_model_is_a_latent_model_on_states():
    model = get_spec("minatar-breakout").make_perfect_model()
    state = game(5, 4, UP_RIGHT, bricks=[(3, 6)], last=(4, 5))
    assert encode_frames(model.decode(state)).direction.item() == UP_RIGHT
    nxt, reward, done = model.step(state, torch.tensor([NOOP]))
    assert reward.tolist() == [1.0] and done.tolist() == [False] and ball(nxt) == (6, 4, DOWN_RIGHT)
    frames = model.step(model.decode(state).to(torch.uint8), torch.tensor([NOOP]))[0]
    assert frames.dtype == torch.uint8 and torch.equal(frames.float(), model.decode(nxt))


# -- spec and Gymnasium ---------------------------------------------------------------------------

def test_spec_describes_the_world():
    assert "minatar-breakout" in env_ids()
    spec = get_spec("minatar-breakout")
    assert spec.observation.shape == (4, 10, 10) and spec.num_actions == 3 and spec.success is None
    assert spec.rewards.event_reward(torch.tensor([[1, 0], [0, 1]])).tolist() == [1.0, 0.0]
    assert spec.render(breakout.observe(breakout.initial_state(torch.tensor([True])))).shape == (1, 80, 80, 3)


def test_gymnasium_ids_pass_the_env_checker():
    env = gym.make("reverie/MinAtar-Breakout-v0", render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    obs, info = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    assert np.array_equal(obs, again) and obs.shape == (4, 10, 10) and "episode" in info
    obs, reward, terminated, truncated, info = env.step(1)
    assert info["events"].shape == (2,) and env.render().shape == (80, 80, 3)
    with pytest.raises(ReverieError, match="actions must be integers in 0..2"):
        env.step(7)


def test_gymnasium_vector_env_autoresets_in_the_same_step():
    envs = gym.make_vec("reverie/MinAtar-Breakout-v0", num_envs=4, sticky=0.0)
    obs, info = envs.reset(seed=0)
    assert obs.shape == (4, 4, 10, 10)
    for _ in range(100):
        obs, reward, terminated, truncated, info = envs.step(np.zeros(4, dtype=np.int64))
        if terminated.any():
            assert info["_final_obs"].tolist() == terminated.tolist()
            assert info["events"].shape == (4, 2) and info["_events"].all()
            return
    pytest.fail("no game ended")


# -- properties -------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def games(draw):
    """A game in play: the ball above the bottom row, any direction, paddle and bricks in rows 1-3."""
    x, y = draw(st.integers(0, 9)), draw(st.integers(0, 8))
    cells = draw(st.lists(st.integers(10, 39), max_size=30, unique=True))
    state = game(x, y, draw(st.integers(0, 3)), paddle=draw(st.integers(0, 9)),
                 bricks=[(c // 10, c % 10) for c in cells], strike=draw(st.booleans()))
    return state, draw(st.integers(0, 2))


@settings(max_examples=300, deadline=None)
@given(games())
def test_every_step_keeps_the_game_well_formed(case):
    state, action = case
    after, events = play(state, action)
    bx, by, _ = ball(after)
    assert 0 <= bx <= 9 and 0 <= by <= 9 and 0 <= int(after.paddle[0]) <= 9
    assert abs(int(after.paddle[0]) - int(state.paddle[0])) <= 1
    assert abs(bx - int(state.ball_x[0])) <= 1 and abs(by - int(state.ball_y[0])) <= 1
    assert events[0] + events[1] <= 1                                   # a hit and a loss never together
    before, now = int(state.bricks.sum()), int(after.bricks.sum())
    assert now == before - events[0] or (before == 0 and now == 30)     # one brick per hit, or a new wall
    assert not after.bricks.view(10, 10)[[0, 4, 5, 6, 7, 8, 9]].any()   # bricks only in rows 1-3
    assert events[1] == (by == 9)                                       # lost exactly when it reaches row 9


def test_shipped_model_imagines_like_the_rules():
    from reverie.models.io import resolve

    spec = get_spec("minatar-breakout", sticky=0.0)
    exact, rewards, _ = imagine_beside_the_env(resolve(spec.default_model, spec=spec), 256, 60, seed=1, noise=0.2)
    assert exact > 0.97 and rewards > 0.99
