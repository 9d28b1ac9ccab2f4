"""Smoke tests that the off-policy learners learn something measurable in seconds: a 1-D
continuous bandit whose best action is 0.5 (the reward is -(a - 0.5)^2, one step an episode)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from reverie.agents.offpolicy_nets import LearnerConfig
from reverie.training.offpolicy import OffPolicyConfig, OffPolicyTrainer

BANDIT = "ReverieTestBandit-v0"


class Bandit(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, np.float32), {}

    def step(self, action):
        return np.ones(1, np.float32), -float((action[0] - 0.5) ** 2), True, False, {}


if BANDIT not in gym.registry:
    gym.register(BANDIT, entry_point=Bandit)


@pytest.mark.parametrize("agent", ["sac", "naf"])
def test_learner_finds_the_best_action_of_a_bandit(tmp_path, agent):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread is fastest, more only fight other work
    try:
        _learn(tmp_path, agent)
    finally:
        torch.set_num_threads(threads)


def _learn(tmp_path, agent):
    config = OffPolicyConfig(task=BANDIT, steps=400, learning_starts=50, run_dir=tmp_path, tensorboard=False)
    trainer = OffPolicyTrainer(config, LearnerConfig(agent=agent, hidden=32, batch_size=32, lr=3e-3, gamma=0.0,
                                                     naf_noise=0.5))
    while trainer.steps < config.steps:
        trainer.train_step()
    greedy = trainer.learner.act(torch.ones(1, 1), greedy=True).item()
    assert abs(greedy - 0.5) < 0.15, greedy
    assert trainer.evaluate(1)["mean_return"] > -0.03
