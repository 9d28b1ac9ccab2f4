"""I2A's imagination core: a frozen environment model driven by a distilled rollout policy.

For a batch of ``B`` observations the core imagines one rollout per action, all ``B x A``
rollouts as one tensor batch: rollout ``a`` of observation ``b`` (row ``b * A + a``) starts
with the forced action ``a``; the rollout policy then picks the remaining ``L - 1`` actions
from the imagined frames. The Python loop runs over the ``L`` imagined steps only, never
over actions or envs, and nothing is read back to the host.

Rollout actions are **sampled** from the rollout policy's softmax by default (the paper's
rollout policy is a stochastic policy distilled from the agent's; sampling gives varied
futures), drawn with the core's own ``torch.Generator`` so a seed fixes them. The
generator's state is part of the module's state dict (``get_extra_state``), so a checkpoint
resumes the same draws. ``actions="greedy"`` takes the most likely action instead. In eval
mode the draws come from a second generator, restarted from its seed each time the core enters
eval mode: evaluating never moves the training stream (a run with evaluations in between trains
as one without), and two evaluations of the same weights imagine the same futures.

Latent models imagine too: a rollout starts from ``initial_state(model, obs)`` (through
:func:`~reverie.models.base.step_every_action`, which models may make cheaper) and what the
rollout policy and the encoder see of each imagined state is ``observe(model, state)`` (both
the identity for observation models; see :mod:`reverie.models.base`).

The environment model is kept *outside* the module's registered children: it is frozen
(``requires_grad`` off, eval mode), run under ``torch.no_grad()``, never in
``parameters()`` (so neither the optimizer nor ``count_parameters`` sees it) and not in the
state dict (runs refer to it by name or path). ``.to(device)`` still moves it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from ..core.errors import ReverieError
from ..models.base import observe, step_every_action
from .readers import input_scale, scaled, small_reader

__all__ = ["RolloutPolicy", "ImaginationCore", "ImaginationCache", "model_digest", "ROLLOUT_ACTIONS"]

ROLLOUT_ACTIONS = ("sample", "greedy")
#: The eval-mode sampler's seed is the core's seed plus this.
EVAL_SEED_OFFSET = 0x5EED


def orthogonal(module: nn.Module, gain: float) -> nn.Module:
    """Orthogonal weights and zero biases (as the model-free agents are initialised)."""
    nn.init.orthogonal_(module.weight, gain)
    nn.init.zeros_(module.bias)
    return module


class RolloutPolicy(nn.Module):
    """The small model-free policy that acts inside imagination: one conv -> linear -> logits.

    It runs on ``B x A`` imagined frames at every imagined step, so it is kept one layer
    deep and strided (:func:`~reverie.agents.readers.small_reader`); it learns only from
    distillation of the agent's policy.
    """

    def __init__(self, obs_shape: Sequence[int], num_actions: int, channels: int = 16) -> None:
        super().__init__()
        conv, size = small_reader(obs_shape, channels)
        self.conv = orthogonal(conv, math.sqrt(2))
        self.logits = orthogonal(nn.Linear(size, num_actions), 0.01)
        self.input_scale = input_scale(obs_shape)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.logits(torch.relu(self.conv(scaled(obs, self.input_scale))).flatten(1))


def model_digest(model) -> torch.Tensor:
    """A SHA-256 of the model's weights (or of its ``repr`` if it has none and a ``repr`` of
    its own, else of its class), as 32 uint8 values.

    Checkpoints store it so that a run resumed or evaluated with a different model file
    fails loudly instead of silently imagining something else.
    """
    digest = hashlib.sha256(type(model).__name__.encode())
    if isinstance(model, nn.Module):
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
    elif type(model).__repr__ is not object.__repr__:  # object's repr holds an address
        digest.update(repr(model).encode())
    else:
        digest.update(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    return torch.frombuffer(bytearray(digest.digest()), dtype=torch.uint8).clone()


class ImaginationCore(nn.Module):
    """``forward(obs [B, C, H, W])`` -> imagined frames ``[L, B*A, C, H, W]`` and rewards ``[L, B*A]``.

    Args:
        env_model: any :class:`~reverie.models.base.EnvironmentModel`; frozen here.
        rollout_policy: module mapping observations to action logits.
        num_actions: ``A``, the number of rollouts per observation.
        rollout_length: ``L``, imagined steps per rollout (the forced first one included).
        actions: ``"sample"`` or ``"greedy"`` (see the module docstring).
        seed: seed of the sampling generator (default: drawn from torch's global RNG).
    """

    def __init__(self, env_model, rollout_policy: nn.Module, num_actions: int, rollout_length: int = 5,
                 actions: str = "sample", seed: int | None = None) -> None:
        super().__init__()
        if actions not in ROLLOUT_ACTIONS:
            raise ReverieError(f"rollout actions must be one of {', '.join(ROLLOUT_ACTIONS)}, got {actions!r}")
        if rollout_length < 1:
            raise ReverieError(f"rollout_length must be >= 1, got {rollout_length}")
        if isinstance(env_model, nn.Module):
            env_model.requires_grad_(False)
            env_model.eval()
        object.__setattr__(self, "env_model", env_model)  # not a registered child: see module docstring
        self.rollout_policy = rollout_policy
        self.num_actions, self.rollout_length, self.actions = int(num_actions), int(rollout_length), actions
        self.seed = int(torch.randint(0, 2**62, ()).item()) if seed is None else int(seed)
        self._generator: torch.Generator | None = None
        self._pending_state: torch.Tensor | None = None
        self._eval_generator: torch.Generator | None = None

    def extra_repr(self) -> str:
        return (f"env_model={self.env_model!r}, rollout_length={self.rollout_length}, "
                f"actions={self.actions!r}")

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        if isinstance(self.env_model, nn.Module):
            self.env_model._apply(fn)
        return self

    # -- the sampler's state travels in the state dict ----------------------------------------

    def generator(self, device: torch.device) -> torch.Generator:
        """The sampling generator on ``device`` (created on first use, seeded)."""
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device)
            self._generator.manual_seed(self.seed)
            if self._pending_state is not None:
                self._set_generator_state(self._pending_state)
                self._pending_state = None
        return self._generator

    def eval_generator(self, device: torch.device) -> torch.Generator:
        """The eval-mode sampling generator (seeded from ``seed``, restarted on entering eval mode)."""
        if self._eval_generator is None or self._eval_generator.device != device:
            self._eval_generator = torch.Generator(device)
            self._eval_generator.manual_seed((self.seed + EVAL_SEED_OFFSET) % 2**63)
        return self._eval_generator

    def train(self, mode: bool = True) -> "ImaginationCore":
        if self.training and not mode:
            self._eval_generator = None  # each evaluation starts the eval stream afresh
        return super().train(mode)

    def reseed(self, seed: int) -> None:
        """Draw imagined actions from a fresh stream seeded with ``seed`` (data-parallel ranks
        each get their own); the generator is re-created on first use."""
        self.seed = int(seed)
        self._generator = self._pending_state = self._eval_generator = None

    def _set_generator_state(self, state: torch.Tensor) -> None:
        assert self._generator is not None
        try:
            self._generator.set_state(state.cpu())
        except RuntimeError:
            raise ReverieError("the checkpoint's rollout sampler state was saved on another kind of device; "
                               "resume on the device the run was trained on") from None

    def _device(self) -> torch.device:
        return next(self.rollout_policy.parameters()).device

    def get_extra_state(self) -> torch.Tensor:
        if self._generator is None and self._pending_state is not None:
            return self._pending_state.clone()
        return self.generator(self._device()).get_state()

    def set_extra_state(self, state: torch.Tensor) -> None:
        if self._generator is None:
            self._pending_state = state.detach().clone()
        else:
            self._set_generator_state(state)

    # -- imagination ---------------------------------------------------------------------------

    def version(self) -> tuple:
        """Changes whenever imagination may change: another environment model object (also a
        parameter-free one, e.g. perfect -> copy), or a write to a weight it depends on (an
        optimizer step, ``load_state_dict``, any in-place write): what keeps cached rollouts honest.

        Writes through ``.data`` bypass autograd's version counters, the only thing a cheap
        check can read. reverie makes one such write, the distributed start-up broadcast,
        before any forward (the cache is empty then), and the cache is emptied by every
        gradient pass, so an entry lives only from acting to the update of one rollout, when
        the trainer writes no weight; code that writes weights through ``.data`` in between
        must call ``cache.clear()``.
        """
        tensors = list(self.rollout_policy.parameters())
        if isinstance(self.env_model, nn.Module):
            tensors += list(self.env_model.parameters())
        return (_Same(self.env_model), *(t._version for t in tensors))

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        """One action per row: the argmax, or a draw from ``softmax(logits)`` by the Gumbel-max
        trick (``argmax(logits + Gumbel noise)``, the noise as ``-log`` of Exp(1) draws),
        which takes half the time of ``torch.multinomial`` on these small batches."""
        if self.actions == "greedy":
            return logits.argmax(-1)
        generator = self.generator(logits.device) if self.training else self.eval_generator(logits.device)
        noise = torch.empty_like(logits, dtype=torch.float32).exponential_(generator=generator)
        return (logits.float() - noise.log()).argmax(-1)

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.num_actions
        model = self.env_model
        frames, rewards = [], []
        for t in range(self.rollout_length):
            if t == 0:  # the forced first actions: row b * A + a takes action a
                state, reward, _ = step_every_action(model, obs, a)
            else:
                state, reward, _ = model.step(state, action)
            frame = observe(model, state)
            frames.append(frame)
            rewards.append(reward)
            if t + 1 < self.rollout_length:
                action = self.choose(self.rollout_policy(frame))
        return torch.stack(frames), torch.stack(rewards).float()


class _Same:
    """An object in a version tuple, equal only to itself (held, so its id is never reused)."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False)  # compared by identity: fields are tensors
class _Entry:
    obs: torch.Tensor
    frames: torch.Tensor
    rewards: torch.Tensor
    version: tuple
    encoding: Any = None  # what the agent computed from the rollouts, kept beside them (e.g. I2A's Encoding)


class ImaginationCache:
    """Rollouts imagined in no-grad passes (acting), reused by the gradient pass (update).

    The A2C trainer scores each observation twice: while acting and again in the update,
    with the same weights. Imagination has no gradient path (frozen model, discrete actions),
    so the update can re-encode the very rollouts that were imagined while acting instead of
    imagining again; it then also sees the same sampled futures the actions were chosen
    with. An entry is used only when its observations are equal in value to the queried ones
    and no weight imagination depends on has changed since (see :meth:`ImaginationCore.version`);
    otherwise the rollouts are imagined afresh. ``max_rows`` bounds the observations held. An
    entry may also keep what the agent computed from its rollouts while acting (``encoding``:
    an object whose class has ``cat(parts)``, joining row blocks), handed back with them when
    every covering entry has one.

    When full, the cache keeps what it has and refuses newcomers: the trainer scores a
    rollout's acting steps first and only then its bootstrap and truncated episodes' last
    observations, which no update asks for, so at any batch size whose acting steps fit
    (``n_steps x num_envs <= max_rows``) the update finds all of them. (Evicting the oldest
    instead lost step 0 once ``n_steps x num_envs + num_envs`` exceeded ``max_rows``, and every
    update missed.) ``hits``, ``misses`` and ``refused`` (rows not cached) are counted.
    """

    def __init__(self, max_rows: int) -> None:
        self.max_rows = int(max_rows)
        self.entries: list[_Entry] = []
        self.hits = self.misses = self.refused = 0

    def __len__(self) -> int:
        return sum(e.obs.shape[0] for e in self.entries)

    def clear(self) -> None:
        self.entries.clear()

    def add(self, obs: torch.Tensor, frames: torch.Tensor, rewards: torch.Tensor, version: tuple,
            encoding: Any = None) -> None:
        if self.max_rows <= 0:
            return
        self.entries = [e for e in self.entries if e.version == version]
        if len(self) + obs.shape[0] > self.max_rows:
            self.refused += obs.shape[0]  # full: keep the older entries, the ones an update asks for
            return
        self.entries.append(_Entry(obs.detach().clone(), frames, rewards, version, encoding))

    def take(self, obs: torch.Tensor, version: tuple) -> tuple[torch.Tensor, torch.Tensor, Any] | None:
        """The cached rollouts of ``obs`` (frames, rewards, and their encoding or None) if a run
        of consecutive entries covers it exactly, else None.

        Matched entries are removed; the others stay.
        """
        parts: list[_Entry] = []
        pos, rows = 0, obs.shape[0]
        for entry in self.entries:
            n = entry.obs.shape[0]
            if (pos < rows and entry.version == version and n <= rows - pos and entry.obs.shape[1:] == obs.shape[1:]
                    and torch.equal(entry.obs, obs[pos:pos + n])):
                parts.append(entry)
                pos += n
            elif parts and pos < rows:
                break  # a gap: the covering entries must be consecutive
        if pos != rows or not parts:
            self.misses += 1
            return None
        self.hits += 1
        for entry in parts:
            self.entries.remove(entry)
        # outside inference mode, cat makes normal tensors the encoder may save for backward
        encodings = [e.encoding for e in parts]
        encoding = None if any(e is None for e in encodings) else type(encodings[0]).cat(encodings)
        return torch.cat([e.frames for e in parts], dim=1), torch.cat([e.rewards for e in parts], dim=1), encoding
