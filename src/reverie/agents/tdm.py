"""Temporal difference models (Pong et al. 2018): a goal- and horizon-conditioned vector Q.

Why this form: ``Q(s, a, g, T)`` is "minus how far from goal ``g`` the agent will be ``T``
steps after taking ``a`` in ``s`` (and then acting well)". Its target needs no reward and no
discount (``--gamma`` is unused), only distances:

    T = 0:  y = -|achieved(s') - g|                       (per goal dimension)
    T > 0:  y = Q'(s', a', g, T - 1),  a' = pi'(s', g, T - 1)  (max over a' by the actor)

so every stored transition can be relabelled with any goal and any horizon (data efficiency
of model-based RL, from a model-free update). Q is *vectorised*: one output per goal
dimension, ``Q_j = -|f_j(s, a, g, T) - g_j|``, where ``f`` reads as a predicted goal-state
T steps ahead; the scalar value is ``sum_j w_j Q_j`` with the task's distance weights ``w``
(parking's reward weights). A crash (the stored end that is not reaching the goal) is an
absorbing state: its target is its own distance at every horizon.

The actor ``pi(s, g, T)`` is deterministic (DDPG/TD3 style) and trained to maximise the scalar
Q. Acting uses the actor at ``T_max`` with Gaussian noise while collecting, or, with
``--tdm-mpc-grid``, MPC: score a grid of candidate actions plus the actor's by Q toward the
goal and take the best. :func:`tdm_target` is a plain function so tests check it by hand.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import torch
from torch import nn

from .offpolicy_nets import LearnerConfig, mlp, soft_update


def tdm_target(next_achieved: torch.Tensor, goal: torch.Tensor, horizon: torch.Tensor, absorbing: torch.Tensor,
               next_q: torch.Tensor) -> torch.Tensor:
    """Per-dimension targets ``[N, G]``: ``-|achieved(s') - g|`` where ``T = 0`` or ``s'`` is
    absorbing, else ``next_q = Q'(s', pi'(s', g, T - 1), g, T - 1)``."""
    last = (horizon == 0) | absorbing.bool()
    return torch.where(last[:, None], -(next_achieved - goal).abs(), next_q)


class TDMCritic(nn.Module):
    """``(s, a, g, T) -> Q [N, G] = -|f(s, a, g, T) - g|``; ``T`` enters as ``T / T_max``."""

    def __init__(self, obs_dim: int, goal_dim: int, action_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.f = mlp(obs_dim + goal_dim + 1 + action_dim, goal_dim, hidden, layers)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, tau: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return -(self.f(torch.cat([obs, goal, tau[:, None], action], -1)) - goal).abs()


class TDMActor(nn.Module):
    """``(s, g, T) -> a`` in ``[-1, 1]`` (tanh)."""

    def __init__(self, obs_dim: int, goal_dim: int, action_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.net = mlp(obs_dim + goal_dim + 1, action_dim, hidden, layers)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([obs, goal, tau[:, None]], -1)))


class TDM(nn.Module):
    """The TDM learner: acting (actor or MPC), the recursive target, one critic + actor update."""

    name = "tdm"

    def __init__(self, config: LearnerConfig, obs_dim: int, goal_dim: int, action_dim: int,
                 weights: torch.Tensor | None = None, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.config, self.obs_dim, self.goal_dim, self.action_dim = config, obs_dim, goal_dim, action_dim
        self.horizon_max = config.tdm_horizon
        self.critic = TDMCritic(obs_dim, goal_dim, action_dim, config.hidden, config.layers)
        self.actor = TDMActor(obs_dim, goal_dim, action_dim, config.hidden, config.layers)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        w = torch.ones(goal_dim) if weights is None else torch.as_tensor(weights, dtype=torch.float32).flatten()
        self.register_buffer("weights", w.clone())
        self.to(device)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.lr)

    def tau(self, horizon: torch.Tensor) -> torch.Tensor:
        """The network's horizon feature ``T / T_max`` (0 when ``T_max`` is 0)."""
        return horizon.float() / max(self.horizon_max, 1)

    def value(self, q: torch.Tensor) -> torch.Tensor:
        """The scalar ``sum_j w_j Q_j`` (minus the weighted distance, as the task scores it)."""
        return q @ self.weights

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, flat: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False) -> torch.Tensor:
        """``flat = [obs, goal]`` rows -> actions: the actor (or MPC's best) at ``T_max``, plus
        Gaussian noise of std ``--tdm-noise`` unless greedy."""
        obs, goal = flat[:, :self.obs_dim], flat[:, self.obs_dim:]
        horizon = torch.full((flat.shape[0],), self.horizon_max, device=flat.device)
        action = self.mpc(obs, goal, horizon) if self.config.tdm_mpc_grid else self.actor(obs, goal, self.tau(horizon))
        if greedy or self.config.tdm_noise == 0:
            return action
        noise = torch.randn(action.shape, generator=generator, device=action.device, dtype=action.dtype)
        return (action + self.config.tdm_noise * noise).clamp(-1, 1)

    def candidates(self, device: torch.device) -> torch.Tensor:
        """A grid of ``--tdm-mpc-grid`` points per action axis in ``[-1, 1]`` (``[K, A]``)."""
        axis = torch.linspace(-1, 1, self.config.tdm_mpc_grid, device=device)
        return torch.tensor(list(itertools.product(axis.tolist(), repeat=self.action_dim)), device=device)

    @torch.no_grad()
    def mpc(self, obs: torch.Tensor, goal: torch.Tensor, horizon: torch.Tensor) -> torch.Tensor:
        """Per row, the candidate (grid points and the actor's action) with the highest
        ``sum_j w_j Q_j(s, a, g, T)``: one batched critic call, no loop over rows."""
        n, tau = obs.shape[0], self.tau(horizon)
        grid = self.candidates(obs.device)
        cand = torch.cat([self.actor(obs, goal, tau)[:, None], grid.expand(n, *grid.shape)], 1)  # [N, K+1, A]
        k = cand.shape[1]
        rep = lambda x: x.repeat_interleave(k, 0)  # noqa: E731
        score = self.value(self.critic(rep(obs), rep(goal), rep(tau), cand.reshape(n * k, -1))).reshape(n, k)
        return cand[torch.arange(n, device=obs.device), score.argmax(1)]

    # ------------------------------------------------------------------ learning
    @torch.no_grad()
    def target(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The recursive target of a relabelled batch (see :func:`tdm_target`)."""
        prev = (batch["horizon"] - 1).clamp_min(0)
        tau = self.tau(prev)
        next_action = self.actor_target(batch["next_obs"], batch["goal"], tau)
        next_q = self.critic_target(batch["next_obs"], batch["goal"], tau, next_action)
        return tdm_target(batch["next_achieved"], batch["goal"], batch["horizon"], batch["absorbing"], next_q)

    def update(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One critic step towards :meth:`target` (squared error summed over goal dimensions),
        one actor step up the scalar Q, then Polyak averaging of both target networks."""
        obs, goal, tau = batch["obs"], batch["goal"], self.tau(batch["horizon"])
        y = self.target(batch)
        q = self.critic(obs, goal, tau, batch["action"])
        loss_q = (q - y).pow(2).sum(-1).mean()
        self.critic_opt.zero_grad(set_to_none=True)
        loss_q.backward()
        self.critic_opt.step()

        self.critic.requires_grad_(False)
        loss_pi = -self.value(self.critic(obs, goal, tau, self.actor(obs, goal, tau))).mean()
        self.critic.requires_grad_(True)
        self.actor_opt.zero_grad(set_to_none=True)
        loss_pi.backward()
        self.actor_opt.step()
        soft_update(self.critic_target, self.critic, self.config.tau)
        soft_update(self.actor_target, self.actor, self.config.tau)
        return {"critic_loss": loss_q.detach(), "actor_loss": loss_pi.detach(), "q": self.value(q.detach()).mean()}

    def learner_state(self) -> dict[str, Any]:
        return {"weights": self.state_dict(), "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict()}

    def load_learner_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["weights"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
