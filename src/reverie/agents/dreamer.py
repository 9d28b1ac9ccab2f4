"""Dreamer's behaviour: an actor and a critic trained only on trajectories imagined by an RSSM.

From posterior states of replayed experience the actor imagines ``horizon`` steps in the
model's latent space (the prior). The critic learns TD(lambda) returns of those trajectories
(:func:`lambda_returns`, bootstrapped from a slowly updated copy of
itself); the actor maximises them. How the actor's gradient is found depends on the actions:

- **discrete** (``reinforce``): the log-probability of each imagined action times its
  advantage, as DreamerV2/V3 do on Atari; imagination then needs no gradients at all;
- **continuous** (``dynamics``): the returns are differentiated through the imagined
  dynamics and the reparameterised actions, as DreamerV1 does; the model's and the
  critic's weights are frozen while the actor's loss flows through them, so it moves the
  actor only.

Returns are divided by the spread between their 5th and 95th percentiles (an EMA, floored at
one; DreamerV3), so one entropy weight suits rewards of any scale. Trajectories are weighted
by the predicted probability that the episode is still running.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import option
from ..core.errors import ReverieError
from ..models.latent.networks import mlp
from ..models.latent.rssm import RSSM, LatentState

__all__ = ["lambda_returns", "DreamerConfig", "Actor", "Critic", "Behavior", "Imagined", "frozen"]


def lambda_returns(rewards: torch.Tensor, next_values: torch.Tensor, discounts: torch.Tensor,
                   lam: float = 0.95) -> torch.Tensor:
    """``[H, N]`` TD(lambda) returns of an imagined trajectory (Dreamer's value targets).

    ``rewards[t]``, ``next_values[t]`` and ``discounts[t]`` belong to the state reached by step
    ``t``: its reward, its value and ``gamma`` times the probability that the episode goes on
    from it. ``R[t] = r[t] + d[t] ((1 - lam) v[t] + lam R[t + 1])``, and past the horizon the
    value stands in for the return (``R[H] = v[H - 1]``). ``lam = 0`` gives one-step TD
    targets, ``lam = 1`` the discounted return bootstrapped at the horizon.
    """
    if rewards.dim() != 2 or next_values.shape != rewards.shape or discounts.shape != rewards.shape:
        raise ValueError(f"rewards, next_values and discounts must be the same [H, N], got "
                         f"{tuple(rewards.shape)}, {tuple(next_values.shape)}, {tuple(discounts.shape)}")
    returns = torch.empty_like(rewards)
    following = next_values[-1]
    for t in range(rewards.shape[0] - 1, -1, -1):
        following = rewards[t] + discounts[t] * ((1 - lam) * next_values[t] + lam * following)
        returns[t] = following
    return returns


@dataclass
class DreamerConfig:
    """The behaviour's settings (DreamerV3's defaults where they suit small CPU budgets)."""

    horizon: int = option(15, "imagined steps per trajectory")
    gamma: float = option(0.99, "discount")
    lam: float = option(0.95, "TD(lambda) of the value targets")
    hidden: int = option(256, "width of the actor's and critic's two hidden layers")
    actor_lr: float = option(8e-5, "actor learning rate (Adam)")
    critic_lr: float = option(8e-5, "critic learning rate (Adam)")
    entropy: float = option(3e-4, "weight of the actor's entropy bonus (on normalised returns)")
    slow_critic: float = option(0.02, "share of the critic mixed into its slow copy after each update")
    return_decay: float = option(0.99, "EMA decay of the returns' percentile spread")
    grad_clip: float = option(100.0, "gradient norm clip of the actor and critic")
    actor_grad: str = option("auto", "reinforce, dynamics or auto (reinforce for discrete actions, dynamics for "
                                     "continuous)")
    unimix: float = option(0.01, "discrete actor: share of the uniform mixed into its probabilities")

    def __post_init__(self) -> None:
        if int(self.horizon) < 1 or int(self.hidden) < 1:
            raise ReverieError(f"horizon and hidden must be >= 1, got {self.horizon}, {self.hidden}")
        if not (0 < self.gamma <= 1 and 0 <= self.lam <= 1 and 0 < self.slow_critic <= 1
                and 0 <= self.return_decay < 1 and self.entropy >= 0):
            raise ReverieError("Dreamer needs 0 < gamma <= 1, 0 <= lam <= 1, 0 < slow_critic <= 1, "
                               "0 <= return_decay < 1 and entropy >= 0")
        if self.actor_grad not in ("auto", "reinforce", "dynamics"):
            raise ReverieError(f"actor_grad must be auto, reinforce or dynamics, got {self.actor_grad!r}")


class Actor(nn.Module):
    """The policy on latent features: categorical logits (discrete) or a tanh-squashed
    Gaussian (continuous, actions in [-1, 1])."""

    def __init__(self, features: int, action_dim: int, discrete: bool, hidden: int = 256, unimix: float = 0.01):
        super().__init__()
        self.discrete, self.action_dim, self.unimix = discrete, action_dim, unimix
        self.net = nn.Sequential(mlp([features, hidden, hidden], out_activation=True),
                                 nn.Linear(hidden, action_dim if discrete else 2 * action_dim))

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        probs = self.net(features).softmax(-1)
        return (1 - self.unimix) * probs + self.unimix / self.action_dim

    def gaussian(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = self.net(features).chunk(2, -1)
        return mean, 0.9 * torch.sigmoid(std + 2.0) + 0.1

    def sample(self, features: torch.Tensor, greedy: bool = False) -> torch.Tensor:
        """Discrete: action indices ``[B]``; continuous: reparameterised actions ``[B, A]``."""
        if self.discrete:
            probs = self.probabilities(features)
            return probs.argmax(-1) if greedy else torch.multinomial(probs, 1).squeeze(-1)
        mean, std = self.gaussian(features)
        return torch.tanh(mean if greedy else mean + std * torch.randn_like(std))

    def log_prob_and_entropy(self, features: torch.Tensor, action: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor]:
        """``log pi(action)`` and the policy's entropy (continuous: a one-sample estimate
        ``-log pi`` of the squashed Gaussian at ``action``)."""
        if self.discrete:
            logp = self.probabilities(features).log()
            return logp.gather(-1, action.long()[:, None]).squeeze(-1), -(logp.exp() * logp).sum(-1)
        mean, std = self.gaussian(features)
        squashed = action.clamp(-1 + 1e-6, 1 - 1e-6)
        raw = torch.atanh(squashed)
        logp = (-0.5 * ((raw - mean) / std).square() - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - torch.log1p(-squashed.square() + 1e-6).sum(-1)
        return logp, -logp


class Critic(nn.Module):
    """The value of latent features."""

    def __init__(self, features: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(mlp([features, hidden, hidden], out_activation=True), nn.Linear(hidden, 1))
        with torch.no_grad():
            self.net[-1].weight.zero_()
            self.net[-1].bias.zero_()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


@contextlib.contextmanager
def frozen(*modules: nn.Module):
    """Let gradients flow through ``modules`` without reaching their weights."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@dataclass
class Imagined:
    """An imagined trajectory: ``features [H + 1, N, F]`` of the start state and the states
    reached, ``actions [H, ...]``, and per reached state ``rewards``, ``discounts``
    (``gamma x P(continue)``), all ``[H, N]``."""

    features: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    discounts: torch.Tensor


class Behavior(nn.Module):
    """Actor, critic and the critic's slow copy, with their optimisers and the return scale."""

    def __init__(self, model: RSSM, config: DreamerConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DreamerConfig()
        mc = model.config
        self.discrete = mc.discrete
        mode = config.actor_grad if config.actor_grad != "auto" else ("reinforce" if mc.discrete else "dynamics")
        if mode == "dynamics" and mc.discrete:
            raise ReverieError("actor_grad=dynamics differentiates through the actions, which needs continuous "
                               "actions; discrete worlds use reinforce")
        self.actor_grad = mode
        features = model.feature_size
        self.actor = Actor(features, mc.action_dim, mc.discrete, config.hidden, config.unimix)
        self.critic = Critic(features, config.hidden)
        self.slow_critic = Critic(features, config.hidden)
        self.slow_critic.load_state_dict(self.critic.state_dict())
        self.slow_critic.requires_grad_(False)
        self.register_buffer("return_scale", torch.ones(()))
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr, eps=1e-5)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr, eps=1e-5)

    def imagine(self, model: RSSM, start: LatentState) -> Imagined:
        """``horizon`` steps of the actor in the model's prior from ``start`` (``[N, ...]``)."""
        horizon, gamma = self.config.horizon, self.config.gamma
        grad = self.actor_grad == "dynamics"
        with (contextlib.nullcontext() if grad else torch.no_grad()):
            state = start.detach()
            features, actions = [state.features], []
            for _ in range(horizon):
                action = self.actor.sample(state.features if grad else state.features.detach())
                state = model.img_step(state, action)[0]
                features.append(state.features)
                actions.append(action)
            feats = torch.stack(features)
            rewards = model.reward(feats[1:])
            cont = torch.sigmoid(model.cont_logit(feats[1:]))
        return Imagined(feats, torch.stack(actions), rewards, gamma * cont)

    def returns(self, imagined: Imagined) -> tuple[torch.Tensor, torch.Tensor]:
        """TD(lambda) returns ``[H, N]`` (from the slow critic) and the trajectory weights
        ``[H, N]`` (the probability that each start of a step is still in the episode)."""
        values = self.slow_critic(imagined.features[1:])
        returns = lambda_returns(imagined.rewards, values, imagined.discounts, self.config.lam)
        weights = torch.cumprod(torch.cat((torch.ones_like(imagined.discounts[:1]), imagined.discounts[:-1])), 0)
        return returns, (weights / self.config.gamma ** torch.arange(
            len(weights), device=weights.device)[:, None]).detach()

    def actor_loss(self, imagined: Imagined, returns: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The actor's loss on an imagined trajectory (module docstring)."""
        feats = imagined.features[:-1]
        if self.actor_grad == "reinforce":
            feats = feats.detach()
        logp, entropy = self.actor.log_prob_and_entropy(feats.flatten(0, 1), imagined.actions.flatten(0, 1).detach()
                                                        if self.discrete else imagined.actions.flatten(0, 1))
        logp, entropy = logp.view_as(returns), entropy.view_as(returns)
        scale = self.return_scale.clamp(min=1.0)
        if self.actor_grad == "reinforce":
            baseline = self.critic(feats).detach()
            objective = logp * ((returns - baseline) / scale).detach()
        else:
            objective = returns / scale
        return -(weights * (objective + self.config.entropy * entropy)).mean()

    def critic_loss(self, imagined: Imagined, returns: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        values = self.critic(imagined.features[:-1].detach())
        return (weights * 0.5 * (values - returns.detach()).square()).mean()

    def update_return_scale(self, returns: torch.Tensor) -> None:
        with torch.no_grad():
            flat = returns.detach().flatten().float()
            spread = torch.quantile(flat, 0.95) - torch.quantile(flat, 0.05)
            decay = self.config.return_decay
            self.return_scale.mul_(decay).add_((1 - decay) * spread)

    def train_step(self, model: RSSM, start: LatentState) -> dict[str, float]:
        """One actor and one critic update from posterior states ``start`` (``[N, ...]``)."""
        config = self.config
        with frozen(model, self.critic):
            imagined = self.imagine(model, start)
            returns, weights = self.returns(imagined)
            self.update_return_scale(returns)
            actor_loss = self.actor_loss(imagined, returns, weights)
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        actor_norm = nn.utils.clip_grad_norm_(self.actor.parameters(), config.grad_clip)
        self.actor_optimizer.step()
        critic_loss = self.critic_loss(imagined, returns, weights)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), config.grad_clip)
        self.critic_optimizer.step()
        with torch.no_grad():
            for slow, fast in zip(self.slow_critic.parameters(), self.critic.parameters()):
                slow.lerp_(fast, config.slow_critic)
        return {"actor_loss": float(actor_loss.detach()), "critic_loss": float(critic_loss.detach()),
                "imagined_return": float(returns.detach().mean()), "imagined_reward": float(imagined.rewards.detach().mean()),
                "return_scale": float(self.return_scale), "actor_grad_norm": float(actor_norm),
                "entropy": self.entropy(imagined)}

    @torch.no_grad()
    def entropy(self, imagined: Imagined) -> float:
        """The policy's mean entropy at the trajectories' starts."""
        return float(self.actor.log_prob_and_entropy(imagined.features[0].detach(),
                                                     imagined.actions[0].detach())[1].mean())

    @torch.no_grad()
    def act(self, features: torch.Tensor, greedy: bool = False) -> torch.Tensor:
        return self.actor.sample(features, greedy)
