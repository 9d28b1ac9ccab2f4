"""Model-based control end to end: tasks, random data, model fitting, MPC episodes, scores.

A :class:`Task` wraps one Gymnasium environment for planning: how to read the state (and
goal) out of its observations, its reward as a batched torch function of predicted states
(the *known* reward), its action bounds, the planner and model settings that suit it, and
how to tell success and crashes. Two tasks ship:

- :class:`ParkingTask`: highway-env's ``parking-v0``, goal-conditioned, walls on by default;
  its reward is the env's own ``-(sum w |state - goal|)^0.5`` plus the env's ``-5``
  collision reward, counted here when the car's rectangle reaches a wall.
- :class:`PendulumTask`: Gymnasium's ``Pendulum-v1`` (swing up and balance), the fast one.

The pipeline is :func:`collect_random` (or :func:`collect_with_planner` for data from the
planner's own episodes), :func:`make_model` (fit a learned model, or the true-environment
model), :func:`make_planner`, then :func:`evaluate` over episodes with the MPC loop of
:func:`run_episode`, which times every planning decision.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..core.errors import ReverieError
from ..core.stats import wilson_interval
from ..models.vector import Transitions, VectorFitConfig, VectorModel, VectorModelConfig, fit_vector_model
from ..planning.cem import CEMConfig, CEMPlanner

ENVS = ("parking", "pendulum")
#: How to get the control extras, as the README says it (from the reverie checkout).
CONTROL_INSTALL = 'pip install -e ".[control]" (in the reverie checkout)'
MODEL_KINDS = ("mlp", "structured", "ensemble", "true")


class Task:
    """What the planner needs to know about one environment (see the module docstring)."""

    name = "task"
    obs_dim = 0
    action_dim = 0
    #: How many real steps an episode may last at most (the env's own limit).
    max_steps = 0

    @property
    def low(self) -> list[float]:
        return [-1.0] * self.action_dim

    @property
    def high(self) -> list[float]:
        return [1.0] * self.action_dim

    def make_env(self, render: bool = False):
        raise NotImplementedError

    def split(self, raw: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """An env observation -> (state [S], goal [G] or None)."""
        raise NotImplementedError

    def reward_fn(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor,
                  goal: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def outcome(self, info: dict, terminated: bool, history: list[np.ndarray]) -> tuple[bool, bool]:
        """(success, crashed) at the end of an episode."""
        raise NotImplementedError

    def model_config(self, kind: str, members: int = 5, hidden: int = 64) -> VectorModelConfig:
        raise NotImplementedError

    def cem_config(self) -> CEMConfig:
        return CEMConfig()

    def true_model(self, env):
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"env": self.name}


# ---------------------------------------------------------------------------- parking
class ParkingTask(Task):
    """highway-env ``parking-v0``: drive to the goal slot with the goal's heading."""

    name = "parking"
    env_id = "parking-v0"
    obs_dim = 6
    action_dim = 2
    #: The observation's scales (x, y, vx, vy, cos h, sin h) and the reward's weights.
    SCALES = (100.0, 100.0, 5.0, 5.0, 1.0, 1.0)
    CAR_LENGTH, CAR_WIDTH = 5.0, 2.0

    def __init__(self, add_walls: bool = True, duration: int = 100) -> None:
        if duration < 1:
            raise ReverieError(f"duration must be >= 1, got {duration}")
        self.add_walls = add_walls
        self.duration = duration
        self._env_config: dict[str, Any] | None = None

    def make_env(self, render: bool = False):
        import importlib

        import gymnasium as gym

        # highway-env draws with pygame: without a display SDL would print "XDG_RUNTIME_DIR is
        # invalid" on every run; off-screen drivers draw the same pixels (a user's choice wins)
        for name, value in (("SDL_VIDEODRIVER", "dummy"), ("SDL_AUDIODRIVER", "dummy"),
                            ("PYGAME_HIDE_SUPPORT_PROMPT", "1")):
            os.environ.setdefault(name, value)
        try:
            importlib.import_module("highway_env")  # registers parking-v0
        except ImportError:
            raise ReverieError(f"the parking task needs highway-env: {CONTROL_INSTALL}") from None
        # Gymnasium's passive checker warns (in raw ANSI colours) that parking's step infos share
        # an object; nothing here keeps infos across steps, so the checker only adds noise
        env = gym.make(self.env_id, render_mode="rgb_array" if render else None, disable_env_checker=True,
                       config={"add_walls": self.add_walls, "duration": self.duration})
        cfg = env.unwrapped.config
        self._env_config = cfg
        self.max_steps = int(math.ceil(self.duration * cfg["policy_frequency"]))
        self._weights = torch.tensor(cfg["reward_weights"], dtype=torch.float32)
        half_l, half_w = self.CAR_LENGTH / 2, self.CAR_WIDTH / 2
        self._mix = torch.tensor([[half_l, half_w], [half_w, half_l]])
        # highway-env's walls: a 70 m x 42 m box of 1 m thick walls centred on the origin.
        self._limit = torch.tensor([35.0 - 0.5, 21.0 - 0.5])
        self._success = float(cfg["success_goal_reward"])
        self._collision = float(cfg["collision_reward"])
        return env

    def _config(self) -> dict[str, Any]:
        if self._env_config is None:
            self.make_env().close()
        return self._env_config  # type: ignore[return-value]

    def split(self, raw: Any) -> tuple[np.ndarray, np.ndarray | None]:
        return np.asarray(raw["observation"], dtype=np.float32), np.asarray(raw["desired_goal"], dtype=np.float32)

    def goal_reward(self, state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """The env's reward without collisions: ``-(sum w |state - goal|)^0.5``, batched."""
        self._config()
        return -((state - goal).abs() @ self._weights.to(state.device)).sqrt()

    def wall_hit(self, state: torch.Tensor) -> torch.Tensor:
        """True where the car's rectangle reaches a wall (walls on), batched."""
        if not self.add_walls:
            return torch.zeros(state.shape[0], dtype=torch.bool, device=state.device)
        # Half extents of the car along x and y: |pos| + (L/2)|cos h| + (W/2)|sin h| (x), and
        # |pos| + (W/2)|cos h| + (L/2)|sin h| (y), against the walls' inner faces.
        self._config()
        extent = state[:, :2].abs() * self.SCALES[0] + state[:, 4:6].abs() @ self._mix.to(state.device)
        limit = self._limit.to(state.device)
        return (extent > limit).any(-1)

    def reward_fn(self, obs, action, next_obs, goal):
        return self.goal_reward(next_obs, goal) + self._collision * self.wall_hit(next_obs)

    def outcome(self, info, terminated, history):
        return bool(info.get("is_success", False)), bool(info.get("crashed", False))

    def model_config(self, kind: str, members: int = 5, hidden: int = 64) -> VectorModelConfig:
        dt = 1.0 / self._config()["policy_frequency"]
        return VectorModelConfig(obs_dim=6, action_dim=2, kind=kind, hidden=hidden, layers=2,
                                 members=members, dt=dt, position_dims=(0, 1))

    def cem_config(self) -> CEMConfig:
        # The seed's search: horizon 5, population 100, top 10, 5 iterations, action repeat.
        return CEMConfig(horizon=5, action_repeat=3, population=100, elites=10, iterations=5, init_std=0.5)

    def true_model(self, env) -> "ParkingTrueModel":
        return ParkingTrueModel(env, self)

    def describe(self) -> dict[str, Any]:
        return {"env": self.env_id, "add_walls": self.add_walls, "duration": self.duration}


class ParkingTrueModel:
    """The real environment as a model: highway-env's own vehicle code steps every row.

    The state (x, y, vx, vy, cos h, sin h) is the whole state of the car in parking-v0 (the
    kinematic bicycle has position, heading and speed), so each row sets a copy of the env's
    vehicle, applies the action through the env's own action mapping, and runs the env's
    substeps. Only the car is simulated, not the whole env (whose pandas observation costs
    ~10 ms a step), and collisions are left to the planner's reward (walls are the only
    obstacles). It loops over rows in Python: an upper bound on planning quality, not a
    fast model.
    """

    def __init__(self, env, task: ParkingTask) -> None:
        base = env.unwrapped
        self.action_type = base.action_type
        self.vehicle = copy.deepcopy(base.vehicle)
        self.vehicle.road = None  # skip the lane look-up after every substep
        self.frames = int(base.config["simulation_frequency"] // base.config["policy_frequency"])
        self.dt = 1.0 / base.config["simulation_frequency"]
        self.scales = np.array(task.SCALES)

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        states = obs.detach().cpu().double().numpy() * self.scales
        actions = np.clip(action.detach().cpu().double().numpy(), -1, 1)
        out = np.empty_like(states)
        v = self.vehicle
        # The env's action mapping, once for the whole batch (it is affine).
        acc_lo, acc_hi = self.action_type.acceleration_range
        st_lo, st_hi = self.action_type.steering_range
        acc = acc_lo + (actions[:, 0] + 1) / 2 * (acc_hi - acc_lo)
        steer = st_lo + (actions[:, 1] + 1) / 2 * (st_hi - st_lo)
        for i in range(states.shape[0]):
            x, y, vx, vy, c, s = states[i]
            heading = math.atan2(s, c)
            v.position = np.array([x, y])
            v.heading = heading
            v.speed = vx * math.cos(heading) + vy * math.sin(heading)
            v.crashed, v.impact = False, None
            v.act({"acceleration": float(acc[i]), "steering": float(steer[i])})
            for _ in range(self.frames):
                v.step(self.dt)
            vel = v.velocity
            out[i] = (v.position[0], v.position[1], vel[0], vel[1], math.cos(v.heading), math.sin(v.heading))
        next_obs = torch.as_tensor(out / self.scales, dtype=obs.dtype, device=obs.device)
        return (next_obs, torch.zeros(obs.shape[0], dtype=obs.dtype, device=obs.device),
                torch.zeros(obs.shape[0], dtype=torch.bool, device=obs.device))


# ---------------------------------------------------------------------------- pendulum
class PendulumTask(Task):
    """Gymnasium ``Pendulum-v1``: swing the pendulum up and hold it there."""

    name = "pendulum"
    env_id = "Pendulum-v1"
    obs_dim = 3
    action_dim = 1
    max_steps = 200
    #: Success: upright (|angle| < this, radians) over the episode's last ``SUCCESS_STEPS`` steps.
    SUCCESS_ANGLE = 0.3
    SUCCESS_STEPS = 20

    def __init__(self, max_steps: int = 200) -> None:
        if max_steps < 1:
            raise ReverieError(f"max_steps must be >= 1, got {max_steps}")
        self.max_steps = max_steps

    @property
    def low(self) -> list[float]:
        return [-2.0]

    @property
    def high(self) -> list[float]:
        return [2.0]

    def make_env(self, render: bool = False):
        import gymnasium as gym

        return gym.make(self.env_id, render_mode="rgb_array" if render else None, max_episode_steps=self.max_steps)

    def split(self, raw: Any) -> tuple[np.ndarray, np.ndarray | None]:
        return np.asarray(raw, dtype=np.float32), None

    def reward_fn(self, obs, action, next_obs, goal):
        # Gymnasium's reward is a function of the state before the step and the torque.
        angle = torch.atan2(obs[:, 1], obs[:, 0])
        torque = action[:, 0].clamp(-2.0, 2.0)
        return -(angle.pow(2) + 0.1 * obs[:, 2].pow(2) + 0.001 * torque.pow(2))

    def outcome(self, info, terminated, history):
        tail = history[-self.SUCCESS_STEPS:]
        upright = all(abs(math.atan2(h[1], h[0])) < self.SUCCESS_ANGLE for h in tail)
        return bool(len(history) >= self.SUCCESS_STEPS and upright), False

    def model_config(self, kind: str, members: int = 5, hidden: int = 64) -> VectorModelConfig:
        return VectorModelConfig(obs_dim=3, action_dim=1, kind=kind, hidden=hidden, layers=2,
                                 members=members, dt=0.05, position_dims=())

    def cem_config(self) -> CEMConfig:
        return CEMConfig(horizon=15, action_repeat=2, population=200, elites=20, iterations=4, init_std=0.5,
                         momentum=0.1)

    def true_model(self, env) -> "PendulumTrueModel":
        base = env.unwrapped
        return PendulumTrueModel(base.g, base.m, base.l, base.dt, base.max_speed, base.max_torque)

    def describe(self) -> dict[str, Any]:
        return {"env": self.env_id, "max_steps": self.max_steps}


class PendulumTrueModel:
    """Pendulum-v1's equations of motion, batched in torch (the env's constants)."""

    def __init__(self, g: float, m: float, length: float, dt: float, max_speed: float, max_torque: float) -> None:
        self.g, self.m, self.l, self.dt = g, m, length, dt
        self.max_speed, self.max_torque = max_speed, max_torque

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        angle = torch.atan2(obs[:, 1], obs[:, 0])
        speed = obs[:, 2]
        u = action[:, 0].clamp(-self.max_torque, self.max_torque)
        reward = -(angle.pow(2) + 0.1 * speed.pow(2) + 0.001 * u.pow(2))
        speed = (speed + (3 * self.g / (2 * self.l) * torch.sin(angle) + 3.0 / (self.m * self.l ** 2) * u) * self.dt)
        speed = speed.clamp(-self.max_speed, self.max_speed)
        angle = angle + speed * self.dt
        return (torch.stack([torch.cos(angle), torch.sin(angle), speed], 1), reward,
                torch.zeros(obs.shape[0], dtype=torch.bool, device=obs.device))


def make_task(env: str, add_walls: bool = True, duration: int = 100, max_steps: int | None = None) -> Task:
    """A task by name: ``parking`` or ``pendulum``."""
    if env == "parking":
        return ParkingTask(add_walls=add_walls, duration=duration)
    if env == "pendulum":
        return PendulumTask(max_steps=max_steps or 200)
    raise ReverieError(f"unknown env {env!r}; choose one of {', '.join(ENVS)}")


# ---------------------------------------------------------------------------- data
def collect_random(task: Task, transitions: int, seed: int = 0, action_repeat: int = 2,
                   env=None) -> Transitions:
    """``transitions`` real steps under uniformly random actions, each held ``action_repeat`` steps.

    Steps that end in a crash are left out (the collision's push is not the car's dynamics).
    """
    if transitions < 1:
        raise ReverieError(f"transitions must be >= 1, got {transitions}")
    own = env is None
    env = env or task.make_env()
    rng = np.random.default_rng(seed)
    low, high = np.array(task.low), np.array(task.high)
    rows: list[tuple] = []
    raw, _ = env.reset(seed=seed)
    episode = 0
    action, held = None, action_repeat
    while len(rows) < transitions:
        if held >= action_repeat:
            action, held = rng.uniform(low, high).astype(np.float32), 0
        obs, _ = task.split(raw)
        raw, reward, terminated, truncated, info = env.step(action)
        held += 1
        if not info.get("crashed", False):
            rows.append((obs, action, task.split(raw)[0], float(reward)))
        if terminated or truncated:
            episode += 1
            raw, _ = env.reset(seed=seed + 1000 * episode)
            held = action_repeat
    if own:
        env.close()
    return _stack(rows)


def _stack(rows: list[tuple]) -> Transitions:
    obs, act, nxt, rew = zip(*rows)
    return Transitions(torch.as_tensor(np.stack(obs)), torch.as_tensor(np.stack(act)),
                       torch.as_tensor(np.stack(nxt)), torch.as_tensor(np.array(rew, dtype=np.float32)))


# ---------------------------------------------------------------------------- models, planners
def make_model(task: Task, kind: str, data: Transitions | None, env=None, members: int = 5,
               ensemble_base: str = "structured", hidden: int = 64,
               fit: VectorFitConfig | None = None, seed: int = 0, ensemble_mode: str = "partition"):
    """A fitted vector model of ``kind`` (mlp, structured, ensemble) or the true-env model.

    An ensemble plans in ``ensemble_mode`` (see :attr:`VectorModel.ENSEMBLE_MODES`).
    Returns ``(model, fit_summary or None)``.
    """
    if kind not in MODEL_KINDS:
        raise ReverieError(f"unknown model {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
    if kind == "true":
        if env is None:
            raise ReverieError("the true-environment model needs the env")
        return task.true_model(env), None
    if data is None:
        raise ReverieError(f"the {kind} model needs transitions to fit")
    base = ensemble_base if kind == "ensemble" else kind
    config = task.model_config(base, members=members if kind == "ensemble" else 1, hidden=hidden)
    torch.manual_seed(seed)
    model = VectorModel(config)
    result = fit_vector_model(model, data, fit or VectorFitConfig(seed=seed))
    model.ensemble_mode = ensemble_mode if kind == "ensemble" else "mean"
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, result


def make_planner(task: Task, model, config: CEMConfig | None = None, seed: int = 0,
                 learned_reward: bool = False) -> CEMPlanner:
    """A CEM planner over ``model`` with the task's known reward (or the model's, if asked)."""
    return CEMPlanner(model, task.low, task.high, config or task.cem_config(),
                      reward_fn=None if learned_reward else task.reward_fn, seed=seed)


# ---------------------------------------------------------------------------- episodes
@dataclass
class Episode:
    """One MPC episode: outcome, length, return, the planning time of every decision."""

    success: bool
    crashed: bool
    length: int
    total_reward: float
    plan_seconds: list[float]
    transitions: Transitions | None = None
    frames: list[np.ndarray] | None = None


def run_episode(task: Task, env, planner: CEMPlanner, seed: int, max_steps: int | None = None,
                record: bool = False, frames: bool = False, action_noise: float = 0.0,
                rng: np.random.Generator | None = None) -> Episode:
    """Plan from every state (replanning each step) until the episode ends."""
    raw, info = env.reset(seed=seed)
    planner.reset()
    limit = max_steps or task.max_steps or 10_000
    times, rows, pictures, history = [], [], [], []
    total, terminated, length = 0.0, False, 0
    low, high = np.array(task.low), np.array(task.high)
    if frames:
        pictures.append(env.render())
    for length in range(1, limit + 1):
        obs, goal = task.split(raw)
        history.append(obs)
        begin = time.perf_counter()
        action = planner.act(torch.from_numpy(obs), None if goal is None else torch.from_numpy(goal))
        times.append(time.perf_counter() - begin)
        action = action.numpy().astype(np.float32)
        if action_noise > 0:
            rng = rng or np.random.default_rng(seed)
            action = np.clip(action + action_noise * (high - low) / 2 * rng.standard_normal(action.shape),
                             low, high).astype(np.float32)
        raw, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        if record and not info.get("crashed", False):
            rows.append((obs, action, task.split(raw)[0], float(reward)))
        if frames:
            pictures.append(env.render())
        if terminated or truncated:
            break
    history.append(task.split(raw)[0])
    success, crashed = task.outcome(info, terminated, history)
    return Episode(success, crashed, length, total, times, _stack(rows) if rows else None,
                   pictures if frames else None)


def evaluate(task: Task, planner: CEMPlanner, episodes: int, seed: int = 10_000, env=None,
             max_steps: int | None = None,
             progress: Callable[[int, Episode], None] | None = None) -> dict[str, Any]:
    """Success rate, crash rate, episode length and planning time over ``episodes`` episodes."""
    if episodes < 1:
        raise ReverieError(f"episodes must be >= 1, got {episodes}")
    own = env is None
    env = env or task.make_env()
    results = []
    for i in range(episodes):
        episode = run_episode(task, env, planner, seed + i, max_steps)
        results.append(episode)
        if progress is not None:
            progress(i, episode)
    if own:
        env.close()
    return summarize(task, results)


def summarize(task: Task, results: list[Episode]) -> dict[str, Any]:
    n = len(results)
    times = [t for e in results for t in e.plan_seconds]
    successes = sum(e.success for e in results)
    low, high = wilson_interval(successes, n) if n else (0.0, 1.0)
    lengths = [e.length for e in results]
    return {
        **task.describe(),
        "episodes": n,
        "success_rate": successes / n,
        "success_ci95": [round(low, 4), round(high, 4)],
        "crash_rate": sum(e.crashed for e in results) / n,
        "mean_length": statistics.fmean(lengths),
        "median_length_success": (statistics.median([e.length for e in results if e.success])
                                  if successes else None),
        "mean_return": statistics.fmean(e.total_reward for e in results),
        "decisions": len(times),
        "median_plan_ms": 1000 * statistics.median(times),
        "p90_plan_ms": 1000 * sorted(times)[int(0.9 * (len(times) - 1))],
    }


def collect_with_planner(task: Task, planner: CEMPlanner, episodes: int, seed: int, env=None,
                         action_noise: float = 0.1, max_steps: int | None = None) -> Transitions | None:
    """Transitions from the planner's own episodes (with a little action noise), for refitting."""
    own = env is None
    env = env or task.make_env()
    data = None
    rng = np.random.default_rng(seed)
    for i in range(episodes):
        episode = run_episode(task, env, planner, seed + i, max_steps, record=True, action_noise=action_noise, rng=rng)
        if episode.transitions is not None:
            data = episode.transitions if data is None else data.cat(episode.transitions)
    if own:
        env.close()
    return data
