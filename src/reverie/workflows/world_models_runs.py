"""``reverie world-models``: World Models' four phases as one resumable run.

1. **collect**: ``frames`` env steps of uniformly random actions into a sequence replay;
2. **vae**: fit V on the replay's frames;
3. **rnn**: fit M on replayed sequences of V's codes (sampled, as the paper does) and actions;
4. **controller**: CMA-ES searches the linear controller, inside M's dream (``--train-in dream``,
   the paper's VizDoom procedure: every generation's candidates dream from codes of real frames
   at M's temperature) or in the real world (``--train-in real``, the paper's CarRacing
   procedure: the whole population x rollouts play real episodes as one batch of envs);

then the best controller plays held-out episodes of the real world, beside a random policy on
the same episodes. Each phase ends with an atomic checkpoint (the replay, the weights, the
controller and every RNG), and ``--resume`` continues after the last finished phase (a phase
cut short starts again: each is minutes on a CPU).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..agents.world_models import Controller, WMState, WorldModel, cma_search, dream_returns
from ..core.atomic import write_json
from ..core.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..core.config import option, to_dict
from ..core.errors import ReverieError
from ..core.limits import check_limits
from ..core.metrics import MetricsLogger
from ..envs.registry import get_spec
from ..models.latent.mdn_rnn import MDNRNN, MDNRNNConfig
from ..models.latent.vae import VAE, VAEConfig
from .latent_runs import Actions, RandomAgent, evaluate_latent, record_start, record_step
from ..training.sequence_replay import SequenceReplay

__all__ = ["WorldModelsConfig", "WorldModelsAgent", "train_world_models", "load_world_model", "real_returns",
           "PHASES", "PRESETS"]

#: Built-in settings (``--preset``); flags left at their defaults take the preset's values.
#: ``carracing`` is the paper's CarRacing setting (Ha & Schmidhuber 2018: z of 32, an MDN-RNN
#: of 256 units and 5 mixtures, CMA-ES with 64 candidates x 16 rollouts in the real env; 906 +/-
#: 21), a job for many cores; it collects 2,000 random rollouts (2M frames, a 25 GB replay in
#: memory) where the paper collected 10,000 (a 123 GB replay at 64x64).
PRESETS: dict[str, dict[str, Any]] = {
    "carracing": {"config": dict(env="carracing", frames=2_000_000, num_envs=16, vae_steps=100_000,
                                 rnn_steps=100_000, generations=1_000, popsize=64, rollouts=16, horizon=1_000,
                                 train_in="real", sigma=0.1),
                  "options": dict(latent=32, hidden=256, mixtures=5, temperature=1.0)},
    "pendulum": {"config": dict(env="pendulum-pixels", frames=20_000, num_envs=8),
                 "options": dict(latent=16, hidden=128)},
}

KIND = "world-models-run"
PHASES = ("collect", "vae", "rnn", "controller")


@dataclass
class WorldModelsConfig:
    """What ``reverie world-models`` runs."""

    env: str = option("pendulum-pixels", "env id")
    out: Path = option(Path("runs/world-models"), "run folder")
    frames: int = option(20_000, "random-policy env steps collected for V and M")
    num_envs: int = option(8, "games played at once while collecting")
    vae_steps: int = option(3_000, "V's optimiser steps")
    vae_batch: int = option(64, "frames per V step")
    rnn_steps: int = option(3_000, "M's optimiser steps")
    rnn_batch: int = option(16, "sequences per M step")
    length: int = option(32, "steps per sequence for M")
    lr: float = option(1e-3, "learning rate of V and M (Adam)")
    generations: int = option(40, "CMA-ES generations")
    popsize: int = option(16, "CMA-ES candidates per generation")
    rollouts: int = option(16, "dreams per candidate (from codes of real frames)")
    horizon: int = option(200, "steps per dream (or per real episode with --train-in real) at most")
    train_in: str = option("dream", "where CMA-ES scores controllers: dream (inside M) or real (the env itself)")
    sigma: float = option(0.1, "CMA-ES initial step size")
    eval_episodes: int = option(100, "held-out test episodes for the controller and the random policy (0: none)")
    seed: int = option(0, "seed")
    threads: int = option(1, "torch CPU threads")
    device: str = option("cpu", "device")
    resume: bool = option(False, "continue the run in --out after its last finished phase")
    world_from: Path | None = option(None, "a World Models run whose replay, V and M this new run starts from (only "
                                           "the controller is searched again); its world and V/M settings apply")
    tensorboard: bool = option(True, "also write TensorBoard events")

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.world_from = None if self.world_from in (None, "") else Path(self.world_from)
        for name in ("frames", "vae_steps", "vae_batch", "rnn_steps", "rnn_batch", "length", "generations",
                     "popsize", "rollouts", "horizon"):
            if int(getattr(self, name)) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.train_in not in ("dream", "real"):
            raise ReverieError(f"--train-in must be dream or real, got {self.train_in!r}")
        if self.popsize < 2 or not (0 < self.lr < 1 and self.sigma > 0) or self.eval_episodes < 0:
            raise ReverieError("--popsize must be >= 2, 0 < --lr < 1, --sigma > 0 and --eval-episodes >= 0")
        if self.frames < 2 * self.num_envs * self.length:
            raise ReverieError(f"--frames {self.frames} cannot give {self.num_envs} streams two {self.length}-step "
                               f"sequences; raise it")
        check_limits(self)


class WorldModelsAgent:
    """V, M and C acting in the real world: ``a_t = C([z_t, h_t])``, then M remembers the step."""

    def __init__(self, world: WorldModel, controller: Controller, params: torch.Tensor) -> None:
        self.world, self.controller, self.params = world, controller, params[None]

    def initial_state(self, count: int, device: torch.device | str):
        return self.world.rnn.initial(count, device)

    @torch.no_grad()
    def observe_and_act(self, memory, action, obs, is_first, greedy: bool = False):
        keep = (~is_first).float()[:, None]
        state = self.world.encode(obs, WMState(None, memory[0] * keep, memory[1] * keep))
        action = self.controller.act(self.params, state.features[None])
        state = self.world.remember(state, action)
        return (state.h, state.c), action


def _configs(options: dict[str, Any]) -> tuple[VAEConfig, MDNRNNConfig]:
    vae_fields = {f.name for f in dataclasses.fields(VAEConfig)} - {"obs_kind", "obs_shape"}
    rnn_fields = {f.name for f in dataclasses.fields(MDNRNNConfig)} - {"latent", "action_dim", "discrete"}
    unknown = sorted(set(options) - vae_fields - rnn_fields)
    if unknown:
        raise ReverieError(f"unknown world-models options {unknown}; V: {sorted(vae_fields)}, M: {sorted(rnn_fields)}")
    return (VAEConfig(**{k: v for k, v in options.items() if k in vae_fields}),
            MDNRNNConfig(**{k: v for k, v in options.items() if k in rnn_fields}))


def _fit(name: str, steps: int, loss_fn, params, lr: float, metrics: MetricsLogger, offset: int,
         progress: bool) -> None:
    optimizer = torch.optim.Adam(params, lr=lr)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=name, unit="step", dynamic_ncols=True)
    for step in range(steps):
        parts = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 100.0)
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            metrics.log(offset + step, {f"{name}/{k}": float(v.detach()) for k, v in parts.items()})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()


def train_world_models(config: WorldModelsConfig, options: dict[str, Any] | None = None,
                       progress: bool = True) -> dict[str, Any]:
    """Run (or continue) World Models' phases and evaluate the controller; returns the summary."""
    out, saved = config.out, None
    if config.resume:
        stored, saved = _read_run(out)
        options, config = stored["options"], WorldModelsConfig(**(stored["config"] | {"resume": True}))
    elif (out / "checkpoint.pt").exists():
        raise ReverieError(f"{out} already holds a run; continue it with --resume or choose another --out")
    elif config.world_from is not None:
        config, options, saved = _reused_world(config, options)
    options = dict(options or {})
    spec = get_spec(config.env)
    vae_config, rnn_config = _configs(options)
    if not config.resume:   # a world that cannot be played here (a missing simulator) fails before the folder exists
        spec.make_env("train", 1, seed=config.seed)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    actions = Actions(spec, device)
    obs_spec = spec.observation
    vae = VAE(dataclasses.replace(vae_config, obs_kind=obs_spec.kind, obs_shape=tuple(obs_spec.shape))).to(device)
    rnn = MDNRNN(dataclasses.replace(rnn_config, latent=vae.config.latent, action_dim=actions.dim,
                                     discrete=not actions.continuous)).to(device)
    world = WorldModel(vae, rnn)
    controller = Controller(world.feature_size, actions.dim, not actions.continuous)
    probe = obs_spec.encode(torch.zeros(1, *obs_spec.shape, device=device))
    replay = SequenceReplay(config.frames // config.num_envs * 5 // 4 + 2, config.num_envs, tuple(probe.shape[1:]), probe.dtype,
                            actions.shape, actions.dtype, device=device, decode=obs_spec.decode)
    done_phases: list[str] = []
    record: dict[str, Any] = {"history": [], "best": None, "seconds": {}}
    if not config.resume:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", {"kind": KIND, "config": to_dict(config), "options": options,
                                         "vae": vae.config.to_dict(), "rnn": rnn.config.to_dict()})
    if saved is not None:
        done_phases, record = saved["phases"], saved["record"]
        replay.load_state_dict(saved["replay"])
        world.load_state_dict(saved["world"])
        set_rng_state(saved["rng"])
    metrics = MetricsLogger(out, tensorboard=config.tensorboard, resume_step=None if saved is None else 10 ** 9)

    def finish(phase: str, started: float) -> None:
        done_phases.append(phase)
        record["seconds"][phase] = time.perf_counter() - started
        save_checkpoint(out / "checkpoint.pt", {"phases": list(done_phases), "record": record,
                                                "replay": replay.state_dict(), "world": world.state_dict(),
                                                "rng": rng_state()}, KIND)

    if "collect" not in done_phases:
        started = time.perf_counter()
        _collect(spec, actions, replay, config, device)
        finish("collect", started)
    if "vae" not in done_phases:
        started = time.perf_counter()

        def vae_loss():
            batch = replay.sample(config.vae_batch, 1)
            return vae.loss(batch["obs"][:, 0])
        _fit("vae", config.vae_steps, vae_loss, list(vae.parameters()), config.lr, metrics, 0, progress)
        finish("vae", started)
    if "rnn" not in done_phases:
        started = time.perf_counter()

        def rnn_loss():
            batch = replay.sample(config.rnn_batch, config.length)
            with torch.no_grad():
                z = vae.sample(batch["obs"].flatten(0, 1)).view(config.rnn_batch, config.length, -1)
            return rnn.loss(z, batch["action"], batch["reward"], batch["cont"], batch["is_first"])
        _fit("rnn", config.rnn_steps, rnn_loss, list(rnn.parameters()), config.lr, metrics, config.vae_steps, progress)
        finish("rnn", started)
    if "controller" not in done_phases:
        started = time.perf_counter()
        offset = config.vae_steps + config.rnn_steps

        def fitness(params: torch.Tensor) -> torch.Tensor:
            if config.train_in == "real":
                return real_returns(spec, actions, world, controller, params.to(device), config.rollouts,
                                    config.horizon, seed=config.seed + 1_000_003 * (len(record["history"]) + 1))
            frames = replay.sample(config.rollouts, 1)["obs"][:, 0]
            with torch.no_grad():
                start = vae.encode(frames)[0]
            return dream_returns(world, controller, params.to(device), start, config.horizon)

        def logged(generation: int, values: dict[str, float]) -> None:
            metrics.log(offset + generation, {f"cma/{k}": v for k, v in values.items() if k != "generation"})
        def logged_and_counted(generation: int, values: dict[str, float]) -> None:
            record["history"].append(values)
            logged(generation, values)
        record["history"] = []
        best, history = cma_search(fitness, controller.size, config.generations, config.popsize, config.sigma,
                                   config.seed, on_generation=logged_and_counted)
        record["history"], record["best"] = history, [float(v) for v in best]
        finish("controller", started)
    metrics.close()
    summary: dict[str, Any] = {"kind": KIND, "env": config.env, "frames": config.frames, "completed": True,
                               "train_in": config.train_in, "world_from": record.get("world_from"),
                               "seconds": record["seconds"], "dream_return": record["history"][-1]["best_ever"],
                               "controller_parameters": controller.size}
    if config.eval_episodes:
        agent = WorldModelsAgent(world, controller, torch.tensor(record["best"], device=device))
        summary["evaluation"] = evaluate_latent(agent, spec, actions, "test", config.eval_episodes, seed=config.seed,
                                                device=device)
        summary["random"] = evaluate_latent(RandomAgent(actions), spec, actions, "test", config.eval_episodes,
                                            seed=config.seed, device=device)
        write_json(out / "evaluation.json", {"controller": summary["evaluation"], "random": summary["random"]})
    write_json(out / "summary.json", summary)
    return summary


def _read_run(folder: Path, flag: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """A World Models run folder's ``config.json`` and checkpoint, refused in one line when the
    folder holds no such run (``flag`` names the option that pointed at it)."""
    if not (folder / "config.json").is_file() or not (folder / "checkpoint.pt").is_file():
        raise ReverieError(f"{flag}{folder} holds no World Models run (config.json and checkpoint.pt are needed)")
    stored = json.loads((folder / "config.json").read_text())
    if stored.get("kind") != KIND:
        raise ReverieError(f"{flag}{folder} holds a {stored.get('kind')!r} run, not a World Models run")
    return stored, load_checkpoint(folder / "checkpoint.pt", KIND)


#: the settings of the phases a ``--world-from`` run takes over (collect, vae, rnn)
WORLD_FIELDS = ("env", "frames", "num_envs", "vae_steps", "vae_batch", "rnn_steps", "rnn_batch", "length", "lr")


def _reused_world(config: WorldModelsConfig, options: dict[str, Any] | None
                  ) -> tuple[WorldModelsConfig, dict[str, Any], dict[str, Any]]:
    """The config, V/M options and checkpoint (phases collect, vae and rnn) of a new run that
    starts from ``config.world_from``'s fitted world: the paper searched its controllers in the
    dream and in the real env on one V and M, and this is how to do the same."""
    source = Path(config.world_from)
    if source.resolve() == config.out.resolve():
        raise ReverieError("--world-from must name another run than --out")
    stored, saved = _read_run(source, "--world-from ")
    if options and dict(options) != stored["options"]:
        raise ReverieError(f"V and M come from {source} (options {stored['options']}); drop --options")
    if not {"collect", "vae", "rnn"} <= set(saved["phases"]):
        raise ReverieError(f"--world-from {source} has not finished fitting M yet (phases done: {saved['phases']})")
    world = {name: stored["config"][name] for name in WORLD_FIELDS}
    config = dataclasses.replace(config, **world)
    seconds = {k: v for k, v in saved["record"]["seconds"].items() if k != "controller"}
    saved = dict(saved, phases=["collect", "vae", "rnn"],
                 record={"history": [], "best": None, "seconds": seconds, "world_from": str(source)})
    return config, stored["options"], saved


@torch.no_grad()
def real_returns(spec, actions: Actions, world: WorldModel, controller: Controller, params: torch.Tensor,
                 rollouts: int, horizon: int, seed: int) -> torch.Tensor:
    """Mean real return ``[P]`` of each controller over ``rollouts`` episodes: all ``P x rollouts``
    games as one batch of envs, each scored until its first episode ends (or ``horizon`` steps)."""
    p = params.shape[0]
    n = p * rollouts
    env = spec.make_env("train", n, seed=seed, device=params.device)
    obs, _ = env.reset(seed=seed)
    memory = world.rnn.initial(n, params.device)
    total = torch.zeros(n, device=params.device)
    alive = torch.ones(n, dtype=torch.bool, device=params.device)
    for _ in range(horizon):
        state = world.encode(obs, WMState(None, *memory))
        action = controller.act(params, state.features.view(p, rollouts, -1))
        state = world.remember(state, action)
        memory = (state.h, state.c)
        obs, reward, _, _, info = env.step(actions.to_env(action))
        total += reward.float() * alive
        alive[info["final_index"]] = False
        if not bool(alive.any()):
            break
    return total.view(p, rollouts).mean(1)


@torch.no_grad()
def _collect(spec, actions: Actions, replay: SequenceReplay, config: WorldModelsConfig, device) -> None:
    """``frames`` random-policy steps into ``replay`` (the same rows as the latent runs write)."""
    n, obs_spec = config.num_envs, spec.observation
    env = spec.make_env("train", n, seed=config.seed, device=device)
    obs, _ = env.reset(seed=config.seed)
    record_start(replay, obs_spec, actions, obs)
    for _ in range(config.frames // n):
        action = actions.random(n)
        obs, reward, terminated, _, info = env.step(actions.to_env(action))
        record_step(replay, obs_spec, actions, action, obs, reward, terminated, info)


def load_world_model(run_dir: str | Path, device: torch.device | str = "cpu") -> WorldModel:
    """V and M of a World Models run (after its rnn phase), ready to imagine."""
    stored, state = _read_run(Path(run_dir))
    vae = VAE(VAEConfig(**stored["vae"]))
    rnn = MDNRNN(MDNRNNConfig(**stored["rnn"]))
    world = WorldModel(vae, rnn)
    world.load_state_dict(state["world"])
    return world.to(device).eval()
