"""Data-parallel actor-critic over processes with torch.distributed (the DD-PPO pattern).

Every rank (one process, started by ``torchrun``) keeps its own batched envs, its own copy
of the policy and of the frozen environment model, and acts and imagines locally; the only
traffic per update is one all-reduce of the gradients (plus one flag saying whether some
rank was asked to stop). Gloo on the CPU, NCCL on CUDA.

**Global batch.** Every rank has ``B`` envs and computes its losses as means over its own
``n_steps x B`` samples; the ranks' gradients are then *averaged*. Equal shares make the
average of the means the mean over all ``N x n_steps x B`` samples, so an update is the one
a single process with ``N x B`` envs makes on the same data: the gradient is clipped after
the average (the global gradient's norm), advantage normalisation uses the moments of the
global batch, and the frame counter (hence the learning-rate schedule) counts all ranks'
frames. What differs from one process with ``N x B`` envs is only where the randomness
comes from: each rank draws episodes (levels, seeds) and actions from its own generators.

**Why an explicit all-reduce and not DistributedDataParallel.** DDP ties its gradient
bookkeeping to calls of the wrapped module's ``forward``, while I2A's distillation loss runs
the rollout policy outside ``forward`` (through ``auxiliary_losses``) and the trainer calls
the policy ``n_steps + 1`` times per rollout without gradients; DDP also renames the weights
(``module.`` prefix, so checkpoints would no longer load in one process). Its gain,
overlapping communication with the backward pass, is small here: the backward pass is a
small share of an update, whose time goes to the env and to imagination. One flattened
all-reduce between ``backward()`` and clipping (:meth:`A2C.reduce_gradients`) covers every
trained weight (policy and rollout policy, whoever calls them) and leaves the
single-process trainer as it was.

**Seeds.** Rank ``r`` seeds its env (its episode sampler), its action sampler, its imagination
sampler and torch's global generator with :func:`rank_seed` ``(seed, r)``: rank 0 uses the
run's seed itself (so one rank is exactly the single-process run), other ranks seeds hashed
from ``(seed, rank)``, so their streams are unrelated. Every rank plays the same training
split (Sokoban: levels drawn with replacement from one bank), as the envs of one process do.

**Failures.** A collective that fails (a rank died, its connection dropped, or nothing
arrived within ``REVERIE_DIST_TIMEOUT`` seconds, default 600) raises :class:`RankFailure`,
a :class:`ReverieError` the CLI prints in one line; torchrun, seeing a worker exit,
stops the others and exits non-zero naming the failed rank. Checkpoints are written only
after every rank's state has been gathered, so a failure never leaves a partial one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..core.errors import ReverieError
from .actor_critic import A2C, A2CConfig, BatchedEnv

__all__ = ["World", "RankFailure", "launched", "init_world", "place", "shutdown", "rank_seed", "collective",
           "DistributedA2C", "reseed_imagination", "broadcast_module", "all_sum", "gather_to_main",
           "broadcast_from_main", "TIMEOUT_ENV"]

TIMEOUT_ENV = "REVERIE_DIST_TIMEOUT"


class RankFailure(ReverieError):
    """A collective failed: another rank died, hung or cannot be reached."""


@dataclass(frozen=True)
class World:
    """This process's place in the job."""

    rank: int
    size: int
    local_rank: int
    backend: str
    device: torch.device
    owned: bool = True  # this World set up the process group (so :func:`shutdown` ends it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """True in a process started by torchrun (or anything that sets its variables)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_world() -> World:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...).

    Gloo carries CPU tensors; where CUDA exists NCCL carries CUDA ones (one group with both),
    so the group can be joined before the run's device is known (on resume, from the checkpoint).
    """
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if dist.is_initialized():  # the caller's group: used as it is and left open
        return World(dist.get_rank(), dist.get_world_size(), local_rank, "gloo", torch.device("cpu"), False)
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    timeout = float(os.environ.get(TIMEOUT_ENV, 600))
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
    except (RuntimeError, ValueError) as err:
        raise RankFailure(f"rank {rank} of {size}: could not join the process group "
                          f"({_first_line(err)})") from None
    return World(rank, size, local_rank, "gloo", torch.device("cpu"))


def place(world: World, device: str | torch.device) -> World:
    """``world`` training on ``device``: CUDA becomes ``cuda:LOCAL_RANK`` (a GPU per process, NCCL)."""
    device = torch.device(device)
    if device.type != "cuda":
        return replace(world, device=device, backend="gloo")
    device = torch.device("cuda", world.local_rank if device.index is None else device.index)
    torch.cuda.set_device(device)
    return replace(world, device=device, backend="nccl")


def shutdown(world: World) -> None:
    """Leave the process group if ``world`` set it up."""
    if world.owned and dist.is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int, salt: int = 0) -> int:
    """Rank ``rank``'s seed: ``seed`` itself for rank 0 (salt 0), else a 63-bit hash of all three."""
    if rank == 0 and salt == 0:
        return int(seed)
    words = np.random.SeedSequence([int(seed) % 2**63, int(rank), int(salt)]).generate_state(2, np.uint64)
    return int(words[0]) >> 1


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]


@contextmanager
def collective(what: str, world: World) -> Iterator[None]:
    """Turn a failed collective into a one-line :class:`RankFailure` naming what was being done."""
    try:
        yield
    except RuntimeError as err:  # gloo and NCCL errors (DistError among them) are RuntimeErrors
        raise RankFailure(f"rank {world.rank} of {world.size}: {what} failed: another rank died, hung "
                          f"or cannot be reached ({_first_line(err)})") from None


def broadcast_module(module: nn.Module, world: World) -> None:
    """Give every rank rank 0's weights and buffers (once, at the start)."""
    with torch.no_grad(), collective("sharing the initial weights", world):
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def all_sum(values: torch.Tensor, world: World, what: str) -> torch.Tensor:
    """The sum over ranks of ``values`` (a new tensor)."""
    total = values.detach().clone()
    with collective(what, world):
        dist.all_reduce(total)
    return total


def gather_to_main(obj: Any, world: World) -> list[Any] | None:
    """Every rank's ``obj`` (picklable, CPU tensors) as a list on rank 0; None elsewhere."""
    out: list[Any] | None = [None] * world.size if world.is_main else None
    with collective("gathering the ranks' states for a checkpoint", world):
        dist.gather_object(obj, out, dst=0)
    return out


def broadcast_from_main(obj: Any, world: World, what: str) -> Any:
    """Rank 0's ``obj`` on every rank."""
    box = [obj if world.is_main else None]
    with collective(what, world):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def reseed_imagination(policy: nn.Module, seed: int) -> None:
    """Give every module of ``policy`` that samples on its own (``reseed``: I2A's imagination
    core) its own stream, derived from ``seed``."""
    samplers = [m for m in policy.modules() if m is not policy and callable(getattr(m, "reseed", None))]
    for i, module in enumerate(samplers):
        module.reseed(rank_seed(seed, 1 + i, salt=1))


class DistributedA2C(A2C):
    """:class:`A2C` whose updates average gradients over the ranks (see the module docstring).

    ``frames`` counts every rank's frames, so the learning-rate schedule, logs and
    checkpoints speak of the global run. ``env`` and ``seed`` are this rank's.
    """

    def __init__(self, policy: nn.Module, env: BatchedEnv, world: World, config: A2CConfig | None = None,
                 total_frames: int | None = None, seed: int = 0) -> None:
        self.world = world
        super().__init__(policy, env, config, total_frames, seed)
        broadcast_module(policy, world)

    @property
    def frames_per_update(self) -> int:
        return self.config.n_steps * self.num_envs * self.world.size

    def collect(self) -> dict[str, torch.Tensor]:
        rollout = super().collect()
        self.frames += (self.world.size - 1) * self.config.n_steps * self.num_envs
        return rollout

    def advantage_moments(self, advantages: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = advantages.numel() * self.world.size
        mean = all_sum(advantages.sum(), self.world, "normalising advantages") / n
        squares = all_sum((advantages - mean).pow(2).sum(), self.world, "normalising advantages")
        return mean, (squares / (n - 1)).sqrt()

    def reduce_gradients(self) -> None:
        grads = [p.grad for p in self.policy.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        with collective("averaging gradients", self.world):
            dist.all_reduce(flat)
        flat /= self.world.size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def any_rank(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any (agreeing to stop together)."""
        value = torch.tensor([float(flag)], device=self.world.device)
        return bool(all_sum(value, self.world, "agreeing whether to stop") > 0)
