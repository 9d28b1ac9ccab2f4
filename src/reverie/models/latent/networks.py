"""The observation encoder and decoder of latent models, sized from the observation's shape.

One recipe for grid planes and pixels alike: 4x4 convolutions of stride 2 (doubling the
channels) until the map is at most 6 cells on a side, flattened into a linear embedding. Small
grids (at most 16 cells a side, where each cell is a game object) first get a 3x3 convolution
at full resolution; pixel frames do not, as in DreamerV1's encoder: at 64x64 a full-resolution
layer costs more than all the strided ones together (measured: 15 s per Dreamer update on
this CPU with it). The decoder mirrors the encoder with transposed convolutions whose output
padding restores the exact sizes on the way up, so odd sizes (MinAtar's 10x10 -> 5x5, Atari's
84 -> 42 -> 21 -> 10 -> 5) decode to the frame they came from. Vectors get a two-layer MLP
each way.

What the decoder's output means depends on the observation kind (:func:`recon_loss`):
logits over cell codes for one-hot grids, a logit per plane cell for binary planes, the mean
of a unit Gaussian on pixels scaled to [0, 1] (Dreamer's image likelihood) for RGB, and the
mean of a unit Gaussian for vectors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import ReverieError

__all__ = ["ObsEncoder", "ObsDecoder", "obs_input", "recon_loss", "obs_mode", "mlp"]

MIN_SIDE = 6
#: Up to this many cells a side, an observation is a grid of objects (a full-resolution layer first).
GRID_SIDE = 16


def mlp(sizes: list[int], out_activation: bool = False) -> nn.Sequential:
    """Linear layers with LayerNorm and SiLU between them (DreamerV3's MLP blocks)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or out_activation:
            layers += [nn.LayerNorm(b), nn.SiLU()]
    return nn.Sequential(*layers)


def _stage_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """The map sizes after each stride-2 stage, down to at most MIN_SIDE on the smaller side."""
    sizes = [(height, width)]
    while min(sizes[-1]) > MIN_SIDE:
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))  # a 4x4 convolution of stride 2 and padding 1 halves, rounding down
    return sizes


def obs_input(kind: str, obs: torch.Tensor) -> torch.Tensor:
    """Observations as the encoder reads them: floats, pixels scaled to [0, 1]."""
    return obs.float() / 255.0 if kind == "rgb" else obs.float()


class ObsEncoder(nn.Module):
    """Observations ``[B, *shape]`` -> embeddings ``[B, embed]``."""

    def __init__(self, kind: str, shape: tuple[int, ...], depth: int = 32, embed: int = 256) -> None:
        super().__init__()
        self.kind, self.shape = kind, tuple(shape)
        if kind == "vector":
            self.net = mlp([shape[0], embed, embed], out_activation=True)
            return
        if len(shape) != 3:
            raise ReverieError(f"a {kind} observation must be [C, H, W], got {list(shape)}")
        sizes = _stage_sizes(shape[1], shape[2])
        grid = max(shape[1], shape[2]) <= GRID_SIDE
        layers: list[nn.Module] = [nn.Conv2d(shape[0], depth, 3, padding=1), nn.SiLU()] if grid else []
        channels = depth if grid else shape[0]
        for i in range(len(sizes) - 1):
            out = depth if not grid and i == 0 else 2 * channels
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.SiLU()]
            channels = out
        h, w = sizes[-1]
        layers += [nn.Flatten(), nn.Linear(channels * h * w, embed), nn.LayerNorm(embed), nn.SiLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs_input(self.kind, obs))


class ObsDecoder(nn.Module):
    """Features ``[B, F]`` -> the decoder's output ``[B, *shape]`` (see the module docstring)."""

    def __init__(self, kind: str, shape: tuple[int, ...], features: int, depth: int = 32) -> None:
        super().__init__()
        self.kind, self.shape = kind, tuple(shape)
        if kind == "vector":
            self.net = nn.Sequential(mlp([features, 256, 256], out_activation=True), nn.Linear(256, shape[0]))
            return
        sizes = _stage_sizes(shape[1], shape[2])
        grid = max(shape[1], shape[2]) <= GRID_SIDE
        stages = len(sizes) - 1
        channels = depth * 2 ** (stages if grid else max(stages - 1, 0))
        h, w = sizes[-1]
        layers: list[nn.Module] = [nn.Linear(features, channels * h * w), nn.SiLU(), nn.Unflatten(1, (channels, h, w))]
        for i, ((h_in, w_in), (h_out, w_out)) in enumerate(zip(sizes[::-1][:-1], sizes[::-1][1:])):
            pad = (h_out - 2 * h_in, w_out - 2 * w_in)
            last = not grid and i == stages - 1
            out = shape[0] if last else channels // 2
            layers.append(nn.ConvTranspose2d(channels, out, 4, stride=2, padding=1, output_padding=pad))
            if not last:
                layers.append(nn.SiLU())
            channels = out
        if grid or stages == 0:
            layers.append(nn.Conv2d(channels, shape[0], 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def recon_loss(kind: str, output: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of ``obs`` under the decoder's ``output``, per row ``[B]``
    (summed over the observation, as the Dreamer line does; Gaussians up to a constant)."""
    if kind == "onehot":
        return F.cross_entropy(output, obs.argmax(1), reduction="none").flatten(1).sum(1)
    if kind == "binary":
        return F.binary_cross_entropy_with_logits(output, obs.float(), reduction="none").flatten(1).sum(1)
    return 0.5 * (output - obs_input(kind, obs)).square().flatten(1).sum(1)


def obs_mode(kind: str, output: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    """The decoder's most likely observation, in the env's own form (one-hot planes, {0, 1}
    planes, uint8 pixels, float vectors)."""
    if kind == "onehot":
        return torch.zeros_like(output).scatter_(1, output.argmax(1, keepdim=True), 1.0)
    if kind == "binary":
        return (output > 0).float()
    if kind == "rgb":
        return (output.clamp(0, 1) * 255).round().to(torch.uint8)
    return output
