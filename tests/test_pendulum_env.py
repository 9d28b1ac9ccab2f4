"""The pendulum world: its rules against Gymnasium's Pendulum-v1 step for step, the batched env
(splits, reset_to, auto-reset, state round trips, bad actions), its perfect model and its Gymnasium ids."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from hypothesis import given
from hypothesis import strategies as st

from conftest import PROPERTY
from reverie.core.errors import ReverieError
from reverie.envs.pendulum import rules
from reverie.envs.pendulum.env import PendulumVecEnv, initial_states
from reverie.envs.registry import get_spec, make_env, register_envs


def test_rules_follow_gymnasium_pendulum_step_for_step():
    """50 episodes of 200 steps (10,000 steps) from reverie's initial states, with the same random
    torques (some beyond [-2, 2], so the clipping is exercised). Both keep the state in float64
    and the torque terms in float32, so the states agree to a few float64 ulps (torch's and
    numpy's sine may differ in the last bit, which the dynamics amplify only slowly), the
    observations and rewards to float32 rounding (1e-5 leaves room)."""
    episodes, steps = 50, rules.MAX_STEPS
    env = PendulumVecEnv("valid", episodes, seed=0)
    obs = env.reset_to(torch.arange(episodes))
    peers = [gym.make("Pendulum-v1").unwrapped for _ in range(episodes)]
    for i, peer in enumerate(peers):
        peer.reset(seed=i)
        peer.state = np.array([float(env.theta[i]), float(env.speed[i])])
        np.testing.assert_allclose(obs[i].numpy(), peer._get_obs(), atol=1e-6)
    torques = torch.Generator().manual_seed(1)
    worst_obs = worst_reward = worst_state = 0.0
    for t in range(steps):
        action = (torch.rand(episodes, 1, generator=torques) * 5 - 2.5).float()
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated.any() and bool(truncated.all()) == (t == steps - 1)
        final = info["final_obs"] if t == steps - 1 else obs
        for i, peer in enumerate(peers):
            peer_obs, peer_reward, *_ = peer.step(action[i].numpy())
            worst_obs = max(worst_obs, float(np.abs(final[i].numpy() - peer_obs).max()))
            worst_reward = max(worst_reward, abs(float(reward[i]) - peer_reward) / max(1.0, abs(peer_reward)))
        if t < steps - 1:
            worst_state = max(worst_state, float(np.abs(env.theta.numpy() - [p.state[0] for p in peers]).max()),
                              float(np.abs(env.speed.numpy() - [p.state[1] for p in peers]).max()))
    assert worst_state < 1e-9 and worst_obs < 1e-5 and worst_reward < 1e-5, (worst_state, worst_obs, worst_reward)


@PROPERTY
@given(theta=st.floats(-50, 50), speed=st.floats(-8, 8), torque=st.floats(-10, 10))
def test_speed_stays_bounded_and_the_reward_is_the_cost(theta, speed, torque):
    t, s = torch.tensor([theta], dtype=torch.float64), torch.tensor([speed], dtype=torch.float64)
    new_theta, new_speed, reward = rules.step(t, s, torch.tensor([torque]))
    assert -8 <= float(new_speed) <= 8
    assert float(new_theta) == pytest.approx(theta + float(new_speed) * rules.DT)
    u = min(2.0, max(-2.0, torque))
    normalized = (theta + math.pi) % (2 * math.pi) - math.pi
    assert float(reward) == pytest.approx(-(normalized ** 2 + 0.1 * speed ** 2 + 0.001 * u ** 2), rel=1e-9, abs=1e-9)
    assert -(math.pi ** 2 + 0.1 * 64 + 0.001 * 4) <= float(reward) <= 0


def test_reset_to_is_fixed_per_episode_and_the_splits_are_disjoint():
    ids = torch.arange(2000)
    train, valid, test = (torch.stack(initial_states(split, ids), 1) for split in ("train", "valid", "test"))
    assert torch.equal(train, torch.stack(initial_states("train", ids), 1))
    assert (train[:, 0].abs() <= math.pi).all() and (train[:, 1].abs() <= 1).all()
    assert train[:, 0].std() > 1.5 and train[:, 1].std() > 0.5           # spread over the whole box
    starts = {tuple(row) for row in train.tolist()}
    assert len(starts) == 2000 and not starts & {tuple(r) for r in valid.tolist()} \
        and not starts & {tuple(r) for r in test.tolist()}
    a, b = PendulumVecEnv("test", 3, seed=1), PendulumVecEnv("test", 3, seed=2)
    assert torch.equal(a.reset_to(torch.tensor([7, 8, 9])), b.reset_to(torch.tensor([7, 8, 9])))
    assert torch.equal(a.reset_to(torch.tensor([9, 8, 7]))[0], b.observe()[2])


@pytest.mark.parametrize("env_id", ["pendulum", "pendulum-pixels"])
def test_state_round_trip_continues_identically(env_id):
    env = make_env(env_id, "train", 4, seed=3, size=32) if env_id == "pendulum-pixels" else make_env(env_id, "train", 4, seed=3)
    env.reset()
    torques = torch.linspace(-2, 2, 4)[:, None]
    for _ in range(150):
        env.step(torques)
    saved = env.get_state()
    twin = make_env(env_id, "train", 4, seed=99, **env.spec.options)
    twin.set_state(saved)
    assert torch.equal(env.observe(), twin.observe())
    for _ in range(120):  # across the end of the episodes (auto-reset draws from the restored generator)
        a, b = env.step(torques), twin.step(torques)
        for x, y in zip(a[:4], b[:4]):
            assert torch.equal(x, y)
        assert torch.equal(a[4]["episode"], b[4]["episode"]) and torch.equal(a[4]["final_obs"], b[4]["final_obs"])


def test_auto_reset_reports_the_finished_episodes():
    env = make_env("pendulum", "train", 3, seed=0, max_steps=5)
    env.reset()
    total = torch.zeros(3)
    for t in range(5):
        obs, reward, _, truncated, info = env.step(torch.zeros(3, 1))
        total += reward
    assert truncated.all() and info["final_index"].tolist() == [0, 1, 2]
    assert torch.allclose(info["episode_return"], total) and info["episode_length"].tolist() == [5, 5, 5]
    assert not torch.equal(info["final_obs"], obs) and env.steps.tolist() == [0, 0, 0]


@pytest.mark.parametrize("actions, message", [
    (torch.zeros(2), r"torques \[2, 1\]"),
    (torch.zeros(2, 2), r"torques \[2, 1\]"),
    (torch.zeros(2, 1, dtype=torch.bool), r"torques \[2, 1\]"),
    (torch.tensor([[0.0], [float("nan")]]), "finite"),
    (torch.tensor([[float("inf")], [0.0]]), "finite"),
])
def test_bad_actions_are_refused_in_one_line(actions, message):
    env = make_env("pendulum", "train", 2, seed=0)
    env.reset()
    with pytest.raises(ReverieError, match=message) as err:
        env.step(actions)
    assert "\n" not in str(err.value)


def test_options_and_perfect_model():
    spec = get_spec("pendulum")
    assert spec.continuous and spec.actions.dim == 1 and spec.actions.low == (-2.0,) and spec.max_steps == 200
    assert get_spec("pendulum-pixels", size=32).observation.shape == (3, 32, 32)
    with pytest.raises(ReverieError, match="takes no option size"):
        get_spec("pendulum", size=32)
    with pytest.raises(ReverieError, match="one observation"):
        get_spec("pendulum", observation="rgb")
    env = make_env("pendulum", "valid", 8, seed=0)
    obs = env.reset_to(torch.arange(8))
    model = spec.make_perfect_model()
    action = torch.linspace(-3, 3, 8)[:, None]
    predicted, reward, done = model.step(obs, action)
    real, real_reward, *_ = env.step(action)
    assert torch.allclose(predicted, real, atol=1e-5) and torch.allclose(reward, real_reward, atol=1e-5)
    assert not done.any()
    assert get_spec("pendulum-pixels").perfect_model is None


@pytest.mark.filterwarnings("ignore:.*symmetric and normalized")
@pytest.mark.parametrize("gym_id", ["reverie/Pendulum-v0", "reverie/PendulumPixels-v0"])
def test_gymnasium_ids_pass_the_env_checker(gym_id):
    register_envs()
    env = gym.make(gym_id, render_mode="rgb_array", disable_env_checker=True)
    check_env(env.unwrapped, skip_render_check=False)
    assert env.action_space == gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    first, _ = env.reset(seed=5)
    again, _ = env.reset(seed=5)
    assert np.array_equal(first, again)
    obs, reward, terminated, truncated, _ = env.step(np.array([0.5], np.float32))
    assert obs.shape == env.observation_space.shape and isinstance(reward, float) and not terminated
    assert env.render().shape[-1] == 3
    with pytest.raises(ReverieError, match="float arrays of shape"):
        env.step(np.zeros(2, np.float32))
    vec = gym.make_vec(gym_id, num_envs=3)
    vec.reset(seed=0)
    obs, reward, *_ = vec.step(vec.action_space.sample())
    assert obs.shape == (3, *env.observation_space.shape) and reward.shape == (3,)
