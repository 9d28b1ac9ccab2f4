"""MiniPacman's env against its spec and perfect model, its Gymnasium face, terminal play and bad input.

- the perfect model (``spec.make_perfect_model()``) stepped from the env's full state with the
  env's draws gives the env's next frame, reward and death, for every game of a batch (frames
  where no level was cleared; ended games against ``final_obs``);
- ``encode`` reads back what a frame shows; imagined rollouts keep learned headings;
- ``gymnasium.utils.env_checker.check_env`` on the five ids and both observations; seeding
  (same seed, same game); the vector adapter's same-step auto-reset; render shapes;
- ``reverie play minipacman``: the session, the key mapping, ``--keys`` without a terminal,
  a real terminal through tmux;
- bad input: unknown task, invalid options, bad actions: one-line ``ReverieError`` (and exit
  status 2 from the command line, no traceback).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from reverie.cli.main import main
from reverie.core.errors import ReverieError
from reverie.envs.minipacman import rules
from reverie.envs.minipacman.gym_env import MiniPacmanEnv, MiniPacmanGymVectorEnv
from reverie.envs.minipacman.gym_ids import GYM_IDS
from reverie.envs.minipacman.model import MiniPacmanRules
from reverie.envs.minipacman.play import DOWN, LEFT, NEW_GAME, QUIT, RIGHT, STAY, UP, PlaySession, key_to_command, \
    play_text
from reverie.envs.registry import get_spec, register_envs
from reverie.models.base import LatentModel, initial_state, observe

register_envs()

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("regular", "avoid", "hunt", "ambush", "rush")
OBSERVATIONS = ("rgb", "symbolic")


# -- the env follows the spec and the perfect model -------------------------------------------

@pytest.mark.parametrize("task, observation", [("hunt", "rgb"), ("hunt", "symbolic"), ("regular", "rgb")])
def test_perfect_model_from_the_env_state_gives_the_env_step(task, observation):
    spec = get_spec(f"minipacman-{task}", observation=observation, max_ghosts=3)
    env = spec.make_env("train", 24, seed=3)
    model = spec.make_perfect_model()
    assert isinstance(model, LatentModel) and model.observation == observation and model.max_ghosts == 3
    obs, _ = env.reset(seed=3)
    assert obs.shape == (24, *spec.observation.shape)
    state = env.get_state()
    state["state.timer"][:12] = 70  # half the games near hunt's 80-step level timer
    env.set_state(state)
    gen = torch.Generator().manual_seed(0)
    cleared_seen = ended_seen = 0
    for _ in range(40):
        before = env.state.clone()
        draws = rules.draws(env.keys, before.frame, env.max_ghosts)
        action = torch.randint(5, (24,), generator=gen)
        expected, reward, killed = model.transition(before, action, draws)
        frame = model.decode(expected)
        obs, env_reward, terminated, truncated, info = env.step(action)
        torch.testing.assert_close(reward, env_reward, rtol=0, atol=1e-6)
        assert torch.equal(killed, terminated)
        ended = info["final_index"]
        assert torch.equal(frame[ended], info["final_obs"])
        same_level = (info["level"] == before.level) & ~terminated & ~truncated
        same_level[ended] = False
        assert torch.equal(frame[same_level], obs[same_level])
        cleared_seen += int((info["level"] != before.level).sum())
        ended_seen += ended.numel()
        assert torch.equal(env.state.level[same_level], expected.level[same_level])
    assert ended_seen > 0 and (cleared_seen > 0 or task != "hunt")


@pytest.mark.parametrize("observation", OBSERVATIONS)
def test_encode_reads_what_the_frame_shows(observation):
    spec = get_spec("minipacman-regular", observation=observation)
    env, model = spec.make_env("valid", 32, seed=1), spec.make_perfect_model()
    obs, _ = env.reset(seed=1)
    gen = torch.Generator().manual_seed(1)
    for _ in range(40):
        obs, *_ = env.step(torch.randint(5, (32,), generator=gen))
    state, real = model.encode(obs), env.state
    assert torch.equal(model.decode(state), obs)
    assert torch.equal(state.player, real.player)
    assert (state.heading == -1).all() and (state.level == 1).all() and (state.timer == 0).all()
    for i in range(32):
        ghosts = set(real.ghost[i][real.alive[i]].tolist()) - {int(real.player[i])}
        assert set(state.ghost[i][state.alive[i]].tolist()) == ghosts
        if ghosts:
            assert int(state.power[i]) == int(real.power[i])
        hidden = torch.zeros(285, dtype=torch.bool)
        if observation == "rgb":  # a ghost (or the player) hides what is under it
            hidden[list(ghosts) + [int(real.player[i])]] = True
        assert torch.equal(state.food[i] & ~hidden, real.food[i] & ~hidden)
        pills = set(real.pill[i][real.pill_alive[i]].tolist()) - set(hidden.nonzero().flatten().tolist())
        assert set(state.pill[i][state.pill_alive[i]].tolist()) == pills


def test_imagined_rollouts_learn_headings_and_follow_the_player():
    spec = get_spec("minipacman-hunt", observation="symbolic")
    env, model = spec.make_env("train", 16, seed=5), spec.make_perfect_model()
    obs, _ = env.reset(seed=5)
    state = initial_state(model, obs)
    player = state.player.clone()
    for t in range(12):
        action = torch.full((16,), [RIGHT, LEFT, UP, DOWN][t % 4])
        state, reward, done = model.step(state, action)
        assert reward.shape == (16,) and reward.dtype == torch.float32 and done.dtype == torch.bool
        frame = observe(model, state)
        assert frame.shape == obs.shape and frame.dtype == obs.dtype
    moved = state.ghost != model.encode(obs).ghost
    assert moved.any() and (state.heading[moved & state.alive] >= 0).all()  # learned headings persist
    assert (state.level == 1).all() and (state.timer == 12).all()             # no level clear in imagination
    # the player moves by the rules alone: replaying the actions on the maze gives its cell
    from reverie.envs.minipacman.maze import NEXT
    for t in range(12):
        player = NEXT[player, [RIGHT, LEFT, UP, DOWN][t % 4]]
    assert torch.equal(state.player, player)
    # frames in, frames out (search and diagnostics step observations)
    nxt, reward, done = model.step(obs, torch.zeros(16, dtype=torch.long))
    assert nxt.shape == obs.shape and reward.shape == (16,)


def test_the_model_draws_fresh_numbers_each_step_and_its_reward_is_the_tasks():
    spec = get_spec("minipacman-ambush")
    model = MiniPacmanRules(spec, seed=7)
    start = model.encode(spec.make_env("train", 256, seed=0).reset(seed=0)[0])
    stay = torch.zeros(256, dtype=torch.long)
    a, reward, done = model.step(start, stay)
    b, _, _ = model.step(start, stay)
    assert not torch.equal(a.ghost, b.ghost)                 # the counter moved on
    again, _, _ = MiniPacmanRules(spec, seed=7).step(start, stay)
    assert torch.equal(again.ghost, a.ghost)                 # same seed, same first step
    assert repr(model) == "MiniPacmanRules(ambush, rgb, level=1, max_ghosts=8, seed=7)"
    assert set(reward.tolist()) <= {0.0, -0.1, -20.0, -20.1, 10.0, 9.9}
    with pytest.raises(ReverieError, match="3 .rgb. or 6 .symbolic."):
        model.encode(torch.zeros(1, 4, 15, 19))


# -- Gymnasium ---------------------------------------------------------------------------------

@pytest.mark.parametrize("observation", OBSERVATIONS)
@pytest.mark.parametrize("env_id", sorted(GYM_IDS))
def test_check_env_on_every_id(env_id, observation):
    env = gym.make(env_id, observation=observation, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)
    assert env.unwrapped.task == GYM_IDS[env_id][2]["task"]
    channels = 3 if observation == "rgb" else 6
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (channels, 15, 19), np.float32)
    assert env.action_space == gym.spaces.Discrete(5)


def _play(env, seed, actions):
    obs, info = env.reset(seed=seed)
    frames, rewards = [obs], []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        frames.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.stack(frames), rewards, info


def test_same_seed_same_game():
    env = MiniPacmanEnv("hunt", observation="symbolic")
    actions = np.random.default_rng(0).integers(5, size=150)
    a, ra, _ = _play(env, 11, actions)
    b, rb, _ = _play(MiniPacmanEnv("hunt", observation="symbolic"), 11, actions)
    assert np.array_equal(a, b) and ra == rb
    c, _, _ = _play(env, 12, actions[:1])
    assert not np.array_equal(a[0], c[0])
    # a chosen episode is the batched env's episode of that id
    obs, info = env.reset(options={"episode": 1234})
    batched = get_spec("minipacman-hunt", observation="symbolic").make_env("train", 1, seed=0)
    assert info["episode"] == 1234 and np.array_equal(obs, batched.reset_to([1234])[0].numpy())


def test_single_env_step_info_truncation_and_render():
    env = MiniPacmanEnv("regular", max_steps=5, render_mode="rgb_array")
    obs, info = env.reset(seed=0)
    assert info["level"] == 1 and info["power"] == 0 and info["events"].shape == (5,)
    picture = env.render()
    assert picture.shape == (120, 152, 3) and picture.dtype == np.uint8
    for step in range(5):
        obs, reward, terminated, truncated, info = env.step(STAY)
        if terminated:
            break
    assert terminated or truncated
    assert env.render().shape == (120, 152, 3)
    with pytest.raises(ReverieError, match="call reset"):
        env.step(STAY)


def test_vector_adapter_auto_resets_in_the_same_step():
    vec = gym.make_vec("reverie/MiniPacman-Avoid-v0", num_envs=6, observation="symbolic", render_mode="rgb_array")
    assert vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, info = vec.reset(seed=2)
    again, _ = vec.reset(seed=2)
    assert np.array_equal(obs, again) and vec.observation_space.contains(obs)
    assert info["level"].tolist() == [1] * 6
    rng = np.random.default_rng(0)
    ended = False
    for _ in range(200):
        obs, reward, terminated, truncated, info = vec.step(rng.integers(5, size=6))
        assert vec.observation_space.contains(obs) and reward.shape == (6,) and info["events"].shape == (6, 5)
        if "final_obs" in info:
            ended = True
            mask = info["_final_obs"]
            assert np.array_equal(mask, terminated | truncated)
            for row in np.flatnonzero(mask):
                assert info["final_obs"][row].shape == (6, 15, 19) and info["final_info"]["_episode_return"][row]
            assert all(info["final_obs"][row] is None for row in np.flatnonzero(~mask))
            break
    assert ended
    frames = vec.render()
    assert len(frames) == 6 and frames[0].shape == (120, 152, 3)
    chosen, _ = vec.reset(options={"episodes": [5, 5, 6, 6, 7, 7]})
    assert np.array_equal(chosen[0], chosen[1]) and not np.array_equal(chosen[1], chosen[2])
    vec.close()


def test_spec_render_shapes():
    for observation in OBSERVATIONS:
        spec = get_spec("minipacman-rush", observation=observation)
        obs, _ = spec.make_env("test", 3, seed=0).reset(seed=0)
        pictures = spec.render(obs)
        assert pictures.shape == (3, 120, 152, 3) and pictures.dtype == torch.uint8


# -- terminal play -----------------------------------------------------------------------------

@pytest.mark.parametrize("key, command", [
    ("d", RIGHT), ("w", UP), ("a", LEFT), ("s", DOWN), ("l", RIGHT), ("k", UP), ("h", LEFT), ("j", DOWN),
    (".", STAY), (" ", STAY), ("q", QUIT), ("Q", QUIT), ("n", NEW_GAME), ("x", None), ("up", None),
])
def test_key_to_command(key, command):
    assert key_to_command(key) == command


def test_play_session_scores_like_the_env():
    session = PlaySession("rush", seed=4)
    env = get_spec("minipacman-rush").make_env("train", 1, seed=4)
    env.reset(seed=4)
    assert session.episode == int(env.episode[0])
    for action in [RIGHT, RIGHT, DOWN, DOWN, LEFT, UP, STAY, RIGHT]:
        reward = session.act(action)
        _, env_reward, *_ = env.step(torch.tensor([action]))
        assert reward == pytest.approx(float(env_reward[0]))
    assert session.steps == 8 and session.level == 1
    board = session.board()
    assert len(board) == 15 and all(len(row) == 19 for row in board)
    assert sum(row.count("@") for row in board) == 1 and "G" in "".join(board)
    assert session.status().startswith("rush  score ")
    with pytest.raises(ReverieError, match="action"):
        session.act(5)
    first = session.episode
    session.new_game()
    assert session.steps == 0 and session.score == 0.0 and session.episode != first


def test_play_keys_until_the_game_ends():
    session = PlaySession("avoid", seed=0)
    text = play_text(session, "." * 400)
    assert session.over and "Caught by a ghost" in text and f"after {session.steps} of 400 keys" in text
    with pytest.raises(ReverieError, match="unknown move 'x'"):
        play_text(PlaySession("avoid"), "ddx")


def test_cli_play_minipacman_with_keys(capsys):
    assert main(["play", "minipacman", "--task", "hunt", "--keys", "ddd"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "#" * 19 and out[15].startswith("hunt  score +0.0  level 1  power ") and "steps 3" in out[15]


@pytest.fixture
def tmux(tmp_path):
    """Run commands in a private tmux server (its own socket), killed afterwards."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    socket = f"reverie-test-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    config = tmp_path / "tmux.conf"
    config.write_text("set-option -g remain-on-exit on\n")

    def run(*args: str) -> str:
        return subprocess.run(["tmux", "-L", socket, "-f", str(config), *args], env=env, capture_output=True,
                              text=True, timeout=10).stdout

    yield run
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def _wait_for(tmux, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", "game")
        if text in screen:
            return screen
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {text!r}; the screen shows:\n{screen}")


def test_terminal_game_steps_and_quits(tmux, tmp_path):
    command = (f"env PYTHONPATH={shlex.quote(str(ROOT / 'src'))} {shlex.quote(sys.executable)} -m reverie "
               f"play minipacman --task hunt --seed 1; echo exit=$?")
    tmux("new-session", "-d", "-s", "game", "-x", "80", "-y", "24", command)
    screen = _wait_for(tmux, "MiniPacman, game 1")
    assert "hunt  score +0.0  level 1  power 0  steps 0" in screen and "###################" in screen
    tmux("send-keys", "-t", "game", "Right")
    _wait_for(tmux, "steps 1")
    tmux("send-keys", "-t", "game", ".")
    _wait_for(tmux, "steps 2")
    tmux("send-keys", "-t", "game", "q")
    screen = _wait_for(tmux, "exit=0")
    assert "Traceback" not in screen


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(task="nope"), "task must be one of regular, avoid, hunt, ambush, rush"),
    (dict(observation="foo"), "observation must be one of rgb, symbolic"),
    (dict(max_ghosts=0), "max_ghosts must be an integer >= 1"),
    (dict(timer="bogus"), "timer must be one of paper, released"),
    (dict(max_steps=-3), "max_steps must be an integer >= 1"),
    (dict(render_mode="ansi"), "render_mode must be None or one of rgb_array"),
    (dict(split="holdout"), "splits"),
])
def test_bad_options_are_one_line_errors(kwargs, message):
    makers = [lambda: MiniPacmanEnv(**kwargs), lambda: MiniPacmanGymVectorEnv(num_envs=2, **kwargs),
              lambda: gym.make_vec("reverie/MiniPacman-Hunt-v0", num_envs=2, **kwargs)]
    if "render_mode" not in kwargs:  # gym.make wraps modes the env lacks (human) itself
        makers.append(lambda: gym.make("reverie/MiniPacman-Hunt-v0", **kwargs))
    for make in makers:
        with pytest.raises(ReverieError, match=message) as err:
            make()
        assert "\n" not in str(err.value)
    if set(kwargs) <= {"task", "timer", "max_ghosts", "max_steps"}:
        with pytest.raises(ReverieError, match=message):
            PlaySession(**kwargs)


def test_bad_actions_and_reset_options():
    env = MiniPacmanEnv()
    with pytest.raises(ReverieError, match="call reset"):
        env.step(0)
    env.reset(seed=0)
    for action in (5, -1, 1.5, True, "1"):
        with pytest.raises(ReverieError, match="actions must be integers in 0..4"):
            env.step(action)
    with pytest.raises(ReverieError, match="takes the option episode"):
        env.reset(options={"level": 3})
    with pytest.raises(ReverieError, match="episode"):
        env.reset(options={"episode": -1})
    vec = MiniPacmanGymVectorEnv(num_envs=2)
    vec.reset(seed=0)
    with pytest.raises(ReverieError, match="actions"):
        vec.step(np.array([0.5, 1.0]))
    with pytest.raises(ReverieError, match="actions"):
        vec.step(np.array([0, 7]))


def test_cli_unknown_task_is_one_line_without_traceback(capsys):
    assert main(["play", "minipacman", "--task", "nope", "--keys", "d"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    out = subprocess.run([sys.executable, "-m", "reverie", "play", "minipacman", "--task", "nope"],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip() == ("reverie: error: MiniPacman task must be one of regular, avoid, hunt, ambush, "
                                  "rush, got 'nope'")
    assert main(["play", "--task", "hunt"]) == 2
    assert "for `reverie play minipacman`" in capsys.readouterr().err
