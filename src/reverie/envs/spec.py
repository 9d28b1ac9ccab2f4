"""What a world tells the rest of reverie: one :class:`EnvSpec` per env id.

Trainers, evaluation, I2A, search, data collection and model fitting never import a world's
modules: they ask the id's spec for shapes, actions, rewards, the batched env of a split,
the perfect model and pictures. A world (``envs/<world>/``) builds its specs and registers
them (:mod:`reverie.envs.registry`); adding a world edits no generic file.

The batched env a spec makes follows :class:`BatchedEnv`: ``reset`` and ``step`` over
``num_envs`` games as tensors, same-step auto-reset, ``info["final_obs"]`` /
``info["final_index"]`` for the games that ended, their ``episode_return`` and
``episode_length``, and, where the world has success, ``info["success"]`` (valid where a
game ended). ``reset_to(episodes)`` starts game ``i`` on held-out episode ``episodes[i]`` of
its split, so an evaluation names exactly which episodes it scored.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import torch

from ..core.errors import ReverieError
from .tiles import TileCodec

__all__ = ["ObsSpec", "ActionSpec", "RewardSpec", "RewardClasses", "EnvSpec", "BatchedEnv", "OBS_KINDS",
           "onehot_planes", "planes_to_codes", "codes_to_planes", "distinct_episodes", "checked_actions",
           "checked_episodes", "integer_option"]

#: Observation kinds and how transition data stores them (see :meth:`ObsSpec.encode`):
#: ``onehot`` one-hot planes of ``num_codes`` cell codes [C=num_codes, H, W] (stored as codes),
#: ``binary`` {0, 1} planes [C, H, W] (stored as uint8), ``rgb`` uint8 frames [3, H, W],
#: ``vector`` float vectors [D].
OBS_KINDS = ("onehot", "binary", "rgb", "vector")


def planes_to_codes(obs: torch.Tensor) -> torch.Tensor:
    """One-hot (or probability) planes ``[B, C, H, W]`` -> the most likely code ``[B, H, W]`` uint8."""
    if obs.dim() != 4:
        raise ValueError(f"grid observations must be [B, C, H, W], got {tuple(obs.shape)}")
    # max(1).indices, not argmax(1): the same first index of the maximum, and on a CPU ~10x
    # faster over the channels of a contiguous [B, C, H, W] (argmax takes a strided path)
    return obs.max(1).indices.to(torch.uint8)


def codes_to_planes(codes: torch.Tensor, num_codes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Codes ``[B, H, W]`` -> one-hot planes ``[B, num_codes, H, W]``."""
    b, h, w = codes.shape
    planes = torch.zeros(b, num_codes, h, w, dtype=dtype, device=codes.device)
    return planes.scatter_(1, codes.long().unsqueeze(1), 1.0)


onehot_planes = codes_to_planes


@dataclass(frozen=True)
class ObsSpec:
    """The observations of one env id: their kind, shape ``[C, H, W]`` or ``[D]``, and, for
    ``onehot`` grids, how many cell codes the planes stand for (``C == num_codes``).

    ``levels``: ``binary`` planes hold multiples of ``1 / levels`` in [0, 1] (1: strictly
    {0, 1}; MiniPacman's fading edible ghost: 20), stored exactly as ``round(x * levels)``.
    ``tiles``: ``rgb`` frames drawn from a world's tiles (Sokoban's sprites) are stored as the
    tiles' codes (:class:`~reverie.envs.tiles.TileCodec`), and name their palette."""

    kind: str
    shape: tuple[int, ...]
    num_codes: int = 0
    levels: int = 1
    tiles: TileCodec | None = None

    def __post_init__(self) -> None:
        if self.kind not in OBS_KINDS:
            raise ValueError(f"observation kind must be one of {OBS_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.kind == "onehot" and (len(self.shape) != 3 or self.shape[0] != self.num_codes or self.num_codes < 2):
            raise ValueError(f"onehot observations are [num_codes, H, W]; got shape {self.shape} "
                             f"with num_codes={self.num_codes}")
        if not 1 <= int(self.levels) <= 255:
            raise ValueError(f"levels must be in 1..255, got {self.levels}")
        if self.tiles is not None and (self.kind != "rgb" or len(self.shape) != 3 or self.shape[0] != self.tiles.channels
                                       or self.shape[1] % self.tiles.size or self.shape[2] % self.tiles.size):
            raise ValueError(f"tiles of {self.tiles.size}x{self.tiles.size} pixels draw rgb frames "
                             f"[{self.tiles.channels}, H, W] of whole tiles, not {self.kind} {self.shape}")

    @property
    def grid(self) -> bool:
        """Whether observations are image-like ``[C, H, W]`` (convolutional agents and models)."""
        return self.kind != "vector"

    # -- the codec of transition data and search trees: compact, exact, batched ------------

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations ``[B, *shape]`` -> their compact form (codes, uint8 planes or float32)."""
        if self.kind == "onehot":
            return planes_to_codes(obs)
        if self.kind == "binary" and self.levels > 1:
            return (obs.float() * self.levels).round_().to(torch.uint8)
        if self.tiles is not None:
            return self.tiles.encode(obs)
        if self.kind in ("binary", "rgb"):
            return obs.to(torch.uint8)
        return obs.float()

    def decode(self, compact: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The inverse of :meth:`encode`: observations as agents and models read them."""
        if self.kind == "onehot":
            return codes_to_planes(compact, self.num_codes, dtype)
        if self.kind == "binary":
            return compact.to(dtype) / self.levels if self.levels > 1 else compact.to(dtype)
        if self.kind == "rgb":
            # uint8 frames, as the env gives them
            return self.tiles.decode(compact) if self.tiles is not None else compact
        return compact.to(dtype)

    @property
    def compact_shape(self) -> tuple[int, ...]:
        if self.tiles is not None:
            return (self.shape[1] // self.tiles.size, self.shape[2] // self.tiles.size)
        return self.shape[1:] if self.kind == "onehot" else self.shape


@dataclass(frozen=True)
class ActionSpec:
    """Discrete actions ``0 .. n-1`` and their names, or continuous ones.

    Continuous actions are vectors ``[dim]`` within ``[low, high]`` per dimension
    (``ActionSpec(n=0, low=(-2.0,), high=(2.0,))``: Pendulum's torque); their ``n`` is 0, so
    nothing that counts discrete actions can mistake them for a one-action world."""

    n: int
    names: tuple[str, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", tuple(float(v) for v in self.low))
        object.__setattr__(self, "high", tuple(float(v) for v in self.high))
        if self.low or self.high:
            if self.n != 0:
                raise ValueError(f"continuous actions have n=0, got n={self.n}")
            if len(self.low) != len(self.high):
                raise ValueError(f"{len(self.low)} lower bounds for {len(self.high)} upper bounds")
            if not all(math.isfinite(lo) and math.isfinite(hi) and hi > lo for lo, hi in zip(self.low, self.high)):
                raise ValueError(f"continuous action bounds need finite low < high, got {self.low}, {self.high}")
            if self.names and len(self.names) != len(self.low):
                raise ValueError(f"{len(self.names)} action names for {len(self.low)} action dimensions")
            return
        if self.n < 1:
            raise ValueError(f"a world needs at least one action, got {self.n}")
        if self.names and len(self.names) != self.n:
            raise ValueError(f"{len(self.names)} action names for {self.n} actions")

    @property
    def continuous(self) -> bool:
        """Whether actions are real vectors within ``[low, high]`` (not indices)."""
        return bool(self.low)

    @property
    def dim(self) -> int:
        """The size of a continuous action vector (0 for discrete actions)."""
        return len(self.low)

    def name(self, action: int) -> str:
        return self.names[action] if self.names else str(action)


class RewardClasses:
    """A fixed, ordered set of reward values and the class index of each.

    ``to_classes`` maps values to the class of the nearest value and ``to_values`` maps
    classes back to the stored float32 values, so both round trips are exact. Values far
    from every class (more than ``tolerance``) are reported by :meth:`check`.
    """

    def __init__(self, values: Sequence[float] | torch.Tensor, tolerance: float = 1e-4) -> None:
        table = torch.as_tensor(values, dtype=torch.float32).flatten()
        if table.numel() < 1:
            raise ValueError("reward classes need at least one value")
        if table.unique().numel() != table.numel():
            raise ValueError(f"reward values must be distinct, got {table.tolist()}")
        self.values = table
        self.tolerance = tolerance
        self._device_cache: dict[torch.device, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.values.numel()

    def __repr__(self) -> str:
        return f"RewardClasses({[round(v, 4) for v in self.values.tolist()]})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RewardClasses) and torch.equal(self.values, other.values)

    def __hash__(self) -> int:
        return hash(tuple(self.values.tolist()))

    def table(self, device: torch.device | str) -> torch.Tensor:
        """The value table on ``device`` (cached, so imagination does not copy it each step)."""
        device = torch.device(device)
        if device not in self._device_cache:
            self._device_cache[device] = self.values.to(device)
        return self._device_cache[device]

    def to_values(self, classes: torch.Tensor) -> torch.Tensor:
        """Class indices (any shape) -> float32 reward values."""
        return self.table(classes.device)[classes.long()]

    def to_classes(self, rewards: torch.Tensor) -> torch.Tensor:
        """Reward values (any shape) -> the index of the nearest class value (int64)."""
        table = self.table(rewards.device)
        return (rewards.float().unsqueeze(-1) - table).abs().argmin(-1)

    def check(self, rewards: torch.Tensor) -> torch.Tensor:
        """``to_classes``, but raise ``ValueError`` for values that match no class.

        This reads the result on the host, so it belongs in data collection, not in a hot loop.
        """
        classes = self.to_classes(rewards)
        error = (self.to_values(classes) - rewards.float()).abs()
        if error.numel() and float(error.max()) > self.tolerance:
            bad = float(rewards.flatten()[error.flatten().argmax()])
            raise ValueError(f"reward {bad} is none of the reward classes {self.values.tolist()}")
        return classes


@dataclass(frozen=True)
class RewardSpec:
    """How a world's rewards are described to the models that predict them.

    - ``classes``: the finite set of step rewards (a learned model classifies them, as the
      I2A paper does); ``terminal`` lists the classes that end the episode when they occur
      (Sokoban's last-box reward), so a reward classifier also predicts episode ends.
    - ``events`` and ``tasks``: named per-step event counts and, per task, the weight of each
      event (reward = events . weights), for worlds whose one model serves several tasks.
      ``task`` names the task this env id plays; ``event_max`` the largest count of each event
      in one step (a model classifies counts 0..max); ``terminal_events`` the events that end
      the episode when they occur (MiniPacman: killed), as ``terminal`` does for classes.
    - neither: rewards are real numbers (a model regresses them).
    """

    classes: tuple[float, ...] = ()
    terminal: tuple[int, ...] = ()
    events: tuple[str, ...] = ()
    tasks: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    task: str | None = None
    event_max: tuple[int, ...] = ()
    terminal_events: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(float(v) for v in self.classes))
        if any(not 0 <= t < len(self.classes) for t in self.terminal):
            raise ValueError(f"terminal classes {self.terminal} are not among {len(self.classes)} classes")
        for task, weights in self.tasks.items():
            if len(weights) != len(self.events):
                raise ValueError(f"task {task!r} weighs {len(weights)} events, the world has {len(self.events)}")
        if self.task is not None and self.task not in self.tasks:
            raise ValueError(f"task {self.task!r} is none of {', '.join(self.tasks)}")
        if self.event_max and len(self.event_max) != len(self.events):
            raise ValueError(f"event_max has {len(self.event_max)} entries for {len(self.events)} events")
        if any(not 0 <= e < len(self.events) for e in self.terminal_events):
            raise ValueError(f"terminal events {self.terminal_events} are not among {len(self.events)} events")

    @property
    def weights(self) -> torch.Tensor:
        """The event weights of this id's task ``[E]`` float32 (reward = events . weights)."""
        if self.task is None:
            raise ValueError("these rewards have no task (no event weights)")
        return torch.tensor(self.tasks[self.task], dtype=torch.float32)

    def event_reward(self, events: torch.Tensor) -> torch.Tensor:
        """Events ``[..., E]`` (counts) -> this task's reward ``[...]``."""
        return events.float() @ self.weights.to(events.device)

    @property
    def reward_classes(self) -> RewardClasses | None:
        return RewardClasses(self.classes) if self.classes else None


@runtime_checkable
class BatchedEnv(Protocol):
    """reverie's batched env (see the module docstring); ``get_state``/``set_state`` and
    ``reset_to`` are optional, and the spec of what it plays is ``env.spec``."""

    num_envs: int
    max_steps: int

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        ...

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                   torch.Tensor, dict[str, Any]]:
        ...


def checked_actions(actions, num_envs: int, names: Sequence[str], device: torch.device) -> torch.Tensor:
    """``actions`` as ``num_envs`` int64 indices into ``names`` on ``device`` (a one-line error otherwise):
    the check every batched env's ``step`` starts with."""
    actions = torch.as_tensor(actions, device=device)
    n = len(names)
    if actions.shape != (num_envs,) or actions.is_floating_point() or actions.is_complex():
        raise ReverieError(f"actions must be {num_envs} integers in 0..{n - 1}, got shape {tuple(actions.shape)} "
                           f"{actions.dtype}")
    low, high = torch.aminmax(actions)
    if low < 0 or high >= n:
        raise ReverieError(f"actions must be in 0..{n - 1} ({', '.join(names)})")
    return actions.long()


def checked_episodes(episodes, num_envs: int, device: torch.device) -> torch.Tensor:
    """``episodes`` as ``num_envs`` int64 episode ids on ``device`` (``reset_to``'s check)."""
    episodes = torch.as_tensor(episodes, device=device)
    if episodes.shape != (num_envs,) or episodes.is_floating_point():
        raise ReverieError(f"episodes must be {num_envs} integer ids, got shape {tuple(episodes.shape)}")
    return episodes.long()


def integer_option(value: Any, name: str, low: int = 1) -> int:
    """An env option that must be an integer >= ``low`` (bools and fractional floats refused, one line)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if isinstance(value, bool) or number < low or isinstance(value, float) and value != number:
        raise ReverieError(f"{name} must be an integer >= {low}, got {value!r}")
    return number


def distinct_episodes(env) -> int | None:
    """How many distinct held-out episodes the env's split holds (from ``env.describe()``, which
    a world may offer; None where it does not say, e.g. a seeded world with endless episodes)."""
    describe = getattr(env, "describe", None)
    return describe().get("distinct_episodes") if describe is not None else None


def _bounds(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:g}" for v in values)


#: make(spec, split, num_envs, seed, device, **options) -> BatchedEnv
MakeEnv = Callable[..., BatchedEnv]


@dataclass(frozen=True)
class EnvSpec:
    """One env id: what its observations, actions and rewards are, and how to play it.

    Args:
        id: the env id (``sokoban-7x7-2``).
        description: one line for ``--help`` and reports.
        observation, actions, rewards: see :class:`ObsSpec`, :class:`ActionSpec`, :class:`RewardSpec`.
        make: ``make(spec, split, num_envs, seed, device, **options) -> BatchedEnv``; ``split`` is
            ``train``, ``valid`` or ``test`` (or a world-specific source, e.g. a level folder).
        splits: the splits this id has.
        max_steps: the episode step cap.
        success: the name of what ``info["success"]`` means (``"solved"``), or None where a
            world has only returns; consumers report ``success_rate`` only where it is set.
        perfect_model: ``perfect_model(spec) -> EnvironmentModel``: the rules as a model.
        default_model: the name of the shipped learned model I2A imagines with by default.
        render: ``render(obs [B, *shape]) -> uint8 RGB [B, H, W, 3]`` for GIFs and reports.
        configure: ``configure(spec, **options) -> EnvSpec``: the spec of this id under env
            options (e.g. ``observation="rgb"``); None if the id takes no options.
        options: the env options this spec was configured with (passed on to ``make``).
        overlap: ``overlap(spec, source, **options) -> int``: how many held-out episodes of
            ``source`` are training episodes (evaluation refuses those); None: never any.
        extra: anything else a world wants to hand its own tools.
    """

    id: str
    description: str
    observation: ObsSpec
    actions: ActionSpec
    rewards: RewardSpec
    make: MakeEnv
    splits: tuple[str, ...] = ("train", "valid", "test")
    max_steps: int = 100
    success: str | None = None
    perfect_model: Callable[["EnvSpec"], Any] | None = None
    default_model: str | None = None
    render: Callable[[torch.Tensor], torch.Tensor] | None = None
    configure: Callable[..., "EnvSpec"] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    overlap: Callable[..., int] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_actions(self) -> int:
        """How many discrete actions; a one-line error on a continuous-action id, so every consumer
        that needs indices (A2C, I2A, search, grid models, ``reverie play``) refuses it clearly."""
        if self.actions.continuous:
            raise ReverieError(f"env {self.id} has continuous actions ({self.actions.dim}-D in "
                               f"[{_bounds(self.actions.low)}, {_bounds(self.actions.high)}]); this command "
                               f"needs discrete actions")
        return self.actions.n

    @property
    def continuous(self) -> bool:
        """Whether this id's actions are continuous (see :class:`ActionSpec`)."""
        return self.actions.continuous

    def with_options(self, **options: Any) -> "EnvSpec":
        """This id's spec under env ``options`` (unknown options: a one-line error)."""
        options = {k: v for k, v in options.items() if v is not None}
        if not options:
            return self
        if self.configure is None:
            raise ReverieError(f"env {self.id} takes no options, got {', '.join(sorted(options))}")
        spec = self.configure(self, **options)
        return dataclasses.replace(spec, options={**self.options, **options})

    def make_env(self, split: str = "train", num_envs: int = 1, seed: int | None = None,
                 device: torch.device | str = "cpu", **options: Any) -> BatchedEnv:
        """The batched env of ``split`` (see :func:`reverie.envs.registry.make_env`)."""
        spec = self.with_options(**options)
        env = spec.make(spec, split, int(num_envs), seed, torch.device(device), **spec.options)
        env.spec = spec
        return env

    def make_perfect_model(self):
        """The world's rules as an environment model (a one-line error where there are none)."""
        if self.perfect_model is None:
            raise ReverieError(f"env {self.id} has no perfect model (its rules are not available as a model)")
        return self.perfect_model(self)
