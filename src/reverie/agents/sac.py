"""Soft actor-critic for continuous actions: twin Q, tanh-squashed Gaussian, learned temperature.

Why these parts (Haarnoja et al. 2018): the minimum of two critics curbs the over-estimation
a max over actions breeds; the tanh squashing keeps actions in ``[-1, 1]`` with the density
corrected by ``log(1 - tanh(u)^2)``; the temperature alpha is tuned so the policy's entropy
stays near ``-|A|``. The losses are plain functions of tensors (:func:`critic_loss`,
:func:`actor_loss`, :func:`alpha_loss`) so tests check them against hand computations.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .offpolicy_nets import LearnerConfig, mlp, soft_update

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def critic_loss(q1: torch.Tensor, q2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Both critics regress on the same target: ``mean (q1 - y)^2 + mean (q2 - y)^2``."""
    return F.mse_loss(q1, target) + F.mse_loss(q2, target)


def actor_loss(q1_pi: torch.Tensor, q2_pi: torch.Tensor, logp: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """``mean(alpha log pi(a|s) - min(Q1, Q2)(s, a))`` with ``a ~ pi`` (reparameterised)."""
    return (alpha * logp - torch.min(q1_pi, q2_pi)).mean()


def alpha_loss(log_alpha: torch.Tensor, logp: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """``-mean(log_alpha (log pi + H_target))``: raises alpha when entropy is below target."""
    return -(log_alpha * (logp.detach() + target_entropy)).mean()


def soft_value(q1: torch.Tensor, q2: torch.Tensor, logp: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """The soft state value ``min(Q1, Q2)(s, a) - alpha log pi(a|s)`` at a sampled ``a``."""
    return torch.min(q1, q2) - alpha * logp


def squashed_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """``log pi(tanh u)`` for ``u ~ N(mean, exp(log_std))``, summed over action features."""
    normal = -0.5 * ((u - mean) / log_std.exp()).pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|
    correction = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (normal - correction).sum(-1)


class Actor(nn.Module):
    """``obs -> (mean, log_std)`` of a Gaussian whose samples are squashed by tanh."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.net = mlp(obs_dim, 2 * action_dim, hidden, layers)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).chunk(2, -1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised ``(action, log pi(action))``; noise from ``generator``."""
        mean, log_std = self(obs)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        u = mean + log_std.exp() * eps
        return torch.tanh(u), squashed_log_prob(u, mean, log_std)


class TwinQ(nn.Module):
    """Two independent critics ``Q_i(s, a)``."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.q1 = mlp(obs_dim + action_dim, 1, hidden, layers)
        self.q2 = mlp(obs_dim + action_dim, 1, hidden, layers)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, action], -1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class SAC(nn.Module):
    """The SAC learner: acting, critic targets' pieces, and one update of all three losses."""

    name = "sac"

    def __init__(self, config: LearnerConfig, obs_dim: int, action_dim: int, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.config, self.action_dim = config, action_dim
        self.actor = Actor(obs_dim, action_dim, config.hidden, config.layers)
        self.critic = TwinQ(obs_dim, action_dim, config.hidden, config.layers)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.alpha)))
        self.target_entropy = -float(action_dim)
        self.to(device)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=config.lr)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp()

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False) -> torch.Tensor:
        """Actions in ``[-1, 1]``: sampled, or ``tanh(mean)`` when greedy."""
        if greedy:
            return torch.tanh(self.actor(obs)[0])
        return self.actor.sample(obs, generator)[0]

    @torch.no_grad()
    def target_policy(self, obs: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """For imagined expansions: an action and its entropy bonus ``-alpha log pi``."""
        action, logp = self.actor.sample(obs, generator)
        return action, -self.alpha * logp

    @torch.no_grad()
    def target_value(self, obs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The soft value of ``obs`` under the target critics (the bootstrap of a target)."""
        action, logp = self.actor.sample(obs, generator)
        q1, q2 = self.critic_target(obs, action)
        return soft_value(q1, q2, logp, self.alpha)

    def update(self, batch: dict[str, torch.Tensor], target: torch.Tensor,
               generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """One step of critics, actor and temperature on ``batch`` towards ``target``."""
        q1, q2 = self.critic(batch["obs"], batch["action"])
        loss_q = critic_loss(q1, q2, target)
        self.critic_opt.zero_grad(set_to_none=True)
        loss_q.backward()
        self.critic_opt.step()

        action, logp = self.actor.sample(batch["obs"], generator)
        self.critic.requires_grad_(False)
        q1_pi, q2_pi = self.critic(batch["obs"], action)
        self.critic.requires_grad_(True)
        loss_pi = actor_loss(q1_pi, q2_pi, logp, self.alpha)
        self.actor_opt.zero_grad(set_to_none=True)
        loss_pi.backward()
        self.actor_opt.step()

        stats = {"critic_loss": loss_q.detach(), "actor_loss": loss_pi.detach(), "q": q1.detach().mean(),
                 "entropy": -logp.detach().mean()}
        if self.config.autotune:
            loss_a = alpha_loss(self.log_alpha, logp, self.target_entropy)
            self.alpha_opt.zero_grad(set_to_none=True)
            loss_a.backward()
            self.alpha_opt.step()
            stats["alpha_loss"] = loss_a.detach()
        stats["alpha"] = self.alpha
        soft_update(self.critic_target, self.critic, self.config.tau)
        return stats

    def learner_state(self) -> dict[str, Any]:
        return {"weights": self.state_dict(), "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict(), "alpha_opt": self.alpha_opt.state_dict()}

    def load_learner_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["weights"])
        for name in ("actor_opt", "critic_opt", "alpha_opt"):
            getattr(self, name).load_state_dict(state[name])
