"""The recurrent state-space model (RSSM) of PlaNet and Dreamer, as an ``EnvironmentModel``.

A latent state is a deterministic GRU state ``deter`` plus a stochastic latent ``stoch``:
categorical (``groups`` one-hot vectors of ``classes``, DreamerV2/V3, sampled with
straight-through gradients and 1% of uniform mixed in) or Gaussian (PlaNet, DreamerV1). The
**prior** predicts ``stoch`` from ``deter`` alone (imagination); the **posterior** also sees
the observation's embedding (filtering real experience). Heads on the features ``[deter,
stoch]`` decode the observation, the reward (regressed in symlog space, so rewards of any
scale fit one loss) and the probability that the episode continues.

Fitting follows DreamerV3: the reconstruction, reward and continue losses plus two KL terms
that balance how fast the prior learns (``dyn``: KL(sg(post) || prior)) against how far the
posterior is pulled toward the prior (``rep``: KL(post || sg(prior))), each held at ``free_nats``
from below (free bits), so a KL already small is not squeezed further at the expense of the
reconstruction.

As an ``EnvironmentModel``: ``encode(obs)`` filters an observation into a state, ``step(state,
action)`` imagines one step from the prior and returns the predicted reward and ``done`` (the
continue head below one half), ``decode(state)`` draws the state's most likely observation. So
agents and planners that only call these (I2A, CEM, search) imagine with it unchanged.

Sequences use Dreamer's convention: at step ``t`` the batch holds the observation ``obs[t]``,
the action ``action[t]`` that led to it (zeros where ``is_first``), the reward received on
arriving there, ``cont[t]`` (0 where the episode terminated at ``t``) and ``is_first[t]``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...core.config import option
from ...core.errors import ReverieError
from ..base import action_onehot
from .networks import ObsDecoder, ObsEncoder, mlp, obs_mode, recon_loss

__all__ = ["LatentState", "RSSM", "RSSMConfig", "symlog", "symexp"]

LATENTS = ("categorical", "gaussian")


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


class LatentState(NamedTuple):
    """A batch of RSSM states: ``deter [B, D]`` and ``stoch [B, S]`` (flattened)."""

    deter: torch.Tensor
    stoch: torch.Tensor

    @property
    def features(self) -> torch.Tensor:
        """What every head reads: ``[deter, stoch]``, ``[B, D + S]``."""
        return torch.cat((self.deter, self.stoch), -1)

    def detach(self) -> "LatentState":
        return LatentState(self.deter.detach(), self.stoch.detach())

    def index(self, rows) -> "LatentState":
        return LatentState(self.deter[rows], self.stoch[rows])

    def flatten(self) -> "LatentState":
        """``[B, T, ...]`` states as ``[B * T, ...]`` (imagination starts from every step)."""
        return LatentState(self.deter.flatten(0, 1), self.stoch.flatten(0, 1))


@dataclass
class RSSMConfig:
    """An RSSM's sizes and losses, and its world (observation kind and shape, actions)."""

    deter: int = option(256, "width of the deterministic GRU state")
    hidden: int = option(256, "width of the hidden layers of the core and heads")
    latent: str = option("categorical", "stochastic latent: categorical (DreamerV2/V3) or gaussian (PlaNet)")
    groups: int = option(16, "categorical latent: how many one-hot groups")
    classes: int = option(16, "categorical latent: classes per group")
    gaussian_size: int = option(32, "gaussian latent: dimensions")
    min_std: float = option(0.1, "gaussian latent: the smallest standard deviation")
    unimix: float = option(0.01, "categorical latent: share of the uniform mixed into the probabilities")
    depth: int = option(32, "channels of the first convolution of the encoder (doubled at each stride)")
    embed: int = option(256, "width of the observation embedding")
    free_nats: float = option(1.0, "free bits: each KL term is held at this many nats from below")
    dyn_scale: float = option(0.5, "weight of KL(sg(post) || prior): trains the prior")
    rep_scale: float = option(0.1, "weight of KL(post || sg(prior)): regularises the posterior")
    obs_kind: str = ""
    obs_shape: tuple[int, ...] = ()
    action_dim: int = 0
    discrete: bool = True

    def __post_init__(self) -> None:
        self.obs_shape = tuple(int(v) for v in self.obs_shape)
        if self.latent not in LATENTS:
            raise ReverieError(f"latent must be one of {list(LATENTS)}, got {self.latent!r}")
        for name in ("deter", "hidden", "groups", "classes", "gaussian_size", "depth", "embed"):
            if int(getattr(self, name)) < 1:
                raise ReverieError(f"RSSM {name} must be >= 1, got {getattr(self, name)}")
        if not (0 <= self.unimix < 1 and self.min_std > 0 and self.free_nats >= 0
                and self.dyn_scale >= 0 and self.rep_scale >= 0):
            raise ReverieError("RSSM needs 0 <= unimix < 1, min_std > 0 and free_nats, dyn_scale, rep_scale >= 0")

    @property
    def stoch_size(self) -> int:
        return self.groups * self.classes if self.latent == "categorical" else self.gaussian_size

    def for_spec(self, spec) -> "RSSMConfig":
        """This config with a world's observations and actions (discrete, or continuous in [-1, 1])."""
        actions = spec.actions
        continuous = bool(getattr(actions, "continuous", False))
        return dataclasses.replace(self, obs_kind=spec.observation.kind, obs_shape=tuple(spec.observation.shape),
                                   action_dim=len(actions.low) if continuous else spec.num_actions,
                                   discrete=not continuous)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RSSMConfig":
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ReverieError(f"model config has unknown fields {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class RSSM(nn.Module):
    """Recurrent state-space model (module docstring): filter, imagine, decode, fit."""

    def __init__(self, config: RSSMConfig) -> None:
        super().__init__()
        if not config.obs_kind or not config.obs_shape or config.action_dim < 1:
            raise ReverieError("an RSSM needs its world's observations and actions: build it with RSSM.for_spec "
                               "or set obs_kind, obs_shape and action_dim")
        self.config = c = config
        stoch = c.stoch_size
        self.encoder = ObsEncoder(c.obs_kind, c.obs_shape, c.depth, c.embed)
        self.img_in = mlp([stoch + c.action_dim, c.hidden], out_activation=True)
        self.gru = nn.GRUCell(c.hidden, c.deter)
        params = stoch if c.latent == "categorical" else 2 * stoch
        self.prior_net = nn.Sequential(mlp([c.deter, c.hidden], out_activation=True), nn.Linear(c.hidden, params))
        self.post_net = nn.Sequential(mlp([c.deter + c.embed, c.hidden], out_activation=True),
                                      nn.Linear(c.hidden, params))
        features = c.deter + stoch
        self.decoder = ObsDecoder(c.obs_kind, c.obs_shape, features, c.depth)
        self.reward_head = nn.Sequential(mlp([features, c.hidden, c.hidden], out_activation=True),
                                         nn.Linear(c.hidden, 1))
        self.cont_head = nn.Sequential(mlp([features, c.hidden, c.hidden], out_activation=True),
                                       nn.Linear(c.hidden, 1))
        with torch.no_grad():  # start by predicting a reward of 0 and "continues"
            self.reward_head[-1].weight.zero_()
            self.reward_head[-1].bias.zero_()
            self.cont_head[-1].bias.fill_(3.0)

    @classmethod
    def for_spec(cls, spec, config: RSSMConfig | None = None) -> "RSSM":
        return cls((config or RSSMConfig()).for_spec(spec))

    def check_spec(self, spec) -> None:
        """Refuse, in one line, a world whose observations or actions are not this model's."""
        c, obs, actions = self.config, spec.observation, spec.actions
        dim = len(actions.low) if getattr(actions, "continuous", False) else spec.num_actions
        if obs.kind != c.obs_kind or tuple(obs.shape) != c.obs_shape or dim != c.action_dim:
            raise ReverieError(f"this RSSM imagines {c.obs_kind} observations {list(c.obs_shape)} and {c.action_dim} "
                               f"actions; {spec.id} has {obs.kind} {list(obs.shape)} and {dim}")

    @property
    def feature_size(self) -> int:
        return self.config.deter + self.config.stoch_size

    # -- the latent distributions ------------------------------------------------------------

    def initial(self, batch: int, device: torch.device | str | None = None) -> LatentState:
        device = device if device is not None else self.gru.weight_hh.device
        return LatentState(torch.zeros(batch, self.config.deter, device=device),
                           torch.zeros(batch, self.config.stoch_size, device=device))

    def action_vector(self, action: torch.Tensor) -> torch.Tensor:
        """Discrete actions ``[B]`` as one-hot floats; continuous ``[B, A]`` as floats."""
        if self.config.discrete:
            if action.dim() == 2 and action.shape[1] == self.config.action_dim and action.is_floating_point():
                return action  # already one-hot (or relaxed)
            return action_onehot(action, self.config.action_dim)
        if action.dim() != 2 or action.shape[1] != self.config.action_dim:
            raise ValueError(f"continuous actions must be [B, {self.config.action_dim}], got {tuple(action.shape)}")
        return action.float()

    def probabilities(self, params: torch.Tensor) -> torch.Tensor:
        """Categorical: the groups' probabilities ``[B, G, K]`` with ``unimix`` of the uniform."""
        c = self.config
        probs = params.view(*params.shape[:-1], c.groups, c.classes).float().softmax(-1)
        return (1 - c.unimix) * probs + c.unimix / c.classes

    def gaussian(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = params.chunk(2, -1)
        return mean, F.softplus(std) + self.config.min_std

    def draw(self, params: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """A latent from the distribution's parameters (its mode when ``sample`` is off);
        categorical samples carry straight-through gradients."""
        if self.config.latent == "gaussian":
            mean, std = self.gaussian(params)
            return mean + std * torch.randn_like(std) if sample else mean
        probs = self.probabilities(params)
        flat = probs.reshape(-1, probs.shape[-1])
        index = torch.multinomial(flat, 1) if sample else flat.argmax(-1, keepdim=True)
        onehot = torch.zeros_like(flat).scatter_(1, index, 1.0).view_as(probs)
        return (onehot + probs - probs.detach()).flatten(-2)

    def kl(self, post: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """KL(post || prior) per row, summed over the latent's dimensions (or groups)."""
        if self.config.latent == "gaussian":
            (m1, s1), (m2, s2) = self.gaussian(post), self.gaussian(prior)
            return (torch.log(s2 / s1) + (s1.square() + (m1 - m2).square()) / (2 * s2.square()) - 0.5).sum(-1)
        p, q = self.probabilities(post), self.probabilities(prior)
        return (p * (p.log() - q.log())).sum((-2, -1))

    def kl_loss(self, post: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """DreamerV3's balanced KL with free bits: ``(loss, dyn, rep)`` per row."""
        c = self.config
        dyn = self.kl(post.detach(), prior)
        rep = self.kl(post, prior.detach())
        loss = c.dyn_scale * dyn.clamp(min=c.free_nats) + c.rep_scale * rep.clamp(min=c.free_nats)
        return loss, dyn, rep

    # -- one step ----------------------------------------------------------------------------

    def img_step(self, state: LatentState, action: torch.Tensor, sample: bool = True
                 ) -> tuple[LatentState, torch.Tensor]:
        """The prior's next state after ``action`` and the prior's parameters."""
        x = self.img_in(torch.cat((state.stoch, self.action_vector(action)), -1))
        deter = self.gru(x, state.deter)
        params = self.prior_net(deter)
        return LatentState(deter, self.draw(params, sample)), params

    def obs_step(self, state: LatentState, action: torch.Tensor, embed: torch.Tensor,
                 is_first: torch.Tensor | None = None, sample: bool = True
                 ) -> tuple[LatentState, torch.Tensor, torch.Tensor]:
        """The posterior after ``action`` and the observation's ``embed``: ``(state, post, prior)``
        parameters. Rows where ``is_first`` start from the initial state and no action."""
        action = self.action_vector(action)
        if is_first is not None:
            keep = (~is_first.bool()).float()[:, None]
            state = LatentState(state.deter * keep, state.stoch * keep)
            action = action * keep
        prior_state, prior = self.img_step(state, action, sample)
        post = self.post_net(torch.cat((prior_state.deter, embed), -1))
        return LatentState(prior_state.deter, self.draw(post, sample)), post, prior

    # -- sequences and fitting ---------------------------------------------------------------

    def observe(self, obs: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor,
                state: LatentState | None = None, sample: bool = True
                ) -> tuple[LatentState, torch.Tensor, torch.Tensor]:
        """Filter sequences ``[B, T, ...]``: the posterior states ``[B, T, ...]`` and the
        posterior and prior parameters ``[B, T, P]``."""
        b, t = obs.shape[:2]
        embed = self.encoder(obs.flatten(0, 1)).view(b, t, -1)
        state = state if state is not None else self.initial(b, embed.device)
        states, posts, priors = [], [], []
        for i in range(t):
            state, post, prior = self.obs_step(state, action[:, i], embed[:, i], is_first[:, i], sample)
            states.append(state)
            posts.append(post)
            priors.append(prior)
        stacked = LatentState(torch.stack([s.deter for s in states], 1), torch.stack([s.stoch for s in states], 1))
        return stacked, torch.stack(posts, 1), torch.stack(priors, 1)

    def observe_loss(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], LatentState]:
        """The fitting loss on a batch of sequences and the posterior states ``[B, T, ...]``
        (Dreamer imagines from them)."""
        for key in ("obs", "action", "reward", "cont", "is_first"):
            if key not in batch:
                raise ReverieError(f"fitting an RSSM needs sequences with {key!r}")
        obs = batch["obs"]
        if tuple(obs.shape[2:]) != self.config.obs_shape:
            raise ValueError(f"RSSM needs observations [B, T, {', '.join(map(str, self.config.obs_shape))}], "
                             f"got {tuple(obs.shape)}")
        states, post, prior = self.observe(obs, batch["action"], batch["is_first"])
        features = states.features.flatten(0, 1)
        recon = recon_loss(self.config.obs_kind, self.decoder(features), obs.flatten(0, 1))
        reward = (self.reward_head(features).squeeze(-1) - symlog(batch["reward"].flatten().float())).square()
        cont = F.binary_cross_entropy_with_logits(self.cont_head(features).squeeze(-1),
                                                  batch["cont"].flatten().float(), reduction="none")
        kl, dyn, rep = self.kl_loss(post.flatten(0, 1), prior.flatten(0, 1))
        total = (recon + reward + cont + kl).mean()
        parts = {"loss": total, "recon": recon.mean().detach(), "reward_loss": reward.mean().detach(),
                 "cont_loss": cont.mean().detach(), "kl_dyn": dyn.mean().detach(), "kl_rep": rep.mean().detach()}
        return parts, states

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.observe_loss(batch)[0]

    # -- the EnvironmentModel interface --------------------------------------------------------

    def reward(self, features: torch.Tensor) -> torch.Tensor:
        """The predicted reward of arriving in states with these features ``[..., F]``."""
        return symexp(self.reward_head(features).squeeze(-1))

    def cont_logit(self, features: torch.Tensor) -> torch.Tensor:
        """The logit that the episode goes on from states with these features."""
        return self.cont_head(features).squeeze(-1)

    @torch.no_grad()
    def encode(self, obs: torch.Tensor, state: LatentState | None = None,
               action: torch.Tensor | None = None, sample: bool = False) -> LatentState:
        """The posterior state after ``obs`` (from the initial state when ``state`` is None)."""
        b = obs.shape[0]
        if state is None:
            state = self.initial(b, obs.device)
            first = torch.ones(b, dtype=torch.bool, device=obs.device)
        else:
            first = None
        if action is None:
            action = torch.zeros(b, self.config.action_dim, device=obs.device)
        return self.obs_step(state, action, self.encoder(obs), first, sample)[0]

    @torch.no_grad()
    def step(self, state: LatentState, action: torch.Tensor, sample: bool = False
             ) -> tuple[LatentState, torch.Tensor, torch.Tensor]:
        """One imagined step from the prior: the next state, its reward and ``done``."""
        nxt = self.img_step(state, action, sample)[0]
        features = nxt.features
        return nxt, self.reward(features), self.cont_logit(features) < 0

    @torch.no_grad()
    def decode(self, state: LatentState) -> torch.Tensor:
        """The state's most likely observation, in the env's own form."""
        return obs_mode(self.config.obs_kind, self.decoder(state.features))
