"""``FrameModel``: a learned model of binary-plane worlds that predicts frames and events.

"One model, five tasks" (the I2A paper's MiniPacman): the model predicts the next frame and
a vector of per-step event counts (food eaten, ghosts eaten, killed, ...); a task's reward is
``events . weights`` (:class:`~reverie.envs.spec.RewardSpec`), so one fitted model serves
every task of its world. The weights bind when the model is checked against an env spec
(:meth:`FrameModel.check_spec`), whose ``rewards.task`` names the task.

It models any world whose observations are ``binary`` planes ``[C, H, W]`` holding multiples
of ``1 / levels`` and whose spec names events. The trunk is the grid model's: the planes and
the action (one-hot planes), plus two coordinate planes (so a pooled feature can say where
something is), through a size-preserving stack of pool-and-inject blocks. Outputs:

- next-frame logits per plane and cell (sigmoid); the loss is binary cross-entropy with the
  soft targets, summed over a frame's cells and averaged over the batch (the paper's
  per-pixel Bernoulli loss). ``output="levels"`` instead classifies each plane's cell over
  its ``levels + 1`` values (cross-entropy): a fading value such as MiniPacman's edible ghost
  must land within 1/(2 levels) of the truth to quantise right, which a categorical makes
  as easy as a binary cell;
- one categorical head per event over counts ``0 .. event_max[e]``, read from the pooled
  trunk features and the change between the input frame and the (true while fitting,
  imagined while stepping) next frame.

``step`` returns the next frame quantised to the spec's ``1 / levels`` grid (``feed="onehot"``,
the name kept from the grid model) or the probabilities (``feed="distribution"``), the reward
of the bound task and ``done`` where a terminal event is predicted.
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
from .tasks import TaskBinding
from .base import action_planes
from .grid import FEEDS, MAX_PARAMETERS, PoolAndInject, global_max, named_channels, parse_channels

#: Named sizes (stem width, then one entry per pool-and-inject block). MiniPacman's ghosts
#: chase or flee the player, which a cell learns from pooled features of the whole frame.
SIZES: dict[str, tuple[int, ...]] = {
    "tiny": (8, 8),
    "small": (32, 32, 32),
    "paper": (64, 64, 64),
}
DEFAULT_SIZE = "small"
OUTPUTS = ("bernoulli", "levels")
#: Initial gain from each input plane to its own output logit (start as the copy model).
COPY_GAIN = 4.0


def _tuple(kind: type):
    return lambda text: tuple(kind(v) for v in text.split(",") if v)


@dataclass
class FrameModelConfig:
    """The shape and behaviour of a :class:`FrameModel` (stored in its checkpoints)."""

    size: str = option(DEFAULT_SIZE, f"named model size, one of {sorted(SIZES)}")
    channels: tuple[int, ...] | None = option(
        None, "explicit widths 'stem,block1,block2,...' (overrides --size)", parse=parse_channels,
        metavar="C0,C1,...")
    event_head: bool = option(True, "predict the event counts; off = no reward (0) and no episode end")
    feed: str = option("onehot", f"what step() returns as the next observation, one of {FEEDS}: the frame "
                                 "quantised to the world's 1/levels grid, or the predicted probabilities")
    event_hidden: int = option(128, "hidden units of the event head")
    output: str = option("levels", f"how a plane's cell is predicted, one of {OUTPUTS}: a sigmoid fitted by "
                                      "binary cross-entropy (the paper's), or a categorical over the levels+1 values")
    coordinates: bool = option(True, "add row and column planes to the input (positions through global pools)")
    channels_last: bool = option(True, "run convolutions in channels-last memory format (faster on CPU)")
    shape: tuple[int, ...] = option((), "planes, height, width of the world's frames (set from the env spec)",
                                    parse=_tuple(int), metavar="C,H,W")
    levels: int = option(1, "frames hold multiples of 1/levels (set from the env spec)")
    num_actions: int = option(0, "the world's actions (set from the env spec)")
    events: tuple[str, ...] = option((), "the world's event names (set from the env spec)", parse=_tuple(str),
                                     metavar="E0,E1,...")
    event_max: tuple[int, ...] = option((), "the largest count of each event in one step (set from the env spec)",
                                        parse=_tuple(int), metavar="M0,M1,...")
    terminal_events: tuple[int, ...] = option((), "events that end the episode (set from the env spec)",
                                              parse=_tuple(int), metavar="K0,K1,...")

    def __post_init__(self) -> None:
        self.channels = named_channels(self.size, self.channels, SIZES)
        if len(self.channels) < 2 or min(self.channels) < 1:
            raise ReverieError(f"channels needs a stem and at least one block, all >= 1; got {self.channels}")
        if self.feed not in FEEDS:
            raise ReverieError(f"feed must be one of {FEEDS}, got {self.feed!r}")
        if self.output not in OUTPUTS:
            raise ReverieError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.event_hidden < 1:
            raise ReverieError(f"event_hidden must be >= 1, got {self.event_hidden}")
        self.shape = tuple(int(v) for v in self.shape)
        self.events = tuple(str(v) for v in self.events)
        self.event_max = tuple(int(v) for v in self.event_max)
        self.terminal_events = tuple(int(v) for v in self.terminal_events)
        if self.shape and (len(self.shape) != 3 or min(self.shape) < 1):
            raise ReverieError(f"shape must be planes,height,width, got {self.shape}")
        if not 1 <= self.levels <= 255:
            raise ReverieError(f"levels must be in 1..255, got {self.levels}")
        if len(self.event_max) != len(self.events) or any(m < 1 or m > 255 for m in self.event_max):
            raise ReverieError(f"event_max {self.event_max} must give each of the {len(self.events)} events "
                               "a largest count in 1..255")
        if any(not 0 <= e < len(self.events) for e in self.terminal_events):
            raise ReverieError(f"terminal_events {self.terminal_events} are not among {len(self.events)} events")
        if self.parameter_count() > MAX_PARAMETERS:
            raise ReverieError(f"a frame model of channels {list(self.channels)} and event_hidden "
                               f"{self.event_hidden} has ~{self.parameter_count():,} parameters, above the cap "
                               f"of {MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        """The parameter count from the config alone (world sizes taken as MiniPacman's where unset)."""
        channels = tuple(self.channels or ())
        planes = self.shape[0] if self.shape else 3
        actions = max(self.num_actions, 5)
        count = (planes + actions + 2) * channels[0] * 9 + channels[0]
        count += sum(a * b * 10 + b for a, b in zip(channels[:-1], channels[1:]))
        values = self.levels + 1 if self.output == "levels" else 1
        count += (channels[-1] + 1) * planes * values + planes
        if self.event_head:
            outputs = sum(m + 1 for m in self.event_max) or 16
            count += (channels[-1] + 3 * planes + 1) * self.event_hidden + (self.event_hidden + 1) * outputs
        return count

    def for_spec(self, spec) -> "FrameModelConfig":
        """This config with the world's shape, levels, actions and events from ``spec`` (a
        one-line error where the world has no binary planes or no events)."""
        obs, rewards = spec.observation, spec.rewards
        if obs.kind != "binary" or len(obs.shape) != 3:
            raise ReverieError(f"the frame model needs binary planes [C, H, W]; {spec.id} has {obs.kind} "
                               f"observations of shape {obs.shape}")
        if not rewards.events:
            raise ReverieError(f"the frame model predicts events; {spec.id} names none (its rewards are "
                               "classes or real numbers: fit a grid or vector model)")
        event_max = rewards.event_max or (1,) * len(rewards.events)
        values = dataclasses.asdict(self)
        values.update(shape=tuple(obs.shape), levels=obs.levels, num_actions=spec.num_actions,
                      events=tuple(rewards.events), event_max=tuple(event_max),
                      terminal_events=tuple(rewards.terminal_events))
        return FrameModelConfig(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FrameModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ReverieError(f"model config has unknown fields {unknown}")
        values = dict(data)
        for key in ("channels", "shape", "events", "event_max", "terminal_events"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


class FrameModel(TaskBinding, nn.Module):
    """``step(obs [B, C, H, W], action [B]) -> (next_obs, reward [B], done [B])`` for one bound task.

    ``forward`` returns raw logits for fitting: frame logits ``[B, C, H, W]`` and event
    logits (a list of ``[B, event_max[e] + 1]``, or None without an event head).
    """

    def __init__(self, config: FrameModelConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.channels
        assert channels is not None
        if not config.shape or config.num_actions < 1 or not config.events:
            raise ReverieError("a frame model needs its world's shape, actions and events: "
                               "build it with FrameModel.for_spec(spec, config)")
        self.planes, self.height, self.width = config.shape
        self.num_actions, self.levels = config.num_actions, config.levels
        extra = 2 if config.coordinates else 0
        self.stem = nn.Conv2d(self.planes + self.num_actions + extra, channels[0], 3, padding=1)
        self.blocks = nn.ModuleList(PoolAndInject(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.values = self.levels + 1 if config.output == "levels" else 1
        self.frame_head = nn.Conv2d(channels[-1], self.planes * self.values, 1)
        # Each input plane also feeds its own output logit (zero head + gain: the copy model).
        self.copy_gain = nn.Parameter(torch.full((self.planes,), COPY_GAIN))
        with torch.no_grad():
            self.frame_head.weight.zero_()
            self.frame_head.bias.zero_()
        self.sizes = [m + 1 for m in config.event_max]
        self.event_net = None
        if config.event_head:
            self.event_net = nn.Sequential(
                nn.Linear(channels[-1] + 3 * self.planes, config.event_hidden), nn.ReLU(),
                nn.Linear(config.event_hidden, sum(self.sizes)),
            )
        self.register_buffer("terminal", torch.tensor(config.terminal_events, dtype=torch.long), persistent=False)
        self.register_buffer("counts", torch.tensor(config.event_max, dtype=torch.long), persistent=False)
        self.register_buffer("weights", torch.zeros(len(config.events)), persistent=False)
        self.task: str | None = None
        if config.channels_last:
            self.to(memory_format=torch.channels_last)

    @classmethod
    def for_spec(cls, spec, config: FrameModelConfig | None = None) -> "FrameModel":
        """A fresh model of the world ``spec`` describes, bound to its task."""
        model = cls((config or FrameModelConfig()).for_spec(spec))
        model.check_spec(spec)
        return model

    # -- the world and the task ---------------------------------------------------------------

    def check_spec(self, spec) -> None:
        """Refuse, in one line, a world whose frames, actions or events are not this model's;
        then bind the weights of ``spec.rewards.task`` (rewards = events . weights)."""
        obs, rewards = spec.observation, spec.rewards
        if obs.kind != "binary" or tuple(obs.shape) != tuple(self.config.shape) or obs.levels != self.levels:
            raise ReverieError(f"this frame model imagines binary frames {list(self.config.shape)} in steps of "
                               f"1/{self.levels}; {spec.id} has {obs.kind} observations {list(obs.shape)} "
                               f"(levels {obs.levels})")
        if spec.num_actions != self.num_actions:
            raise ReverieError(f"this frame model imagines {self.num_actions} actions; {spec.id} has "
                               f"{spec.num_actions}")
        if tuple(rewards.events) != self.config.events:
            raise ReverieError(f"this frame model predicts events {list(self.config.events)}; {spec.id} has "
                               f"{list(rewards.events)} (in this order)")
        event_max = tuple(rewards.event_max or (1,) * len(rewards.events))
        if event_max != self.config.event_max or tuple(rewards.terminal_events) != self.config.terminal_events:
            raise ReverieError(f"this frame model counts events up to {list(self.config.event_max)} with terminal "
                               f"events {list(self.config.terminal_events)}; {spec.id} has {list(event_max)} and "
                               f"{list(rewards.terminal_events)}")
        if rewards.task is not None:
            self.bind(rewards.tasks[rewards.task], rewards.task)

    def extra_repr(self) -> str:
        return (f"channels={self.config.channels}, feed={self.config.feed!r}, events={list(self.config.events)}, "
                f"task={self.task!r}")

    # -- the network -----------------------------------------------------------------------------

    def inputs(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The planes, the action's one-hot planes and (optionally) row and column planes."""
        if obs.dim() != 4 or obs.shape[1] != self.planes:
            raise ValueError(f"FrameModel needs frames [B, {self.planes}, H, W], got {tuple(obs.shape)}")
        b, _, h, w = obs.shape
        dtype = self.stem.weight.dtype
        parts = [obs.to(dtype), action_planes(action, h, w, self.num_actions, dtype)]
        if self.config.coordinates:
            rows = torch.linspace(0, 1, h, dtype=dtype, device=obs.device)[:, None].expand(h, w)
            cols = torch.linspace(0, 1, w, dtype=dtype, device=obs.device)[None, :].expand(h, w)
            parts.append(torch.stack((rows, cols))[None].expand(b, -1, -1, -1))
        x = torch.cat(parts, dim=1)
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    def trunk(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frame logits (``[B, C, H, W]``, or ``[B, C, levels + 1, H, W]`` for ``output="levels"``),
        the pooled trunk features ``[B, W']`` and the input planes."""
        x0 = self.inputs(obs, action)
        x = self.stem(x0).relu_()
        for block in self.blocks:
            x = block(x)
        planes = x0[:, :self.planes]
        gain = self.copy_gain[None, :, None, None]
        if self.values == 1:
            return self.frame_head(x) + (2 * planes - 1) * gain, global_max(x), planes
        b, c, h, w = planes.shape
        # values last in memory ([B, H, W, C, V], free for channels-last activations), so the
        # per-cell argmax and the copy start read contiguous rows; handed out as a [B, C, V, H, W] view
        cells = self.frame_head(x).permute(0, 2, 3, 1).reshape(b, h, w, c, self.values)
        code = (planes.float() * self.levels).round_().long().permute(0, 2, 3, 1)[..., None]
        copy = gain.to(cells.dtype).view(1, 1, 1, c, 1).expand(b, h, w, c, 1)
        return cells.scatter_add_(4, code, copy).permute(0, 3, 4, 1, 2), global_max(x), planes

    def codes(self, logits: torch.Tensor) -> torch.Tensor:
        """The most likely value of each plane's cell as ``round(x * levels)`` (int64 ``[B, C, H, W]``)."""
        if self.values == 1:
            return (logits.float().sigmoid() * self.levels).round().long()
        return logits.permute(0, 1, 3, 4, 2).argmax(-1)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """The predicted (expected) plane values in [0, 1], float32 ``[B, C, H, W]``."""
        if self.values == 1:
            return logits.float().sigmoid()
        scale = torch.arange(self.values, device=logits.device, dtype=torch.float32) / self.levels
        return logits.permute(0, 1, 3, 4, 2).float().softmax(-1) @ scale  # values last: contiguous rows

    def event_logits(self, pooled: torch.Tensor, planes: torch.Tensor, next_planes: torch.Tensor
                     ) -> list[torch.Tensor] | None:
        """Per-event count logits from the trunk's pooled features and the frame's change."""
        if self.event_net is None:
            return None
        change = next_planes.sum(dim=(2, 3)) - planes.sum(dim=(2, 3))
        features = torch.cat((pooled, change, global_max(next_planes), global_max(planes)), dim=1)
        flat = self.event_net(features.to(self.event_net[0].weight.dtype))
        return list(flat.float().split(self.sizes, dim=1))

    def quantise(self, logits: torch.Tensor) -> torch.Tensor:
        """The predicted frame on the world's ``1 / levels`` grid (float32)."""
        return self.codes(logits).float() / self.levels

    def forward(self, obs: torch.Tensor, action: torch.Tensor):
        logits, pooled, planes = self.trunk(obs, action)
        return logits, self.event_logits(pooled, planes, self.quantise(logits).to(planes.dtype))

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, action: torch.Tensor, probabilities: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The quantised next frame, the predicted event counts ``[B, E]`` (None without a head)
        and the frame probabilities (None unless ``probabilities``: imagination fed quantised
        frames skips the softmax over every cell's values)."""
        logits, pooled, planes = self.trunk(obs, action)
        frame = self.quantise(logits)
        events = self.event_logits(pooled, planes, frame.to(planes.dtype))
        counts = None if events is None else torch.stack([e.argmax(1) for e in events], dim=1)
        return frame, counts, self.probabilities(logits) if probabilities else None

    @torch.no_grad()
    def predict_events(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Predicted event counts ``[B, E]`` (int64), from the imagined next frame."""
        counts = self.predict(obs, action, probabilities=False)[1]
        if counts is None:
            return torch.zeros(obs.shape[0], len(self.config.events), dtype=torch.long, device=obs.device)
        return counts

    @torch.no_grad()
    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One imagined step: the next frame (see ``feed``), the bound task's reward, and
        whether a terminal event was predicted."""
        self.require_task()
        distribution = self.config.feed != "onehot"
        frame, counts, probs = self.predict(obs, action, probabilities=distribution)
        next_obs = (probs if distribution else frame).to(obs.dtype)
        b = obs.shape[0]
        if counts is None:
            zeros = torch.zeros(b, dtype=torch.float32, device=obs.device)
            return next_obs, zeros, torch.zeros(b, dtype=torch.bool, device=obs.device)
        return (next_obs, *self.reward_and_done(counts))

    # -- fitting ---------------------------------------------------------------------------------

    def loss(self, batch: dict[str, torch.Tensor], reward_weight: float = 1.0,
             class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Fitting loss on a batch with ``obs``, ``action``, ``next_codes`` (the codec's
        compact next frame, ``round(x * levels)``) or ``next_obs``, and ``events`` ``[B, E]``.

        Frame: binary cross-entropy with the soft targets (or, for ``output="levels"``, the
        cross-entropy of each cell's value), summed over a frame's cells and averaged over
        the batch. Events: the cross-entropy of each event's count, summed
        over events, weighted by ``reward_weight``; the head reads the model's own predicted frame.
        ``class_weights`` is accepted for the grid model's signature and unused.
        """
        logits, pooled, planes = self.trunk(batch["obs"], batch["action"])
        if "next_codes" in batch:
            codes = batch["next_codes"].long()
            target = codes.float() / self.levels
        else:
            target = batch["next_obs"].float()
            codes = (target * self.levels).round().long()
        if self.values == 1:
            frame_loss = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
        else:
            frame_loss = F.cross_entropy(logits.float().transpose(1, 2), codes.clamp(0, self.levels), reduction="none")
        frame_loss = frame_loss.sum(dim=(1, 2, 3)).mean()
        out: dict[str, torch.Tensor] = {"frame_loss": frame_loss.detach()}
        total = frame_loss
        with torch.no_grad():
            cells = (self.codes(logits) == codes).all(1)
            out["cell_accuracy"] = cells.float().mean()
            out["frame_accuracy"] = cells.flatten(1).all(1).float().mean()
        # the head reads the model's own predicted frame, as it does when imagining: trained on the
        # true next frame it would read a ghost that the (uncertain) prediction left out as one eaten
        events = self.event_logits(pooled, planes, self.quantise(logits.detach()).to(planes.dtype))
        if events is not None:
            if "events" not in batch:
                raise ReverieError("fitting a frame model needs transitions with events (recollect the data)")
            true = batch["events"].long()
            parts = [F.cross_entropy(e, true[:, i].clamp(0, self.sizes[i] - 1)) for i, e in enumerate(events)]
            event_loss = torch.stack(parts).sum()
            total = total + reward_weight * event_loss
            with torch.no_grad():
                counts = torch.stack([e.argmax(1) for e in events], dim=1)
                out["event_loss"] = event_loss.detach()
                out["event_accuracy"] = (counts == true).all(1).float().mean()
        out["loss"] = total
        return out


__all__ = ["FrameModel", "FrameModelConfig", "SIZES"]
