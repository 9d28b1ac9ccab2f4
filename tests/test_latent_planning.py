"""PlaNet's planning: CEM in a latent model's state space finds the best action sequence."""

from __future__ import annotations

import pytest
import torch

from reverie.models.latent import RSSM, LatentState, RSSMConfig
from reverie.planning.cem import CEMConfig, CEMPlanner
from reverie.planning.latent import FeatureModel

pytestmark = pytest.mark.usefixtures("one_thread")

GOALS = torch.tensor([0.5, -0.1, 0.4, 0.0, 0.6])


class ToyLatent:
    """A known latent model: ``deter`` is a position x, ``stoch`` the step count t; an action
    moves x by a (in [-1, 1]) and is rewarded -(x' - goal[t'])^2. The best plan from x = 0 at
    t = 0 is a_t = goal[t] - goal[t - 1] (all within bounds), with return 0."""

    def step(self, state: LatentState, action: torch.Tensor, sample: bool = False):
        x, t = state.deter + action, state.stoch + 1
        goal = GOALS[(t.long() - 1).clamp(max=len(GOALS) - 1)]
        return LatentState(x, t), -(x - goal).square().squeeze(-1), torch.zeros(len(x), dtype=torch.bool)


def test_latent_cem_finds_the_best_action_sequence_of_a_known_model():
    planner = CEMPlanner(FeatureModel(ToyLatent(), deter_size=1), low=[-1.0], high=[1.0],
                         config=CEMConfig(horizon=5, action_repeat=1, population=500, elites=50, iterations=10),
                         seed=0)
    start = torch.zeros(3, 2)                                   # three states, each x = 0, t = 0
    plan = planner.plan(start)
    best = torch.diff(GOALS, prepend=torch.zeros(1))
    assert plan.shape == (3, 5, 1)
    assert torch.allclose(plan[..., 0], best.expand(3, -1), atol=0.05)
    assert (planner.last_return > -0.01).all()


def test_the_feature_model_steps_an_rssm_exactly_as_its_states_do():
    torch.manual_seed(0)
    model = RSSM(RSSMConfig(deter=8, hidden=8, groups=2, classes=3, depth=4, embed=8, obs_kind="vector",
                            obs_shape=(3,), action_dim=1, discrete=False))
    state = model.encode(torch.randn(4, 3))
    action = torch.rand(4, 1) * 2 - 1
    nxt, reward, done = model.step(state, action)
    features, reward2, done2 = FeatureModel(model, 8).step(state.features, action)
    assert torch.equal(features, nxt.features) and torch.equal(reward, reward2) and torch.equal(done, done2)
