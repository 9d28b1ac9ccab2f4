"""Vector environment models for continuous control: MLP residual, structured, ensembles.

Three model kinds share one class, :class:`VectorModel`, behind the ``EnvironmentModel``
interface (``step(obs [B, S], action [B, A]) -> (next_obs [B, S], reward [B])``):

- ``"mlp"``: a residual MLP, ``x' = x + f(x, u)``;
- ``"structured"``: ``x' = x + dt (A(x, u) x + B(x, u) u)`` with ``A`` and ``B`` read from two
  small MLPs whose inputs leave out the position features (``position_dims``), so the local
  linearisation of the dynamics is the same wherever the system is (translation invariance);
- either of them as a bootstrap **ensemble** of ``members`` networks fitted on resampled data:
  ``step`` returns the members' mean (or, in ``"partition"`` mode, sends each block of rows
  through one member: a planner's particles then sample the ensemble at one model's cost),
  :meth:`VectorModel.disagreement` their spread.

The members are not a Python list: every layer holds ``[members, in, out]`` weights and runs
as one batched matrix product, so an ensemble of five costs one call, not five.

Inputs and targets are normalised with statistics stored in the model's buffers (they travel
with its checkpoint): the networks see standardised states and actions, and predict
standardised state changes. The structured model keeps its algebraic form in raw units;
:meth:`VectorModel.matrices` gives its ``A`` and ``B`` in those units.

A reward head (``learn_reward``) fits ``r(x, u)`` for tasks whose reward is not known; with
none, ``step`` returns zeros and a planner supplies the known reward. An episode-end head
(``learn_done``) fits the logit that a transition ended its episode (a MountainCar goal, a
fall), so imagined rollouts stop where real ones would; with none, ``step`` never ends one.

:func:`fit_vector_model` fits with a validation split, early stopping on the validation
loss and the best weights kept. Files are the one model format of :mod:`reverie.models.io`
(type ``"vector"``); :func:`save_vector_model` / :func:`load_vector_model` are its aliases.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ..core.errors import ReverieError
from ..core.config import option

KINDS = ("mlp", "structured")


@dataclass
class VectorModelConfig:
    """The shape of a vector environment model."""

    obs_dim: int = option(6, "state features")
    action_dim: int = option(2, "action features")
    kind: str = option("structured", "mlp (x' = x + f(x, u)) or structured (x' = x + dt (A x + B u))")
    hidden: int = option(64, "hidden units per layer")
    layers: int = option(2, "hidden layers per network")
    members: int = option(1, "bootstrap ensemble members (1 = a single model)")
    dt: float = option(0.2, "time step of the structured model's x' = x + dt (A x + B u)")
    position_dims: tuple[int, ...] = option((), "state features left out of A's and B's inputs (positions)")
    learn_reward: bool = option(False, "also fit a reward head r(x, u)")
    learn_done: bool = option(False, "also fit an episode-end head: the logit that (x, u) ends the episode")

    def __post_init__(self) -> None:
        self.position_dims = tuple(int(d) for d in self.position_dims)
        if self.kind not in KINDS:
            raise ReverieError(f"unknown vector model kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        for name in ("obs_dim", "action_dim", "hidden", "layers", "members"):
            if getattr(self, name) < 1:
                raise ReverieError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.dt > 0:
            raise ReverieError(f"dt must be > 0, got {self.dt}")
        bad = [d for d in self.position_dims if not 0 <= d < self.obs_dim]
        if bad or len(set(self.position_dims)) != len(self.position_dims):
            raise ReverieError(f"position_dims {self.position_dims} must be distinct features in [0, {self.obs_dim})")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["position_dims"] = list(self.position_dims)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VectorModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        return cls(**data)


class EnsembleLinear(nn.Module):
    """``members`` independent linear layers applied as one batched product: [K, N, in] -> [K, N, out]."""

    def __init__(self, members: int, fan_in: int, fan_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(members, fan_in, fan_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """An MLP per member (ReLU hidden layers), all members in one batched pass."""

    def __init__(self, members: int, fan_in: int, fan_out: int, hidden: int, layers: int) -> None:
        super().__init__()
        sizes = [fan_in] + [hidden] * layers
        self.hidden = nn.ModuleList(EnsembleLinear(members, a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = EnsembleLinear(members, sizes[-1], fan_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


class Transitions(NamedTuple):
    """A batch of vector transitions: ``obs [N, S]``, ``action [N, A]``, ``next_obs [N, S]``,
    ``reward [N]``, and optionally ``done [N]`` (the transition ended its episode; what an
    episode-end head fits)."""

    obs: torch.Tensor
    action: torch.Tensor
    next_obs: torch.Tensor
    reward: torch.Tensor
    done: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.obs.shape[0]

    def index(self, idx: torch.Tensor) -> "Transitions":
        return Transitions(*(None if t is None else t[idx] for t in self))

    def cat(self, other: "Transitions") -> "Transitions":
        if (self.done is None) != (other.done is None):
            raise ReverieError("cannot join transitions with and without episode ends")
        return Transitions(*(None if a is None else torch.cat([a, b]) for a, b in zip(self, other)))

    def check(self, obs_dim: int, action_dim: int) -> None:
        n = self.obs.shape[0]
        shapes = {"obs": (n, obs_dim), "action": (n, action_dim), "next_obs": (n, obs_dim), "reward": (n,),
                  "done": (n,)}
        for name, want in shapes.items():
            if getattr(self, name) is None:
                continue
            got = tuple(getattr(self, name).shape)
            if got != want:
                raise ReverieError(f"transitions: {name} has shape {got}, expected {want}")


class VectorModel(nn.Module):
    """A learned vector dynamics model (see the module docstring)."""

    #: How ``step`` uses an ensemble: ``"mean"`` runs every row through every member and
    #: returns their mean; ``"partition"`` splits the rows into ``members`` equal blocks and
    #: runs block i through member i only (a planner's particles then each follow one member
    #: for the whole imagined trajectory, at the cost of a single model). Partition needs the
    #: row count to be a multiple of ``members``; other batches use the mean.
    ENSEMBLE_MODES = ("mean", "partition")

    def __init__(self, config: VectorModelConfig, ensemble_mode: str = "mean") -> None:
        super().__init__()
        self.config = config
        if ensemble_mode not in self.ENSEMBLE_MODES:
            raise ReverieError(f"ensemble_mode must be one of {self.ENSEMBLE_MODES}, got {ensemble_mode!r}")
        self.ensemble_mode = ensemble_mode
        s, a, k = config.obs_dim, config.action_dim, config.members
        keep = [d for d in range(s) if d not in config.position_dims]
        self.register_buffer("keep_dims", torch.tensor(keep, dtype=torch.long), persistent=False)
        for name, size in (("obs", s), ("action", a), ("delta", s)):
            self.register_buffer(f"{name}_mean", torch.zeros(size))
            self.register_buffer(f"{name}_std", torch.ones(size))
        self.register_buffer("reward_mean", torch.zeros(()))
        self.register_buffer("reward_std", torch.ones(()))
        if config.kind == "mlp":
            self.net = EnsembleMLP(k, s + a, s, config.hidden, config.layers)
        else:
            # A's and B's networks are two ensembles of MLPs run as one batched pass: members
            # [0, K) give A (S*S outputs), members [K, 2K) give B (the first S*A outputs).
            self.ab_net = EnsembleMLP(2 * k, len(keep) + a, s * s, config.hidden, config.layers)
            # Start near x' = x: small A and B, so early predictions do not explode.
            with torch.no_grad():
                self.ab_net.out.weight.mul_(0.1)
                self.ab_net.out.bias.zero_()
        self.reward_net = EnsembleMLP(k, s + a, 1, config.hidden, config.layers) if config.learn_reward else None
        self.done_net = EnsembleMLP(k, s + a, 1, config.hidden, config.layers) if config.learn_done else None

    # ------------------------------------------------------------------ normalisation
    def set_normalisation(self, data: Transitions) -> None:
        """Store the inputs' and targets' means and standard deviations (from fitting data)."""
        def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)

        with torch.no_grad():
            for name, values in (("obs", data.obs), ("action", data.action), ("delta", data.next_obs - data.obs)):
                mean, std = stats(values.float())
                getattr(self, f"{name}_mean").copy_(mean)
                getattr(self, f"{name}_std").copy_(std)
            mean, std = stats(data.reward.float())
            self.reward_mean.copy_(mean)
            self.reward_std.copy_(std)

    def _inputs(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (obs - self.obs_mean) / self.obs_std, (action - self.action_mean) / self.action_std

    def _members(self, x: torch.Tensor) -> torch.Tensor:
        """[N, F] -> [K, N, F] (or pass [K, N, F] through: each member its own rows)."""
        return x.unsqueeze(0).expand(self.config.members, -1, -1) if x.dim() == 2 else x

    # ------------------------------------------------------------------ predictions
    def matrices(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The structured model's ``A [K, N, S, S]`` and ``B [K, N, S, A]`` in raw units.

        ``x' = x + dt (A x + B u)`` holds with these, member by member. Position features
        are not among the networks' inputs, so ``A`` and ``B`` cannot depend on them.
        """
        if self.config.kind != "structured":
            raise ReverieError("only the structured model has A and B matrices")
        a_norm, b_norm = self._scaled_matrices(obs, action)
        # The networks work in scaled units: state change / delta_std, state / obs_std,
        # action / action_std (no centring, so the linear form keeps its origin).
        big_a = self.delta_std[:, None] * a_norm / self.obs_std / self.config.dt
        big_b = self.delta_std[:, None] * b_norm / self.action_std / self.config.dt
        return big_a, big_b

    def _scaled_matrices(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, a, k = self.config.obs_dim, self.config.action_dim, self.config.members
        x, u = self._inputs(obs, action)
        z = torch.cat([x.index_select(-1, self.keep_dims), u], -1)
        z = z.unsqueeze(0).expand(2 * k, -1, -1) if z.dim() == 2 else torch.cat([z, z])
        out = self.ab_net(z)
        n = out.shape[1]
        return out[:k].view(k, n, s, s), out[k:, :, :s * a].reshape(k, n, s, a)

    def member_deltas(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Each member's predicted state change, ``[K, N, S]``, in raw units."""
        if self.config.kind == "mlp":
            x, u = self._inputs(obs, action)
            out = self.net(self._members(torch.cat([x, u], -1)))
            return self.delta_mean + self.delta_std * out
        a_norm, b_norm = self._scaled_matrices(obs, action)
        xs, us = (obs / self.obs_std).unsqueeze(-1), (action / self.action_std).unsqueeze(-1)
        dx = torch.matmul(a_norm, xs) + torch.matmul(b_norm, us)  # [K, N, S, 1] (broadcast over K)
        return self.delta_std * dx.squeeze(-1)

    def member_rewards(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Each member's predicted reward ``[K, N]`` (zeros without a reward head)."""
        if self.reward_net is None:
            shape = (self.config.members, obs.shape[-2])
            return torch.zeros(shape, dtype=obs.dtype, device=obs.device)
        x, u = self._inputs(obs, action)
        out = self.reward_net(self._members(torch.cat([x, u], -1))).squeeze(-1)
        return self.reward_mean + self.reward_std * out

    def member_done_logits(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor | None:
        """Each member's logit that ``(obs, action)`` ends the episode, ``[K, N]`` (None without
        an episode-end head)."""
        if self.done_net is None:
            return None
        x, u = self._inputs(obs, action)
        return self.done_net(self._members(torch.cat([x, u], -1))).squeeze(-1)

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batched ``(next_obs [N, S], reward [N], done [N])``: the members' mean (in partition
        mode, each row block's own member); ``done`` where the members' mean end probability
        passes one half (never without an episode-end head)."""
        next_obs, reward = self.predict(obs, action)
        logits = self.member_done_logits(obs, action)
        if logits is None:
            return next_obs, reward, torch.zeros(obs.shape[0], dtype=torch.bool, device=obs.device)
        return next_obs, reward, torch.sigmoid(logits).mean(0) > 0.5

    def predict(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(next_obs [N, S], reward [N])``, differentiable (what :meth:`step` and fitting use)."""
        if obs.dim() != 2 or obs.shape[-1] != self.config.obs_dim:
            raise ReverieError(f"obs must be [N, {self.config.obs_dim}], got {tuple(obs.shape)}")
        if action.dim() != 2 or action.shape[-1] != self.config.action_dim or action.shape[0] != obs.shape[0]:
            raise ReverieError(f"action must be [{obs.shape[0]}, {self.config.action_dim}], got {tuple(action.shape)}")
        k, n = self.config.members, obs.shape[0]
        if k > 1 and self.ensemble_mode == "partition" and n % k == 0:
            # Row block i goes through member i only: one member's cost for the whole batch.
            deltas = self.member_deltas(obs.view(k, n // k, -1), action.view(k, n // k, -1))
            delta = deltas.reshape(n, -1)
            if self.reward_net is None:
                return obs + delta, obs.new_zeros(n)
            rewards = self.member_rewards(obs.view(k, n // k, -1), action.view(k, n // k, -1))
            return obs + delta, rewards.reshape(n)
        deltas = self.member_deltas(obs, action)
        delta = deltas[0] if k == 1 else deltas.mean(0)
        if self.reward_net is None:
            return obs + delta, obs.new_zeros(obs.shape[0])
        return obs + delta, self.member_rewards(obs, action).mean(0)

    forward = predict

    def disagreement(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The members' spread ``[N]``: the std over members of the normalised predicted
        change, averaged over features (0 for a single model or identical members)."""
        deltas = self.member_deltas(obs, action) / self.delta_std
        if deltas.shape[0] < 2:
            return torch.zeros(deltas.shape[1], dtype=deltas.dtype, device=deltas.device)
        return deltas.std(0, unbiased=False).mean(-1)

    # ------------------------------------------------------------------ fitting
    def loss(self, batch: Transitions) -> dict[str, torch.Tensor]:
        """MSE of the standardised state change (and reward), summed over members.

        ``batch`` fields may be ``[N, ...]`` (every member sees the same rows) or
        ``[K, N, ...]`` (each member its own bootstrap rows).
        """
        target = (batch.next_obs - batch.obs) / self.delta_std
        pred = self.member_deltas(batch.obs, batch.action) / self.delta_std
        state = (pred - self._members(target) if target.dim() == 2 else pred - target).pow(2).mean((-1, -2)).sum()
        out = {"state": state}
        if self.reward_net is not None:
            r_pred = (self.member_rewards(batch.obs, batch.action) - self.reward_mean) / self.reward_std
            r_target = (batch.reward - self.reward_mean) / self.reward_std
            r_target = r_target.unsqueeze(0) if r_target.dim() == 1 else r_target
            out["reward"] = (r_pred - r_target).pow(2).mean(-1).sum()
        if self.done_net is not None and batch.done is not None:
            logits = self.member_done_logits(batch.obs, batch.action)
            target = batch.done.float()
            target = target.unsqueeze(0).expand_as(logits) if target.dim() == 1 else target
            out["done"] = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(-1).sum()
        out["loss"] = sum(out.values())
        return out


@dataclass
class VectorFitConfig:
    """How :func:`fit_vector_model` fits a vector model."""

    epochs: int = option(300, "passes over the training data at most")
    batch_size: int = option(256, "transitions per optimizer step")
    lr: float = option(3e-3, "learning rate (Adam)")
    weight_decay: float = option(1e-5, "AdamW weight decay")
    val_fraction: float = option(0.2, "share of the transitions held out for validation and early stopping")
    patience: int = option(20, "stop after this many epochs without a better validation loss; 0 = never")
    time_limit: float = option(0.0, "seconds of fitting at most; 0 = no limit")
    seed: int = option(0, "seed of the split, the bootstrap and the minibatches")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ReverieError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ReverieError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.val_fraction < 1:
            raise ReverieError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.patience < 0 or self.time_limit < 0 or self.weight_decay < 0:
            raise ReverieError("patience, time_limit and weight_decay must be >= 0")


@dataclass
class FitResult:
    """What fitting did: epochs run, the best validation loss, per-epoch losses, seconds."""

    epochs: int
    best_epoch: int
    best_val_loss: float
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fit_vector_model(model: VectorModel, data: Transitions, config: VectorFitConfig | None = None,
                     checkpoint: str | Path | None = None,
                     on_epoch: Callable[[int, float, float], None] | None = None) -> FitResult:
    """Fit ``model`` to ``data`` in place; keep the weights with the best validation loss.

    The split is random (seeded); each ensemble member trains on its own bootstrap resample of
    the training rows (a single model on the rows themselves). With ``checkpoint``, the best
    model so far is written there atomically whenever validation improves.
    """
    config = config or VectorFitConfig()
    data.check(model.config.obs_dim, model.config.action_dim)
    n = len(data)
    if n < 2:
        raise ReverieError(f"fitting needs at least 2 transitions, got {n}")
    g = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(n, generator=g)
    n_val = int(round(config.val_fraction * n)) if config.val_fraction > 0 else 0
    n_val = min(max(n_val, 1), n - 1) if config.val_fraction > 0 else 0
    val, train = data.index(order[:n_val]), data.index(order[n_val:])
    model.set_normalisation(train)
    k, n_train = model.config.members, len(train)
    boot = (torch.randint(0, n_train, (k, n_train), generator=g) if k > 1
            else torch.arange(n_train).unsqueeze(0))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, math.ceil(n_train / config.batch_size))
    best, best_state, best_epoch, stale = float("inf"), None, 0, 0
    result = FitResult(epochs=0, best_epoch=0, best_val_loss=float("nan"))
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        perm = boot[:, torch.randperm(n_train, generator=g)]
        total = 0.0
        for i in range(steps_per_epoch):
            idx = perm[:, i * config.batch_size:(i + 1) * config.batch_size]  # [K, b]
            batch = train.index(idx)
            loss = model.loss(batch)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) / k
        model.eval()
        train_loss = total / steps_per_epoch
        with torch.no_grad():
            val_loss = float(model.loss(val)["loss"]) / k if n_val else train_loss
        result.train_loss.append(round(train_loss, 6))
        result.val_loss.append(round(val_loss, 6))
        result.epochs = epoch
        if on_epoch is not None:
            on_epoch(epoch, train_loss, val_loss)
        if val_loss < best - 1e-9:
            best, best_epoch, stale = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
            if checkpoint is not None:
                save_vector_model(model, checkpoint, {"epoch": epoch, "val_loss": val_loss})
        else:
            stale += 1
        if config.patience and stale >= config.patience:
            result.stopped_early = True
            break
        if config.time_limit and time.perf_counter() - start > config.time_limit:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.best_epoch, result.best_val_loss = best_epoch, best
    result.seconds = time.perf_counter() - start
    return result


# ---------------------------------------------------------------------- checkpoints
def save_vector_model(model: VectorModel, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (config, weights, normalisation) atomically: :func:`reverie.models.io.save_model`."""
    from .io import save_model

    return save_model(model, path, metadata)


def load_vector_model(path: str | Path, device: torch.device | str = "cpu") -> VectorModel:
    """Read a vector model file: :func:`reverie.models.io.load` that refuses other model types."""
    from .io import load

    return load(path, device, expect="vector")
