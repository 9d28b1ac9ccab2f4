"""``PaletteModel``: a learned model of RGB frames drawn from a small palette (Sokoban as the
I2A paper saw it: 80x80 RGB, an 8x8 sprite per cell).

What it predicts, and why: each pixel of the next frame as a **class over the palette**, the
few colours the world draws with (Sokoban: 11). The paper fits a per-pixel Bernoulli per
channel, which suits frames of 0/1 colours; Sokoban's sprites are of colours like (153, 76, 51),
where a Bernoulli would be a regression to be rounded. A categorical over the palette makes the
most likely frame one the world could draw, and an exact frame well defined (every pixel's
class right), which is what a model that imagines for many steps needs.

The network reads pixels and writes pixels; the only thing it takes from the world beyond the
palette is the **patch** (the tile size): a convolution of kernel and stride ``patch`` takes the
frame to one feature vector per tile (80x80 -> 10x10), the action enters there (as one-hot
planes would: a learned bias per action), the grid model's pool-and-inject blocks mix it, and
a transposed convolution of kernel and stride ``patch`` writes each tile's pixels' palette
logits. Each pixel's input colour also feeds its own logit with a learned gain, and the head
starts at zero, so the untrained model is the copy model and learning goes to what changes.

The reward is a class over the world's reward classes, read (as in the grid model) from the
change of the frame: how many pixels of each colour the step adds or removes, and which colours
the next frame still shows (Sokoban: a box turning green, no ochre box left). Fitting reads the
true next frame, imagination the imagined one, so an imagined reward agrees with its frame.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import option
from ..core.errors import ReverieError
from .base import RewardClasses
from .grid import MAX_PARAMETERS, PoolAndInject, check_reward_classes, named_channels, parse_channels

__all__ = ["PaletteModel", "PaletteModelConfig", "SIZES", "pack_colours"]

#: Named widths (stem, then one per pool-and-inject block). The stem sees one tile only, so
#: two 3x3 blocks are what let a tile see two tiles away, as a push needs (player, box, beyond).
SIZES: dict[str, tuple[int, ...]] = {"tiny": (16, 16, 16), "small": (32, 32, 32), "paper": (16, 32, 64)}
DEFAULT_SIZE = "small"
#: Initial gain from a pixel's input colour to the same colour's output logit.
COPY_GAIN = 4.0


def pack_colours(frames: torch.Tensor) -> torch.Tensor:
    """RGB frames ``[B, 3, H, W]`` (uint8 values) -> one int32 per pixel ``[B, H, W]``, ``r * 65536 + g * 256 + b``."""
    f = frames.to(torch.int32)
    return (f[:, 0] << 16) | (f[:, 1] << 8) | f[:, 2]


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


@dataclass
class PaletteModelConfig:
    """The shape and behaviour of a :class:`PaletteModel` (stored in its checkpoints)."""

    size: str = option(DEFAULT_SIZE, f"named model size, one of {sorted(SIZES)}")
    channels: tuple[int, ...] | None = option(None, "explicit widths 'stem,block1,...' (overrides --size)",
                                              parse=parse_channels, metavar="C0,C1,...")
    reward_head: bool = option(True, "predict the reward as a class; off = the no-reward ablation (reward 0)")
    reward_hidden: int = option(64, "hidden units of the reward head")
    patch: int = option(0, "tile size in pixels: the stem's kernel and stride (set from the env spec's tiles)")
    palette: tuple[int, ...] = option((), "the frames' colours as r*65536+g*256+b, sorted (set from the env spec)",
                                      parse=_ints, metavar="C0,C1,...")
    shape: tuple[int, ...] = option((), "3, height, width of the frames (set from the env spec)", parse=_ints,
                                    metavar="3,H,W")
    num_actions: int = option(0, "the world's actions (set from the env spec)")
    reward_values: tuple[float, ...] = option((), "the reward classes' values in class order (set from the env spec)",
                                              parse=lambda t: tuple(float(v) for v in t.split(",")), metavar="R0,...")
    terminal_classes: tuple[int, ...] = option((), "reward classes that end the episode (set from the env spec)",
                                               parse=_ints, metavar="K0,...")

    def __post_init__(self) -> None:
        self.channels = named_channels(self.size, self.channels, SIZES)
        if len(self.channels) < 2 or min(self.channels) < 1 or int(self.reward_hidden) < 1:
            raise ReverieError(f"channels needs a stem and at least one block, all >= 1, and reward_hidden >= 1; "
                               f"got {self.channels}, {self.reward_hidden}")
        for name in ("palette", "shape", "terminal_classes"):
            setattr(self, name, tuple(int(v) for v in getattr(self, name)))
        self.reward_values = tuple(float(v) for v in self.reward_values)
        if self.palette and (list(self.palette) != sorted(set(self.palette))
                             or not 0 <= self.palette[0] <= self.palette[-1] < 1 << 24):
            raise ReverieError("the palette must be distinct sorted colours r*65536+g*256+b")
        if self.shape and (len(self.shape) != 3 or self.shape[0] != 3 or self.patch < 1
                           or self.shape[1] % self.patch or self.shape[2] % self.patch):
            raise ReverieError(f"a palette model needs RGB frames [3, H, W] of whole {self.patch}-pixel patches, "
                               f"got {self.shape}")
        if any(not 0 <= k < len(self.reward_values) for k in self.terminal_classes):
            raise ReverieError(f"terminal_classes {self.terminal_classes} are not classes of {self.reward_values}")
        if self.parameter_count() > MAX_PARAMETERS:
            raise ReverieError(f"a palette model of channels {list(self.channels)} has ~{self.parameter_count():,} "
                               f"parameters, above the cap of {MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        c, patch = self.channels or (1,), max(self.patch, 8)
        colours, classes = max(len(self.palette), 2), max(len(self.reward_values), 2)
        count = 3 * patch * patch * c[0] + c[0] + max(self.num_actions, 1) * c[0]
        count += sum(a * b * 10 + b for a, b in zip(c[:-1], c[1:]))
        count += (c[-1] + 1) * colours * patch * patch + colours
        return count + (2 * colours + 1) * self.reward_hidden + (self.reward_hidden + 1) * classes

    def for_spec(self, spec) -> "PaletteModelConfig":
        """This config with the world's frames, palette, patch, actions and reward classes (a one-line
        error where the world's frames are not RGB drawn from a palette it names)."""
        obs = spec.observation
        if obs.kind != "rgb" or len(obs.shape) != 3 or obs.shape[0] != 3:
            raise ReverieError(f"the palette model needs RGB frames [3, H, W]; {spec.id} has {obs.kind} "
                               f"observations of shape {obs.shape}")
        tiles = obs.tiles
        if tiles is None and not (self.palette and self.patch):
            raise ReverieError(f"{spec.id} names no tiles, so give the palette model its palette and patch")
        if self.reward_head and not spec.rewards.classes:
            raise ReverieError(f"the palette model classifies rewards; {spec.id} names no reward classes")
        palette = self.palette or tuple(sorted((r << 16) | (g << 8) | b for r, g, b in tiles.colours()))
        return dataclasses.replace(self, palette=palette, patch=self.patch or tiles.size, shape=tuple(obs.shape),
                                   num_actions=spec.num_actions, reward_values=tuple(spec.rewards.classes),
                                   terminal_classes=tuple(spec.rewards.terminal))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PaletteModelConfig":
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ReverieError(f"model config has unknown fields {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class PaletteModel(nn.Module):
    """``step(frames [B, 3, H, W] uint8, action [B]) -> (next frames uint8, reward [B], done [B])``."""

    def __init__(self, config: PaletteModelConfig) -> None:
        super().__init__()
        if not config.shape or not config.palette or config.num_actions < 1 or \
                (config.reward_head and not config.reward_values):
            raise ReverieError("a palette model needs its world's frames, palette, actions and reward classes: "
                               "build it with PaletteModel.for_spec(spec, config)")
        self.config = config
        channels, patch = config.channels, config.patch
        self.num_actions, self.num_colours = config.num_actions, len(config.palette)
        # A convolution and a transposed convolution of kernel = stride = patch are linear maps of
        # each patch (to and from one feature vector): written as such they are one matmul each,
        # several times faster on a CPU than torch's strided kernels; one reshape then lays the
        # logits out for the argmax (colour last) or the cross-entropy (colour first).
        self.stem = nn.Linear(3 * patch * patch, channels[0])
        self.action_bias = nn.Embedding(self.num_actions, channels[0])
        self.blocks = nn.ModuleList(PoolAndInject(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.frame_head = nn.Linear(channels[-1], patch * patch * self.num_colours)
        self.copy_gain = nn.Parameter(torch.full((self.num_colours,), COPY_GAIN))
        with torch.no_grad():
            self.frame_head.weight.zero_()
            self.frame_head.bias.zero_()
        packed = torch.tensor(config.palette, dtype=torch.int32)
        self.register_buffer("packed", packed, persistent=False)
        rgb = torch.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], 1).to(torch.uint8)
        self.register_buffer("colours", rgb, persistent=False)  # [K, 3]
        self.rewards = RewardClasses(config.reward_values) if config.reward_head else None
        self.register_buffer("terminal", torch.tensor(config.terminal_classes, dtype=torch.long), persistent=False)
        self.reward_net = None
        if config.reward_head:
            self.reward_net = nn.Sequential(nn.Linear(2 * self.num_colours, config.reward_hidden), nn.ReLU(),
                                            nn.Linear(config.reward_hidden, len(self.rewards)))

    @classmethod
    def for_spec(cls, spec, config: PaletteModelConfig | None = None) -> "PaletteModel":
        return cls((config or PaletteModelConfig()).for_spec(spec))

    def check_spec(self, spec) -> None:
        """Refuse, in one line, a world whose frames, actions or reward classes are not this model's."""
        obs = spec.observation
        if obs.kind != "rgb" or tuple(obs.shape) != self.config.shape or spec.num_actions != self.num_actions:
            raise ReverieError(f"this palette model imagines RGB frames {list(self.config.shape)} and "
                               f"{self.num_actions} actions; {spec.id} has {obs.kind} observations "
                               f"{list(obs.shape)} and {spec.num_actions} actions")
        if self.rewards is not None:
            check_reward_classes("palette model", self.config.reward_values, spec)

    def extra_repr(self) -> str:
        return f"channels={self.config.channels}, patch={self.config.patch}, colours={self.num_colours}"

    # -- the network -----------------------------------------------------------------------------

    def colour_index(self, frames: torch.Tensor) -> torch.Tensor:
        """Each pixel's palette class ``[B, H, W]`` (frames are assumed drawn from the palette)."""
        if frames.dim() != 4 or tuple(frames.shape[1:]) != self.config.shape:
            raise ValueError(f"PaletteModel needs frames [B, {', '.join(map(str, self.config.shape))}], "
                             f"got {tuple(frames.shape)}")
        packed = pack_colours(frames)
        return torch.searchsorted(self.packed, packed).clamp_(max=self.num_colours - 1)

    def colour_counts(self, index: torch.Tensor) -> torch.Tensor:
        """How many pixels of each colour, in tiles: ``[B, H, W]`` classes -> ``[B, K]``."""
        flat = index.flatten(1)
        counts = torch.zeros(len(flat), self.num_colours, device=index.device)
        return counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=counts.dtype)) / self.config.patch ** 2

    def _head(self, frames: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The head's logits per patch ``[B, h, w, K, p, p]`` (copy gains not added yet) and the
        input's classes ``[B, H, W]``."""
        index = self.colour_index(frames)
        b, _, height, width = frames.shape
        p = self.config.patch
        h, w = height // p, width // p
        dtype = self.stem.weight.dtype
        patches = frames.reshape(b, 3, h, p, w, p).permute(0, 2, 4, 1, 3, 5).reshape(b, h, w, 3 * p * p)
        x = self.stem(patches.to(dtype) / 255.0) + self.action_bias(action.long()).to(dtype)[:, None, None, :]
        x = x.relu_().permute(0, 3, 1, 2)  # [B, C, h, w] in channels-last memory: no copy
        for block in self.blocks:
            x = block(x)
        return self.frame_head(x.permute(0, 2, 3, 1)).float().view(b, h, w, -1, p, p), index

    def logits(self, frames: torch.Tensor, action: torch.Tensor,
               colour_last: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The next pixels' palette logits and the input's classes ``[B, H, W]``: colour last
        (``[B, H, W, K]``) or colour first (``[B, K, H, W]``, for fitting: torch's cross-entropy
        is an order of magnitude faster on a CPU that way)."""
        out, index = self._head(frames, action)
        b, _, height, width = frames.shape
        if colour_last:
            logits = out.permute(0, 1, 4, 2, 5, 3).reshape(b, height, width, -1)
            return logits.scatter_add_(3, index.unsqueeze(3), self.copy_gain[index].unsqueeze(3)), index
        logits = out.permute(0, 3, 1, 4, 2, 5).reshape(b, -1, height, width)
        return logits.scatter_add(1, index.unsqueeze(1), self.copy_gain[index].unsqueeze(1)), index

    def reward_logits(self, index: torch.Tensor, next_index: torch.Tensor) -> torch.Tensor | None:
        """Reward-class logits ``[B, K]`` from the change of colours (None without a reward head)."""
        if self.reward_net is None:
            return None
        before, after = self.colour_counts(index), self.colour_counts(next_index)
        features = torch.cat((after - before, (after > 0).to(after.dtype)), 1)
        return self.reward_net(features.to(self.reward_net[0].weight.dtype))

    def draw(self, index: torch.Tensor) -> torch.Tensor:
        """Palette classes ``[B, H, W]`` -> frames ``[B, 3, H, W]`` uint8."""
        return self.colours[index].permute(0, 3, 1, 2)

    def forward(self, frames: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits, index = self.logits(frames, action)
        return logits, self.reward_logits(index, logits.argmax(3))

    @torch.no_grad()
    def step(self, frames: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One imagined step: the most likely next frame (in the input's dtype), its reward, and
        whether the episode ended (a terminal reward class)."""
        logits, index = self.logits(frames, action)
        next_index = logits.argmax(3)
        next_frames = self.draw(next_index).to(frames.dtype)
        reward_logits = self.reward_logits(index, next_index)
        if reward_logits is None:
            zeros = torch.zeros(len(frames), device=frames.device)
            return next_frames, zeros, zeros.bool()
        classes = reward_logits.argmax(1)
        return next_frames, self.rewards.to_values(classes), (classes[:, None] == self.terminal).any(1)

    # -- fitting ---------------------------------------------------------------------------------

    def loss(self, batch: dict[str, torch.Tensor], reward_weight: float = 1.0,
             class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per-pixel cross-entropy over the palette, summed over a frame and divided by the pixels
        of a tile (a tile weighs as a grid model's cell), plus the reward classes' cross-entropy,
        on a batch with ``obs``, ``action``, ``next_obs`` (frames) and ``reward_class``."""
        logits, index = self.logits(batch["obs"], batch["action"], colour_last=False)
        target = self.colour_index(batch["next_obs"])
        pixels = F.cross_entropy(logits, target, reduction="sum")
        frame_loss = pixels / (len(target) * self.config.patch ** 2)
        out: dict[str, torch.Tensor] = {"frame_loss": frame_loss.detach()}
        with torch.no_grad():
            correct = logits.detach().permute(0, 2, 3, 1).contiguous().argmax(3) == target  # (argmax(1): slow)
            out["cell_accuracy"] = correct.float().mean()
            out["frame_accuracy"] = correct.flatten(1).all(1).float().mean()
        total = frame_loss
        if self.reward_net is not None:
            reward = self.reward_logits(index, target)
            true = batch["reward_class"].long()
            reward_loss = F.cross_entropy(reward, true, weight=class_weights)
            total = total + reward_weight * reward_loss
            out["reward_loss"] = reward_loss.detach()
            out["reward_accuracy"] = (reward.argmax(1) == true).float().mean()
        out["loss"] = total
        return out
