"""TDM: the recursive target by hand, goal/horizon relabelling, MPC's choice, refusals, exact resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reverie.agents.offpolicy_nets import LearnerConfig
from reverie.agents.tdm import TDM, tdm_target
from reverie.cli.main import main
from reverie.core.checkpoint import load_checkpoint
from reverie.core.errors import ReverieError
from reverie.data.hindsight import GoalReward
from reverie.data.replay import ReplayBuffer
from reverie.data.tdm_relabel import tdm_batch
from reverie.training.offpolicy import OffPolicyConfig
from reverie.training.offpolicy_runs import resume_offpolicy, train_offpolicy

T = torch.tensor


def test_tdm_target_by_hand():
    achieved = T([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]])
    goal = T([[0.5, 4.0], [1.0, 1.0], [2.0, 0.0]])
    next_q = T([[-9.0, -9.0], [-0.25, -0.75], [-7.0, -7.0]])
    # row 0: T = 0 -> -|a - g| = (-0.5, -2); row 1: T = 2 -> Q'(s', a', g, 1); row 2: T = 3 but a crash -> -(1, 1)
    y = tdm_target(achieved, goal, T([0, 2, 3]), T([False, False, True]), next_q)
    assert y.tolist() == [[-0.5, -2.0], [-0.25, -0.75], [-1.0, -1.0]]


class _ConstActor(nn.Module):
    def forward(self, obs, goal, tau):
        return torch.full((obs.shape[0], 2), 0.5)


class _HorizonCritic(nn.Module):
    """Q'_j = -(10 tau + a_0): reveals which horizon and action the target asked about."""

    def forward(self, obs, goal, tau, action):
        return -(10 * tau + action[:, 0])[:, None].expand(-1, goal.shape[1])


def test_tdm_target_asks_the_target_networks_at_t_minus_1():
    tdm = TDM(LearnerConfig(agent="tdm", hidden=8, tdm_horizon=10), obs_dim=3, goal_dim=2, action_dim=2)
    tdm.actor_target, tdm.critic_target = _ConstActor(), _HorizonCritic()
    batch = {"next_obs": torch.zeros(3, 3), "goal": T([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]),
             "next_achieved": T([[0.0, 3.0], [0.0, 0.0], [0.0, 0.0]]), "horizon": T([0, 4, 1]),
             "absorbing": T([False, False, False])}
    # T = 0: -|(0, 3) - (1, 1)| = (-1, -2); T = 4: -(10 * 3/10 + 0.5) = -3.5; T = 1: -(0 + 0.5)
    assert tdm.target(batch).tolist() == [[-1.0, -2.0], [-3.5, -3.5], [-0.5, -0.5]]


def test_tdm_update_moves_q_towards_the_target_and_polyak_averages():
    torch.manual_seed(0)
    tdm = TDM(LearnerConfig(agent="tdm", hidden=16, lr=1e-2, tau=0.5, tdm_horizon=0), 3, 2, 2)
    batch = {"obs": torch.randn(32, 3), "action": torch.rand(32, 2) * 2 - 1, "next_obs": torch.randn(32, 3),
             "next_achieved": torch.randn(32, 2), "goal": torch.randn(32, 2), "horizon": torch.zeros(32, dtype=torch.long),
             "absorbing": torch.zeros(32, dtype=torch.bool)}
    before = tdm.critic_target.f[0].weight.clone()
    first = tdm.update(batch)["critic_loss"]
    for _ in range(200):
        last = tdm.update(batch)["critic_loss"]
    assert last < 0.2 * first  # T = 0 targets are fixed distances: plain regression
    assert not torch.equal(before, tdm.critic_target.f[0].weight)


def _replay(goals: GoalReward) -> ReplayBuffer:
    """Two episodes of 6 and 4 steps; row i reached achieved goal (i, -i); the first episode
    ends by reaching its goal, the second by a crash."""
    replay = ReplayBuffer(100, 3, 2, goal_dim=2)
    for start, n, crash in ((0, 6, False), (6, 4, True)):
        pos = torch.arange(start, start + n, dtype=torch.float32)
        achieved = torch.stack([pos, -pos], -1)
        desired = achieved[-1].expand(n, 2) if not crash else torch.full((n, 2), 99.0)
        terminated = torch.zeros(n, dtype=torch.bool)
        terminated[-1] = True
        replay.add(obs=torch.randn(n, 3), action=torch.rand(n, 2), reward=goals.reward(achieved, desired),
                   next_obs=torch.randn(n, 3), terminated=terminated, desired=desired, next_achieved=achieved,
                   goals=goals)
        replay.end_episode()
    return replay


def test_relabelled_goals_and_horizons_keep_transitions_consistent():
    goals = GoalReward(lambda a, d: -(a - d).abs().sum(-1), lambda a, d: (a - d).abs().sum(-1) < 0.5)
    replay = _replay(goals)
    b = tdm_batch(replay, 4000, torch.Generator().manual_seed(0), horizon_max=5, future=0.5, random=0.2)
    idx, d = b["index"], replay.data
    # the row itself is untouched: obs, action, next state and reached goal are its own
    for key in ("obs", "action", "next_obs", "next_achieved"):
        assert torch.equal(b[key], d[key][idx])
    own, future, anywhere = b["source"] == 0, b["source"] == 1, b["source"] == 2
    assert torch.equal(b["goal"][own], d["desired"][idx[own]])
    # a future goal is reached at or after the row's step, in the same episode
    step = b["goal"][future][:, 0].long()
    assert (step >= idx[future]).all() and (step <= d["episode_end"][idx[future]]).all()
    assert torch.equal(b["goal"][future][:, 1], -b["goal"][future][:, 0])
    # a random goal is some stored reached goal
    assert torch.isin(b["goal"][anywhere][:, 0], d["next_achieved"][:, 0]).all()
    shares = [m.float().mean().item() for m in (own, future, anywhere)]
    assert shares == pytest.approx([0.3, 0.5, 0.2], abs=0.03)
    # horizons uniform over 0..T_max
    counts = torch.bincount(b["horizon"], minlength=6)
    assert len(counts) == 6 and (counts > 4000 / 6 * 0.85).all()
    # absorbing: the crash ends, reaching the original goal does not
    assert torch.equal(b["absorbing"], idx == 9)


def test_mpc_picks_the_candidate_with_the_highest_q():
    tdm = TDM(LearnerConfig(agent="tdm", hidden=8, tdm_mpc_grid=5), 3, 2, 2)

    class Peak(nn.Module):  # Q highest at a = (0.5, -0.5)
        def forward(self, obs, goal, tau, action):
            return -(action - T([0.5, -0.5])).abs().sum(-1, keepdim=True).expand(-1, 2)

    tdm.critic, tdm.actor = Peak(), _ConstActor()
    action = tdm.act(torch.zeros(4, 5), greedy=True)
    assert action.tolist() == [[0.5, -0.5]] * 4
    noisy = tdm.act(torch.zeros(4, 5), torch.Generator().manual_seed(0))
    assert not torch.equal(noisy, action) and noisy.abs().max() <= 1


def test_tdm_refuses_bad_input_in_one_line(capsys, tmp_path):
    cases = [
        (["--agent", "tdm", "--task", "pendulum"], "TDM needs a goal-conditioned task"),
        (["--agent", "tdm", "--task", "parking", "--her"], "TDM relabels goals and horizons itself"),
        (["--agent", "tdm", "--tdm-future", "0.9", "--tdm-random", "0.3"], "sum to at most 1"),
        (["--agent", "tdm", "--tdm-mpc-grid", "1"], "--tdm-mpc-grid 0 or >= 2"),
    ]
    for args, message in cases:
        if "parking" in args:
            pytest.importorskip("highway_env")
        code = main(["offpolicy", "--run-dir", str(tmp_path / "x"), "--quiet", *args])
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1, (args, err)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ReverieError, match="built by the trainer"):
        from reverie.agents.offpolicy_nets import build_learner

        build_learner(LearnerConfig(agent="tdm"), 4, 2)


def test_tdm_on_parking_resumes_exactly(tmp_path):
    pytest.importorskip("highway_env")
    learner = LearnerConfig(agent="tdm", hidden=16, batch_size=16, tdm_horizon=3, tdm_mpc_grid=3)
    small = dict(task="parking", steps=100, learning_starts=40, log_every=25, checkpoint_every=1000, eval_every=0,
                 eval_episodes=1, tensorboard=False)
    straight = train_offpolicy(OffPolicyConfig(run_dir=tmp_path / "a", **small), learner, progress=False)
    assert straight["method"] == "tdm+mpc" and "success_rate" in straight["evaluation"]
    half = train_offpolicy(OffPolicyConfig(run_dir=tmp_path / "b", **small), learner, progress=False, stop_after=55)
    assert half["interrupted"]
    resumed = resume_offpolicy(tmp_path / "b", progress=False)
    assert resumed["updates"] == straight["updates"] == 61
    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")["trainer"]
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["trainer"]
    for key, value in a["learner"]["weights"].items():
        assert torch.equal(value, b["learner"]["weights"][key]), key
    for key, value in a["replay"]["data"].items():
        assert torch.equal(value, b["replay"]["data"][key]), key
    assert straight["evaluation"] == resumed["evaluation"]
    assert a["learner"]["weights"]["weights"].tolist() == pytest.approx([1, 0.3, 0, 0, 0.02, 0.02])  # parking's reward weights
