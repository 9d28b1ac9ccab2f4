"""``reverie latent``: Dreamer and PlaNet on one RSSM world model, as resumable runs.

The loop: ``num_envs`` games act on the RSSM's filtered state (random actions until
``prefill`` env steps are in the replay); every env step's rows go to a
:class:`~reverie.training.sequence_replay.SequenceReplay`; the world model trains at ``train_ratio`` replayed
steps per env step (a gradient step reads ``batch x length`` steps, DreamerV3's replay ratio).
What acts is the agent's:

- ``dreamer``: the actor of :class:`~reverie.agents.dreamer.Behavior`, which trains after each
  model step on trajectories imagined from every posterior state of the model's batch;
- ``planet``: CEM over action sequences in the RSSM's latent space (model-predictive control,
  :mod:`reverie.planning.latent`), with Gaussian exploration noise while collecting.

Discrete worlds act with action indices; continuous ones (``spec.actions.continuous``) with
actions normalised to [-1, 1] (scaled to the env's bounds on the way out). The run folder is
like every reverie run's: ``config.json``, metrics (JSONL, CSV, TensorBoard), an atomic
``checkpoint.pt`` holding the weights, optimisers, replay, filter states, planner, env state
and every RNG, so ``--resume`` continues the same run; at the end an evaluation on held-out
episodes and ``summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..agents.dreamer import Behavior, DreamerConfig
from ..core.atomic import write_json
from ..core.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..core.config import option, to_dict
from ..core.errors import ReverieError
from ..core.limits import check_limits
from ..core.metrics import MetricsLogger
from ..core.stats import Z95
from ..envs.registry import get_spec
from ..models.io import save_model
from ..models.latent.rssm import RSSM, LatentState, RSSMConfig
from ..planning.cem import CEMConfig, CEMPlanner
from ..planning.latent import FeatureModel
from ..training.sequence_replay import SequenceReplay

__all__ = ["LatentRunConfig", "LatentRun", "Actions", "PRESETS", "apply_preset", "RandomAgent", "record_start", "record_step", "train_latent", "load_latent_run", "evaluate_latent", "AGENTS"]

KIND = "latent-run"
AGENTS = ("dreamer", "planet")

#: Built-in settings (``--preset``); flags left at their defaults take the preset's values.
#: ``cpu``: what the CPU runs of benchmarks/latent_protocol.py use. ``dreamerv3``: DreamerV3's
#: size S (GRU 512, 32 x 16 latents, 512-wide MLPs) at its training settings (replay ratio 512,
#: 16 x 64 sequences, learning rates 1e-4 / 3e-5 / 3e-5, discount 0.997) for a GPU, on the
#: pixel pendulum that stands in for DMC here. ``planet``: PlaNet's (GRU 200, a Gaussian latent of
#: 30, CEM with 1,000 candidates, 100 elites, 10 iterations, horizon 12; 50 x 50 sequences).
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"config": {}, "options": dict(deter=128, hidden=128, groups=8, classes=8, depth=16, embed=128)},
    "dreamerv3": {"config": dict(agent="dreamer", env="pendulum-pixels", frames=1_000_000, num_envs=16, prefill=5_000,
                                 train_ratio=512.0, batch=16, length=64, model_lr=1e-4, replay=500_000),
                  "options": dict(deter=512, hidden=512, groups=32, classes=16, depth=32, embed=512, actor_lr=3e-5,
                                  critic_lr=3e-5, gamma=0.997, horizon=15)},
    "planet": {"config": dict(agent="planet", env="pendulum-pixels", frames=500_000, num_envs=1, prefill=5_000,
                              train_ratio=100.0, batch=50, length=50, model_lr=1e-3),
               "options": dict(deter=200, hidden=200, latent="gaussian", gaussian_size=30, depth=32, embed=1024,
                               population=1000, elites=100, iterations=10, horizon=12)},
}


@dataclass
class LatentRunConfig:
    """What ``reverie latent`` runs."""

    agent: str = option("dreamer", "dreamer (actor-critic in imagination) or planet (CEM in latent space)")
    env: str = option("minatar-breakout", "env id (discrete or continuous actions; planet needs continuous)")
    out: Path = option(Path("runs/latent"), "run folder")
    frames: int = option(100_000, "env steps to collect, all games together (with --resume: extend the run to this)")
    num_envs: int = option(4, "games played at once")
    prefill: int = option(2_000, "env steps of uniformly random actions before training starts")
    train_ratio: float = option(64.0, "replayed steps trained per env step (a gradient step replays batch x length)")
    batch: int = option(16, "sequences per gradient step")
    length: int = option(32, "steps per sequence")
    replay: int = option(100_000, "replay capacity in env steps, all games together")
    model_lr: float = option(3e-4, "world model learning rate (Adam)")
    model_clip: float = option(1000.0, "world model gradient norm clip")
    explore_noise: float = option(0.3, "planet: std of the Gaussian noise added to planned actions while collecting")
    eval_episodes: int = option(100, "held-out test episodes scored at the end (0: none)")
    log_every: int = option(1_000, "env steps between metric lines")
    checkpoint_every: int = option(10_000, "env steps between checkpoints")
    seed: int = option(0, "seed of weights, actions and games")
    threads: int = option(1, "torch CPU threads")
    device: str = option("cpu", "device")
    resume: bool = option(False, "continue the run in --out from its checkpoint")
    tensorboard: bool = option(True, "also write TensorBoard events")

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.agent not in AGENTS:
            raise ReverieError(f"--agent must be one of {', '.join(AGENTS)}, got {self.agent!r}")
        for name in ("frames", "batch", "length", "log_every", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.train_ratio < math.inf or not 0 < self.model_lr < math.inf or not self.explore_noise >= 0:
            raise ReverieError(f"--train-ratio and --model-lr must be finite and > 0 and --explore-noise >= 0, got "
                               f"{self.train_ratio}, {self.model_lr}, {self.explore_noise}")
        if self.replay < self.num_envs * 2 * self.length:
            raise ReverieError(f"--replay {self.replay} cannot hold {self.num_envs} streams of two "
                               f"{self.length}-step sequences; raise it")
        if self.prefill < self.num_envs * self.length or self.eval_episodes < 0:
            raise ReverieError(f"--prefill must be at least num_envs x length ({self.num_envs * self.length}) and "
                               f"--eval-episodes >= 0")
        check_limits(self)


def apply_preset(presets: dict[str, dict[str, Any]], name: str | None, config, options: dict[str, Any]):
    """``config`` with the preset's values where a field is still at its default, and the
    preset's options under the given ones (the given win)."""
    if not name:
        return config, options
    if name not in presets:
        raise ReverieError(f"unknown --preset {name!r}; choose one of {', '.join(presets)}")
    preset = presets[name]
    defaults = type(config)()
    changes = {k: v for k, v in preset["config"].items() if getattr(config, k) == getattr(defaults, k)}
    if "out" not in changes and config.out == defaults.out:
        changes["out"] = Path(str(defaults.out) + f"-{name}")
    return dataclasses.replace(config, **changes), {**preset["options"], **options}


class Actions:
    """A world's actions as the run handles them: indices ``[N]`` for discrete worlds, vectors
    ``[N, A]`` in [-1, 1] for continuous ones (scaled to the env's bounds by :meth:`to_env`)."""

    def __init__(self, spec, device: torch.device) -> None:
        actions = spec.actions
        self.continuous = bool(getattr(actions, "continuous", False))
        self.device = device
        if self.continuous:
            self.low = torch.tensor(actions.low, dtype=torch.float32, device=device)
            self.high = torch.tensor(actions.high, dtype=torch.float32, device=device)
            self.dim, self.shape, self.dtype = len(actions.low), (len(actions.low),), torch.float32
        else:
            self.dim, self.shape, self.dtype = spec.num_actions, (), torch.long

    def zeros(self, n: int) -> torch.Tensor:
        return torch.zeros(n, *self.shape, dtype=self.dtype, device=self.device)

    def random(self, n: int) -> torch.Tensor:
        if self.continuous:
            return torch.rand(n, self.dim, device=self.device) * 2 - 1
        return torch.randint(0, self.dim, (n,), device=self.device)

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        if not self.continuous:
            return action
        return self.low + (action.clamp(-1, 1) + 1) / 2 * (self.high - self.low)

    def rssm_config(self, config: RSSMConfig, spec) -> RSSMConfig:
        return dataclasses.replace(config, obs_kind=spec.observation.kind, obs_shape=tuple(spec.observation.shape),
                                   action_dim=self.dim, discrete=not self.continuous)


class LatentRun(nn.Module):
    """One run's world model, with its optimiser, and its agent (Dreamer's behaviour or
    PlaNet's planner)."""

    def __init__(self, agent: str, spec, actions: Actions, rssm: RSSMConfig, dreamer: DreamerConfig,
                 cem: CEMConfig, model_lr: float, seed: int) -> None:
        super().__init__()
        if agent == "planet" and not actions.continuous:
            raise ReverieError(f"planet plans continuous actions with CEM; {spec.id} has discrete actions "
                               f"(use --agent dreamer)")
        self.agent = agent
        self.model = RSSM(actions.rssm_config(rssm, spec))
        self.model_optimizer = torch.optim.Adam(self.model.parameters(), lr=model_lr, eps=1e-8)
        self.behavior = Behavior(self.model, dreamer) if agent == "dreamer" else None
        self.planner = None
        if agent == "planet":
            device = self.model.gru.weight_hh.device
            self.planner = CEMPlanner(FeatureModel(self.model, self.model.config.deter), low=[-1.0] * actions.dim,
                                      high=[1.0] * actions.dim, config=cem, seed=seed, device=device)

    def train_step(self, batch: dict[str, torch.Tensor], clip: float) -> dict[str, float]:
        parts, states = self.model.observe_loss(batch)
        self.model_optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        norm = nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.model_optimizer.step()
        metrics = {f"model/{k}": float(v.detach()) for k, v in parts.items()} | {"model/grad_norm": float(norm)}
        if self.behavior is None:
            return metrics
        behaviour = self.behavior.train_step(self.model, states.flatten().detach())
        return metrics | {f"behavior/{k}": v for k, v in behaviour.items()}

    @torch.no_grad()
    def filter(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor, is_first: torch.Tensor
               ) -> LatentState:
        """The posterior after this step's observation (the acting agent's belief)."""
        return self.model.obs_step(state, action, self.model.encoder(obs), is_first)[0]

    @torch.no_grad()
    def act(self, state: LatentState, greedy: bool = False, noise: float = 0.0) -> torch.Tensor:
        if self.behavior is not None:
            return self.behavior.act(state.features, greedy)
        action = self.planner.act(state.features)
        if noise > 0 and not greedy:
            action = (action + noise * torch.randn_like(action)).clamp(-1, 1)
        return action

    def initial_state(self, count: int, device: torch.device | str) -> LatentState:
        """A fresh belief for ``count`` games (and a fresh plan)."""
        if self.planner is not None:
            self.planner.reset()
        return self.model.initial(count, device)

    def observe_and_act(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor, is_first: torch.Tensor,
                        greedy: bool = False) -> tuple[LatentState, torch.Tensor]:
        """Filter the observation that ``action`` led to and choose the next action."""
        state = self.filter(state, action, obs, is_first)
        return state, self.act(state, greedy)

    def extra_state(self) -> dict[str, Any]:
        """What is not in ``state_dict``: the optimisers and the planner's generator and plan."""
        state = {"model_optimizer": self.model_optimizer.state_dict()}
        if self.behavior is not None:
            state |= {"actor_optimizer": self.behavior.actor_optimizer.state_dict(),
                      "critic_optimizer": self.behavior.critic_optimizer.state_dict()}
        if self.planner is not None:
            state |= {"planner_rng": self.planner.generator.get_state(), "plan": self.planner.plan_mean}
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.model_optimizer.load_state_dict(state["model_optimizer"])
        if self.behavior is not None:
            self.behavior.actor_optimizer.load_state_dict(state["actor_optimizer"])
            self.behavior.critic_optimizer.load_state_dict(state["critic_optimizer"])
        if self.planner is not None:
            self.planner.generator.set_state(state["planner_rng"])
            self.planner.plan_mean = state["plan"]


class RandomAgent:
    """Uniformly random actions, in the recurrent agents' interface: the baseline every latent
    agent's held-out return is set beside."""

    def __init__(self, actions: Actions) -> None:
        self.actions = actions

    def initial_state(self, count: int, device: torch.device | str) -> None:
        return None

    def observe_and_act(self, state, action, obs, is_first, greedy: bool = False):
        return None, self.actions.random(len(obs))


def record_start(replay: SequenceReplay, obs_spec, actions: Actions, obs: torch.Tensor,
                 envs: torch.Tensor | None = None) -> None:
    """Episodes' first observations: no action led to them, no reward came with them."""
    k, device = len(obs), obs.device
    replay.add({"obs": obs_spec.encode(obs), "action": actions.zeros(k), "reward": torch.zeros(k, device=device),
                "cont": torch.ones(k, device=device), "is_first": torch.ones(k, dtype=torch.bool, device=device)},
               envs)


def record_step(replay: SequenceReplay, obs_spec, actions: Actions, action: torch.Tensor, obs: torch.Tensor,
                reward: torch.Tensor, terminated: torch.Tensor, info: dict[str, Any]) -> torch.Tensor:
    """One env step of every game into ``replay``: the observation each action led to (the final
    one where a game ended), then, for the games that ended, the next episode's first. Returns
    the indices of the games that ended."""
    ended, n = info["final_index"], len(obs)
    arrived = obs.clone()
    if ended.numel():
        arrived[ended] = info["final_obs"]
    replay.add({"obs": obs_spec.encode(arrived), "action": action, "reward": reward.float(),
                "cont": (~terminated).float(), "is_first": torch.zeros(n, dtype=torch.bool, device=obs.device)})
    if ended.numel():
        record_start(replay, obs_spec, actions, obs[ended], ended)
    return ended


def _configs(agent: str, options: dict[str, Any]) -> tuple[RSSMConfig, DreamerConfig, CEMConfig]:
    """The RSSM's and the agent's settings from ``key=value`` options (a key may set both)."""
    fields = {"rssm": {f.name for f in dataclasses.fields(RSSMConfig)} - {"obs_kind", "obs_shape", "action_dim",
                                                                           "discrete"},
              "agent": {f.name for f in dataclasses.fields(DreamerConfig if agent == "dreamer" else CEMConfig)}}
    unknown = sorted(set(options) - fields["rssm"] - fields["agent"])
    if unknown:
        raise ReverieError(f"unknown {agent} options {unknown}; RSSM: {sorted(fields['rssm'])}, "
                           f"{agent}: {sorted(fields['agent'])}")
    rssm = RSSMConfig(**{k: v for k, v in options.items() if k in fields["rssm"]})
    mine = {k: v for k, v in options.items() if k in fields["agent"]}
    planet = {"horizon": 12, "action_repeat": 1, "population": 300, "elites": 30, "iterations": 6}
    return (rssm, DreamerConfig(**(mine if agent == "dreamer" else {})),
            CEMConfig(**(planet | mine if agent == "planet" else {})))


def _save(config: LatentRunConfig, run: LatentRun, replay: SequenceReplay, loop: dict[str, Any], env) -> None:
    get_state = getattr(env, "get_state", None)
    state = {"run": run.state_dict(), "extra": run.extra_state(), "replay": replay.state_dict(), "loop": loop,
             "env": get_state() if get_state is not None else None, "rng": rng_state()}
    save_checkpoint(config.out / "checkpoint.pt", state, KIND)
    # the world model alone, in reverie's model file format: I2A and planners imagine with it
    save_model(run.model, config.out / "model.pt", {"env": config.env, "frames": loop["steps"], "agent": config.agent})


def read_config(out: Path) -> dict[str, Any]:
    path = Path(out) / "config.json"
    if not path.is_file() or not (Path(out) / "checkpoint.pt").is_file():
        raise ReverieError(f"{out} holds no latent-model run to resume (config.json and checkpoint.pt are needed)")
    stored = json.loads(path.read_text())
    if stored.get("kind") != KIND:
        raise ReverieError(f"{out} holds a {stored.get('kind')!r} run, not a latent-model run")
    return stored


#: ``--frames``'s default, which a resume does not take as a request to extend the run
FRAMES_DEFAULT = next(f.default for f in dataclasses.fields(LatentRunConfig) if f.name == "frames")


def train_latent(config: LatentRunConfig, options: dict[str, Any] | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Run (or with ``config.resume`` continue) a Dreamer or PlaNet run; returns its summary."""
    out, saved = config.out, None
    if config.resume:
        stored = read_config(out)
        options = stored["options"]
        # --frames on a resume extends the run; the flag's default must not (it once stretched a
        # 60k-frame run to 100k)
        extend = config.frames if config.frames != FRAMES_DEFAULT else 0
        config = LatentRunConfig(**(stored["config"] | {"resume": True,
                                                        "frames": max(extend, stored["config"]["frames"])}))
        saved = load_checkpoint(out / "checkpoint.pt", KIND)
    elif (out / "checkpoint.pt").exists():
        raise ReverieError(f"{out} already holds a run; continue it with --resume or choose another --out")
    options = dict(options or {})
    spec = get_spec(config.env)
    rssm_config, dreamer_config, cem_config = _configs(config.agent, options)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    actions = Actions(spec, device)
    run = LatentRun(config.agent, spec, actions, rssm_config, dreamer_config, cem_config, config.model_lr,
                    config.seed).to(device)
    env = spec.make_env("train", config.num_envs, seed=config.seed, device=device)
    obs_spec = spec.observation
    probe = obs_spec.encode(torch.zeros(1, *obs_spec.shape, device=device))
    replay = SequenceReplay(max(2 * config.length, config.replay // config.num_envs), config.num_envs,
                            tuple(probe.shape[1:]), probe.dtype, actions.shape, actions.dtype, device=device,
                            decode=obs_spec.decode)
    n = config.num_envs
    if saved is None:
        obs, _ = env.reset(seed=config.seed)
        state, action = run.model.initial(n, device), actions.zeros(n)
        is_first = torch.ones(n, dtype=torch.bool, device=device)
        loop = {"steps": 0, "updates": 0, "credit": 0.0, "episodes": 0, "returns": []}
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", {"kind": KIND, "config": to_dict(config), "options": options,
                                         "rssm": run.model.config.to_dict(), "dreamer": dataclasses.asdict(dreamer_config),
                                         "cem": dataclasses.asdict(cem_config)})
        record_start(replay, obs_spec, actions, obs)
    else:
        run.load_state_dict(saved["run"])
        run.load_extra_state(saved["extra"])
        replay.load_state_dict(saved["replay"])
        loop = saved["loop"]
        if saved["env"] is not None and hasattr(env, "set_state"):
            env.set_state(saved["env"])
        else:
            env.reset(seed=config.seed + loop["steps"])
        obs, action, is_first = (loop.pop(k).to(device) for k in ("obs", "action", "is_first"))
        state = LatentState(*(t.to(device) for t in loop.pop("state")))
        set_rng_state(saved["rng"])
    metrics = MetricsLogger(out, tensorboard=config.tensorboard, resume_step=loop["steps"] if saved else None)
    per_update = config.batch * config.length
    window: dict[str, list[float]] = {}
    start, start_steps = time.perf_counter(), loop["steps"]
    bar = _bar(config, loop["steps"], progress)
    while loop["steps"] < config.frames:
        state = run.filter(state, action, obs, is_first)
        if loop["steps"] < config.prefill:
            action = actions.random(n)
        else:
            action = run.act(state, noise=config.explore_noise)
        obs, reward, terminated, truncated, info = env.step(actions.to_env(action))
        ended = record_step(replay, obs_spec, actions, action, obs, reward, terminated, info)
        is_first = torch.zeros(n, dtype=torch.bool, device=device)
        is_first[ended] = True
        if ended.numel():
            loop["episodes"] += ended.numel()
            loop["returns"] = (loop["returns"] + info["episode_return"][ended].float().tolist())[-100:]
            action = action.clone()
            action[ended] = 0
        loop["steps"] += n
        if loop["steps"] >= config.prefill:
            loop["credit"] += n * config.train_ratio / per_update
            while loop["credit"] >= 1:
                for key, value in run.train_step(replay.sample(config.batch, config.length), config.model_clip).items():
                    window.setdefault(key, []).append(value)
                loop["credit"] -= 1
                loop["updates"] += 1
        if bar is not None:
            bar.update(n)
        if loop["steps"] % config.log_every < n:
            line = {k: sum(v) / len(v) for k, v in window.items()}
            window = {}
            recent = loop["returns"]
            line |= {"episodes": loop["episodes"], "updates": loop["updates"],
                     "train/return": sum(recent) / len(recent) if recent else float("nan"),
                     "env_steps_per_second": (loop["steps"] - start_steps) / max(time.perf_counter() - start, 1e-9)}
            metrics.log(loop["steps"], line)
            if bar is not None:
                bar.set_postfix(ret=f"{line['train/return']:.2f}", updates=loop["updates"])
        if loop["steps"] % config.checkpoint_every < n or loop["steps"] >= config.frames:
            _save(config, run, replay, loop | {"obs": obs, "state": list(state), "action": action,
                                               "is_first": is_first}, env)
    if bar is not None:
        bar.close()
    metrics.close()
    summary = {"kind": KIND, "agent": config.agent, "env": config.env, "frames": loop["steps"], "completed": True,
               "updates": loop["updates"], "episodes": loop["episodes"],
               "wall_seconds": time.perf_counter() - start,
               "train_return_last100": sum(loop["returns"]) / len(loop["returns"]) if loop["returns"] else None}
    if config.eval_episodes:
        summary["evaluation"] = evaluate_latent(run, spec, actions, "test", config.eval_episodes, seed=config.seed,
                                                device=device)
        write_json(out / "evaluation.json", summary["evaluation"])
    write_json(out / "summary.json", summary)
    return summary


def load_latent_run(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[LatentRun, Any, Actions]:
    """A run's world model and agent from its folder (config.json + checkpoint.pt), with its
    world's spec and actions: to evaluate it again or to look at what it imagines."""
    stored = read_config(Path(run_dir))
    config = LatentRunConfig(**stored["config"])
    rssm, dreamer, cem = _configs(config.agent, stored["options"])
    spec, device = get_spec(config.env), torch.device(device)
    actions = Actions(spec, device)
    run = LatentRun(config.agent, spec, actions, rssm, dreamer, cem, config.model_lr, config.seed).to(device)
    run.load_state_dict(load_checkpoint(Path(run_dir) / "checkpoint.pt", KIND, map_location=device)["run"])
    return run.eval(), spec, actions


def _bar(config: LatentRunConfig, done: int, progress: bool):
    if not progress:
        return None
    from tqdm import tqdm
    return tqdm(total=config.frames, initial=done, desc=config.agent, unit="step", dynamic_ncols=True)


@torch.no_grad()
def evaluate_latent(agent, spec, actions: Actions, split: str, episodes: int, greedy: bool = False,
                    seed: int = 0, batch: int = 100, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Held-out episodes ``0 .. episodes - 1`` of ``split`` (each env's first episode scored) played
    by a recurrent ``agent`` (``initial_state(count, device)`` and ``observe_and_act(state, action,
    obs, is_first, greedy) -> (state, action)``); the mean return with a normal 95% interval."""
    returns: list[torch.Tensor] = []
    lengths: list[torch.Tensor] = []
    for first in range(0, episodes, batch):
        count = min(batch, episodes - first)
        env = spec.make_env(split, count, seed=seed + first, device=device)
        reset_to = getattr(env, "reset_to", None)
        obs = reset_to(torch.arange(first, first + count, device=device)) if reset_to else env.reset(seed=seed)[0]
        state, action = agent.initial_state(count, device), actions.zeros(count)
        is_first = torch.ones(count, dtype=torch.bool, device=device)
        done = torch.zeros(count, dtype=torch.bool, device=device)
        ret = torch.zeros(count, device=device)
        length = torch.zeros(count, dtype=torch.long, device=device)
        for _ in range(env.max_steps):
            state, action = agent.observe_and_act(state, action, obs, is_first, greedy)
            obs, _, _, _, info = env.step(actions.to_env(action))
            ended = info["final_index"]
            new = ended[~done[ended]]
            ret[new] = info["episode_return"][new].float()
            length[new] = info["episode_length"][new].to(length)
            done[new] = True
            is_first = torch.zeros(count, dtype=torch.bool, device=device)
            is_first[ended] = True
            if bool(done.all()):
                break
        returns.append(ret.cpu())
        lengths.append(length.cpu())
    ret = torch.cat(returns)
    half = Z95 * float(ret.std()) / math.sqrt(len(ret)) if len(ret) > 1 else 0.0
    mean = float(ret.mean())
    return {"episodes": len(ret), "mean_return": mean, "return_ci95": [mean - half, mean + half],
            "mean_length": float(torch.cat(lengths).float().mean()), "mode": "greedy" if greedy else "sample",
            "split": split, "seed": seed}
