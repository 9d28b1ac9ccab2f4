"""SAC's and NAF's losses against hand computations, NAF's greedy action and mu penalty, MBVE's expansion."""

from __future__ import annotations

import math

import pytest
import torch

from reverie.agents.naf import NAF, mu_penalty, naf_loss, naf_q
from reverie.agents.offpolicy_nets import LearnerConfig, build_learner, soft_update
from reverie.agents.sac import actor_loss, alpha_loss, critic_loss, soft_value, squashed_log_prob
from reverie.core.errors import ReverieError
from reverie.training.mbve import expanded_target

T = torch.tensor


def test_sac_critic_loss_by_hand():
    # (0^2 + 1^2)/2 + (1^2 + 2^2)/2 = 0.5 + 2.5
    assert critic_loss(T([1.0, 2.0]), T([0.0, 3.0]), T([1.0, 1.0])).item() == pytest.approx(3.0)


def test_sac_actor_and_alpha_losses_by_hand():
    logp, alpha = T([0.5, -1.0]), 0.2
    # mean(0.2*0.5 - min(1, 2), 0.2*-1 - min(3, 0)) = mean(-0.9, -0.2)
    assert actor_loss(T([1.0, 3.0]), T([2.0, 0.0]), logp, alpha).item() == pytest.approx(-0.55)
    log_alpha = torch.tensor(math.log(0.2))
    # -mean(log a (0.5 - 1), log a (-1 - 1)) = 1.25 log a
    assert alpha_loss(log_alpha, logp, -1.0).item() == pytest.approx(1.25 * math.log(0.2))
    assert soft_value(T([1.0, 3.0]), T([2.0, 0.0]), logp, alpha).tolist() == pytest.approx([0.9, 0.2])


def test_sac_one_step_target_by_hand():
    # y = r + gamma (1 - done) V(s'): [1 + 0.9 * 2, 0.5 + 0]
    y = expanded_target(T([1.0, 0.5]), T([0.0, 1.0]), torch.zeros(2, 3), 0.9, 0, None,
                        lambda s: (s, s[:, 0]), lambda s: T([2.0, 7.0]))
    assert y.tolist() == pytest.approx([2.8, 0.5])


def test_squashed_log_prob_matches_change_of_variables():
    mean, log_std, u = T([[0.3, -0.2]]), T([[-0.5, 0.1]]), T([[0.7, -1.3]])
    normal = torch.distributions.Normal(mean, log_std.exp())
    want = (normal.log_prob(u) - torch.log(1 - torch.tanh(u) ** 2)).sum(-1)
    assert squashed_log_prob(u, mean, log_std).item() == pytest.approx(want.item(), abs=1e-5)


def test_naf_q_by_hand():
    # a - mu = (0.5, 0.5); P = L L^T = [[4, 2], [2, 2]]; (a-mu)^T P (a-mu) = 2.5; Q = 1 - 1.25
    lower = T([[[2.0, 0.0], [1.0, 1.0]]])
    q = naf_q(T([1.0]), T([[0.5, -0.5]]), lower, T([[1.0, 0.0]]))
    assert q.item() == pytest.approx(-0.25)
    assert naf_loss(q, T([0.75])).item() == pytest.approx(1.0)


def test_naf_greedy_action_is_the_quadratics_maximiser():
    torch.manual_seed(0)
    naf = NAF(LearnerConfig(agent="naf", hidden=16), obs_dim=3, action_dim=2)
    obs = torch.randn(5, 3)
    greedy = naf.act(obs, greedy=True)
    value, mu, lower = naf.net(obs)
    assert torch.equal(greedy, mu)
    with torch.no_grad():
        assert torch.allclose(naf.net.q(obs, greedy), value)  # Q(s, mu) = V(s)
        others = torch.rand(200, 5, 2) * 2 - 1
        q_others = naf.net.q(obs.repeat(200, 1), others.reshape(-1, 2)).view(200, 5)
        assert (q_others <= value + 1e-6).all()
    a = greedy.clone().requires_grad_(True)
    naf.net.q(obs, a).sum().backward()
    assert a.grad.abs().max() < 1e-6  # the gradient vanishes at mu: a maximum of a concave quadratic


def test_naf_target_value_is_target_v():
    naf = NAF(LearnerConfig(agent="naf", hidden=8), 3, 1)
    obs = torch.randn(4, 3)
    assert torch.equal(naf.target_value(obs, None), naf.net_target(obs)[0])


def test_naf_mu_penalty_is_zero_inside_the_bound():
    u = T([[1.9, -2.0], [0.0, 0.5]], requires_grad=True)
    penalty = mu_penalty(u, 2.0)
    penalty.backward()
    assert penalty.item() == 0.0 and torch.equal(u.grad, torch.zeros_like(u))


def test_naf_mu_penalty_by_hand_and_its_gradient_pulls_mu_back():
    # row 0: (2.5 - 2)^2 + (3 - 2)^2 = 1.25; row 1: inside -> 0; mean over rows 0.625
    u = T([[2.5, -3.0], [0.5, 1.0]], requires_grad=True)
    penalty = mu_penalty(u, 2.0)
    assert penalty.item() == pytest.approx(0.625)
    penalty.backward()
    # d/du = 2 (|u| - 2) sign(u) / N: positive above +2, negative below -2, zero inside
    assert torch.allclose(u.grad, T([[0.5, -1.0], [0.0, 0.0]]))
    with torch.no_grad():
        stepped = u - 0.1 * u.grad
    assert stepped[0].abs().tolist() == pytest.approx([2.45, 2.9])  # both moved toward the bound


def test_naf_update_adds_the_weighted_penalty_and_pulls_a_runaway_mu_back():
    torch.manual_seed(0)
    batch = {"obs": torch.randn(16, 3), "action": torch.rand(16, 1) * 2 - 1}
    target = torch.randn(16)
    grads = {}
    for weight in (0.0, 2.0):
        torch.manual_seed(1)
        naf = NAF(LearnerConfig(agent="naf", hidden=8, naf_mu_penalty=weight, naf_mu_bound=2.0), 3, 1)
        with torch.no_grad():
            naf.net.mu.bias.fill_(4.0)  # a runaway mu: tanh(4) = 0.9993
        value, pre_mu, lower = naf.net.heads(batch["obs"])
        want = naf_loss(naf_q(value, torch.tanh(pre_mu), lower, batch["action"]), target) + weight * mu_penalty(pre_mu, 2.0)
        grads[weight] = torch.autograd.grad(want, naf.net.mu.bias)[0]
        stats = naf.update(batch, target, None)
        assert ("mu_penalty" in stats) == (weight > 0) and stats["mu_outside"].item() == 1.0
    assert grads[2.0].item() > grads[0.0].item() + 1.0  # the penalty's gradient pushes the bias down
    naf = NAF(LearnerConfig(agent="naf", hidden=8, lr=1e-2, naf_mu_penalty=10.0), 3, 1)
    with torch.no_grad():
        naf.net.mu.bias.fill_(4.0)
    before = naf.net.heads(batch["obs"])[1].abs().mean().item()
    for _ in range(20):
        naf.update(batch, target, None)
    assert naf.net.heads(batch["obs"])[1].abs().mean().item() < before - 0.1


def test_naf_mu_penalty_options_are_checked():
    with pytest.raises(ReverieError, match="naf-mu-penalty"):
        LearnerConfig(agent="naf", naf_mu_penalty=-1.0)
    with pytest.raises(ReverieError, match="naf-mu-bound"):
        LearnerConfig(agent="naf", naf_mu_bound=0.0)


def test_sac_update_moves_critics_and_targets_slowly():
    torch.manual_seed(0)
    sac = build_learner(LearnerConfig(agent="sac", hidden=16, tau=0.5), 3, 2)
    before = [p.clone() for p in sac.critic_target.parameters()]
    batch = {"obs": torch.randn(8, 3), "action": torch.rand(8, 2) * 2 - 1}
    stats = sac.update(batch, torch.randn(8), torch.Generator().manual_seed(0))
    assert set(stats) >= {"critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy"}
    for old, new, online in zip(before, sac.critic_target.parameters(), sac.critic.parameters()):
        assert torch.allclose(new, 0.5 * old + 0.5 * online)


def test_soft_update():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    want = [0.9 * p + 0.1 * q for p, q in zip(a.parameters(), b.parameters())]
    soft_update(a, b, 0.1)
    for got, w in zip(a.parameters(), want):
        assert torch.allclose(got, w)


def test_mbve_target_equals_a_hand_rolled_expansion():
    # model: s' = 0.5 s + a, r = -s^2, ends where s' > 1; policy a = -0.1 s with bonus 0.1; V(s) = 3 s
    def step(s, a):
        nxt = 0.5 * s + a
        return nxt, -(s[:, 0] ** 2), (nxt[:, 0] > 1).float()

    policy = lambda s: (-0.1 * s, torch.full((s.shape[0],), 0.1))  # noqa: E731
    value = lambda s: 3 * s[:, 0]  # noqa: E731
    reward, done, nxt = T([1.0, -0.5, 2.0]), T([0.0, 0.0, 1.0]), T([[4.0], [0.2], [1.0]])
    gamma, horizon = 0.9, 3
    got = expanded_target(reward, done, nxt, gamma, horizon, step, policy, value)
    want = []
    for r, d, s in zip(reward.tolist(), done.tolist(), nxt[:, 0].tolist()):
        y, disc = r, gamma * (1 - d)
        for _ in range(horizon):
            a = -0.1 * s
            s2 = 0.5 * s + a
            y += disc * (-(s ** 2) + 0.1)
            disc *= gamma * (1 - float(s2 > 1))
            s = s2
        want.append(y + disc * 3 * s)
    assert got.tolist() == pytest.approx(want, rel=1e-6)
    assert want[0] != pytest.approx(reward[0].item() + gamma * 3 * 4.0)  # the expansion changed it


def test_learner_config_refuses_unknown_agents():
    with pytest.raises(ReverieError, match="unknown off-policy agent"):
        LearnerConfig(agent="ppo")
