"""The ``carracing`` world (Gymnasium's CarRacing-v3 behind reverie's batch API): spec, frames,
action bounds, seeded held-out episodes, same-step auto-reset, the missing-Box2D error, and
World Models and Dreamer running on it end to end. Everything but the missing-Box2D error
skips where Box2D is not installed (``pip install -e ".[box2d]"``)."""

from __future__ import annotations

import importlib.util
import json
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from reverie.cli.main import main
from reverie.core.errors import ReverieError
from reverie.envs.registry import get_spec, make_env, register_spec

needs_box2d = pytest.mark.skipif(importlib.util.find_spec("Box2D") is None,
                                 reason="Box2D is not installed (pip install 'gymnasium[box2d]')")

GAS = torch.tensor([[0.0, 0.6, 0.0]])


def test_spec_describes_the_world():
    spec = get_spec("carracing")
    assert spec.continuous and spec.actions.names == ("steer", "gas", "brake")
    assert spec.actions.low == (-1.0, 0.0, 0.0) and spec.actions.high == (1.0, 1.0, 1.0)
    assert spec.observation.kind == "rgb" and spec.observation.shape == (3, 64, 64)
    assert spec.max_steps == 1000 and spec.success is None and spec.rewards.reward_classes is None
    small = get_spec("carracing", size=32, max_steps=10)
    assert small.observation.shape == (3, 32, 32) and small.max_steps == 10
    assert spec.render(torch.zeros(2, 3, 64, 64, dtype=torch.uint8)).shape == (2, 64, 64, 3)
    for options, message in ((dict(frame_skip=4), "takes no option frame_skip"), (dict(size=128), "at most 96"),
                             (dict(observation="vector"), "one observation"), (dict(max_steps=0), "max_steps")):
        with pytest.raises(ReverieError, match=message) as err:
            get_spec("carracing", **options)
        assert "\n" not in str(err.value)


def test_missing_box2d_is_a_one_line_error_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium.envs.box2d.car_racing", None)  # importing it now fails
    with pytest.raises(ReverieError, match=r"needs Box2D: pip install 'gymnasium\[box2d\]'") as err:
        make_env("carracing", "train", 1, seed=0)
    assert "\n" not in str(err.value)


@needs_box2d
def test_frames_rewards_and_the_batch_api():
    env = make_env("carracing", "train", 2, seed=0)
    obs, info = env.reset(seed=0)
    assert obs.shape == (2, 3, 64, 64) and obs.dtype == torch.uint8 and info["episode"].shape == (2,)
    assert int(obs.float().std()) > 10  # a picture, not a blank frame
    obs, reward, terminated, truncated, info = env.step(GAS.repeat(2, 1))
    assert obs.shape == (2, 3, 64, 64) and obs.dtype == torch.uint8
    assert reward.dtype == torch.float32 and reward.shape == (2,)
    assert terminated.dtype == torch.bool and truncated.dtype == torch.bool and not bool((terminated | truncated).any())
    assert info["final_index"].numel() == 0 and info["final_obs"].shape == (0, 3, 64, 64)
    assert env.single_observation_space.shape == (3, 64, 64) and env.action_space.shape == (3,)
    # Box2D's world cannot be exported: no get_state, so the latent runs restart games on resume
    assert not hasattr(env, "get_state") and not hasattr(env, "set_state")
    assert make_env("carracing", "train", 1, seed=0, size=96).reset(seed=0)[0].shape == (1, 3, 96, 96)


@needs_box2d
def test_actions_are_clipped_to_the_bounds_and_bad_ones_refused():
    wild = make_env("carracing", "train", 1, seed=0)
    tame = make_env("carracing", "train", 1, seed=0)
    assert torch.equal(wild.reset_to(torch.tensor([5])), tame.reset_to(torch.tensor([5])))
    for _ in range(12):
        a = wild.step(torch.tensor([[-7.0, 3.0, -2.0]], dtype=torch.float64))
        b = tame.step(torch.tensor([[-1.0, 1.0, 0.0]]))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for bad, message in ((torch.zeros(1, 2), "shape"), (torch.zeros(3), "shape"),
                         (torch.tensor([[0.0, float("nan"), 0.0]]), "finite"),
                         (torch.zeros(1, 3, dtype=torch.bool), "floats")):
        with pytest.raises(ReverieError, match=message) as err:
            tame.step(bad)
        assert "\n" not in str(err.value)


@needs_box2d
def test_held_out_episodes_are_named_by_split_and_id():
    first = make_env("carracing", "test", 2, seed=0).reset_to(torch.tensor([7, 8]))
    again = make_env("carracing", "test", 2, seed=123).reset_to(torch.tensor([7, 7]))
    valid = make_env("carracing", "valid", 1, seed=0).reset_to(torch.tensor([7]))
    assert torch.equal(first[0], again[0]) and torch.equal(again[0], again[1])
    assert not torch.equal(first[0], first[1])  # another id, another track
    assert not torch.equal(first[0], valid[0])  # another split, another track


@needs_box2d
def test_same_step_auto_reset_reports_the_ended_games():
    env = make_env("carracing", "train", 2, seed=0, max_steps=3)
    obs, info = env.reset(seed=1)
    started = info["episode"].clone()
    total = torch.zeros(2)
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(GAS.repeat(2, 1))
        total += reward
    assert truncated.all() and not terminated.any() and info["final_index"].tolist() == [0, 1]
    assert torch.equal(info["episode"], started) and info["episode_length"].tolist() == [3, 3]
    assert torch.allclose(info["episode_return"], total) and not info["lap_finished"].any()
    assert info["final_obs"].shape == (2, 3, 64, 64) and not torch.equal(info["final_obs"], obs)
    # the games restarted on episode ids drawn by the env; each first frame is that episode's
    nxt = env.step(GAS.repeat(2, 1))[4]["episode"]
    fresh = make_env("carracing", "train", 2, seed=0).reset_to(nxt)
    assert torch.equal(obs, fresh) and not torch.equal(nxt, started)


@needs_box2d
def test_gymnasium_ids_pass_the_env_checker():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("reverie/CarRacing-v0", render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    obs, info = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    assert np.array_equal(obs, again) and obs.shape == (3, 64, 64) and "episode" in info
    obs, reward, terminated, truncated, _ = env.step(np.array([0.0, 0.5, 0.0], np.float32))
    assert obs.dtype == np.uint8 and isinstance(reward, float) and not terminated and not truncated
    assert env.render().shape == (64, 64, 3)
    batch = gym.make_vec("reverie/CarRacing-v0", num_envs=2)
    assert batch.reset(seed=0)[0].shape == (2, 3, 64, 64)
    assert batch.step(np.zeros((2, 3), np.float32))[0].shape == (2, 3, 64, 64)


@pytest.fixture
def short_episodes():
    """``carracing`` with 40-step episodes, so the runs' held-out evaluations take seconds."""
    original = get_spec("carracing")
    register_spec(original.with_options(max_steps=40), replace=True)
    yield
    register_spec(original, replace=True)


@needs_box2d
@pytest.mark.parametrize("train_in", ["dream", "real"])  # real: CMA-ES scores controllers in carracing games
def test_world_models_runs_on_carracing(tmp_path, short_episodes, train_in):
    out = tmp_path / "wm"
    code = main(["world-models", "--env", "carracing", "--frames", "64", "--num-envs", "2", "--vae-steps", "2",
                 "--rnn-steps", "2", "--generations", "1", "--popsize", "2", "--rollouts", "1", "--horizon", "5",
                 "--eval-episodes", "1", "--length", "8", "--options", "latent=4,depth=4,embed=16,hidden=16",
                 "--train-in", train_in, "--out", str(out), "--no-tensorboard", "--quiet"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] and summary["evaluation"]["mean_length"] == 40.0
    assert summary["controller_parameters"] == (4 + 16) * 3 + 3  # features -> steer, gas, brake


@needs_box2d
def test_dreamer_runs_on_carracing(tmp_path, short_episodes):
    out = tmp_path / "dreamer"
    code = main(["latent", "--agent", "dreamer", "--env", "carracing", "--options",
                 "deter=16,hidden=16,groups=2,classes=4,depth=4,embed=16", "--frames", "64", "--prefill", "32",
                 "--batch", "2", "--length", "8", "--train-ratio", "2", "--replay", "400", "--num-envs", "2",
                 "--eval-episodes", "1", "--out", str(out), "--no-tensorboard", "--quiet"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] and summary["updates"] >= 2 and summary["evaluation"]["mean_length"] == 40.0


@needs_box2d
def test_a_resumed_dreamer_run_restarts_the_games(tmp_path, short_episodes):
    """No ``set_state`` (Box2D cannot be exported): the resumed run calls ``env.reset`` and goes on."""
    from reverie.workflows.latent_runs import LatentRunConfig, train_latent

    def config(frames, **extra):
        return LatentRunConfig(agent="dreamer", env="carracing", out=tmp_path / "run", frames=frames, num_envs=2,
                               prefill=32, batch=2, length=8, train_ratio=2, replay=400, checkpoint_every=16,
                               eval_episodes=0, tensorboard=False, **extra)
    tiny = dict(deter=16, hidden=16, groups=2, classes=4, depth=4, embed=16)
    first = train_latent(config(48), tiny, progress=False)
    resumed = train_latent(config(64, resume=True), progress=False)
    assert first["completed"] and resumed["completed"] and resumed["updates"] > first["updates"]
