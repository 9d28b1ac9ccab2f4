"""One real episode of an I2A agent, with everything it imagined before each step.

To show what the agent *really* imagined (not a re-run of its imagination with other
sampled rollout actions), the agent's environment model is wrapped, for the length of the
episode, in a recorder that passes every call through and keeps its inputs and outputs:
the one forward pass that chooses the real action is the pass that is recorded. Rollout
``a`` of the batch's only observation is row ``a`` of each recorded step (see
:class:`~reverie.agents.imagination.ImaginationCore`): its first action is the forced ``a``,
the next ``L - 1`` the rollout policy's.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..core.errors import ReverieError
from ..agents.actor_critic import greedy_actions, sample_actions
from ..envs.sokoban.bank import LevelBank
from ..envs.sokoban.env import SokobanVecEnv
from ..models.base import planes_to_codes

__all__ = ["ImaginedStep", "ImaginedEpisode", "recording", "record_episode", "show_episode"]


@dataclass
class ImaginedStep:
    """One real step: the position, what was imagined from it, and what was done."""

    codes: np.ndarray  # [H, W] the real position
    imagined: np.ndarray  # [A, L, H, W] imagined positions (most likely cell of each)
    imagined_actions: np.ndarray  # [A, L] the action that led to each imagined position
    imagined_rewards: np.ndarray  # [A, L] the imagined reward of each imagined step
    probabilities: np.ndarray  # [A] the agent's policy
    action: int  # the action taken


@dataclass
class ImaginedEpisode:
    level: int  # index of the level in the bank it came from
    steps: list[ImaginedStep]
    final: np.ndarray  # [H, W] the last real position
    solved: bool

    def to_dict(self) -> dict:
        """The episode's actions and imagined rewards as JSON-ready lists (positions left out)."""
        return {"level": self.level, "solved": self.solved, "steps": [
            {"action": s.action, "probabilities": [round(float(p), 4) for p in s.probabilities],
             "imagined_actions": s.imagined_actions.tolist(),
             "imagined_rewards": np.round(s.imagined_rewards, 3).tolist()} for s in self.steps]}


class _Recorder:
    """Stands in for an environment model: steps the real one and keeps each step."""

    def __init__(self, model) -> None:
        self.model = model
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        next_obs, reward, done = self.model.step(obs, action)
        self.calls.append((action.detach().clone(), next_obs.detach().clone(), reward.detach().clone()))
        return next_obs, reward, done

    def __getattr__(self, name: str):
        return getattr(self.model, name)


@contextmanager
def recording(agent) -> Iterator[_Recorder]:
    """``with recording(agent) as rec:`` every imagined step of the agent lands in ``rec.calls``."""
    core = getattr(agent, "core", None)
    if core is None or not hasattr(core, "env_model"):
        raise ReverieError(f"{type(agent).__name__} does not imagine: the imagination picture needs an I2A agent")
    recorder = _Recorder(core.env_model)
    # as the core stores it: a plain attribute, never a registered child module
    object.__setattr__(core, "env_model", recorder)
    try:
        yield recorder
    finally:
        object.__setattr__(core, "env_model", recorder.model)


@torch.no_grad()
def record_episode(agent, levels: LevelBank, index: int, max_steps: int, greedy: bool = False,
                   seed: int = 0, device: torch.device | str = "cpu") -> ImaginedEpisode:
    """Play level ``index`` of ``levels`` once with ``agent``, recording its imagination."""
    was_training = agent.training
    agent.eval()
    device = torch.device(device)
    env = SokobanVecEnv(LevelBank(levels.codes[index:index + 1].copy()), 1, "symbolic", max_steps, device, seed)
    generator = torch.Generator(device)
    generator.manual_seed(seed)
    obs, _ = env.reset()
    steps: list[ImaginedStep] = []
    height, width = levels.shape
    try:
        while True:
            codes = env.codes.view(height, width).cpu().numpy().copy()
            with recording(agent) as recorder:
                logits, _ = agent(obs)
            action = greedy_actions(logits) if greedy else sample_actions(logits, generator)
            actions, frames, rewards = (torch.stack(part) for part in zip(*recorder.calls))  # [L, A, ...]
            steps.append(ImaginedStep(
                codes=codes,
                imagined=planes_to_codes(frames.flatten(0, 1)).reshape(*frames.shape[:2], height, width)
                .transpose(0, 1).cpu().numpy(),
                imagined_actions=actions.T.cpu().numpy(),
                imagined_rewards=rewards.float().T.cpu().numpy(),
                probabilities=torch.softmax(logits.float(), -1)[0].cpu().numpy(),
                action=int(action[0]),
            ))
            obs, _, terminated, _, info = env.step(action)
            if info["final_index"].numel():
                final = planes_to_codes(info["final_obs"])[0].cpu().numpy()
                return ImaginedEpisode(index, steps, final, bool(terminated[0]))
    finally:
        agent.train(was_training)


def show_episode(agent, levels: LevelBank, max_steps: int, tries: int = 8, greedy: bool = False,
                 seed: int = 0, device: torch.device | str = "cpu") -> ImaginedEpisode:
    """The episode worth showing among the first ``tries`` levels: the longest solved one
    (more imagination to see than a one-push level), else the first level's."""
    episodes = [record_episode(agent, levels, index, max_steps, greedy, seed, device)
                for index in range(min(tries, len(levels)))]
    solved = [e for e in episodes if e.solved]
    return max(solved, key=lambda e: len(e.steps)) if solved else episodes[0]
