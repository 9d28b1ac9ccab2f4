"""Model-free actor-critic baselines: the I2A paper's "standard" agent and a "large" one.

The standard agent (I2A paper, appendix) is a convolutional trunk on the current observation,
one fully connected hidden layer, and two linear heads: policy logits and a value. The trunk
is chosen from the observation shape (channels first):

- **grids** (symbolic Sokoban planes ``[7, H, W]`` and other small boards, side < 36 cells):
  the paper's grid-world trunk (its MiniPacman agent) of two 3x3 convolutions with 16
  channels each, stride 1 and padding 1, so every cell keeps its own features; FC 256.
- **pixels** (side >= 36, e.g. Sokoban's 80x80 RGB frames): the paper's Sokoban trunk of
  8x8 / 4x4 / 3x3 convolutions, strides 4 / 2 / 1, 32 / 64 / 64 channels; FC 512.
  ``uint8`` frames are scaled to [0, 1].
- **vectors** (``[D]``, e.g. CartPole): two tanh layers of 64 units (no convolution).

The **large** agent has the grid trunk with twice the channels (32 / 32) and an FC layer whose
width is solved so the whole agent has as close to ``target_params`` parameters as an integer
width allows. With the grid trunk on ``[C, H, W]`` inputs, ``c1, c2`` channels, hidden width
``h`` and ``A`` actions the count is

    P(h) = (9 C + 1) c1 + (9 c1 + 1) c2 + (c2 H W + 1) h + (h + 1) A + (h + 1)

so ``h = round((target - conv - A - 1) / (c2 H W + A + 2))``. The paper matches the large
agent to the I2A agent's size: the default target is the trainable parameter count of the
registered ``i2a`` agent (:mod:`reverie.agents.i2a`, default options) for the same world (with
the copy model where the world has no default model: the count is the same, the model being no
parameter of the agent); where I2A refuses the observations the default target is
:data:`DEFAULT_LARGE_PARAMS` (one million, ~5x the standard agent on 7x7 grids).
Pass ``target_params=...`` to match any other size.

Initialisation: orthogonal weights (gain sqrt(2) in the trunk, 0.01 on the policy head so
the first policy is near uniform, 1 on the value head), zero biases.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ..core.errors import ReverieError
from ..envs.spec import EnvSpec
from .readers import PIXEL_SIDE, is_pixels
from .actor_critic import _AGENTS, _load_modules, count_parameters, register_agent

__all__ = ["ConvActorCritic", "MLPActorCritic", "standard_agent", "large_agent", "grid_params",
           "DEFAULT_LARGE_PARAMS", "GRID_LAYERS", "PIXEL_LAYERS"]

#: (out channels, kernel, stride, padding) of the grid-world trunk.
GRID_LAYERS = ((16, 3, 1, 1), (16, 3, 1, 1))
GRID_HIDDEN = 256
#: The paper's Sokoban trunk for 80x80 RGB frames.
PIXEL_LAYERS = ((32, 8, 4, 0), (64, 4, 2, 0), (64, 3, 1, 0))
PIXEL_HIDDEN = 512
LARGE_CHANNELS = (32, 32)
DEFAULT_LARGE_PARAMS = 1_000_000


def _init(module: nn.Module, gain: float) -> None:
    nn.init.orthogonal_(module.weight, gain)
    nn.init.zeros_(module.bias)


class ConvActorCritic(nn.Module):
    """Conv trunk -> FC -> (policy logits, value), for ``[C, H, W]`` observations."""

    def __init__(self, obs_shape: Sequence[int], num_actions: int,
                 layers: Sequence[tuple[int, int, int, int]] = GRID_LAYERS, hidden: int = GRID_HIDDEN,
                 input_scale: float = 1.0) -> None:
        super().__init__()
        if len(obs_shape) != 3:
            raise ValueError(f"ConvActorCritic needs [C, H, W] observations, got shape {tuple(obs_shape)}")
        self.obs_shape, self.num_actions = tuple(int(s) for s in obs_shape), int(num_actions)
        self.input_scale = float(input_scale)
        convs: list[nn.Module] = []
        channels = self.obs_shape[0]
        for out, kernel, stride, padding in layers:
            conv = nn.Conv2d(channels, out, kernel, stride, padding)
            _init(conv, math.sqrt(2))
            convs += [conv, nn.ReLU()]
            channels = out
        self.trunk = nn.Sequential(*convs, nn.Flatten())
        with torch.no_grad():
            features = self.trunk(torch.zeros(1, *self.obs_shape)).shape[1]
        if features == 0:
            raise ValueError(f"observations of shape {self.obs_shape} are too small for this trunk")
        self.fc = nn.Linear(features, hidden)
        _init(self.fc, math.sqrt(2))
        self.policy = nn.Linear(hidden, num_actions)
        _init(self.policy, 0.01)
        self.value = nn.Linear(hidden, 1)
        _init(self.value, 1.0)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """The FC layer's activations, ``[B, hidden]``."""
        if not obs.is_floating_point():
            obs = obs.float()
        if self.input_scale != 1.0:
            obs = obs * self.input_scale
        return torch.relu(self.fc(self.trunk(obs)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.features(obs)
        return self.policy(hidden), self.value(hidden).squeeze(-1)


class MLPActorCritic(nn.Module):
    """Two tanh layers -> (policy logits, value), for ``[D]`` observations (classic control)."""

    def __init__(self, obs_shape: Sequence[int], num_actions: int, hidden: int = 64) -> None:
        super().__init__()
        (size,) = obs_shape
        self.obs_shape, self.num_actions = (int(size),), int(num_actions)
        self.body = nn.Sequential(nn.Linear(size, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        for layer in self.body:
            if isinstance(layer, nn.Linear):
                _init(layer, math.sqrt(2))
        self.policy = nn.Linear(hidden, num_actions)
        _init(self.policy, 0.01)
        self.value = nn.Linear(hidden, 1)
        _init(self.value, 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(obs.float())
        return self.policy(hidden), self.value(hidden).squeeze(-1)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ReverieError(f"agent option {name} must be a positive integer, got {value!r}")


def standard_agent(spec: EnvSpec, hidden: int | None = None, channels: int | None = None) -> nn.Module:
    """The paper's standard model-free agent for the spec's observations (module docstring).

    ``hidden`` overrides the FC width, ``channels`` the width of every conv layer.
    """
    obs_shape, num_actions = spec.observation.shape, spec.num_actions
    if len(obs_shape) == 1:
        _check_positive(hidden=hidden or 64)
        return MLPActorCritic(obs_shape, num_actions, hidden or 64)
    if len(obs_shape) != 3:
        raise ReverieError(f"the standard agent needs [C, H, W] or [D] observations, got shape {obs_shape}")
    pixels = is_pixels(obs_shape)
    layers = PIXEL_LAYERS if pixels else GRID_LAYERS
    if channels is not None:
        _check_positive(channels=channels)
        layers = tuple((channels, k, s, p) for _, k, s, p in layers)
    hidden = hidden if hidden is not None else (PIXEL_HIDDEN if pixels else GRID_HIDDEN)
    _check_positive(hidden=hidden)
    return ConvActorCritic(obs_shape, num_actions, layers, hidden, 1 / 255 if pixels else 1.0)


def grid_params(obs_shape: tuple[int, ...], num_actions: int, channels: Sequence[int], hidden: int) -> int:
    """Parameters of a grid-trunk agent (the formula in the module docstring)."""
    c, h, w = obs_shape
    total, previous = 0, c
    for out in channels:
        total += (9 * previous + 1) * out
        previous = out
    return total + (previous * h * w + 1) * hidden + (hidden + 1) * num_actions + (hidden + 1)


def _reference_params(spec: EnvSpec) -> int:
    """The default size of the large agent: the I2A agent's (default options, trainable
    parameters), or :data:`DEFAULT_LARGE_PARAMS` where no I2A agent exists or it refuses
    these observations. ``i2a`` is built as a run would build it (the default model file read,
    the global RNG drawn from as ever) where the world has a default model, else with the copy
    model (same count: the model is no parameter of the agent)."""
    _load_modules()
    i2a = _AGENTS.get("i2a")
    if i2a is None:
        return DEFAULT_LARGE_PARAMS
    options = {"model": "copy"} if spec.default_model is None and "model" in i2a.options() else {}
    try:
        return count_parameters(i2a.builder(spec, **options))
    except ReverieError:
        return DEFAULT_LARGE_PARAMS


def large_agent(spec: EnvSpec, target_params: int | None = None) -> nn.Module:
    """The standard agent widened to about ``target_params`` parameters (module docstring)."""
    obs_shape, num_actions = spec.observation.shape, spec.num_actions
    if len(obs_shape) != 3 or is_pixels(obs_shape):
        raise ReverieError(f"the large agent is defined for grid observations [C, H, W] with sides "
                           f"< {PIXEL_SIDE}, got shape {obs_shape}")
    target = _reference_params(spec) if target_params is None else target_params
    _check_positive(target_params=target)
    c, h, w = obs_shape
    c1, c2 = LARGE_CHANNELS
    fixed = grid_params(obs_shape, num_actions, LARGE_CHANNELS, 0)
    hidden = round((target - fixed) / (c2 * h * w + num_actions + 2))
    if hidden < 1:
        smallest = grid_params(obs_shape, num_actions, LARGE_CHANNELS, 1)
        raise ReverieError(f"target_params={target} is below the large agent's smallest size ({smallest})")
    layers = tuple((out, 3, 1, 1) for out in LARGE_CHANNELS)
    return ConvActorCritic(obs_shape, num_actions, layers, hidden)


register_agent("standard", standard_agent,
               "the I2A paper's model-free baseline: conv trunk + FC -> policy and value")
register_agent("large", large_agent,
               "the standard agent widened to the I2A agent's parameter count (target_params)")
