"""Imagination-Augmented Agents (Weber et al. 2017): the agent and its registered variants.

The agent scores an observation along two paths and joins them:

- **model-free path**: the standard agent's trunk (conv 16/16 3x3 + FC 256) on the real
  observation;
- **imagination path**: the :class:`~reverie.agents.imagination.ImaginationCore` imagines
  one rollout of ``L`` steps per action; a :class:`RolloutEncoder` reads each rollout (a
  small CNN per imagined frame, the imagined reward appended after the CNN, then an LSTM
  that reads the steps **last first**); the aggregator concatenates the ``A`` rollout codes
  in action order;
- **head**: FC 256 over (model-free features, aggregated code) -> policy logits and value.

The rollout policy is trained by **distillation** (``auxiliary_losses``): the cross-entropy
between the agent's policy (detached: the target) and the rollout policy on the real
observations, times ``distill_weight``. Only the rollout policy's weights get its gradient.

Cost: imagination runs once per observation. Rollouts imagined while acting (no-grad) are
cached with the encoder's conv features and input projection, and the update's gradient
pass re-encodes them (see :class:`~reverie.agents.imagination.ImaginationCache`): the model
and the rollout policy run once per frame, and the update replays the encoder's conv and
projection instead of computing them again (:mod:`~reverie.agents.rollout_encoder`), so only
its LSTM runs twice, like the rest of the network.

Registered names (``build_agent(name, spec, **options)``), for any world with image-like
observations ``[C, H, W]``: ``i2a`` (a learned model: ``model=NAME|PATH``, by default the
world's ``spec.default_model``, e.g. Sokoban's shipped ``sokoban-10x10-12ch``: every one of
75,000 one-step frames exact on the protocol's held-out 7x7 2-box levels, as it is fully
convolutional; ``model=sokoban-10x10`` is the 16-channel model the recorded protocol runs used),
``i2a-perfect`` (the world's rules, ``spec.make_perfect_model()``), ``i2a-copy`` (the copy
model) and ``i2a-noreward`` (the learned model with every imagined reward replaced by 0); the
learned-model variants keep the model frozen unless ``finetune_model`` > 0 (see :class:`I2A`).
A learned model is checked against the world's spec (observations, actions, reward classes). ``distill_weight`` defaults to 1: RMSprop
scales each weight's step by its own gradient size, so the weight mostly decides the
distillation gradient's share of the clipped global norm.
"""

from __future__ import annotations

import inspect
import math
from typing import Sequence

import torch
from torch import nn

from ..core.errors import ReverieError
from ..envs.spec import EnvSpec
from .actor_critic import register_agent
from .imagination import (ROLLOUT_ACTIONS, ImaginationCache, ImaginationCore, RolloutPolicy, model_digest,
                          orthogonal)
from .networks import GRID_HIDDEN, GRID_LAYERS, PIXEL_LAYERS
from .readers import input_scale, is_pixels, scaled
from .rollout_encoder import LSTM, RolloutEncoder

__all__ = ["I2A", "RolloutEncoder", "LSTM", "i2a_agent", "i2a_perfect_agent", "i2a_copy_agent", "i2a_noreward_agent",
           "IMAGINE"]

#: How imagined frames are fed forward: one-hot planes of the most likely frame, or the
#: model's predicted per-cell distribution.
IMAGINE = ("argmax", "distribution")


class I2A(nn.Module):
    """The I2A agent: ``forward(obs) -> (logits [B, A], value [B])`` plus distillation.

    Args:
        obs_shape: ``[C, H, W]`` of the observations (the env model's too).
        num_actions: ``A``.
        env_model: any :class:`~reverie.models.base.EnvironmentModel` (frozen here).
        rollout_length: imagined steps per rollout, the forced first action included.
        rollout_actions: ``"sample"`` or ``"greedy"`` choice of the rollout policy.
        encoder_channels, encoder_hidden: the rollout encoder's conv maps and LSTM units.
        rollout_channels: conv maps of the rollout policy.
        hidden: width of the output head's FC layer.
        distill_weight: lambda_dist, weight of the distillation loss.
        use_reward: feed imagined rewards to the encoder (False feeds zeros: the no-reward ablation).
        cache_rows: observations whose imagined rollouts may be cached for reuse (0 = off); grows to a
            rollout's acting steps (n_steps x num_envs) at the first update that finds it too small.
        finetune_model: weight of the environment model's own fitting loss on each rollout's
            real transitions; 0 (default) keeps the pretrained model frozen. Above 0 the model's
            weights join the agent's (optimizer, gradient clipping, state dict) and learn from
            the states the agent visits; imagination itself stays without gradients.
    """

    def __init__(self, obs_shape: Sequence[int], num_actions: int, env_model, rollout_length: int = 5,
                 rollout_actions: str = "sample", encoder_channels: int = 8, encoder_hidden: int = 32,
                 rollout_channels: int = 16, hidden: int = GRID_HIDDEN, distill_weight: float = 1.0,
                 use_reward: bool = True, cache_rows: int = 2048, finetune_model: float = 0.0) -> None:
        super().__init__()
        if len(obs_shape) != 3:
            raise ReverieError(f"I2A needs [C, H, W] observations, got shape {tuple(obs_shape)}")
        self.obs_shape, self.num_actions = tuple(int(s) for s in obs_shape), int(num_actions)
        c, h, w = self.obs_shape
        self.distill_weight, self.use_reward = float(distill_weight), bool(use_reward)
        layers: list[nn.Module] = []
        channels = c
        # the standard agent's trunk for these observations (grid or pixel), then FC 256
        for out, kernel, stride, padding in PIXEL_LAYERS if is_pixels(self.obs_shape) else GRID_LAYERS:
            layers += [orthogonal(nn.Conv2d(channels, out, kernel, stride, padding), math.sqrt(2)), nn.ReLU()]
            channels = out
        trunk = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            size = trunk(torch.zeros(1, c, h, w)).shape[1]
        self.model_free = nn.Sequential(*trunk, orthogonal(nn.Linear(size, GRID_HIDDEN), math.sqrt(2)), nn.ReLU())
        self.input_scale = input_scale(self.obs_shape)
        self.core = ImaginationCore(env_model, RolloutPolicy(self.obs_shape, num_actions, rollout_channels),
                                    num_actions, rollout_length, rollout_actions)
        self.encoder = RolloutEncoder(self.obs_shape, encoder_channels, encoder_hidden)
        self.fc = orthogonal(nn.Linear(GRID_HIDDEN + num_actions * encoder_hidden, hidden), math.sqrt(2))
        self.policy = orthogonal(nn.Linear(hidden, num_actions), 0.01)
        self.value = orthogonal(nn.Linear(hidden, 1), 1.0)
        self.cache = ImaginationCache(cache_rows)
        self._reported = (0, 0)  # cache hits and misses at the last training_stats()
        self._digest = model_digest(env_model)  # of the pretrained weights, fine-tuned or not
        self.finetune_model = float(finetune_model)
        if self.finetune_model > 0:
            if not (isinstance(env_model, nn.Module) and callable(getattr(env_model, "loss", None))):
                raise ReverieError(f"finetune_model needs a learned environment model with a fitting loss, "
                                   f"not {type(env_model).__name__}")
            env_model.requires_grad_(True)
            self.tuned_model = env_model  # registered: its weights train and travel in the state dict

    @property
    def needs_next_obs(self) -> bool:
        """Whether the trainer must hand :meth:`auxiliary_losses` each step's next observation."""
        return self.finetune_model > 0

    @property
    def env_model(self):
        return self.core.env_model

    @property
    def rollout_policy(self) -> nn.Module:
        return self.core.rollout_policy

    def version(self) -> tuple:
        """What a cached rollout and its encoding were computed with: imagination's weights and
        model (:meth:`ImaginationCore.version`) and the rollout encoder's weights."""
        return self.core.version() + self.encoder.version()

    def rollout_codes(self, obs: torch.Tensor) -> torch.Tensor:
        """The rollout codes ``[B, A * hidden]`` of ``obs``, through the cache (module docstring):
        acting (no gradients, training mode) imagines, encodes and keeps both; the gradient
        pass on the same observations re-encodes the kept rollouts, replaying the kept encoding."""
        caching = self.cache.max_rows > 0
        update = caching and torch.is_grad_enabled()
        keep = caching and self.training and not torch.is_grad_enabled()
        version = self.version() if update or keep else None  # evaluation neither keeps nor takes
        replay = None
        if update:
            cached = self.cache.take(obs, version)
            self.cache.clear()  # the optimizer step that follows makes every entry stale
            if cached is None and obs.shape[0] > self.cache.max_rows:
                # a rollout larger than the cache (n_steps x num_envs > cache_rows): grow to it,
                # so that this is the run's only miss (the memory is what the update needs anyway)
                self.cache.max_rows = obs.shape[0]
            frames, rewards, replay = cached if cached is not None else (*self.core(obs), None)
        else:
            frames, rewards = self.core(obs)
        if not self.use_reward:
            rewards = torch.zeros_like(rewards)
        if keep:
            code, encoding = self.encoder.encode(frames, rewards)
            self.cache.add(obs, frames, rewards, version, encoding)
        else:
            code = self.encoder(frames, rewards, replay)
        return code.view(obs.shape[0], -1)  # rollouts in action order

    def training_stats(self) -> dict[str, torch.Tensor]:
        """Since the last call: gradient passes that found their rollouts in the cache
        (``imagination/cache_hit``) and those that imagined again though a hit was expected
        (``imagination/cache_miss``: the cache was too small for ``n_steps x num_envs``, or
        something wrote a weight between acting and the update). The trainer logs them."""
        if self.cache.max_rows <= 0:
            return {}
        hits, misses = self.cache.hits, self.cache.misses
        last_hits, last_misses = self._reported
        self._reported = (hits, misses)
        return {"imagination/cache_hit": torch.tensor(float(hits - last_hits)),
                "imagination/cache_miss": torch.tensor(float(misses - last_misses))}

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        obs = obs.float()
        features = self.model_free(scaled(obs, self.input_scale))  # pixels in [0, 1]; the model imagines in obs units
        code = self.rollout_codes(obs)
        hidden = torch.relu(self.fc(torch.cat((features, code), dim=1)))
        return self.policy(hidden), self.value(hidden).squeeze(-1)

    def auxiliary_losses(self, obs: torch.Tensor, logits: torch.Tensor, value: torch.Tensor,
                         rollout: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """``{"distillation": lambda_dist * CE(softmax(logits) detached, rollout policy)}``, and
        with ``finetune_model`` > 0 ``"model"``: that weight times the model's fitting loss on the
        rollout's real transitions (``obs`` row ``t * N + n`` to ``rollout["next_obs"][t, n]``)."""
        target = torch.softmax(logits.detach().float(), dim=-1)
        log_rollout = torch.log_softmax(self.rollout_policy(obs).float(), dim=-1)
        losses = {"distillation": -self.distill_weight * (target * log_rollout).sum(-1).mean()}
        if self.finetune_model > 0 and rollout is not None and "next_obs" in rollout:
            losses["model"] = self.finetune_model * self.model_loss(obs, rollout)
        return losses

    def model_loss(self, obs: torch.Tensor, rollout: dict[str, torch.Tensor]) -> torch.Tensor:
        """The environment model's own fitting loss on real transitions, handed raw
        (``obs``, ``action``, ``next_obs``, ``reward``): the model derives its targets."""
        batch = {"obs": obs, "action": rollout["actions"].reshape(-1),
                 "next_obs": rollout["next_obs"].reshape(obs.shape), "reward": rollout["rewards"].reshape(-1)}
        return self.env_model.loss(batch)["loss"]

    # the env model's fingerprint travels in the state dict: a checkpoint refuses another model
    def get_extra_state(self) -> torch.Tensor:
        return self._digest.clone()

    def set_extra_state(self, state: torch.Tensor) -> None:
        if not torch.equal(state.cpu(), self._digest):
            raise ReverieError(f"these weights were trained with another environment model than this "
                               f"{type(self.env_model).__name__} (its fingerprint differs); pass the model the run "
                               f"used (agent option model=...)")


# -- builders ----------------------------------------------------------------------------------

def _check(spec: EnvSpec, rollout_length: int, encoder_channels: int, encoder_hidden: int, rollout_channels: int,
           hidden: int, distill_weight: float, rollout_actions: str, cache_rows: int, finetune_model: float) -> None:
    obs = spec.observation
    if not obs.grid or len(obs.shape) != 3:
        raise ReverieError(f"the i2a agents imagine image-like observations [C, H, W]; {spec.id} has {obs.kind} "
                           f"observations of shape {obs.shape}")
    for name, value in dict(rollout_length=rollout_length, encoder_channels=encoder_channels,
                            encoder_hidden=encoder_hidden, rollout_channels=rollout_channels, hidden=hidden).items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ReverieError(f"agent option {name} must be a positive integer, got {value!r}")
    for name, weight in dict(distill_weight=distill_weight, finetune_model=finetune_model).items():
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 <= weight < math.inf:
            raise ReverieError(f"agent option {name} must be a number >= 0, got {weight!r}")
    if rollout_actions not in ROLLOUT_ACTIONS:
        raise ReverieError(f"agent option rollout_actions must be one of {', '.join(ROLLOUT_ACTIONS)}, "
                           f"got {rollout_actions!r}")
    if not isinstance(cache_rows, int) or cache_rows < 0:
        raise ReverieError(f"agent option cache_rows must be an integer >= 0, got {cache_rows!r}")


def _learned_model(spec: EnvSpec, model: str | None, imagine: str):
    """The model named by ``model`` (pretrained name or path; default: the world's default
    model), checked against the world, set to feed frames as ``imagine`` asks."""
    from ..models import resolve

    if imagine not in IMAGINE:
        raise ReverieError(f"agent option imagine must be one of {', '.join(IMAGINE)}, got {imagine!r}")
    name = model if model is not None else spec.default_model
    if name is None:
        raise ReverieError(f"{spec.id} has no default model to imagine with; pass model=PATH")
    try:  # a world-free spec (built from a shape) cannot vouch for a model
        env_model = resolve(str(name), spec=None if spec.extra.get("anonymous") else spec)
    except FileNotFoundError as err:
        raise ReverieError(f"agent option model={name}: {err}") from None
    config = getattr(env_model, "config", None)
    if hasattr(config, "feed"):
        config.feed = "onehot" if imagine == "argmax" else "distribution"
    elif imagine == "distribution":
        raise ReverieError(f"imagine=distribution needs a learned model; {name!r} predicts exact frames")
    return env_model


def _assemble(env_model, use_reward: bool, spec: EnvSpec, rollout_length: int, rollout_actions: str,
              encoder_channels: int, encoder_hidden: int, rollout_channels: int, hidden: int,
              distill_weight: float, cache_rows: int, finetune_model: float = 0.0) -> I2A:
    """Check the shared options, then build the agent around ``env_model`` (built lazily by a
    callable, so that bad options fail before a model file is read)."""
    _check(spec, rollout_length, encoder_channels, encoder_hidden, rollout_channels, hidden, distill_weight,
           rollout_actions, cache_rows, finetune_model)
    return I2A(spec.observation.shape, spec.num_actions, env_model(), rollout_length, rollout_actions,
               encoder_channels, encoder_hidden, rollout_channels, hidden, distill_weight, use_reward, cache_rows,
               finetune_model)


def _options(scope: dict) -> dict:
    """A builder's shared arguments: those of its ``locals()`` that :func:`_assemble` takes."""
    return {k: v for k, v in scope.items() if k in _SHARED}


_SHARED = tuple(inspect.signature(_assemble).parameters)[2:]


def i2a_agent(spec: EnvSpec, model: str | None = None, rollout_length: int = 5, imagine: str = "argmax",
              rollout_actions: str = "sample", encoder_channels: int = 8, encoder_hidden: int = 32,
              rollout_channels: int = 16, hidden: int = GRID_HIDDEN, distill_weight: float = 1.0,
              cache_rows: int = 2048, finetune_model: float = 0.0) -> I2A:
    """I2A with a learned model: a pretrained name or a model file/run folder (``model=PATH``;
    default: the world's default model); frozen, or fine-tuned on the agent's own transitions
    with ``finetune_model`` > 0."""
    return _assemble(lambda: _learned_model(spec, model, imagine), True, **_options(locals()))


def i2a_noreward_agent(spec: EnvSpec, model: str | None = None, rollout_length: int = 5, imagine: str = "argmax",
                       rollout_actions: str = "sample", encoder_channels: int = 8, encoder_hidden: int = 32,
                       rollout_channels: int = 16, hidden: int = GRID_HIDDEN, distill_weight: float = 1.0,
                       cache_rows: int = 2048, finetune_model: float = 0.0) -> I2A:
    """I2A whose encoder sees imagined frames only (every imagined reward fed as 0)."""
    return _assemble(lambda: _learned_model(spec, model, imagine), False, **_options(locals()))


def i2a_perfect_agent(spec: EnvSpec, rollout_length: int = 5, rollout_actions: str = "sample",
                      encoder_channels: int = 8, encoder_hidden: int = 32, rollout_channels: int = 16,
                      hidden: int = GRID_HIDDEN, distill_weight: float = 1.0, cache_rows: int = 2048) -> I2A:
    """I2A imagining with the world's own rules (an oracle model; worlds without a perfect model refuse)."""
    return _assemble(spec.make_perfect_model, True, **_options(locals()))


def i2a_copy_agent(spec: EnvSpec, rollout_length: int = 5, rollout_actions: str = "sample",
                   encoder_channels: int = 8, encoder_hidden: int = 32, rollout_channels: int = 16,
                   hidden: int = GRID_HIDDEN, distill_weight: float = 1.0, cache_rows: int = 2048) -> I2A:
    """I2A whose "model" returns its input: same network, no information about the future."""
    from ..models import CopyModel

    return _assemble(CopyModel, True, **_options(locals()))


register_agent("i2a", i2a_agent, "Imagination-Augmented Agent with a learned model (the world's default; model=PATH)")
register_agent("i2a-perfect", i2a_perfect_agent, "I2A imagining with the world's rules (perfect model)")
register_agent("i2a-copy", i2a_copy_agent, "I2A with the copy model (imagines its input): the capacity control")
register_agent("i2a-noreward", i2a_noreward_agent, "I2A with the learned model, imagined rewards fed as 0")
