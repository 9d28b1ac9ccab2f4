"""Cross-entropy-method (and MPPI) planning over any continuous-action environment model.

The planner searches action sequences ``[horizon, action_dim]`` for the one with the best
imagined return. Each iteration draws ``population`` sequences from a diagonal Gaussian,
clamps them to the action bounds, rolls every one of them through the model at once (one
batched ``model.step`` per imagined step: ``population x states`` rows), scores them with a
reward function, and refits the Gaussian to the best ``elites`` (CEM) or to all sequences
weighted by ``exp(return / temperature)`` (MPPI). Each planned action is held for
``action_repeat`` imagined steps, which stretches the look-ahead without enlarging the
search space.

Rewards come from a known function ``reward_fn(obs, action, next_obs, goal) -> [M]`` (batched
torch) or, with none, from the model's own ``step`` (a learned reward).

:meth:`CEMPlanner.act` is model-predictive control: plan, return the first action, and keep
the plan, shifted by one action, as the next call's starting mean (warm start). Several
independent states can be planned at once: ``obs [N, S]`` gives ``N`` actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..core.errors import ReverieError
from ..core.config import option
from ..models.base import EnvironmentModel

#: ``reward_fn(obs [M, S], action [M, A], next_obs [M, S], goal [M, G] | None) -> [M]``.
RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]

METHODS = ("cem", "mppi")


@dataclass
class CEMConfig:
    """A CEM/MPPI planner's search settings."""

    horizon: int = option(5, "planned actions per sequence")
    action_repeat: int = option(5, "imagined steps each planned action is held for")
    population: int = option(100, "sequences sampled per iteration")
    elites: int = option(10, "best sequences the Gaussian is refitted to (CEM)")
    iterations: int = option(5, "sampling/refitting rounds per decision")
    init_std: float = option(0.5, "starting std of the sampling Gaussian, as a share of the action range")
    min_std: float = option(0.02, "floor on the std, as a share of the action range")
    momentum: float = option(0.0, "share of the old mean/std kept at each refit (0 = plain CEM)")
    discount: float = option(1.0, "discount per imagined step")
    warm_start: bool = option(True, "start each decision from the previous plan shifted by one action")
    keep_best: bool = option(True, "return the best sequence seen, not the final mean, when it scores higher")
    method: str = option("cem", "cem or mppi")
    temperature: float = option(1.0, "MPPI temperature (returns are divided by it before the softmax)")

    def __post_init__(self) -> None:
        for name in ("horizon", "action_repeat", "population", "elites", "iterations"):
            if getattr(self, name) < 1:
                raise ReverieError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.elites > self.population:
            raise ReverieError(f"elites ({self.elites}) cannot exceed the population ({self.population})")
        if self.method not in METHODS:
            raise ReverieError(f"unknown planning method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not (self.init_std > 0 and self.min_std >= 0 and 0 <= self.momentum < 1 and 0 < self.discount <= 1
                and self.temperature > 0):
            raise ReverieError("need init_std > 0, min_std >= 0, 0 <= momentum < 1, 0 < discount <= 1, temperature > 0")


class CEMPlanner:
    """Plans with ``model`` between ``low`` and ``high`` (see the module docstring)."""

    def __init__(self, model: EnvironmentModel, low: Sequence[float] | torch.Tensor,
                 high: Sequence[float] | torch.Tensor, config: CEMConfig | None = None,
                 reward_fn: RewardFn | None = None, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.model = model
        self.config = config or CEMConfig()
        self.reward_fn = reward_fn
        self.device = torch.device(device)
        self.low = torch.as_tensor(low, dtype=torch.float32, device=self.device).flatten()
        self.high = torch.as_tensor(high, dtype=torch.float32, device=self.device).flatten()
        if self.low.shape != self.high.shape or not bool((self.high > self.low).all()):
            raise ReverieError(f"action bounds must be equal-length with high > low, got {low} and {high}")
        self.action_dim = self.low.numel()
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.plan_mean: torch.Tensor | None = None  # [N, H, A], the last plan (for warm starts)
        self.last_return: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the previous plan (call at the start of an episode)."""
        self.plan_mean = None

    # ------------------------------------------------------------------ rollouts
    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor | None = None) -> torch.Tensor:
        """Imagined discounted returns ``[M]`` of sequences ``actions [M, H, A]`` from ``obs [M, S]``."""
        c = self.config
        returns = torch.zeros(obs.shape[0], dtype=torch.float32, device=obs.device)
        weight = 1.0
        state = obs
        for t in range(actions.shape[1]):
            action = actions[:, t]
            for _ in range(c.action_repeat):
                next_state, model_reward, _ = self.model.step(state, action)
                reward = model_reward if self.reward_fn is None else self.reward_fn(state, action, next_state, goal)
                returns.add_(reward, alpha=weight)
                weight *= c.discount
                state = next_state
        return returns

    # ------------------------------------------------------------------ planning
    @torch.inference_mode()
    def plan(self, obs: torch.Tensor, goal: torch.Tensor | None = None) -> torch.Tensor:
        """The planned sequences ``[N, H, A]`` for states ``obs [N, S]`` (or ``[S]``: ``[H, A]``)."""
        single = obs.dim() == 1
        obs = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        obs = obs.unsqueeze(0) if single else obs
        if goal is not None:
            goal = torch.as_tensor(goal, dtype=torch.float32, device=self.device)
            goal = goal.unsqueeze(0) if goal.dim() == 1 else goal
            if goal.shape[0] != obs.shape[0]:
                raise ReverieError(f"goal has {goal.shape[0]} rows for {obs.shape[0]} states")
        c, n, a = self.config, obs.shape[0], self.action_dim
        p, h = c.population, c.horizon
        span = (self.high - self.low)
        centre = (self.high + self.low) / 2
        mean = centre.expand(n, h, a).clone()
        if c.warm_start and self.plan_mean is not None and self.plan_mean.shape == (n, h, a):
            mean[:, :-1] = self.plan_mean[:, 1:]
            mean[:, -1] = self.plan_mean[:, -1]
        std = (c.init_std * span).expand(n, h, a).clone()
        rows_obs = obs.repeat_interleave(p, 0)  # [N*P, S]
        rows_goal = goal.repeat_interleave(p, 0) if goal is not None else None
        best_actions = mean.clone()
        best_return = torch.full((n,), -float("inf"), device=self.device)
        for _ in range(c.iterations):
            noise = torch.randn(n, p, h, a, generator=self.generator, device=self.device)
            samples = mean.unsqueeze(1) + std.unsqueeze(1) * noise
            samples[:, 0] = mean  # always score the current mean (the warm-started plan)
            samples = torch.maximum(torch.minimum(samples, self.high), self.low)
            returns = self.evaluate(rows_obs, samples.reshape(n * p, h, a), rows_goal).view(n, p)
            top_return, top_index = returns.max(1)
            better = top_return > best_return
            best_return = torch.where(better, top_return, best_return)
            best_actions[better] = samples[better, top_index[better]]
            if c.method == "cem":
                elite_index = returns.topk(c.elites, dim=1).indices  # [N, E]
                elites = samples.gather(1, elite_index[:, :, None, None].expand(-1, -1, h, a))
                new_mean, new_std = elites.mean(1), elites.std(1, unbiased=False)
            else:
                weights = torch.softmax((returns - top_return[:, None]) / c.temperature, dim=1)[:, :, None, None]
                new_mean = (weights * samples).sum(1)
                new_std = (weights * (samples - new_mean.unsqueeze(1)).pow(2)).sum(1).sqrt()
            mean = c.momentum * mean + (1 - c.momentum) * new_mean
            std = torch.maximum(c.momentum * std + (1 - c.momentum) * new_std, c.min_std * span)
        final = mean
        if c.keep_best:
            mean_return = self.evaluate(obs, mean, goal)
            use_best = best_return > mean_return
            final = torch.where(use_best[:, None, None], best_actions, mean)
            self.last_return = torch.where(use_best, best_return, mean_return)
        else:
            self.last_return = best_return
        final = torch.maximum(torch.minimum(final, self.high), self.low)
        self.plan_mean = final
        return final[0] if single else final

    def act(self, obs: torch.Tensor, goal: torch.Tensor | None = None) -> torch.Tensor:
        """MPC: plan from ``obs`` and return the first action (``[A]``, or ``[N, A]`` for ``[N, S]``)."""
        plan = self.plan(obs, goal)
        return plan[..., 0, :]
