"""One real episode of an I2A agent, with everything it imagined before each step.

To show what the agent *really* imagined (not a re-run of its imagination with other
sampled rollout actions), the agent's environment model is wrapped, for the length of the
episode, in a recorder that passes every call through and keeps its inputs and outputs:
the one forward pass that chooses the real action is the pass that is recorded. Rollout
``a`` of the batch's only observation is row ``a`` of each recorded step (see
:class:`~reverie.agents.imagination.ImaginationCore`): its first action is the forced ``a``,
the next ``L - 1`` the rollout policy's.

Any world works: the episode is held-out episode ``episode`` of a one-game env made from the
world's spec (``spec.make_env(split, 1, ...)``, started with ``reset_to``), positions are kept
in the spec's compact form (``spec.observation.encode``: cell codes for one-hot grids) and
drawn by ``spec.render`` (see :mod:`.imagination_gif`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch

from ..core.errors import ReverieError
from ..agents.actor_critic import greedy_actions, sample_actions
from ..models.base import observe

__all__ = ["ImaginedStep", "ImaginedEpisode", "recording", "record_episode", "show_episode"]


@dataclass
class ImaginedStep:
    """One real step: the position, what was imagined from it, and what was done."""

    compact: np.ndarray  # the real position, compact (Sokoban: cell codes [H, W])
    imagined: np.ndarray  # [A, L, *compact shape] imagined positions (most likely cell of each)
    imagined_actions: np.ndarray  # [A, L] the action that led to each imagined position
    imagined_rewards: np.ndarray  # [A, L] the imagined reward of each imagined step
    probabilities: np.ndarray  # [A] the agent's policy
    action: int  # the action taken

    @property
    def codes(self) -> np.ndarray:
        """The real position (cell codes for one-hot grid worlds)."""
        return self.compact


@dataclass
class ImaginedEpisode:
    episode: int  # the held-out episode of the env's split (Sokoban: the level index)
    steps: list[ImaginedStep]
    final: np.ndarray  # the last real position, compact
    success: bool | None  # None where the world has no success
    spec: Any = field(default=None, repr=False)  # the EnvSpec: pictures and action names

    @property
    def level(self) -> int:
        return self.episode

    @property
    def solved(self) -> bool:
        return bool(self.success)

    def to_dict(self) -> dict:
        """The episode's actions and imagined rewards as JSON-ready lists (positions left out)."""
        return {"episode": self.episode, "level": self.episode, "success": self.success, "solved": self.solved,
                "steps": [{"action": s.action, "probabilities": [round(float(p), 4) for p in s.probabilities],
                           "imagined_actions": s.imagined_actions.tolist(),
                           "imagined_rewards": np.round(s.imagined_rewards, 3).tolist()} for s in self.steps]}


class _Recorder:
    """Stands in for an environment model: steps the real one and keeps each step (what the
    imagined state looks like, for latent models too)."""

    def __init__(self, model) -> None:
        self.model = model
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def step(self, state, action: torch.Tensor):
        next_state, reward, done = self.model.step(state, action)
        self._keep(action, next_state, reward)
        return next_state, reward, done

    def _step_every_action(self, obs: torch.Tensor):
        """The model's own shared first step (see models.base.step_every_action), recorded:
        rows ``b * A + a`` took action ``a``."""
        next_state, reward, done = self.model.step_every_action(obs)
        actions = reward.shape[0] // obs.shape[0]
        self._keep(torch.arange(actions, device=reward.device).repeat(obs.shape[0]), next_state, reward)
        return next_state, reward, done

    def _keep(self, action: torch.Tensor, next_state, reward: torch.Tensor) -> None:
        frame = observe(self.model, next_state)
        self.calls.append((action.detach().clone(), frame.detach().clone(), reward.detach().clone()))

    def __getattr__(self, name: str):
        value = getattr(self.model, name)  # AttributeError where the model has none: the fallbacks apply
        return self._step_every_action if name == "step_every_action" else value


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


def _one_game(env):
    spec = getattr(env, "spec", None)
    if spec is None or int(env.num_envs) != 1:
        raise ReverieError("an imagined episode needs a one-game env made from a spec: spec.make_env(split, 1, ...)")
    if not callable(getattr(env, "reset_to", None)):
        raise ReverieError(f"{spec.id}'s env cannot start a chosen episode (it has no reset_to)")
    return spec


@torch.no_grad()
def record_episode(agent, env, episode: int = 0, greedy: bool = False, seed: int = 0,
                   max_steps: int | None = None) -> ImaginedEpisode:
    """Play held-out episode ``episode`` of ``env`` (one game, from ``spec.make_env(split, 1, ...)``)
    once with ``agent`` (on ``env``'s device), recording its imagination; ``max_steps`` stops the
    recording early (long episodes, e.g. MiniPacman's 3,000 frames, would make a huge GIF): the
    episode is then unfinished and its success None."""
    spec = _one_game(env)
    codec = spec.observation
    device = torch.device(getattr(env, "device", "cpu"))
    generator = torch.Generator(device)
    generator.manual_seed(seed)
    was_training = agent.training
    agent.eval()
    try:
        obs = env.reset_to(torch.tensor([episode], device=device))
        steps: list[ImaginedStep] = []
        while True:
            compact = codec.encode(obs)[0].cpu().numpy().copy()
            with recording(agent) as recorder:
                logits, _ = agent(obs)
            action = greedy_actions(logits) if greedy else sample_actions(logits, generator)
            actions, frames, rewards = (torch.stack(part) for part in zip(*recorder.calls))  # [L, A, ...]
            imagined = codec.encode(frames.flatten(0, 1))
            steps.append(ImaginedStep(
                compact=compact,
                imagined=imagined.reshape(*frames.shape[:2], *imagined.shape[1:]).transpose(0, 1).cpu().numpy(),
                imagined_actions=actions.T.cpu().numpy(),
                imagined_rewards=rewards.float().T.cpu().numpy(),
                probabilities=torch.softmax(logits.float(), -1)[0].cpu().numpy(),
                action=int(action[0]),
            ))
            obs, _, terminated, _, info = env.step(action)
            if max_steps is not None and len(steps) >= max_steps and not info["final_index"].numel():
                return ImaginedEpisode(episode, steps, codec.encode(obs)[0].cpu().numpy(), None, spec)
            if info["final_index"].numel():
                final = codec.encode(info["final_obs"])[0].cpu().numpy()
                success = bool(info["success"][0]) if spec.success else None
                return ImaginedEpisode(episode, steps, final, success, spec)
    finally:
        agent.train(was_training)


def show_episode(agent, env, tries: int = 8, greedy: bool = False, seed: int = 0,
                 max_steps: int | None = None) -> ImaginedEpisode:
    """The episode worth showing among the first ``tries`` held-out episodes of ``env``: the
    longest successful one (more imagination to see than a one-push level), else the first."""
    episodes = [record_episode(agent, env, index, greedy, seed, max_steps) for index in range(tries)]
    won = [e for e in episodes if e.success]
    return max(won, key=lambda e: len(e.steps)) if won else episodes[0]
