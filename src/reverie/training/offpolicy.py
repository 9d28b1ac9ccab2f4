"""The off-policy learner loop: one real step, its replay row, then gradient updates.

Why one loop for every variant: SAC, NAF, NAF with imagination rollouts, MBPO and MBVE differ
only in where batches come from (the real replay, with hindsight goals on goal tasks, mixed
with a model buffer) and how critic targets are made (H-step model expansion, H = 0 being the
plain target), so each is a configuration of :class:`OffPolicyTrainer`, not a program.

Everything random draws from generators the trainer owns (acting, sampling, the model's
member choice) or from the global torch RNG (weight init, model fitting's shuffles), and
:meth:`OffPolicyTrainer.state_dict` holds them all with the weights, optimisers, replay and
model buffers. The env is restored by replay: each episode starts from ``reset(seed)`` with a
seed derived from the run seed and the episode's number, and the checkpoint keeps the actions
of the running episode, so a resume replays them and checks it reached the saved observation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..agents.offpolicy_nets import LearnerConfig, build_learner
from ..agents.tdm import TDM
from ..core.config import option
from ..core.errors import ReverieError
from ..data.hindsight import GoalReward
from ..data.replay import ReplayBuffer
from ..data.tdm_relabel import tdm_batch
from ..envs.control_tasks import ControlTask, make_task
from .branched import ImaginedEnv, ModelAugmentConfig, branched_rollouts, build_model, fit_on_replay
from .mbve import expanded_target

#: The seed of eval episode i (the same episodes for every run, apart from training's).
EVAL_SEED = 10_000_000


@dataclass
class OffPolicyConfig:
    """One off-policy run (the learner's settings are a LearnerConfig, the model's a ModelAugmentConfig)."""

    task: str = option("pendulum", "pendulum, parking (walls on), mountaincar, or a Gymnasium id with Box actions")
    env_options: str = option("", "env options, comma-separated key=value (parking: highway-env config keys)")
    steps: int = option(20_000, "real env steps")
    seed: int = option(0, "seeds weights, exploration, sampling and the env's episodes")
    run_dir: Path = option(Path("runs/offpolicy"), "run folder: config, metrics, checkpoint, summary")
    buffer_size: int = option(200_000, "replay capacity (transitions, on the device)")
    learning_starts: int = option(1000, "uniform random actions and no updates before this step")
    updates_per_step: int = option(1, "gradient updates per env step once learning starts")
    her: bool = option(False, "hindsight goal relabelling (goal-conditioned tasks only)")
    her_ratio: float = option(0.8, "share of each real batch relabelled with future goals")
    log_every: int = option(1000, "log metrics every N env steps")
    checkpoint_every: int = option(5000, "write the resumable checkpoint every N env steps")
    eval_every: int = option(5000, "greedy evaluation every N env steps (0 = only at the end)")
    eval_episodes: int = option(10, "episodes per evaluation (0 = none)")
    threads: int = option(1, "torch CPU threads; 0 = torch's default")
    device: str = option("cpu", "device of the networks and the buffers")
    tensorboard: bool = option(True, "also write TensorBoard events")

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        for name in ("steps", "buffer_size", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        for name in ("learning_starts", "updates_per_step", "eval_every", "eval_episodes", "threads"):
            if getattr(self, name) < 0:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.her_ratio <= 1:
            raise ReverieError(f"--her-ratio must be in [0, 1], got {self.her_ratio}")

    def env_kwargs(self) -> dict[str, Any]:
        from .runs import parse_agent_options

        return parse_agent_options(self.env_options, "--env-options")


def episode_seed(seed: int, episode: int) -> int:
    """The reset seed of training episode ``episode`` of a run seeded ``seed``."""
    return (seed * 1_000_003 + episode) % (2**63)


def check_task(task: ControlTask, config: OffPolicyConfig, model: ModelAugmentConfig,
               learner: LearnerConfig | None = None) -> None:
    """Refuse in one line what this task cannot do."""
    if learner is not None and learner.agent == "tdm":
        if not task.goal_conditioned:
            raise ReverieError(f"TDM needs a goal-conditioned task (Q(s, a, goal, T)); {task.name!r} has no goals "
                               f"(try --task parking)")
        if config.her or model.enabled:
            raise ReverieError("TDM relabels goals and horizons itself (--tdm-future, --tdm-random) and has no "
                               "model augmentation; drop --her and the model flags")
    if config.her and not task.goal_conditioned:
        raise ReverieError(f"--her (hindsight relabelling) needs a goal-conditioned task; {task.name!r} has no goals "
                           f"(its observations are not observation/achieved_goal/desired_goal dicts)")
    if model.model_ends and (task.goal_conditioned or not model.enabled):
        raise ReverieError("--model-ends fits episode ends for a model on a task without goals: it needs "
                           "--model-every, and goal tasks end on their known success test instead")


class OffPolicyTrainer:
    """Real steps, replay, model augmentation and updates of one off-policy run."""

    def __init__(self, config: OffPolicyConfig, learner_config: LearnerConfig | None = None,
                 model_config: ModelAugmentConfig | None = None, task: ControlTask | None = None) -> None:
        learner_config, model_config = learner_config or LearnerConfig(), model_config or ModelAugmentConfig()
        self.config, self.learner_config, self.model_config = config, learner_config, model_config
        self.device = torch.device(config.device)
        self.task = task or make_task(config.task, config.env_kwargs())
        check_task(self.task, config, model_config, learner_config)
        t = self.task
        self.goals = (GoalReward(t.goal_reward, t.goal_success if t.has_success else None)
                      if t.goal_conditioned else None)
        self.flat_dim = t.obs_dim + t.goal_dim
        torch.manual_seed(config.seed)
        if learner_config.agent == "tdm":
            self.learner = TDM(learner_config, t.obs_dim, t.goal_dim, t.action_dim, t.goal_weights(), self.device)
        else:
            self.learner = build_learner(learner_config, self.flat_dim, t.action_dim, self.device)
        self.replay = ReplayBuffer(config.buffer_size, t.obs_dim, t.action_dim, t.goal_dim, self.device)
        self.act_gen = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.sample_gen = torch.Generator(device=self.device).manual_seed(config.seed + 2)
        self.model_gen = torch.Generator(device=self.device).manual_seed(config.seed + 3)
        self.model = self.imagined = self.model_buffer = None
        self.model_fits = 0
        if model_config.enabled:
            self.model = build_model(model_config, t.obs_dim, t.action_dim, learn_reward=not t.goal_conditioned,
                                     device=self.device)
            self.imagined = ImaginedEnv(self.model, t.obs_dim, t.goal_dim, self.goals)
            self.model_buffer = ReplayBuffer(model_config.model_buffer, self.flat_dim, t.action_dim, 0, self.device)
        self.steps = self.updates = self.episodes = 0
        self.model_ready = False
        self.episode_actions: list[torch.Tensor] = []
        self.episode_return, self.episode_length = 0.0, 0
        self.finished: list[dict[str, float]] = []  # episodes ended since the last log line
        self.current = self.task.reset(episode_seed(config.seed, 0))
        if model_config.enabled and t.goal_conditioned:
            if not torch.equal(self.current["achieved"], self.current["obs"][:t.goal_dim]):
                raise ReverieError(f"model augmentation on goal task {t.name!r} needs the achieved goal to be the "
                                   f"observation's first {t.goal_dim} features, and it is not")

    # ------------------------------------------------------------------ pieces
    def flat(self, part: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.task.goal_conditioned:
            return torch.cat([part["obs"], part["desired"]])
        return part["obs"]

    def batch(self) -> dict[str, torch.Tensor]:
        """A learner batch: real rows (with hindsight goals) and, once it has data, imagined ones."""
        c, size = self.config, self.learner_config.batch_size
        n_model = 0
        if self.model_buffer is not None and len(self.model_buffer):
            n_model = int(round(size * (1 - self.model_config.real_ratio)))
        real = self.replay.sample(size - n_model, self.sample_gen, c.her_ratio if c.her else 0.0, self.goals)
        keys = ("obs", "action", "reward", "next_obs", "done")
        if not n_model:
            return {k: real[k] for k in keys}
        fake = self.model_buffer.sample(n_model, self.sample_gen)
        return {k: torch.cat([real[k], fake[k]]) for k in keys}

    def target(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        horizon = self.model_config.mbve_horizon if self.model_ready else 0
        learner, gen = self.learner, self.sample_gen
        step = self.imagined.step_fn(self.model_gen) if horizon else None
        return expanded_target(batch["reward"], batch["done"], batch["next_obs"], self.learner_config.gamma, horizon,
                               step, lambda s: learner.target_policy(s, gen), lambda s: learner.target_value(s, gen))

    def update(self) -> dict[str, torch.Tensor]:
        if isinstance(self.learner, TDM):  # goals and horizons relabelled; the target is the learner's own
            lc = self.learner_config
            batch = tdm_batch(self.replay, lc.batch_size, self.sample_gen, lc.tdm_horizon, lc.tdm_future, lc.tdm_random)
            self.updates += 1
            return self.learner.update(batch, self.sample_gen)
        batch = self.batch()
        stats = self.learner.update(batch, self.target(batch), self.sample_gen)
        self.updates += 1
        return stats

    def model_work(self) -> dict[str, float]:
        """Refit and roll out on their schedules (after learning starts)."""
        m, out = self.model_config, {}
        if self.model is None or self.steps < max(self.config.learning_starts, 2):
            return out
        if self.steps % m.model_every == 0 or not self.model_ready:
            out |= fit_on_replay(self.model, self.replay, m, self.config.seed + self.model_fits)
            self.model_fits += 1
            self.model_ready = True
        if m.rollout_batch and self.steps % m.rollout_every == 0:
            starts = self.replay.sample(m.rollout_batch, self.model_gen, self.config.her_ratio if self.config.her else 0.0,
                                        self.goals)["obs"]
            horizon = m.horizon(self.steps)
            out |= branched_rollouts(self.imagined, starts, horizon, m.trusted_horizon,
                                     lambda s: self.learner.act(s, self.model_gen), self.model_buffer, self.model_gen,
                                     m.trust_disagreement)
            out["rollout_horizon"] = horizon
        return out

    # ------------------------------------------------------------------ one env step
    def train_step(self) -> dict[str, Any]:
        """One real step, its replay row, the model's scheduled work and the updates."""
        t, c = self.task, self.config
        obs = self.flat(self.current).to(self.device)
        if self.steps < c.learning_starts:
            action = torch.rand(t.action_dim, generator=self.act_gen, device=self.device) * 2 - 1
        else:
            action = self.learner.act(obs.unsqueeze(0), self.act_gen)[0]
        nxt, reward, terminated, truncated, info = t.step(action)
        self.episode_actions.append(action.detach().cpu())
        dev = self.device
        row = dict(obs=self.current["obs"][None].to(dev), action=action[None], next_obs=nxt["obs"][None].to(dev),
                   reward=torch.tensor([reward], device=dev), terminated=torch.tensor([terminated], device=dev))
        if t.goal_conditioned:
            row |= dict(desired=self.current["desired"][None].to(dev), next_achieved=nxt["achieved"][None].to(dev),
                        goals=self.goals)
        self.replay.add(**row)
        self.steps += 1
        self.episode_return += reward
        self.episode_length += 1
        if terminated or truncated:
            record = {"return": self.episode_return, "length": self.episode_length}
            if t.has_success:
                record["success"] = float(bool(info.get("is_success", False)))
            self.finished.append(record)
            self.replay.end_episode()
            self.episodes += 1
            self.episode_actions, self.episode_return, self.episode_length = [], 0.0, 0
            self.current = t.reset(episode_seed(c.seed, self.episodes))
        else:
            self.current = nxt
        stats: dict[str, Any] = dict(self.model_work())
        if self.steps >= c.learning_starts and len(self.replay):
            sums: dict[str, torch.Tensor] = {}
            for _ in range(c.updates_per_step):
                for key, value in self.update().items():
                    sums[key] = sums[key] + value if key in sums else value
            stats |= {k: v / c.updates_per_step for k, v in sums.items()}
        return stats

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, episodes: int, task: ControlTask | None = None) -> dict[str, Any]:
        """Greedy episodes on a separate env (episode ``i`` reset with ``EVAL_SEED + i``)."""
        own = task is None
        task = task or make_task(self.config.task, self.config.env_kwargs())
        returns, lengths, successes = [], [], []
        for i in range(episodes):
            part, total, length = task.reset(EVAL_SEED + i), 0.0, 0
            while True:
                obs = self.flat(part).to(self.device)
                part, reward, terminated, truncated, info = task.step(self.learner.act(obs[None], greedy=True)[0])
                total, length = total + reward, length + 1
                if terminated or truncated:
                    break
            returns.append(total)
            lengths.append(length)
            successes.append(float(bool(info.get("is_success", False))))
        if own:
            task.close()
        out = {"episodes": episodes, "mean_return": sum(returns) / max(episodes, 1),
               "mean_length": sum(lengths) / max(episodes, 1), "returns": [round(r, 3) for r in returns]}
        if self.task.has_success:
            out["success_rate"] = sum(successes) / max(episodes, 1)
        return out

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = {"learner": self.learner.learner_state(), "replay": self.replay.state_dict(),
                 "generators": {"act": self.act_gen.get_state(), "sample": self.sample_gen.get_state(),
                                "model": self.model_gen.get_state()},
                 "counters": {"steps": self.steps, "updates": self.updates, "episodes": self.episodes,
                              "model_fits": self.model_fits, "model_ready": self.model_ready},
                 "episode": {"actions": (torch.stack(self.episode_actions) if self.episode_actions
                                         else torch.zeros(0, self.task.action_dim)),
                             "return": self.episode_return, "length": self.episode_length,
                             "obs": {k: v.clone() for k, v in self.current.items()}},
                 "finished": [dict(r) for r in self.finished]}
        if self.model is not None:
            state["model"] = self.model.state_dict()
            state["model_buffer"] = self.model_buffer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.learner.load_learner_state(state["learner"])
        self.replay.load_state_dict(state["replay"])
        for name in ("act", "sample", "model"):
            getattr(self, f"{name}_gen").set_state(state["generators"][name].cpu())
        counters = state["counters"]
        self.steps, self.updates, self.episodes = int(counters["steps"]), int(counters["updates"]), int(counters["episodes"])
        self.model_fits, self.model_ready = int(counters["model_fits"]), bool(counters["model_ready"])
        if self.model is not None:
            if "model" not in state:
                raise ReverieError("the checkpoint has no model, but the run's config has one")
            self.model.load_state_dict(state["model"])
            self.model_buffer.load_state_dict(state["model_buffer"])
        episode = state["episode"]
        self.current = self.task.reset(episode_seed(self.config.seed, self.episodes))
        self.episode_actions = []
        for action in episode["actions"]:
            self.current, *_ = self.task.step(action)
            self.episode_actions.append(action.clone())
        self.episode_return, self.episode_length = float(episode["return"]), int(episode["length"])
        for key, value in episode["obs"].items():
            if not torch.equal(self.current[key], value):
                raise ReverieError(f"the env did not return to the saved state when its episode was replayed "
                                   f"({key} differs): {self.task.name!r} is not deterministic under reset(seed)")
        self.finished = [dict(r) for r in state.get("finished", [])]


def mean_finite(values: list[float]) -> float:
    values = [v for v in values if math.isfinite(v)]
    return sum(values) / len(values) if values else float("nan")
