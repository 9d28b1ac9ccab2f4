"""Model augmentation of an off-policy learner: an ensemble fitted on replay, branched rollouts.

Why (Janner et al. 2019, MBPO; Gu et al. 2016, imagination rollouts for NAF): a learned model
is most useful close to real data, so rollouts *branch* from replayed real states and stay
short. An ensemble of :class:`~reverie.models.vector.VectorModel` members is refitted on the
replay every ``model_every`` steps; every ``rollout_every`` steps ``rollout_batch`` replayed
states are rolled ``H`` steps with the learner's policy, each step through a randomly drawn
member, into a model buffer that the learner's batches mix in at ``1 - real_ratio``. ``H``
follows a linear schedule in env steps but never exceeds ``trusted_horizon``, and a row stops
early where the members disagree by more than ``trust_disagreement``. The same imagined env
(:class:`ImaginedEnv`) serves MBVE's target expansion (:mod:`reverie.training.mbve`).

On goal tasks the model predicts the observation part; the goal rides along unchanged, the
reward is the task's goal reward of the predicted achieved goal (the observation's first
``goal_dim`` features, checked at the start) and reaching the goal ends the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..core.config import option
from ..core.errors import ReverieError
from ..data.hindsight import GoalReward
from ..data.replay import ReplayBuffer
from ..models.vector import Transitions, VectorFitConfig, VectorModel, VectorModelConfig, fit_vector_model


@dataclass
class ModelAugmentConfig:
    """Model-based additions to the learner (all off at their defaults: plain SAC / NAF)."""

    model_every: int = option(0, "refit the ensemble on the replay every N env steps (0 = no model)")
    model_members: int = option(5, "ensemble members")
    model_hidden: int = option(200, "hidden units per layer of each member")
    model_layers: int = option(3, "hidden layers of each member")
    model_epochs: int = option(5, "passes over the replay per refit")
    model_fit_rows: int = option(0, "refit on the newest N replayed transitions only (0 = all), so refits "
                                    "stop growing with the buffer")
    rollout_every: int = option(250, "branched rollouts every N env steps (MBPO / imagination rollouts)")
    rollout_batch: int = option(0, "replayed start states per rollout round (0 = no branched rollouts)")
    horizon_min: int = option(1, "rollout length at the start of the schedule")
    horizon_max: int = option(1, "rollout length at the end of the schedule")
    horizon_from: int = option(0, "env step where the schedule starts rising")
    horizon_to: int = option(0, "env step where it reaches horizon_max")
    trusted_horizon: int = option(5, "imagined steps no rollout or expansion ever exceeds")
    trust_disagreement: float = option(0.0, "stop a row where the members' disagreement exceeds this (0 = never)")
    real_ratio: float = option(0.5, "share of real transitions in each batch once the model buffer has data")
    model_buffer: int = option(100_000, "capacity of the buffer of imagined transitions")
    mbve_horizon: int = option(0, "MBVE: imagined steps in each critic target (0 = the plain target)")
    model_ends: bool = option(False, "fit an episode-end head on the replay's terminations, so imagined "
                                     "rows end where real episodes would (tasks without goals; goal tasks "
                                     "end on the known success test)")

    def __post_init__(self) -> None:
        for name in ("model_every", "model_fit_rows", "rollout_batch", "horizon_from", "horizon_to", "mbve_horizon"):
            if getattr(self, name) < 0:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        for name in ("model_members", "model_hidden", "model_layers", "model_epochs", "rollout_every",
                     "horizon_min", "horizon_max", "trusted_horizon", "model_buffer"):
            if getattr(self, name) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.horizon_min > self.horizon_max or self.horizon_to < self.horizon_from:
            raise ReverieError("the horizon schedule needs horizon_min <= horizon_max and horizon_from <= horizon_to")
        if self.mbve_horizon > self.trusted_horizon:
            raise ReverieError(f"--mbve-horizon {self.mbve_horizon} exceeds --trusted-horizon {self.trusted_horizon}")
        if not 0 < self.real_ratio <= 1 or self.trust_disagreement < 0:
            raise ReverieError("--real-ratio must be in (0, 1] and --trust-disagreement >= 0")
        if (self.rollout_batch or self.mbve_horizon) and not self.model_every:
            raise ReverieError("branched rollouts and MBVE need a model: set --model-every")

    @property
    def enabled(self) -> bool:
        return self.model_every > 0

    def horizon(self, step: int) -> int:
        """The scheduled rollout length at env step ``step``, capped at ``trusted_horizon``."""
        if step <= self.horizon_from or self.horizon_to == self.horizon_from:
            h = self.horizon_min if step <= self.horizon_from else self.horizon_max
        else:
            frac = min(1.0, (step - self.horizon_from) / (self.horizon_to - self.horizon_from))
            h = int(self.horizon_min + frac * (self.horizon_max - self.horizon_min))
        return max(1, min(h, self.trusted_horizon))


class ImaginedEnv:
    """The ensemble as an env over the learner's flat inputs ``[obs, goal]`` (goal only on goal tasks)."""

    def __init__(self, model: VectorModel, obs_dim: int, goal_dim: int = 0, goals: GoalReward | None = None) -> None:
        self.model, self.obs_dim, self.goal_dim, self.goals = model, obs_dim, goal_dim, goals
        if goal_dim and goals is None:
            raise ReverieError("an imagined goal task needs the task's goal reward")

    @torch.no_grad()
    def step_members(self, flat: torch.Tensor, action: torch.Tensor, generator: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(next_flat, reward, done, disagreement)``, each row through one random member."""
        obs, goal = flat[:, :self.obs_dim], flat[:, self.obs_dim:]
        deltas = self.model.member_deltas(obs, action)  # [K, N, S]
        k, n = deltas.shape[0], deltas.shape[1]
        member = torch.randint(0, k, (n,), generator=generator, device=flat.device)
        rows = torch.arange(n, device=flat.device)
        next_obs = obs + deltas[member, rows]
        spread = (deltas / self.model.delta_std).std(0, unbiased=False).mean(-1) if k > 1 else deltas.new_zeros(n)
        if self.goal_dim:
            achieved = next_obs[:, :self.goal_dim]
            reward = self.goals.reward(achieved, goal)
            done = (self.goals.success(achieved, goal) if self.goals.success is not None
                    else torch.zeros(n, dtype=torch.bool, device=flat.device))
        else:
            reward = self.model.member_rewards(obs, action)[member, rows]
            logits = self.model.member_done_logits(obs, action)  # the same member decides the end
            done = (logits[member, rows] > 0 if logits is not None
                    else torch.zeros(n, dtype=torch.bool, device=flat.device))
        return torch.cat([next_obs, goal], -1), reward, done, spread

    def step_fn(self, generator: torch.Generator) -> Callable:
        """``step(flat, action) -> (next_flat, reward, done)`` for :func:`~reverie.training.mbve.expanded_target`."""
        def step(flat: torch.Tensor, action: torch.Tensor):
            next_flat, reward, done, _ = self.step_members(flat, action, generator)
            return next_flat, reward, done.float()
        return step


def build_model(config: ModelAugmentConfig, obs_dim: int, action_dim: int, learn_reward: bool,
                device: torch.device | str) -> VectorModel:
    """The ensemble: residual MLP members (``x' = x + f(x, u)``), a reward head where the task's
    reward is not known in closed form, an episode-end head with ``model_ends`` on such tasks."""
    model_config = VectorModelConfig(obs_dim=obs_dim, action_dim=action_dim, kind="mlp", hidden=config.model_hidden,
                                     layers=config.model_layers, members=config.model_members,
                                     learn_reward=learn_reward, learn_done=config.model_ends and learn_reward)
    return VectorModel(model_config).to(device)


def fit_on_replay(model: VectorModel, replay: ReplayBuffer, config: ModelAugmentConfig, seed: int) -> dict[str, float]:
    """Refit ``model`` on the replayed real transitions (the newest ``model_fit_rows``, or all;
    warm start; a tenth held out)."""
    rows = replay.rows()
    keep = slice(-config.model_fit_rows, None) if config.model_fit_rows else slice(None)
    data = Transitions(rows["obs"][keep], rows["action"][keep], rows["next_obs"][keep], rows["reward"][keep],
                       rows["terminated"][keep] if model.done_net is not None else None)
    fit = VectorFitConfig(epochs=config.model_epochs, batch_size=256, lr=1e-3, val_fraction=0.1, patience=0,
                          seed=seed)
    result = fit_vector_model(model, data, fit)
    return {"model_val_loss": float(result.best_val_loss), "model_fit_seconds": result.seconds}


@torch.no_grad()
def branched_rollouts(env: ImaginedEnv, starts: torch.Tensor, horizon: int, trusted_horizon: int,
                      policy: Callable[[torch.Tensor], torch.Tensor], out: ReplayBuffer, generator: torch.Generator,
                      trust_disagreement: float = 0.0) -> dict[str, float]:
    """Roll ``starts [N, D]`` at most ``min(horizon, trusted_horizon)`` imagined steps with
    ``policy``, adding each live row's step to ``out``; a row stops at an imagined end or where
    the members disagree by more than ``trust_disagreement`` (that step is not kept)."""
    steps = max(0, min(horizon, trusted_horizon))
    flat = starts
    alive = torch.ones(starts.shape[0], dtype=torch.bool, device=starts.device)
    depth = torch.zeros(starts.shape[0], dtype=torch.long, device=starts.device)
    added = 0
    for _ in range(steps):
        action = policy(flat)
        next_flat, reward, done, spread = env.step_members(flat, action, generator)
        if trust_disagreement > 0:
            alive = alive & (spread <= trust_disagreement)
        keep = alive.nonzero().squeeze(-1)
        if keep.numel() == 0:
            break
        out.add(flat[keep], action[keep], reward[keep], next_flat[keep], done[keep])
        added += int(keep.numel())
        depth = depth + alive.long()
        alive = alive & ~done
        flat = next_flat
    return {"rollout_transitions": added, "rollout_depth_max": int(depth.max()) if depth.numel() else 0,
            "rollout_depth_mean": float(depth.float().mean()) if depth.numel() else 0.0}
