"""``PixelModel``: a learned model of pixel worlds (stacked grey frames) after the I2A Breakout recipe.

Lapan's Atari I2A (REFERENCE.md section 4) predicts the **difference** between the next frame
and the last one, not the frame itself: most pixels never change, so a difference of zero is
the easy default and the loss goes to what moves. The network: the frames (scaled to [0, 1])
and the action as one-hot planes; a 4x4 convolution of stride 4 (84x84 -> 21x21, 64
channels), a 3x3 convolution and a residual 3x3 convolution; a transposed convolution back to
84x84. The book regresses the reward from two conv + pool layers and an FC layer of 128 on the
21x21 features; here the same head classifies the step's **event counts** (Breakout: a scoring
step, a lost life), so the reward is ``events . weights`` as in
:class:`~reverie.models.frame.FrameModel` and a lost life ends an imagined episode.

One departure from the book, measured (docs/atari.md): the transposed convolution gives two
planes, the difference ``(next - last) / 255`` and a **change gate**, the logit that a pixel
changes at all. Only about 0.5% of Breakout's pixels change per step, and a plain MSE on the
difference leaves a grey level of noise on every pixel, which rounds into errors that a copy
of the last frame does not make (a model fitted that way scored 0.52 grey levels of mean error
a step against copying's 0.24). With the gate, an imagined frame is the last frame with the
predicted difference added where the gate is open, so unchanged pixels are copied exactly, and
the gate's bias starts near-shut, so the untrained model is the copy model. Loss:
``delta_weight`` x the difference's MSE on the pixels that change + the gate's binary
cross-entropy on every pixel + the events' cross-entropy.
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
from .base import action_planes
from .tasks import TaskBinding

__all__ = ["PixelModel", "PixelModelConfig"]

GATE_BIAS = -4.0  # the change gate's initial logit (sigmoid 1.8%): shut everywhere, yet a few hundred Adam steps from open


@dataclass
class PixelModelConfig:
    """A pixel model's architecture and its world (``shape``, actions and events come from the spec)."""

    channels: int = option(64, "channels of the 21x21 trunk")
    event_hidden: int = option(128, "width of the event head's FC layer")
    delta_weight: float = option(10.0, "weight of the frame difference's MSE in the loss (the book's 10)")
    shape: tuple[int, ...] = ()
    num_actions: int = 0
    events: tuple[str, ...] = ()
    event_max: tuple[int, ...] = ()
    terminal_events: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if int(self.channels) < 1 or int(self.event_hidden) < 1 or float(self.delta_weight) <= 0:
            raise ReverieError(f"channels and event_hidden must be >= 1 and delta_weight > 0, got {self.channels}, "
                               f"{self.event_hidden}, {self.delta_weight}")
        self.shape = tuple(int(v) for v in self.shape)
        self.events = tuple(str(v) for v in self.events)
        self.event_max = tuple(int(v) for v in self.event_max)
        self.terminal_events = tuple(int(v) for v in self.terminal_events)
        if self.shape and (len(self.shape) != 3 or self.shape[1] % 4 or self.shape[2] % 4):
            raise ReverieError(f"a pixel model needs frames [stack, H, W] with H and W multiples of 4, got {self.shape}")

    def for_spec(self, spec) -> "PixelModelConfig":
        """This config with the world's frames, actions and events (a one-line error where the
        world has no pixel frames or no events)."""
        obs, rewards = spec.observation, spec.rewards
        if obs.kind != "rgb" or len(obs.shape) != 3:
            raise ReverieError(f"the pixel model needs pixel frames [stack, H, W]; {spec.id} has {obs.kind} "
                               f"observations of shape {obs.shape}")
        if not rewards.events:
            raise ReverieError(f"the pixel model predicts events; {spec.id} names none")
        return dataclasses.replace(self, shape=tuple(obs.shape), num_actions=spec.num_actions,
                                   events=tuple(rewards.events),
                                   event_max=tuple(rewards.event_max or (1,) * len(rewards.events)),
                                   terminal_events=tuple(rewards.terminal_events))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PixelModelConfig":
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ReverieError(f"model config has unknown fields {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class PixelModel(TaskBinding, nn.Module):
    """``step(obs, action) -> (next_obs, reward, done)`` for stacked grey frames (module docstring)."""

    def __init__(self, config: PixelModelConfig) -> None:
        super().__init__()
        if not config.shape or config.num_actions < 1 or not config.events:
            raise ReverieError("a pixel model needs its world's frames, actions and events: "
                               "build it with PixelModel.for_spec(spec, config)")
        self.config = config
        self.stack, self.height, self.width = config.shape
        self.num_actions = config.num_actions
        c = config.channels
        self.stem = nn.Conv2d(self.stack + self.num_actions, c, 4, stride=4)
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.residual = nn.Conv2d(c, c, 3, padding=1)
        self.delta = nn.ConvTranspose2d(c, 2, 4, stride=4)   # the difference and the change gate's logit
        with torch.no_grad():
            self.delta.bias[1] = GATE_BIAS                       # shut: the untrained model copies
        self.event_convs = nn.Sequential(nn.Conv2d(c, c // 2, 3), nn.ReLU(), nn.MaxPool2d(2),
                                         nn.Conv2d(c // 2, c // 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        with torch.no_grad():
            flat = self.event_convs(torch.zeros(1, c, self.height // 4, self.width // 4)).shape[1]
        self.sizes = [m + 1 for m in config.event_max]
        self.event_net = nn.Sequential(nn.Linear(flat, config.event_hidden), nn.ReLU(),
                                       nn.Linear(config.event_hidden, sum(self.sizes)))
        self.register_buffer("terminal", torch.tensor(config.terminal_events, dtype=torch.long), persistent=False)
        self.register_buffer("weights", torch.zeros(len(config.events)), persistent=False)
        self.task: str | None = None

    @classmethod
    def for_spec(cls, spec, config: PixelModelConfig | None = None) -> "PixelModel":
        model = cls((config or PixelModelConfig()).for_spec(spec))
        model.check_spec(spec)
        return model

    def check_spec(self, spec) -> None:
        """Refuse, in one line, a world whose frames, actions or events are not this model's; bind the task."""
        obs, rewards = spec.observation, spec.rewards
        if obs.kind != "rgb" or tuple(obs.shape) != self.config.shape:
            raise ReverieError(f"this pixel model imagines frames {list(self.config.shape)}; {spec.id} has "
                               f"{obs.kind} observations {list(obs.shape)}")
        if spec.num_actions != self.num_actions or tuple(rewards.events) != self.config.events:
            raise ReverieError(f"this pixel model imagines {self.num_actions} actions and events "
                               f"{list(self.config.events)}; {spec.id} has {spec.num_actions} and "
                               f"{list(rewards.events)}")
        if rewards.task is not None:
            self.bind(rewards.tasks[rewards.task], rewards.task)

    # -- the network -----------------------------------------------------------------------------

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The newest frame's predicted difference (in units of 255) and change-gate logit
        ``[B, 2, H, W]``, and the event logits (one ``[B, event_max + 1]`` per event)."""
        if obs.dim() != 4 or tuple(obs.shape[1:]) != self.config.shape:
            raise ValueError(f"PixelModel needs frames [B, {', '.join(map(str, self.config.shape))}], "
                             f"got {tuple(obs.shape)}")
        dtype = self.stem.weight.dtype
        x = torch.cat((obs.to(dtype) / 255.0, action_planes(action, self.height, self.width, self.num_actions,
                                                            dtype)), 1)
        x = torch.relu(self.stem(x))
        x = torch.relu(self.conv(x))
        x = torch.relu(x + self.residual(x))
        delta = self.delta(x)
        events = self.event_net(self.event_convs(x)).float().split(self.sizes, dim=1)
        return delta, list(events)

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The next stack (dtype of ``obs``) and the predicted event counts ``[B, E]``."""
        out, events = self(obs, action)
        frame = self.imagined_frame(obs, out.float())
        next_obs = torch.cat((obs[:, 1:], frame.to(obs.dtype)), 1)
        return next_obs, torch.stack([e.argmax(1) for e in events], dim=1)

    @staticmethod
    def imagined_frame(obs: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The last frame (float, 0..255) with the difference added where the gate is open."""
        last = obs[:, -1:].float()
        delta, gate = out[:, :1], out[:, 1:]
        return torch.where(gate > 0, (last + 255.0 * delta).clamp(0, 255).round(), last)

    @torch.no_grad()
    def predict_events(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.predict(obs, action)[1]

    @torch.no_grad()
    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        next_obs, counts = self.predict(obs, action)
        return (next_obs, *self.reward_and_done(counts))

    # -- fitting ---------------------------------------------------------------------------------

    def loss(self, batch: dict[str, torch.Tensor], reward_weight: float = 1.0,
             class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``delta_weight`` x the difference's MSE where pixels change + the change gate's BCE +
        the events' cross-entropy, on a batch with ``obs``, ``action``, ``next_codes`` (or
        ``next_obs``: the next stack) and ``events``."""
        obs = batch["obs"]
        target = batch["next_codes"] if "next_codes" in batch else batch["next_obs"]
        out, events = self(obs, batch["action"])
        out = out.float()
        true_delta = (target[:, -1:].float() - obs[:, -1:].float()) / 255.0
        changed = (true_delta != 0).float()
        frame_loss = ((out[:, :1] - true_delta).square() * changed).sum() / changed.sum().clamp(min=1.0)
        gate_loss = F.binary_cross_entropy_with_logits(out[:, 1:], changed)
        if "events" not in batch:
            raise ReverieError("fitting a pixel model needs transitions with events (recollect the data)")
        true = batch["events"].long()
        event_loss = torch.stack([F.cross_entropy(e, true[:, i].clamp(0, self.sizes[i] - 1))
                                  for i, e in enumerate(events)]).sum()
        total = self.config.delta_weight * (frame_loss + gate_loss) + reward_weight * event_loss
        with torch.no_grad():
            counts = torch.stack([e.argmax(1) for e in events], dim=1)
            error = (self.imagined_frame(obs, out) - target[:, -1:].float()).abs()
            exact = (error == 0).flatten(1).all(1).float().mean()
        return {"loss": total, "frame_loss": frame_loss.detach(), "gate_loss": gate_loss.detach(),
                "event_loss": event_loss.detach(),
                "frame_accuracy": exact, "event_accuracy": (counts == true).all(1).float().mean(),
                "pixel_error": error.mean()}
