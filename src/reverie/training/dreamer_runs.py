"""``reverie dreamer``: Dreamer's collect / fit / imagine loop as a resumable run.

The loop: ``num_envs`` games act with the actor on the RSSM's filtered state (random actions
until ``prefill`` env steps are in the replay); every env step's rows go to a
:class:`~.sequence_replay.SequenceReplay`; the world model and the behaviour train at
``train_ratio`` replayed steps per env step (a gradient step reads ``batch x length`` steps,
DreamerV3's replay ratio), the behaviour imagining from every posterior state of the
model's batch. The run folder is like every reverie run's: ``config.json``, metrics
(JSONL, CSV, TensorBoard), an atomic ``checkpoint.pt`` holding the weights, optimisers,
replay, filter states, env state and every RNG, so ``--resume`` continues the same run; at the
end an evaluation on held-out episodes and ``summary.json``.
"""

from __future__ import annotations

import dataclasses
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
from ..models.latent.rssm import RSSM, LatentState, RSSMConfig
from .sequence_replay import SequenceReplay

__all__ = ["DreamerRunConfig", "DreamerRun", "train_dreamer", "evaluate_dreamer"]

KIND = "dreamer-run"


@dataclass
class DreamerRunConfig:
    """What ``reverie dreamer`` runs."""

    env: str = option("minatar-breakout", "env id (a discrete reverie world)")
    out: Path = option(Path("runs/dreamer"), "run folder")
    frames: int = option(100_000, "env steps to collect, all games together")
    num_envs: int = option(4, "games played at once")
    prefill: int = option(2_000, "env steps of uniformly random actions before training starts")
    train_ratio: float = option(64.0, "replayed steps trained per env step (a gradient step replays batch x length)")
    batch: int = option(16, "sequences per gradient step")
    length: int = option(32, "steps per sequence")
    replay: int = option(100_000, "replay capacity in env steps, all games together")
    model_lr: float = option(3e-4, "world model learning rate (Adam)")
    model_clip: float = option(1000.0, "world model gradient norm clip")
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
        for name in ("frames", "batch", "length", "log_every", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.train_ratio < math.inf or not 0 < self.model_lr < math.inf:
            raise ReverieError(f"--train-ratio and --model-lr must be finite and > 0, got {self.train_ratio}, "
                               f"{self.model_lr}")
        if self.replay < self.num_envs * 2 * self.length:
            raise ReverieError(f"--replay {self.replay} cannot hold {self.num_envs} streams of two "
                               f"{self.length}-step sequences; raise it")
        if self.prefill < self.num_envs * self.length or self.eval_episodes < 0:
            raise ReverieError(f"--prefill must be at least num_envs x length ({self.num_envs * self.length}) and "
                               f"--eval-episodes >= 0")
        check_limits(self)


class DreamerRun(nn.Module):
    """The world model and the behaviour of one run, with the model's optimiser."""

    def __init__(self, spec, rssm: RSSMConfig, dreamer: DreamerConfig, model_lr: float) -> None:
        super().__init__()
        self.model = RSSM.for_spec(spec, rssm)
        self.behavior = Behavior(self.model, dreamer)
        self.model_optimizer = torch.optim.Adam(self.model.parameters(), lr=model_lr, eps=1e-8)

    def train_step(self, batch: dict[str, torch.Tensor], clip: float) -> dict[str, float]:
        parts, states = self.model.observe_loss(batch)
        self.model_optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        norm = nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.model_optimizer.step()
        metrics = {f"model/{k}": float(v.detach()) for k, v in parts.items()} | {"model/grad_norm": float(norm)}
        behaviour = self.behavior.train_step(self.model, states.flatten().detach())
        return metrics | {f"behavior/{k}": v for k, v in behaviour.items()}

    @torch.no_grad()
    def filter(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor, is_first: torch.Tensor
               ) -> LatentState:
        """The posterior after this step's observation (the acting agent's belief)."""
        return self.model.obs_step(state, action, self.model.encoder(obs), is_first)[0]


def _save(config: DreamerRunConfig, run: DreamerRun, replay: SequenceReplay, loop: dict[str, Any], env) -> None:
    get_state = getattr(env, "get_state", None)
    state = {"run": run.state_dict(), "model_optimizer": run.model_optimizer.state_dict(),
             "actor_optimizer": run.behavior.actor_optimizer.state_dict(),
             "critic_optimizer": run.behavior.critic_optimizer.state_dict(), "replay": replay.state_dict(),
             "loop": loop, "env": get_state() if get_state is not None else None, "rng": rng_state()}
    save_checkpoint(config.out / "checkpoint.pt", state, KIND)


def _configs(options: dict[str, Any]) -> tuple[RSSMConfig, DreamerConfig]:
    names_r = {f.name for f in dataclasses.fields(RSSMConfig)}
    names_d = {f.name for f in dataclasses.fields(DreamerConfig)}
    unknown = sorted(set(options) - names_r - names_d)
    if unknown:
        raise ReverieError(f"unknown Dreamer options {unknown}; RSSM: {sorted(names_r)}, behaviour: {sorted(names_d)}")
    return (RSSMConfig(**{k: v for k, v in options.items() if k in names_r}),
            DreamerConfig(**{k: v for k, v in options.items() if k in names_d}))


def train_dreamer(config: DreamerRunConfig, options: dict[str, Any] | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Run (or with ``config.resume`` continue) a Dreamer run; returns its summary."""
    out = config.out
    saved = None
    if config.resume:
        stored = read_config(out)
        options = stored["options"]
        frames = config.frames
        config = DreamerRunConfig(**(stored["config"] | {"resume": True, "frames": max(frames, stored["config"]["frames"])}))
        saved = load_checkpoint(out / "checkpoint.pt", KIND)
    elif (out / "checkpoint.pt").exists():
        raise ReverieError(f"{out} already holds a run; continue it with --resume or choose another --out")
    options = dict(options or {})
    spec = get_spec(config.env)
    rssm_config, dreamer_config = _configs(options)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    run = DreamerRun(spec, rssm_config, dreamer_config, config.model_lr).to(device)
    env = spec.make_env("train", config.num_envs, seed=config.seed, device=device)
    obs_spec = spec.observation
    streams = max(2 * config.length, config.replay // config.num_envs)
    probe = obs_spec.encode(torch.zeros(1, *obs_spec.shape, device=device))
    replay = SequenceReplay(streams, config.num_envs, tuple(probe.shape[1:]), probe.dtype, device=device,
                            decode=obs_spec.decode)
    n = config.num_envs
    if saved is None:
        obs, _ = env.reset(seed=config.seed)
        state = run.model.initial(n, device)
        action = torch.zeros(n, dtype=torch.long, device=device)
        is_first = torch.ones(n, dtype=torch.bool, device=device)
        loop = {"steps": 0, "updates": 0, "credit": 0.0, "episodes": 0, "returns": []}
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", {"kind": KIND, "config": to_dict(config), "options": options,
                                         "rssm": rssm_config.for_spec(spec).to_dict(),
                                         "dreamer": dataclasses.asdict(dreamer_config)})
        replay.add({"obs": obs_spec.encode(obs), "action": action, "reward": torch.zeros(n, device=device),
                    "cont": torch.ones(n, device=device), "is_first": is_first})
    else:
        run.load_state_dict(saved["run"])
        run.model_optimizer.load_state_dict(saved["model_optimizer"])
        run.behavior.actor_optimizer.load_state_dict(saved["actor_optimizer"])
        run.behavior.critic_optimizer.load_state_dict(saved["critic_optimizer"])
        replay.load_state_dict(saved["replay"])
        loop = saved["loop"]
        if saved["env"] is not None and hasattr(env, "set_state"):
            env.set_state(saved["env"])
        else:
            env.reset(seed=config.seed + loop["steps"])
        obs, state, action, is_first = (loop.pop("obs").to(device), LatentState(*(t.to(device) for t in loop.pop("state"))),
                                        loop.pop("action").to(device), loop.pop("is_first").to(device))
        set_rng_state(saved["rng"])
    metrics = MetricsLogger(out, tensorboard=config.tensorboard, resume_step=loop["steps"] if saved else None)
    per_update = config.batch * config.length
    window: dict[str, list[float]] = {}
    start = time.perf_counter()
    bar = _bar(config, loop["steps"], progress)
    while loop["steps"] < config.frames:
        state = run.filter(state, action, obs, is_first)
        if loop["steps"] < config.prefill:
            action = torch.randint(0, spec.num_actions, (n,), device=device)
        else:
            action = run.behavior.act(state.features)
        obs, reward, terminated, truncated, info = env.step(action)
        ended = info["final_index"]
        is_first = torch.zeros(n, dtype=torch.bool, device=device)
        is_first[ended] = True
        arrived = obs.clone()
        if ended.numel():
            arrived[ended] = info["final_obs"]
        replay.add({"obs": obs_spec.encode(arrived), "action": action, "reward": reward.float(),
                    "cont": (~terminated).float(), "is_first": torch.zeros(n, dtype=torch.bool, device=device)})
        if ended.numel():   # the next episode's first observation: a second row for these streams
            k = ended.numel()
            replay.add({"obs": obs_spec.encode(obs[ended]), "action": torch.zeros(k, dtype=torch.long, device=device),
                        "reward": torch.zeros(k, device=device), "cont": torch.ones(k, device=device),
                        "is_first": torch.ones(k, dtype=torch.bool, device=device)}, ended)
            loop["episodes"] += k
            loop["returns"] = (loop["returns"] + info["episode_return"][ended].float().tolist())[-100:]
        action = action.masked_fill(is_first, 0)
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
                     "env_steps_per_second": loop["steps"] / max(time.perf_counter() - start, 1e-9)}
            metrics.log(loop["steps"], line)
            if bar is not None:
                bar.set_postfix(ret=f"{line['train/return']:.2f}", updates=loop["updates"])
        if loop["steps"] % config.checkpoint_every < n or loop["steps"] >= config.frames:
            _save(config, run, replay, loop | {"obs": obs, "state": list(state), "action": action,
                                               "is_first": is_first}, env)
    if bar is not None:
        bar.close()
    metrics.close()
    summary = {"kind": KIND, "env": config.env, "frames": loop["steps"], "updates": loop["updates"],
               "episodes": loop["episodes"], "wall_seconds": time.perf_counter() - start,
               "train_return_last100": sum(loop["returns"]) / len(loop["returns"]) if loop["returns"] else None}
    if config.eval_episodes:
        summary["evaluation"] = evaluate_dreamer(run, spec, "test", config.eval_episodes, seed=config.seed,
                                                 device=device)
        write_json(out / "evaluation.json", summary["evaluation"])
    write_json(out / "summary.json", summary)
    return summary


def read_config(out: Path) -> dict[str, Any]:
    path = Path(out) / "config.json"
    if not path.is_file() or not (Path(out) / "checkpoint.pt").is_file():
        raise ReverieError(f"{out} holds no Dreamer run to resume (config.json and checkpoint.pt are needed)")
    import json
    stored = json.loads(path.read_text())
    if stored.get("kind") != KIND:
        raise ReverieError(f"{out} holds a {stored.get('kind')!r} run, not a Dreamer run")
    return stored


def _bar(config: DreamerRunConfig, done: int, progress: bool):
    if not progress:
        return None
    from tqdm import tqdm
    return tqdm(total=config.frames, initial=done, desc="dreamer", unit="step", dynamic_ncols=True)


@torch.no_grad()
def evaluate_dreamer(run: DreamerRun, spec, split: str, episodes: int, greedy: bool = False, seed: int = 0,
                     batch: int = 100, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Held-out episodes ``0 .. episodes - 1`` of ``split`` (each env's first episode scored),
    the actor acting on the filtered state; mean return with a normal 95% interval."""
    returns: list[torch.Tensor] = []
    lengths: list[torch.Tensor] = []
    for first in range(0, episodes, batch):
        count = min(batch, episodes - first)
        env = spec.make_env(split, count, seed=seed + first, device=device)
        reset_to = getattr(env, "reset_to", None)
        obs = reset_to(torch.arange(first, first + count, device=device)) if reset_to else env.reset(seed=seed)[0]
        state = run.model.initial(count, device)
        action = torch.zeros(count, dtype=torch.long, device=device)
        is_first = torch.ones(count, dtype=torch.bool, device=device)
        done = torch.zeros(count, dtype=torch.bool, device=device)
        ret = torch.zeros(count, device=device)
        length = torch.zeros(count, dtype=torch.long, device=device)
        for _ in range(env.max_steps):
            state = run.filter(state, action, obs, is_first)
            action = run.behavior.act(state.features, greedy)
            obs, _, _, _, info = env.step(action)
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
