"""Dreamer's behaviour: lambda-returns by hand, where the actor's gradient goes (the actor only;
through the imagined dynamics for continuous actions), trajectory weights, the return scale."""

from __future__ import annotations

import pytest
import torch

from reverie.agents.dreamer import Behavior, DreamerConfig, frozen, lambda_returns
from reverie.core.errors import ReverieError
from reverie.models.latent import RSSM, RSSMConfig

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dict(deter=16, hidden=16, groups=2, classes=4, gaussian_size=4, depth=4, embed=16)


def test_lambda_returns_match_a_hand_computation():
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[10.0], [20.0], [30.0]])
    d = torch.tensor([[0.9], [0.5], [0.8]])
    lam = 0.5
    r2 = 3 + 0.8 * 30                                     # past the horizon: the value
    r1 = 2 + 0.5 * ((1 - lam) * 20 + lam * r2)
    r0 = 1 + 0.9 * ((1 - lam) * 10 + lam * r1)
    assert torch.allclose(lambda_returns(r, v, d, lam), torch.tensor([[r0], [r1], [r2]]))
    assert torch.allclose(lambda_returns(r, v, d, 0.0), r + d * v)                    # one-step TD
    assert torch.allclose(lambda_returns(r, v, d, 1.0)[0], torch.tensor([1 + 0.9 * (2 + 0.5 * (3 + 0.8 * 30))]))
    with pytest.raises(ValueError, match="same"):
        lambda_returns(r, v[:2], d)


def model_and_behavior(discrete: bool, **config):
    torch.manual_seed(0)
    if discrete:
        model = RSSM(RSSMConfig(**SMALL, obs_kind="binary", obs_shape=(2, 6, 6), action_dim=3))
        obs = torch.randint(0, 2, (5, 2, 6, 6)).float()
    else:
        model = RSSM(RSSMConfig(**SMALL, obs_kind="vector", obs_shape=(3,), action_dim=2, discrete=False))
        obs = torch.randn(5, 3)
    torch.nn.init.normal_(model.reward_head[-1].weight, std=0.5)   # rewards that depend on the state
    behavior = Behavior(model, DreamerConfig(horizon=4, hidden=16, **config))
    torch.nn.init.normal_(behavior.slow_critic.net[-1].weight, std=0.5)
    return model, behavior, model.encode(obs)


@pytest.mark.parametrize("discrete", [True, False])
def test_the_actor_loss_reaches_the_actor_only(discrete):
    model, behavior, start = model_and_behavior(discrete)
    assert behavior.actor_grad == ("reinforce" if discrete else "dynamics")
    with frozen(model, behavior.critic):
        imagined = behavior.imagine(model, start)
        returns, weights = behavior.returns(imagined)
        loss = behavior.actor_loss(imagined, returns, weights)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in behavior.actor.parameters())
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is None for p in behavior.critic.parameters())
    assert all(p.requires_grad for p in model.parameters())     # unfrozen again


def test_continuous_actor_gradients_flow_through_the_imagined_dynamics():
    """With no entropy term the objective is the returns themselves: a gradient on the actor can
    only have come back through the imagined states, rewards and values."""
    model, behavior, start = model_and_behavior(False, entropy=0.0)
    with frozen(model, behavior.critic):
        imagined = behavior.imagine(model, start)
        assert imagined.features.requires_grad
        returns, weights = behavior.returns(imagined)
        loss = behavior.actor_loss(imagined, returns, weights)
    loss.backward()
    assert sum(p.grad.abs().sum() for p in behavior.actor.parameters()) > 0


def test_reinforce_imagines_without_gradients():
    model, behavior, start = model_and_behavior(True)
    imagined = behavior.imagine(model, start)
    assert not imagined.features.requires_grad
    assert imagined.features.shape == (5, 5, model.feature_size) and imagined.actions.shape == (4, 5)
    assert imagined.rewards.shape == imagined.discounts.shape == (4, 5)


def test_weights_are_the_probability_that_the_episode_still_runs():
    model, behavior, start = model_and_behavior(True)
    imagined = behavior.imagine(model, start)
    imagined.discounts = torch.full_like(imagined.discounts, 0.99 * 0.5)   # P(continue) = 1/2 each step
    _, weights = behavior.returns(imagined)
    assert torch.allclose(weights[:, 0], torch.tensor([1.0, 0.5, 0.25, 0.125]))


def test_a_train_step_moves_actor_critic_and_slow_critic():
    model, behavior, start = model_and_behavior(True, slow_critic=0.5)
    nets = (behavior.actor, behavior.critic, behavior.slow_critic)
    before = [[p.clone() for p in net.parameters()] for net in nets]
    model_before = [p.clone() for p in model.parameters()]
    metrics = behavior.train_step(model, start)
    for net, old in zip(nets, before):
        assert any(not torch.equal(a, b) for a, b in zip(old, net.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(model_before, model.parameters()))
    assert set(metrics) >= {"actor_loss", "critic_loss", "imagined_return", "return_scale", "entropy"}


def test_the_return_scale_tracks_the_percentile_spread():
    _, behavior, _ = model_and_behavior(True, return_decay=0.0)
    behavior.update_return_scale(torch.linspace(0, 100, 101))
    assert behavior.return_scale.item() == pytest.approx(90.0)


def test_dynamics_gradients_are_refused_for_discrete_actions():
    with pytest.raises(ReverieError, match="continuous"):
        model_and_behavior(True, actor_grad="dynamics")
    with pytest.raises(ReverieError, match="actor_grad"):
        DreamerConfig(actor_grad="magic")
