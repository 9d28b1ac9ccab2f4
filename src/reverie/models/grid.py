"""``GridModel``: the I2A paper's learned environment model for grid observations.

The observation and the action (broadcast as one-hot planes) go through a size-preserving
conv net built from pool-and-inject blocks: each block max-pools every feature map over the
whole grid, broadcasts the pooled values back to every cell and mixes them in with a conv.
That global channel is what lets a cell know about far-away facts in one layer (is any box
still off a target?), which is exactly what the +10 "last box" reward needs.

It models any world whose observations are one-hot planes of cell codes (an ``onehot``
:class:`~reverie.envs.spec.ObsSpec`): a per-cell categorical over the codes; the reward is a
classification over the world's reward classes (its :class:`~reverie.envs.spec.RewardSpec`),
and the episode ends where the predicted class is one of the spec's terminal classes; without
a reward head (the paper's no-reward ablation) the model imagines a reward of 0 and no end.
The world's code count, action count and reward classes come from its spec
(:meth:`GridModel.for_spec`) and are stored in the model's config, so a model file knows the
world it was fitted to.

Efficiency notes (this runs B x 5 times per imagined step inside I2A, and small convs on
a CPU are bound by passes over memory rather than by arithmetic):
- the injected pooled vector goes through a linear map and is added as a per-channel bias,
  which equals concatenating the broadcast planes and applying a 1x1 conv, without
  materialising them or convolving them with a 3x3 kernel;
- activations are channels-last (oneDNN's fast layout), built that way from the start and
  handed back that way by ``step``; residuals are folded into the conv kernels; additions
  and ReLUs run in place;
- ``step`` is one forward pass plus an argmax and a scatter: no host synchronisation.
- ``model.to(torch.bfloat16)`` runs the whole model in bfloat16 (observations in and out
  keep their own dtype), which AMX/AVX512-BF16 CPUs and GPUs run faster.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ReverieError
from ..core.config import option
from .base import RewardClasses, action_onehot, action_planes, codes_to_planes, planes_to_codes

#: Named sizes: the stem conv's width, then one entry per pool-and-inject block. A stem and
#: one block see two cells away, all a Sokoban step needs (the player, the box it pushes,
#: the cell beyond); the global pools see the rest. "small" is the default CPU model;
#: "paper" is the I2A paper's channel triple, for comparison.
SIZES: dict[str, tuple[int, ...]] = {
    "tiny": (8, 8),
    "small": (16, 16),
    "paper": (16, 32, 64),
}
DEFAULT_SIZE = "small"
#: The most parameters a config may ask for (the paper's size has ~40,000; 100M is a GPU's worth).
MAX_PARAMETERS = 100_000_000
FEEDS = ("onehot", "distribution")
#: Initial weight from each input plane to the same code's output logit.
COPY_GAIN = 4.0


def parse_channels(text: str | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """``"16,32,64"`` -> (16, 32, 64); tuples and lists pass through checked."""
    if isinstance(text, str):
        try:
            values = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
        except ValueError:
            raise ValueError(f"channels must look like 16,32,64, got {text!r}") from None
    else:
        values = tuple(int(v) for v in text)
    return values


@dataclass
class GridModelConfig:
    """The shape and behaviour of a :class:`GridModel` (stored in its checkpoints)."""

    size: str = option(DEFAULT_SIZE, f"named model size, one of {sorted(SIZES)}")
    channels: tuple[int, ...] | None = option(
        None, "explicit widths 'stem,block1,block2,...' (overrides --size)", parse=parse_channels,
        metavar="C0,C1,...")
    reward_head: bool = option(True, "predict the reward as a class; off = the paper's no-reward ablation (reward 0)")
    feed: str = option("onehot", f"what step() returns as the next observation, one of {FEEDS}: "
                                 "the most likely frame as one-hot planes, or the predicted distribution "
                                 "(the reward is read from the most likely frame either way)")
    reward_hidden: int = option(64, "hidden units of the reward head")
    channels_last: bool = option(True, "run convolutions in channels-last memory format (faster on CPU)")
    reward_values: tuple[float, ...] = option(
        (), "the reward classes' values, in class order (default: the world's, from its env spec)",
        parse=lambda text: tuple(float(v) for v in text.split(",")), metavar="R0,R1,...")
    num_codes: int = option(0, "cell codes of the world's one-hot observations (set from the env spec)")
    num_actions: int = option(0, "the world's actions (set from the env spec)")
    terminal_classes: tuple[int, ...] = option(
        (), "reward classes that end the episode (set from the env spec)",
        parse=lambda text: tuple(int(v) for v in text.split(",") if v), metavar="K0,K1,...")

    def __post_init__(self) -> None:
        self.channels = named_channels(self.size, self.channels, SIZES)
        if len(self.channels) < 2 or min(self.channels) < 1:
            raise ReverieError(f"channels needs a stem and at least one block, all >= 1; got {self.channels}")
        if self.feed not in FEEDS:
            raise ReverieError(f"feed must be one of {FEEDS}, got {self.feed!r}")
        if self.reward_hidden < 1:
            raise ReverieError(f"reward_hidden must be >= 1, got {self.reward_hidden}")
        if self.parameter_count() > MAX_PARAMETERS:  # refuse before torch tries to allocate hundreds of GB
            raise ReverieError(f"a grid model of channels {list(self.channels)} and reward_hidden {self.reward_hidden} "
                               f"has ~{self.parameter_count():,} parameters, above the cap of {MAX_PARAMETERS:,}")
        self.reward_values = tuple(float(v) for v in self.reward_values)
        self.terminal_classes = tuple(int(v) for v in self.terminal_classes)
        if any(not 0 <= k < len(self.reward_values) for k in self.terminal_classes):
            raise ReverieError(f"terminal_classes {self.terminal_classes} are not classes of {self.reward_values}")

    def parameter_count(self) -> int:
        """The model's parameter count, from the config alone (the world's codes and actions
        taken as at least Sokoban's where not set yet)."""
        channels = tuple(self.channels or ())
        codes, actions = max(self.num_codes, 7), max(self.num_actions, 5)
        count = (codes + actions) * channels[0] * 9 + channels[0]  # the stem
        count += sum(a * b * 10 + b for a, b in zip(channels[:-1], channels[1:]))  # conv + inject
        count += channels[-1] * codes + 2 * codes  # frame head and copy gains
        if self.reward_head:
            classes = max(len(self.reward_values), 3)
            count += (2 * codes + 1) * self.reward_hidden + (self.reward_hidden + 1) * classes
        return count

    def for_spec(self, spec) -> "GridModelConfig":
        """This config with the world's code count, actions and reward classes filled in from
        ``spec`` (a one-line error where the world's observations are not one-hot grids)."""
        if spec.observation.kind != "onehot":
            raise ReverieError(f"the grid model needs one-hot grid observations; {spec.id} has "
                               f"{spec.observation.kind} observations of shape {spec.observation.shape}")
        values = dataclasses.asdict(self)
        values.update(num_codes=spec.observation.num_codes, num_actions=spec.num_actions,
                      reward_values=self.reward_values or spec.rewards.classes,
                      terminal_classes=self.terminal_classes or spec.rewards.terminal)
        return GridModelConfig(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GridModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ReverieError(f"model config has unknown fields {unknown}")
        values = dict(data)
        for key in ("channels", "reward_values", "terminal_classes"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


def named_channels(size: str, channels, sizes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """A model's widths: ``channels`` where given, else the named ``size`` of ``sizes`` (a
    one-line error for an unknown name). Shared by every conv model's config."""
    if channels is None:
        if size not in sizes:
            raise ReverieError(f"unknown model size {size!r}; choose one of {sorted(sizes)}")
        channels = sizes[size]
    return parse_channels(channels)


def check_reward_classes(name: str, values, spec) -> None:
    """Refuse, in one line, a world whose reward classes are not the ``values`` a model classifies
    (imagined rewards would silently mean other things)."""
    if tuple(values) != tuple(spec.rewards.classes):
        raise ReverieError(f"this {name}'s reward classes {list(values)} are not {spec.id}'s "
                           f"{list(spec.rewards.classes)} (in class order)")


def global_max(x: torch.Tensor) -> torch.Tensor:
    """The max of each feature map, ``[B, C, H, W] -> [B, C]``.

    ``max_pool2d`` over the whole map has a fast channels-last kernel; ``amax`` over (H, W)
    of a channels-last tensor takes a strided path several times slower on CPU, and is the
    faster of the two on a contiguous one (a reduction over contiguous memory).
    """
    if x.is_contiguous():
        return x.amax((2, 3))
    return F.max_pool2d(x, x.shape[2:]).flatten(1)


def pointwise_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """A 1x1 ``conv`` of ``x``: oneDNN's kernel for a contiguous (NCHW) input takes ~10x the
    time of a channels-last one at these sizes on a CPU, so an NCHW input goes through a
    batched matrix product instead (the same sums)."""
    if not x.is_contiguous() or x.dtype != conv.weight.dtype:
        return conv(x)
    b, c, h, w = x.shape
    out = conv.out_channels
    weight = conv.weight.view(1, out, c).expand(b, out, c)  # one small product per row (matmul would transpose x)
    return torch.baddbmm(conv.bias.view(1, out, 1), weight, x.view(b, c, h * w)).view(b, out, h, w)


class PoolAndInject(nn.Module):
    """``relu(conv3x3(x) + W . maxpool(x))``, plus ``x`` when the widths match.

    The global max of each feature map, mapped linearly and broadcast to every cell, is the
    paper's pool-and-inject; the residual path makes deeper stacks train as fast as shallow.
    The residual is folded into the kernel (identity added at its centre tap), which is the
    same function without a pass over the activations.
    """

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.inject = nn.Linear(channels_in, channels_out, bias=False)
        self.residual = channels_in == channels_out
        if self.residual:
            identity = torch.zeros(channels_out, channels_in, 3, 3)
            identity[:, :, 1, 1] = torch.eye(channels_out)
            self.register_buffer("identity", identity, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.conv.weight + self.identity if self.residual else self.conv.weight
        y = F.conv2d(x, weight, self.conv.bias, padding=1)
        # In place on the conv's fresh output (its backward does not need it): small
        # convolutions on a CPU are bound by passes over memory, not by arithmetic.
        y.add_(self.inject(global_max(x))[:, :, None, None])
        return y.relu_()


class GridModel(nn.Module):
    """The learned model: ``step(obs [B, C, H, W], action [B]) -> (next_obs, reward [B], done [B])``.

    Works on any grid size (convolutions and global pools only). ``forward`` returns raw
    logits for fitting; ``step`` returns what imagination feeds forward (see ``feed``).
    With ``channels_last`` the input planes are assembled directly in channels-last layout
    and ``step`` returns its next observation in that layout too (a permuted view), so a
    rollout never converts layouts between steps.
    """

    def __init__(self, config: GridModelConfig) -> None:
        super().__init__()
        self.config = config
        channels = self.config.channels
        assert channels is not None
        if config.num_codes < 2 or config.num_actions < 1 or (config.reward_head and not config.reward_values):
            raise ReverieError("a grid model needs its world's code count, actions and reward classes: "
                               "build it with GridModel.for_spec(spec, config)")
        self.num_codes, self.num_actions = config.num_codes, config.num_actions
        self.rewards = RewardClasses(self.config.reward_values) if self.config.reward_values else None
        self.register_buffer("terminal", torch.tensor(self.config.terminal_classes, dtype=torch.long), persistent=False)
        self.stem = nn.Conv2d(self.num_codes + self.num_actions, channels[0], 3, padding=1)
        self.blocks = nn.ModuleList(PoolAndInject(a, b) for a, b in zip(channels[:-1], channels[1:]))
        width = channels[-1]
        self.frame_head = nn.Conv2d(width, self.num_codes, 1)
        # Each input plane also feeds its own output logit with a learned gain, so "this
        # cell stays as it is" needs no capacity. Zero head + gain: start as the copy model.
        self.copy_gain = nn.Parameter(torch.full((self.num_codes,), COPY_GAIN))
        with torch.no_grad():
            self.frame_head.weight.zero_()
            self.frame_head.bias.zero_()
        self.reward_net = None
        if self.config.reward_head:
            self.reward_net = nn.Sequential(
                nn.Linear(2 * self.num_codes, self.config.reward_hidden), nn.ReLU(),
                nn.Linear(self.config.reward_hidden, len(self.rewards)),
            )
        if self.config.channels_last:
            self.to(memory_format=torch.channels_last)

    @classmethod
    def for_spec(cls, spec, config: GridModelConfig | None = None) -> "GridModel":
        """A fresh model of the world ``spec`` describes (shapes and reward classes from it)."""
        return cls((config or GridModelConfig()).for_spec(spec))

    def check_spec(self, spec) -> None:
        """Refuse, in one line, a world whose observations, actions or reward classes are not
        the ones this model was fitted to (imagined rewards would silently mean other things)."""
        obs = spec.observation
        if obs.kind != "onehot" or obs.num_codes != self.num_codes or spec.num_actions != self.num_actions:
            raise ReverieError(f"this grid model imagines {self.num_codes} cell codes and {self.num_actions} actions; "
                               f"{spec.id} has {obs.kind} observations {obs.shape} and {spec.num_actions} actions")
        if self.rewards is not None:
            check_reward_classes("grid model", self.config.reward_values, spec)

    def extra_repr(self) -> str:
        return f"channels={self.config.channels}, feed={self.config.feed!r}, reward_head={self.config.reward_head}"

    def _check_obs(self, obs: torch.Tensor) -> None:
        if obs.dim() != 4 or obs.shape[1] != self.num_codes:
            raise ValueError(f"GridModel needs symbolic observations [B, {self.num_codes}, H, W], "
                             f"got {tuple(obs.shape)}")

    def inputs(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The observation planes followed by the action's one-hot planes, ``[B, codes + actions, H, W]``."""
        self._check_obs(obs)
        b, c, h, w = obs.shape
        dtype = self.stem.weight.dtype  # the model's own (autocast converts inside the convs)
        if not self.config.channels_last:
            return torch.cat((obs.to(dtype), action_planes(action, h, w, self.num_actions, dtype)), dim=1)
        x = torch.empty(b, h, w, c + self.num_actions, dtype=dtype, device=obs.device)
        x[..., :c] = obs.permute(0, 2, 3, 1)
        x[..., c:] = action_onehot(action, self.num_actions, dtype)[:, None, None, :]
        return x.permute(0, 3, 1, 2)  # a channels-last view: no copy

    def frame_logits(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the next cells ``[B, C, H, W]``, and the observation planes as the net saw them.

        Channels-last, the stem reads the assembled ``[obs; action planes]``. Contiguous, it is
        split by linearity (as :meth:`every_action_logits` does): the observation's conv plus
        the action's map, picked by index; on a CPU that is ~25% faster than the fused conv of
        the assembled planes (fewer input channels, no concatenation)."""
        if self.config.channels_last:
            x0 = self.inputs(obs, action)
            obs_planes = x0[:, :self.num_codes]
            return self._frame_after_stem(self.stem(x0).relu_(), obs_planes), obs_planes
        self._check_obs(obs)
        obs_planes = obs.to(self.stem.weight.dtype).contiguous()
        x = self._observation_stem(obs_planes).add_(self._action_maps(*obs.shape[2:]).index_select(0, action.long()))
        return self._frame_after_stem(x.relu_(), obs_planes), obs_planes

    def _observation_stem(self, planes: torch.Tensor) -> torch.Tensor:
        """The stem's observation part (and its bias): the stem with no action planes."""
        return F.conv2d(planes, self.stem.weight[:, :self.num_codes], self.stem.bias, padding=1)

    def _action_maps(self, h: int, w: int) -> torch.Tensor:
        """The stem's action part for each action on an ``h x w`` grid, ``[A, C0, H, W]``: the
        action's one-hot planes through the stem's kernel, its zero padding included."""
        weight = self.stem.weight
        a = self.num_actions
        eye = torch.eye(a, dtype=weight.dtype, device=weight.device)[:, :, None, None].expand(a, a, h, w)
        return F.conv2d(eye, weight[:, self.num_codes:], padding=1)

    def _frame_after_stem(self, x: torch.Tensor, obs_planes: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return torch.addcmul(pointwise_conv(x, self.frame_head), obs_planes, self.copy_gain[None, :, None, None])

    def every_action_logits(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`frame_logits` of every action from each observation, rows ``b * A + a``.

        The stem is linear in its input, so its output for ``[obs; action planes]`` is the
        stem of the observation alone plus a map that depends only on the action (the action
        planes through the same kernel, zero padding included). I2A's first imagined step
        starts all ``A`` rollouts of an observation from the same frame, so the observation's
        part is computed once, not ``A`` times: 5x fewer rows through the stem on that step.
        Equal to ``frame_logits(obs.repeat_interleave(A), arange(A).repeat(B))`` up to float
        rounding. (Every step of a contiguous model splits its stem the same way, picking the
        action's map by index; on channels-last input that pick costs what it saves.)
        """
        self._check_obs(obs)
        b, c, h, w = obs.shape
        a = self.num_actions
        layout = torch.channels_last if self.config.channels_last else torch.contiguous_format
        planes = obs.to(self.stem.weight.dtype).contiguous(memory_format=layout)
        own = self._observation_stem(planes)  # [B, C0, H, W]
        per_action = self._action_maps(h, w)  # [A, C0, H, W]
        if self.config.channels_last:  # built as [B, A, H, W, C], viewed as channels-last rows b * A + a
            x = own.permute(0, 2, 3, 1)[:, None] + per_action.permute(0, 2, 3, 1)[None]
            x = x.view(b * a, h, w, -1).permute(0, 3, 1, 2)
            obs_planes = planes.permute(0, 2, 3, 1)[:, None].expand(b, a, h, w, c).reshape(b * a, h, w, c)
            obs_planes = obs_planes.permute(0, 3, 1, 2)
        else:  # rows b * A + a, each [C, H, W] contiguous
            x = (own[:, None] + per_action[None]).view(b * a, -1, h, w)
            obs_planes = planes[:, None].expand(b, a, c, h, w).reshape(b * a, c, h, w)
        return self._frame_after_stem(x.relu_(), obs_planes), obs_planes

    def reward_logits(self, obs_planes: torch.Tensor, next_planes: torch.Tensor) -> torch.Tensor | None:
        """Reward-class logits ``[B, K]`` read from a transition's change (None without a reward head).

        A Sokoban reward is a function of the change: how many boxes on targets a step adds
        or removes (per-code counts of the next frame minus the current one) and whether any
        box is left off a target (which codes occur in the next frame). The head classifies
        exactly those 14 numbers, so an imagined reward always agrees with the imagined
        frame. Fitting feeds it the true next frame; imagination, the predicted one.
        """
        if self.reward_net is None:
            return None
        counts = next_planes.sum(dim=(2, 3))
        change = counts - obs_planes.sum(dim=(2, 3))
        present = (counts > 0).to(counts.dtype)  # = the planes' max: they are one-hot (a max pool cost more)
        return self.reward_net(torch.cat((change, present), dim=1).to(self.reward_net[0].weight.dtype))

    def most_likely(self, frame: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The most likely next frame as one-hot planes, from logits ``[B, C, H, W]``."""
        # A max over each cell's C logits and a comparison written straight into planes of
        # ``dtype``: several times faster on a CPU than argmax + scatter, or than a comparison's
        # bool result converted. (A cell whose two best logits were exactly equal would get two
        # ones; learned float weights do not produce such ties.)
        b, c, h, w = frame.shape
        if frame.is_contiguous(memory_format=torch.channels_last):
            cell_logits = frame.permute(0, 2, 3, 1).reshape(-1, c)  # each cell's C logits contiguous
            planes = torch.empty(cell_logits.shape, dtype=dtype, device=frame.device)
            torch.eq(cell_logits, cell_logits.amax(1, keepdim=True), out=planes)
            return planes.view(b, h, w, c).permute(0, 3, 1, 2)
        planes = torch.empty(frame.shape, dtype=dtype, device=frame.device)
        return torch.eq(frame, frame.amax(1, keepdim=True), out=planes)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of the next cells ``[B, C, H, W]`` and of the reward class ``[B, K]`` (or None)."""
        frame, obs_planes = self.frame_logits(obs, action)
        return frame, self.reward_logits(obs_planes, self.most_likely(frame, obs_planes.dtype))

    @torch.no_grad()
    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One imagined step: the next observation as configured by ``feed``, the reward, and
        whether the episode ended (the predicted reward class is a terminal one)."""
        return self._imagined(*self.frame_logits(obs, action), obs.dtype)

    @torch.no_grad()
    def step_every_action(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`step` of every action from each observation ``[B, ...]``: rows ``b * A + a``
        (see :meth:`every_action_logits`, which makes it cheaper than ``A`` copies of ``obs``)."""
        return self._imagined(*self.every_action_logits(obs), obs.dtype)

    def _imagined(self, frame: torch.Tensor, obs_planes: torch.Tensor,
                  dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        best = self.most_likely(frame, obs_planes.dtype)
        logits = self.reward_logits(obs_planes, best)
        if self.config.feed == "onehot":
            next_obs = best.to(dtype)
        else:
            next_obs = frame.float().softmax(1).to(dtype)
        rows = frame.shape[0]
        if logits is None:
            reward = torch.zeros(rows, dtype=torch.float32, device=frame.device)
            return next_obs, reward, torch.zeros(rows, dtype=torch.bool, device=frame.device)
        classes = logits.argmax(1)
        done = (classes[:, None] == self.terminal).any(1)
        return next_obs, self.rewards.to_values(classes), done

    def loss(self, batch: dict[str, torch.Tensor], reward_weight: float = 1.0,
             class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Fitting loss on a batch with ``obs``, ``action``, ``next_codes`` and ``reward_class``
        (or raw ``next_obs`` and ``reward``, from which those are derived).

        The frame loss is the cross-entropy summed over a frame's cells (averaged over the
        batch), so a frame's one changed cell weighs as much as it does in exact-frame
        accuracy; the reward loss is a (class-weighted) cross-entropy of the reward head
        reading the true change. Returns the total ``loss`` and detached parts and
        accuracies for logging.
        """
        frame, obs_planes = self.frame_logits(batch["obs"], batch["action"])
        target = (batch["next_codes"] if "next_codes" in batch else planes_to_codes(batch["next_obs"])).long()
        cell_loss = F.cross_entropy(frame, target, reduction="none")  # [B, H, W]
        frame_loss = cell_loss.sum(dim=(1, 2)).mean()
        out: dict[str, torch.Tensor] = {"frame_loss": frame_loss.detach()}
        total = frame_loss
        with torch.no_grad():
            correct = frame.argmax(1) == target
            out["cell_accuracy"] = correct.float().mean()
            out["frame_accuracy"] = correct.flatten(1).all(1).float().mean()
        if self.reward_net is not None:
            next_planes = codes_to_planes(target, self.num_codes, obs_planes.dtype)
            reward = self.reward_logits(obs_planes, next_planes)
            reward_class = (batch["reward_class"] if "reward_class" in batch
                            else self.rewards.to_classes(batch["reward"])).long()
            reward_loss = F.cross_entropy(reward, reward_class, weight=class_weights)
            total = total + reward_weight * reward_loss
            out["reward_loss"] = reward_loss.detach()
            out["reward_accuracy"] = (reward.argmax(1) == reward_class).float().mean().detach()
        out["loss"] = total
        return out
