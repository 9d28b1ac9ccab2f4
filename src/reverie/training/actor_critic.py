"""Synchronous advantage actor-critic (A2C, the batched form of A3C) for any batched env.

One update = a rollout of ``n_steps`` steps in every env of the batch, acting with the
current policy, then one gradient step on

    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy + sum(auxiliary losses)

where ``policy_loss = -mean(advantage * log pi(a|s))``, ``value_loss = mean((target - V(s))^2)``,
targets and advantages come from :mod:`.returns` (n-step, or GAE(lambda)), and the auxiliary
losses are whatever the policy's ``auxiliary_losses(obs, logits, value[, rollout])`` returns (see
:mod:`reverie.agents.actor_critic`). A truncated episode bootstraps from the value of its
last observation (the env reports it as ``info["final_obs"]``); a terminated one does not.

The env is anything with reverie's batched tensor API (:class:`BatchedEnv`):
``reset(seed) -> (obs, info)`` and ``step(actions) -> (obs, reward, terminated, truncated,
info)`` over ``num_envs`` envs with same-step auto-reset, ``info["final_index"]`` (envs whose
episode ended this step), ``info["final_obs"]`` (their last observations, in that order) and
``info["episode_return"]`` / ``info["episode_length"]`` (valid where an episode ended).
:class:`GymVectorAdapter` puts a Gymnasium vector env behind that API.

Acting runs under ``torch.inference_mode()``; the rollout is stored in preallocated buffers;
statistics stay tensors until someone asks for numbers, so nothing waits on the device inside
the loop. Action sampling draws from the trainer's own ``torch.Generator``, so on the CPU a
seed fixes the whole run, and :meth:`A2C.state_dict` holds all it needs to continue exactly.

Two speed options for pixel agents, off by default and kept only where measured faster
(``benchmarks/precision.py``): ``precision`` runs the agent's forward passes (acting and the
update's) under ``torch.autocast`` in bf16 (CPU or CUDA) or fp16 (CUDA, with a gradient scaler),
while the losses are reduced from float32 logits and values; ``channels_last`` stores the conv
weights and feeds observation batches in NHWC order, which some convolution kernels prefer.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..core.errors import ReverieError
from ..agents.actor_critic import auxiliary_losses, sample_actions
from ..core.config import option
from .returns import returns_and_advantages

__all__ = ["A2CConfig", "A2C", "BatchedEnv", "GymVectorAdapter", "EpisodeStats", "make_optimizer"]

OPTIMIZERS = ("rmsprop", "adam")
SCHEDULES = ("linear", "constant")
#: ``precision`` -> the autocast dtype of the agent's forward passes (None: plain float32)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class A2CConfig:
    """The actor-critic algorithm's settings (the defaults are the A3C paper's Atari ones)."""

    n_steps: int = option(5, "steps per env in each rollout (the n of n-step returns)")
    gamma: float = option(0.99, "discount factor")
    gae_lambda: float | None = option(None, "GAE lambda in [0, 1]; unset = plain n-step returns")
    lr: float = option(7e-4, "learning rate (the peak, with a linear schedule)")
    lr_schedule: str = option("linear", "learning rate schedule: linear (to 0 at the frame budget) or constant")
    optimizer: str = option("rmsprop", "rmsprop or adam")
    rmsprop_alpha: float = option(0.99, "RMSprop's smoothing constant")
    optim_eps: float = option(1e-5, "the optimizer's epsilon")
    entropy_coef: float = option(0.01, "weight of the entropy bonus")
    value_coef: float = option(0.5, "weight of the value loss")
    max_grad_norm: float = option(0.5, "clip the gradient's global norm to this; 0 = no clipping")
    normalize_advantages: bool = option(False, "scale each rollout's advantages to mean 0, std 1")
    bootstrap_truncated: bool = option(True, "a truncated episode (step cap) bootstraps from its last "
                                             "observation's value; off = the cap ends the return like a "
                                             "terminal state")
    precision: str = option("fp32", "the agent's forward passes in fp32, bf16 (autocast, CPU or CUDA) or fp16 "
                                    "(autocast, CUDA only); losses stay float32")
    channels_last: bool = option(False, "conv agents: weights and observation batches in channels-last (NHWC) "
                                        "memory order")

    def __post_init__(self) -> None:
        if self.n_steps < 1:
            raise ReverieError(f"--n-steps must be >= 1, got {self.n_steps}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ReverieError(f"--gamma must be in [0, 1], got {self.gamma}")
        if self.gae_lambda is not None and not 0.0 <= self.gae_lambda <= 1.0:
            raise ReverieError(f"--gae-lambda must be in [0, 1], got {self.gae_lambda}")
        if not 0 < self.lr < math.inf:  # nan and inf crash after the first update
            raise ReverieError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.lr_schedule not in SCHEDULES:
            raise ReverieError(f"--lr-schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ReverieError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        # nan passes "< 0" checks and then poisons the weights (or, as max_grad_norm, turns clipping off)
        for name in ("entropy_coef", "value_coef", "max_grad_norm"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ReverieError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {getattr(self, name)}")
        if not 0 < self.optim_eps < math.inf:  # 0 divides by zero where a gradient's history is 0
            raise ReverieError(f"--optim-eps must be a finite number > 0, got {self.optim_eps}")
        if not 0 < self.rmsprop_alpha < 1:
            raise ReverieError(f"--rmsprop-alpha must be in (0, 1), got {self.rmsprop_alpha}")
        if self.precision not in PRECISIONS:
            raise ReverieError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


class BatchedEnv(Protocol):
    """reverie's batched env API (what :class:`A2C` needs); ``get_state``/``set_state`` optional."""

    num_envs: int

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        ...

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                   torch.Tensor, dict[str, Any]]:
        ...


def make_optimizer(params, config: A2CConfig) -> torch.optim.Optimizer:
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, alpha=config.rmsprop_alpha, eps=config.optim_eps)
    return torch.optim.Adam(params, lr=config.lr, eps=config.optim_eps)


class EpisodeStats:
    """Finished episodes' return, length and successes, summed as tensors between reads.

    A success is ``info["success"]`` at an ended episode (envs whose world has no success
    report none, and count none)."""

    KEYS = ("episodes", "return_sum", "length_sum", "successes")

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.window = {k: torch.zeros((), dtype=torch.float64, device=device) for k in self.KEYS}
        self.total = {k: torch.zeros((), dtype=torch.float64, device=device) for k in self.KEYS}

    def add(self, index: torch.Tensor, info: dict[str, Any], terminated: torch.Tensor | None = None) -> None:
        """Count the episodes that ended in the envs ``index`` this step."""
        success = info.get("success")
        values = {
            "episodes": torch.tensor(float(index.numel()), dtype=torch.float64, device=self.device),
            "return_sum": info["episode_return"][index].double().sum(),
            "length_sum": info["episode_length"][index].double().sum(),
            "successes": (torch.as_tensor(success)[index].double().sum() if success is not None
                          else torch.zeros((), dtype=torch.float64, device=self.device)),
        }
        for key, value in values.items():
            self.window[key] += value
            self.total[key] += value

    def pop(self) -> dict[str, float]:
        """Means over the episodes since the last pop (NaN if none), then start a new window."""
        n = float(self.window["episodes"])
        result = {
            "episodes": n,
            "episode_return": float(self.window["return_sum"]) / n if n else math.nan,
            "episode_length": float(self.window["length_sum"]) / n if n else math.nan,
            "success_rate": float(self.window["successes"]) / n if n else math.nan,
            "total_episodes": float(self.total["episodes"]),
        }
        for value in self.window.values():
            value.zero_()
        return result

    def state_dict(self) -> dict[str, Any]:
        return {"window": {k: v.clone() for k, v in self.window.items()},
                "total": {k: v.clone() for k, v in self.total.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for part in ("window", "total"):
            saved = state[part]
            for key in self.KEYS:
                # checkpoints before success_rate counted successes as terminations (Sokoban: the same)
                getattr(self, part)[key].copy_(saved[key] if key in saved else saved["terminated"])


class A2C:
    """The trainer: ``train_step()`` collects one rollout and makes one gradient step.

    Args:
        policy: module with ``forward(obs) -> (logits [B, A], value [B])``.
        env: a :class:`BatchedEnv`; it is reset here with ``seed``.
        config: the algorithm's settings.
        total_frames: the frame budget the linear learning-rate schedule decays over.
        seed: seeds the env's reset and the action sampler (weights are the caller's).
    """

    def __init__(self, policy: nn.Module, env: BatchedEnv, config: A2CConfig | None = None,
                 total_frames: int | None = None, seed: int = 0) -> None:
        self.policy, self.env = policy, env
        self.config = config or A2CConfig()
        if self.config.lr_schedule == "linear" and not total_frames:
            raise ValueError("a linear learning-rate schedule needs total_frames")
        self.total_frames = total_frames
        self.device = next(policy.parameters()).device
        self.num_envs = int(env.num_envs)
        self.autocast_dtype = PRECISIONS[self.config.precision]
        if self.config.precision == "fp16" and self.device.type != "cuda":
            raise ReverieError(f"--precision fp16 needs a CUDA device (autocast in fp16 is slow on "
                               f"{self.device.type}); use bf16 there")
        # fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none
        self.scaler = torch.amp.GradScaler("cuda") if self.config.precision == "fp16" else None
        if self.config.channels_last:
            policy.to(memory_format=torch.channels_last)  # in place: 4-D weights only
        self.optimizer = make_optimizer(policy.parameters(), self.config)
        self.generator = torch.Generator(self.device)
        self.generator.manual_seed(seed)
        self.frames = 0
        self.updates = 0
        obs, _ = env.reset(seed=seed)
        self.obs = obs.to(self.device).clone()
        self.stats = EpisodeStats(self.device)
        T, N = self.config.n_steps, self.num_envs
        self._obs_buf = torch.empty((T, N, *self.obs.shape[1:]), dtype=self.obs.dtype, device=self.device)
        self._actions = torch.empty((T, N), dtype=torch.long, device=self.device)
        self._rewards = torch.empty((T, N), dtype=torch.float32, device=self.device)
        self._values = torch.empty((T, N), dtype=torch.float32, device=self.device)
        self._terminated = torch.empty((T, N), dtype=torch.bool, device=self.device)
        self._truncated = torch.empty((T, N), dtype=torch.bool, device=self.device)
        # each step's true next observation, kept only for a policy that learns from transitions
        self._next_obs = torch.empty_like(self._obs_buf) if getattr(policy, "needs_next_obs", False) else None

    @property
    def frames_per_update(self) -> int:
        return self.config.n_steps * self.num_envs

    def learning_rate(self) -> float:
        """The learning rate of the next update."""
        if self.config.lr_schedule == "constant":
            return self.config.lr
        assert self.total_frames
        return self.config.lr * max(0.0, 1.0 - self.frames / self.total_frames)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy on ``obs`` with this config's precision and memory format (logits and
        values may come back in bf16/fp16: losses and sampling cast them to float32)."""
        with self.autocast():
            return self.policy(self.prepare(obs))

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """An observation batch in the memory format the policy's weights have."""
        if self.config.channels_last and obs.dim() == 4:
            return obs.contiguous(memory_format=torch.channels_last)
        return obs

    def autocast(self) -> contextlib.AbstractContextManager:
        """``torch.autocast`` in the config's precision (nothing for fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # -- rollout -------------------------------------------------------------------------

    @torch.inference_mode()
    def collect(self) -> dict[str, torch.Tensor]:
        """Play ``n_steps`` in every env; returns the rollout (buffers reused next time)."""
        T, N = self.config.n_steps, self.num_envs
        final_obs: list[torch.Tensor] = []
        final_rows: list[torch.Tensor] = []
        self._obs_buf[0].copy_(self.obs)
        for t in range(T):
            logits, value = self.forward(self._obs_buf[t])
            actions = self.sample(logits)
            obs, reward, terminated, truncated, info = self.env.step(actions)
            self._actions[t] = actions
            self._values[t] = value
            self._rewards[t] = reward
            self._terminated[t] = terminated
            self._truncated[t] = truncated
            ended = info["final_index"]
            if self._next_obs is not None:
                self._next_obs[t].copy_(obs)
                self._next_obs[t][ended.to(self.device)] = info["final_obs"].to(self._next_obs)
            if ended.numel():
                self.stats.add(ended, info, terminated)
                if self.config.bootstrap_truncated:
                    # only truncated episodes bootstrap: terminated rows are masked in the returns
                    cut = truncated[ended] & ~terminated[ended]
                    final_obs.append(info["final_obs"][cut])
                    final_rows.append(ended[cut] + t * N)
            (self._obs_buf[t + 1] if t + 1 < T else self.obs).copy_(obs)
        bootstrap = self.forward(self.obs)[1].float()
        final_values = torch.zeros((T, N), dtype=torch.float32, device=self.device)
        if final_obs and sum(len(rows) for rows in final_rows):
            # One batched forward for every truncated episode of the rollout (an I2A forward
            # imagines, so none is spent on rows whose value the returns ignore).
            last = self.forward(torch.cat(final_obs).to(self.device))[1].float()
            final_values.view(-1)[torch.cat(final_rows)] = last
        self.frames += T * N
        rollout = {"obs": self._obs_buf, "actions": self._actions, "rewards": self._rewards,
                   "values": self._values, "terminated": self._terminated, "truncated": self._truncated,
                   "bootstrap": bootstrap, "final_values": final_values}
        if self._next_obs is not None:
            rollout["next_obs"] = self._next_obs
        return rollout

    # -- update --------------------------------------------------------------------------

    def targets(self, rollout: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[T, N]`` value targets and advantages of a rollout, under this config."""
        c = self.config
        return returns_and_advantages(
            rollout["rewards"], rollout["values"], rollout["bootstrap"], rollout["terminated"],
            rollout["truncated"], rollout["final_values"] if c.bootstrap_truncated else None,
            c.gamma, c.gae_lambda)

    def update(self, rollout: dict[str, torch.Tensor], lr: float | None = None) -> dict[str, torch.Tensor]:
        """One gradient step on a rollout; returns the losses and diagnostics as 0-d tensors."""
        c = self.config
        returns, advantages = self.targets(rollout)
        returns, advantages = returns.reshape(-1), advantages.reshape(-1)
        if c.normalize_advantages:
            mean, std = self.advantage_moments(advantages)
            advantages = (advantages - mean) / (std + 1e-8)
        obs = self.prepare(rollout["obs"].reshape(-1, *rollout["obs"].shape[2:]))
        logits, values = self.forward(obs)
        logits, values = logits.float(), values.float()
        log_probs = torch.log_softmax(logits, dim=-1)
        taken = log_probs.gather(1, rollout["actions"].reshape(-1, 1)).squeeze(1)
        entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
        policy_loss = -(advantages * taken).mean()
        value_loss = (returns - values).pow(2).mean()
        with self.autocast():  # the hooks run networks of their own (I2A: the rollout policy)
            extra = {name: loss.float() for name, loss in
                     auxiliary_losses(self.policy, obs, logits, values, rollout).items()}
        loss = policy_loss + c.value_coef * value_loss - c.entropy_coef * entropy
        for value in extra.values():
            loss = loss + value
        lr = self.learning_rate() if lr is None else lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()
        self.reduce_gradients()  # before unscaling: every rank then sees the same overflow
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        params = [p for p in self.policy.parameters() if p.grad is not None]
        if c.max_grad_norm > 0:
            grad_norm = nn.utils.clip_grad_norm_(params, c.max_grad_norm)
        else:
            grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
        if self.scaler is None:
            self.optimizer.step()
        else:  # skips the step where the scaled gradients overflowed, and adapts the scale
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.updates += 1
        stats = {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                 "grad_norm": grad_norm, "advantage_abs": advantages.abs().mean(),
                 "value_mean": values.mean()}
        stats.update({f"aux/{name}": value for name, value in extra.items()})
        return {k: v.detach() for k, v in stats.items()} | {"lr": torch.tensor(lr, dtype=torch.float64)}

    # hooks for data parallelism (see :mod:`.distributed`); in one process they do what the loop always did

    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        """The actions of one acting step, drawn with the trainer's own generator (a hook so that
        one process can replay the per-rank action streams of a data-parallel run)."""
        return sample_actions(logits, self.generator)

    def advantage_moments(self, advantages: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std that ``normalize_advantages`` uses (over the whole batch)."""
        return advantages.mean(), advantages.std()

    def reduce_gradients(self) -> None:
        """Called between backward and clipping: where other processes' gradients join in."""

    def train_step(self) -> dict[str, torch.Tensor]:
        """Collect one rollout and update on it (the learning rate is set from the frames
        seen before the rollout)."""
        lr = self.learning_rate()
        stats = self.update(self.collect(), lr)
        policy_stats = getattr(self.policy, "training_stats", None)  # e.g. I2A's imagination cache hits
        if callable(policy_stats):
            stats.update({name: value.detach() for name, value in policy_stats().items()})
        return stats

    # -- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimizer, counters, action
        sampler, current observations, episode statistics and the env's state (when the env
        has ``get_state``)."""
        get_state = getattr(self.env, "get_state", None)
        return {
            "policy": {k: v.detach().clone() for k, v in self.policy.state_dict().items()},
            "optimizer": _clone(self.optimizer.state_dict()),
            "frames": self.frames,
            "updates": self.updates,
            "obs": self.obs.clone(),
            "action_rng": self.generator.get_state(),
            "stats": self.stats.state_dict(),
            "env": _clone(get_state()) if get_state is not None else None,
            **({"grad_scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any], reseed: int | None = None) -> None:
        """Restore :meth:`state_dict`. An env without ``set_state`` is reset with ``reseed``
        instead (the run then continues from fresh episodes: documented, not bit-exact)."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.frames, self.updates = int(state["frames"]), int(state["updates"])
        self.generator.set_state(state["action_rng"])
        self.stats.load_state_dict(state["stats"])
        if self.scaler is not None and "grad_scaler" in state:
            self.scaler.load_state_dict(state["grad_scaler"])
        set_state = getattr(self.env, "set_state", None)
        if state.get("env") is not None and set_state is not None:
            set_state(state["env"])
            self.obs.copy_(state["obs"])
        else:
            obs, _ = self.env.reset(seed=reseed)
            self.obs.copy_(obs)


def _clone(value: Any) -> Any:
    """A snapshot of nested dicts/lists of tensors (optimizer state dicts share their tensors)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value


class GymVectorAdapter:
    """A Gymnasium vector env (same-step auto-reset) behind reverie's batched tensor API.

    Episode returns and lengths are counted here. Gymnasium's default auto-reset mode
    (next-step) spends a step on every reset that an n-step learner would have to mask, so
    this adapter asks for same-step mode, e.g.
    ``gymnasium.make_vec(id, n, vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})``.
    ``get_state``/``set_state`` pass through when the wrapped env has them.
    """

    def __init__(self, env: Any, device: torch.device | str = "cpu") -> None:
        from gymnasium.vector import AutoresetMode

        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode != AutoresetMode.SAME_STEP:
            raise ReverieError(
                f"the actor-critic trainer needs a vector env in same-step auto-reset mode, got {mode}; "
                "create it with vector_kwargs={'autoreset_mode': gymnasium.vector.AutoresetMode.SAME_STEP}"
            )
        self.env = env
        self.num_envs = int(env.num_envs)
        self.device = torch.device(device)
        self.single_observation_space = env.single_observation_space
        self.action_space = env.single_action_space
        self.episode_return = torch.zeros(self.num_envs, dtype=torch.float32, device=self.device)
        self.episode_length = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        if hasattr(env, "get_state") and hasattr(env, "set_state"):
            self.get_state, self.set_state = self._get_state, self._set_state

    def _tensor(self, array: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), device=self.device)

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed)
        self.episode_return.zero_()
        self.episode_length.zero_()
        return self._tensor(obs), info

    def step(self, actions: torch.Tensor):
        obs, reward, terminated, truncated, info = self.env.step(actions.cpu().numpy())
        reward = self._tensor(reward).float()
        terminated, truncated = self._tensor(terminated).bool(), self._tensor(truncated).bool()
        self.episode_return += reward
        self.episode_length += 1
        mask = info.get("_final_obs")
        if mask is not None and mask.any():
            rows = np.flatnonzero(mask)
            final_obs = self._tensor(np.stack([info["final_obs"][i] for i in rows]))
        else:
            rows = np.zeros(0, dtype=np.int64)
            final_obs = self._tensor(np.asarray(obs)[:0])
        index = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        out = dict(info)
        out.update(final_index=index, final_obs=final_obs,
                   episode_return=self.episode_return.clone(), episode_length=self.episode_length.clone())
        self.episode_return[index] = 0.0
        self.episode_length[index] = 0
        return self._tensor(obs), reward, terminated, truncated, out

    def _get_state(self) -> dict[str, Any]:
        return {"env": self.env.get_state(), "episode_return": self.episode_return.clone(),
                "episode_length": self.episode_length.clone()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.env.set_state(state["env"])
        self.episode_return.copy_(state["episode_return"])
        self.episode_length.copy_(state["episode_length"])
