"""Normalized advantage functions (Gu et al. 2016): Q-learning with a closed-form greedy action.

Why: ``Q(s, a) = V(s) - 1/2 (a - mu(s))^T P(s) (a - mu(s))`` with ``P = L L^T`` positive
definite (``L`` lower-triangular with a positive diagonal) is a concave quadratic in ``a``
whose maximiser is ``mu(s)``: no actor, no search over actions, and the target's
``max_a' Q(s', a')`` is just ``V(s')``. ``mu`` is squashed by tanh into ``[-1, 1]``.
:func:`naf_q`, :func:`naf_loss` and :func:`mu_penalty` are plain functions so tests check them by hand.

Why :func:`mu_penalty`: early on the quadratic advantage pushes ``mu`` away from the batch's
actions, the pre-tanh ``mu`` runs off and the greedy action sticks at the action bound, where
tanh's gradient is ~0 and nothing pulls it back. Imagined rows (their actions bunched around
the current ``mu``) make it worse: on Pendulum, NAF with imagination rollouts saturated
96-100% of greedy actions and never learned (``docs/off-policy.md``). A squared hinge on the
pre-tanh ``mu`` beyond ``+-bound`` (``--naf-mu-penalty``, ``--naf-mu-bound``) leaves
``mu`` free inside and pulls it back from outside.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .offpolicy_nets import LearnerConfig, mlp, soft_update


def naf_q(value: torch.Tensor, mu: torch.Tensor, lower: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """``V - 1/2 (a - mu)^T L L^T (a - mu)`` for ``value [N]``, ``mu, action [N, A]``, ``lower [N, A, A]``."""
    z = torch.matmul(lower.transpose(-1, -2), (action - mu).unsqueeze(-1)).squeeze(-1)  # L^T (a - mu)
    return value - 0.5 * z.pow(2).sum(-1)


def naf_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean (Q(s, a) - y)^2``."""
    return F.mse_loss(q, target)


def mu_penalty(pre_mu: torch.Tensor, bound: float) -> torch.Tensor:
    """``mean_n sum_i max(|u_ni| - bound, 0)^2`` of the pre-tanh ``mu`` ``u [N, A]``: zero inside
    ``[-bound, bound]``, so only a runaway ``mu`` feels it."""
    return (pre_mu.abs() - bound).clamp(min=0).pow(2).sum(-1).mean()


class NAFNetwork(nn.Module):
    """``obs -> (V [N], mu [N, A], L [N, A, A])``: one trunk, three heads."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.action_dim = action_dim
        self.trunk = mlp(obs_dim, hidden, hidden, max(layers - 1, 0)) if layers > 1 else nn.Identity()
        width = hidden if layers > 1 else obs_dim
        self.value = nn.Linear(width, 1)
        self.mu = nn.Linear(width, action_dim)
        self.entries = nn.Linear(width, action_dim * (action_dim + 1) // 2)
        rows, cols = torch.tril_indices(action_dim, action_dim)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        value, pre_mu, lower = self.heads(obs)
        return value, torch.tanh(pre_mu), lower

    def heads(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(V, mu before its tanh, L)``: the update needs the pre-tanh ``mu`` for :func:`mu_penalty`."""
        h = torch.relu(self.trunk(obs)) if not isinstance(self.trunk, nn.Identity) else obs
        entries = self.entries(h)
        a = self.action_dim
        lower = entries.new_zeros(*entries.shape[:-1], a, a)
        lower[..., self.rows, self.cols] = entries
        diag = torch.diagonal(lower, dim1=-2, dim2=-1)
        # a positive diagonal makes L L^T positive definite; clamp keeps exp finite
        lower = lower - torch.diag_embed(diag) + torch.diag_embed(diag.clamp(-5, 5).exp())
        return self.value(h).squeeze(-1), self.mu(h), lower

    def q(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        value, mu, lower = self(obs)
        return naf_q(value, mu, lower, action)


class NAF(nn.Module):
    """The NAF learner: greedy action ``mu``, Gaussian exploration, target ``r + gamma V'(s')``."""

    name = "naf"

    def __init__(self, config: LearnerConfig, obs_dim: int, action_dim: int, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.config, self.action_dim = config, action_dim
        self.net = NAFNetwork(obs_dim, action_dim, config.hidden, config.layers)
        self.net_target = copy.deepcopy(self.net).requires_grad_(False)
        self.to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False) -> torch.Tensor:
        """``mu(s)`` (greedy: the quadratic's maximiser) or ``mu(s)`` plus Gaussian noise, clipped."""
        mu = self.net(obs)[1]
        if greedy or self.config.naf_noise == 0:
            return mu
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return (mu + self.config.naf_noise * noise).clamp(-1, 1)

    @torch.no_grad()
    def target_policy(self, obs: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """For imagined expansions: the greedy action (NAF's target policy), no bonus."""
        mu = self.net(obs)[1]
        return mu, torch.zeros(mu.shape[0], device=mu.device, dtype=mu.dtype)

    @torch.no_grad()
    def target_value(self, obs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``max_a Q_target(s, a) = V_target(s)``."""
        return self.net_target(obs)[0]

    def update(self, batch: dict[str, torch.Tensor], target: torch.Tensor,
               generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        value, pre_mu, lower = self.net.heads(batch["obs"])
        q = naf_q(value, torch.tanh(pre_mu), lower, batch["action"])
        loss = naf_loss(q, target)
        stats = {"critic_loss": loss.detach(), "q": q.detach().mean(),
                 "mu_outside": (pre_mu.detach().abs() > self.config.naf_mu_bound).float().mean()}
        if self.config.naf_mu_penalty > 0:
            penalty = mu_penalty(pre_mu, self.config.naf_mu_bound)
            loss = loss + self.config.naf_mu_penalty * penalty
            stats["mu_penalty"] = penalty.detach()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        soft_update(self.net_target, self.net, self.config.tau)
        return stats

    def learner_state(self) -> dict[str, Any]:
        return {"weights": self.state_dict(), "opt": self.opt.state_dict()}

    def load_learner_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["weights"])
        self.opt.load_state_dict(state["opt"])
