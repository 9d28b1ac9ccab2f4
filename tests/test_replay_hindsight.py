"""The device replay buffer (ring, state round trip) and hindsight relabelling's consistency."""

from __future__ import annotations

import pytest
import torch

from reverie.data.hindsight import GoalReward
from reverie.data.replay import ReplayBuffer

GOALS = GoalReward(reward=lambda a, d: -(a - d).abs().sum(-1),
                   success=lambda a, d: (a - d).abs().sum(-1) < 0.05)


def add_episode(buf, start, length, crash_at=None, goal=(9.0, 9.0)):
    """An episode whose step t reaches achieved goal (start + t, 0); a crash adds -5 and ends it."""
    for t in range(length):
        ach = torch.tensor([[start + t + 1.0, 0.0]])
        desired = torch.tensor([goal])
        crashed = crash_at == t
        reward = GOALS.reward(ach, desired) - 5.0 * crashed
        buf.add(torch.tensor([[start + t, 0.0, 1.0]]), torch.tensor([[0.1 * t]]), reward,
                torch.tensor([[start + t + 1.0, 0.0, 1.0]]), torch.tensor([crashed]), desired, ach, GOALS)
    buf.end_episode()


def test_ring_buffer_overwrites_oldest_and_round_trips():
    buf = ReplayBuffer(4, 2, 1)
    for i in range(6):
        buf.add(torch.full((1, 2), float(i)), torch.zeros(1, 1), torch.tensor([float(i)]),
                torch.full((1, 2), i + 1.0), torch.tensor([False]))
    assert len(buf) == 4 and buf.count == 6
    assert buf.rows()["reward"].tolist() == [2.0, 3.0, 4.0, 5.0]
    other = ReplayBuffer(4, 2, 1)
    other.load_state_dict(buf.state_dict())
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a, b = buf.sample(16, g1), other.sample(16, g2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_batch_add_is_one_write():
    buf = ReplayBuffer(10, 1, 1)
    n = 7
    buf.add(torch.arange(n).float()[:, None], torch.zeros(n, 1), torch.arange(n).float(),
            torch.arange(1, n + 1).float()[:, None], torch.zeros(n, dtype=torch.bool))
    assert buf.rows()["obs"][:, 0].tolist() == list(range(n))


def test_relabelled_transitions_stay_consistent():
    buf = ReplayBuffer(64, 3, 1, goal_dim=2)
    add_episode(buf, 0, 6)
    add_episode(buf, 100, 5, crash_at=4)
    add_episode(buf, 200, 4)
    batch = buf.sample(2000, torch.Generator().manual_seed(0), her_ratio=1.0, goals=GOALS)
    obs, goal = batch["obs"][:, :3], batch["goal"]
    assert torch.equal(batch["obs"][:, 3:], goal) and torch.equal(batch["next_obs"][:, 3:], goal)
    achieved = batch["next_obs"][:, :2]
    # the new goal was reached at or after this step, in the same episode (episodes are 100 apart)
    assert (goal[:, 0] >= achieved[:, 0]).all() and ((goal[:, 0] // 100) == (obs[:, 0] // 100)).all()
    assert (goal[:, 1] == 0).all()
    crash = obs[:, 0] == 104
    want_reward = GOALS.reward(achieved, goal) - 5.0 * crash
    assert torch.allclose(batch["reward"], want_reward)
    # the crash still ends its step; otherwise the step ends iff it reaches its new goal
    want_done = crash | ((achieved - goal).abs().sum(-1) < 0.05)
    assert torch.equal(batch["done"].bool(), want_done)
    assert want_done.any() and (~want_done).any()


def test_ratio_zero_keeps_stored_goal_reward_and_end():
    buf = ReplayBuffer(16, 3, 1, goal_dim=2)
    add_episode(buf, 0, 5, crash_at=4)
    batch = buf.sample(50, torch.Generator().manual_seed(0), her_ratio=0.0, goals=GOALS)
    assert (batch["goal"] == 9.0).all()
    rows = buf.rows()
    idx = [int(o) for o in batch["obs"][:, 0]]
    assert torch.equal(batch["reward"], rows["reward"][idx])
    assert torch.equal(batch["done"].bool(), rows["terminated"][idx])


def test_future_goals_of_a_running_episode_and_after_wraparound():
    buf = ReplayBuffer(8, 3, 1, goal_dim=2)
    add_episode(buf, 0, 6)
    add_episode(buf, 100, 5)  # wraps: the first episode is partly overwritten
    for t in range(3):  # a running episode: no end_episode yet
        ach = torch.tensor([[200.0 + t + 1, 0.0]])
        buf.add(torch.tensor([[200.0 + t, 0.0, 1.0]]), torch.zeros(1, 1), GOALS.reward(ach, torch.zeros(1, 2)),
                torch.tensor([[201.0 + t, 0.0, 1.0]]), torch.tensor([False]), torch.zeros(1, 2), ach, GOALS)
    batch = buf.sample(1000, torch.Generator().manual_seed(3), her_ratio=1.0, goals=GOALS)
    obs, goal = batch["obs"][:, 0], batch["goal"][:, 0]
    assert ((goal // 100) == (obs // 100)).all() and (goal > obs).all()
    assert goal.max() <= 203.0


def test_goal_buffer_needs_goals():
    buf = ReplayBuffer(4, 3, 1, goal_dim=2)
    with pytest.raises(Exception, match="desired"):
        buf.add(torch.zeros(1, 3), torch.zeros(1, 1), torch.zeros(1), torch.zeros(1, 3), torch.zeros(1, dtype=torch.bool))


def test_task_actions_are_rescaled_to_the_envs_bounds():
    from reverie.envs.control_tasks import make_task

    task = make_task("pendulum")
    assert task.env_action(torch.tensor([-1.0])).tolist() == [-2.0]
    assert task.env_action(torch.tensor([0.5])).tolist() == [1.0]
    assert not task.goal_conditioned and task.obs_dim == 3 and task.max_steps == 200
    task.close()


def test_parking_goal_reward_is_the_envs_compute_reward():
    pytest.importorskip("highway_env")
    import numpy as np

    from reverie.envs.control_tasks import make_task

    task = make_task("parking")
    assert task.goal_conditioned and task.describe()["add_walls"] is True
    part = task.reset(0)
    assert torch.equal(part["achieved"], part["obs"])  # what the imagined goal steps rely on
    g = torch.Generator().manual_seed(0)
    achieved, desired = torch.rand(32, 6, generator=g) - 0.5, torch.rand(32, 6, generator=g) - 0.5
    want = task.env.unwrapped.compute_reward(achieved.numpy().astype(np.float64), desired.numpy().astype(np.float64), {})
    assert torch.allclose(task.goal_reward(achieved, desired), torch.as_tensor(want, dtype=torch.float32), atol=1e-6)
    # a real step's reward is the goal reward of the reached goal (no crash at the first step)
    nxt, reward, *_ = task.step(torch.zeros(2))
    assert task.goal_reward(nxt["achieved"][None], nxt["desired"][None]).item() == pytest.approx(reward, abs=1e-5)
    task.close()
