"""World Models (Ha & Schmidhuber, 2018): V and M as one environment model, and "C", a linear
controller evolved with CMA-ES inside the model's dream.

:class:`WorldModel` joins the VAE (V) and the MDN-RNN (M) behind the ``EnvironmentModel``
interface: its state is the frame's code ``z`` and the LSTM's ``(h, c)``; ``step`` samples the
next code from M's mixture at M's temperature. The controller maps ``[z, h]`` linearly to
the action (``tanh`` for continuous actions, the largest output for discrete ones). Its
parameters are searched by CMA-ES (the ``cma`` package): every candidate of a generation plays
``rollouts`` dreams from codes of real frames at once, one batched matrix product per dreamed
step for the whole population (no loop over candidates), and its fitness is the mean dreamed
return.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from ..core.errors import ReverieError
from ..models.latent.mdn_rnn import MDNRNN
from ..models.latent.vae import VAE

__all__ = ["WorldModel", "WMState", "Controller", "dream_returns", "cma_search"]


class WMState(NamedTuple):
    """A World Model's state: the code ``z [B, Z]`` and the LSTM's ``h``, ``c`` ``[B, H]``."""

    z: torch.Tensor
    h: torch.Tensor
    c: torch.Tensor

    @property
    def features(self) -> torch.Tensor:
        """What the controller reads: ``[z, h]``."""
        return torch.cat((self.z, self.h), -1)


class WorldModel(nn.Module):
    """V + M as an environment model (module docstring)."""

    def __init__(self, vae: VAE, rnn: MDNRNN) -> None:
        super().__init__()
        self.vae, self.rnn = vae, rnn

    @property
    def feature_size(self) -> int:
        return self.vae.config.latent + self.rnn.config.hidden

    @torch.no_grad()
    def encode(self, obs: torch.Tensor, state: WMState | None = None, action: torch.Tensor | None = None
               ) -> WMState:
        """The state after ``action`` (taken in ``state``) led to ``obs``: M remembers the step, V
        codes the frame (its mean). Without ``state``: a fresh memory."""
        z = self.vae.encode(obs)[0]
        if state is None:
            h, c = self.rnn.initial(len(z), z.device)
        else:
            if action is not None and state.z is not None:
                state = self.remember(state, action)
            h, c = state.h, state.c
        return WMState(z, h, c)

    @torch.no_grad()
    def remember(self, state: WMState, action: torch.Tensor) -> WMState:
        """Advance the LSTM's memory by the step (``z``, ``action``), keeping ``z`` for the next frame's."""
        _, _, _, (h, c) = self.rnn.step(state.z, action, (state.h, state.c))
        return WMState(state.z, h, c)

    @torch.no_grad()
    def step(self, state: WMState, action: torch.Tensor, temperature: float | None = None
             ) -> tuple[WMState, torch.Tensor, torch.Tensor]:
        mixture, reward, done_logit, (h, c) = self.rnn.step(state.z, action, (state.h, state.c))
        return WMState(self.rnn.sample(mixture, temperature), h, c), reward, done_logit > 0

    @torch.no_grad()
    def decode(self, state: WMState) -> torch.Tensor:
        return self.vae.decode(state.z)


class Controller:
    """A population of linear controllers as one parameter tensor ``[P, F * A + A]``."""

    def __init__(self, features: int, action_dim: int, discrete: bool) -> None:
        self.features, self.action_dim, self.discrete = features, action_dim, discrete
        self.size = features * action_dim + action_dim

    def act(self, params: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Actions of ``P`` controllers on ``features [P, R, F]``: ``[P * R]`` indices or ``[P * R, A]``."""
        p = params.shape[0]
        weight = params[:, :self.features * self.action_dim].view(p, self.features, self.action_dim)
        out = torch.bmm(features, weight) + params[:, None, self.features * self.action_dim:]
        out = out.flatten(0, 1)
        return out.argmax(-1) if self.discrete else torch.tanh(out)


@torch.no_grad()
def dream_returns(world: WorldModel, controller: Controller, params: torch.Tensor, start_z: torch.Tensor,
                  horizon: int, temperature: float | None = None) -> torch.Tensor:
    """Mean dreamed return ``[P]`` of each controller over dreams from the codes ``start_z [R, Z]``
    (a dream's return stops at its first predicted episode end)."""
    p, r = params.shape[0], start_z.shape[0]
    z = start_z.repeat(p, 1)
    h, c = world.rnn.initial(p * r, z.device)
    state = WMState(z, h, c)
    total = torch.zeros(p * r, device=z.device)
    alive = torch.ones(p * r, device=z.device)
    for _ in range(horizon):
        action = controller.act(params, state.features.view(p, r, -1))
        state, reward, done = world.step(state, action, temperature)
        total += alive * reward
        alive = alive * (~done).float()
        if not bool(alive.any()):
            break
    return total.view(p, r).mean(1)


def cma_search(fitness: Callable[[torch.Tensor], torch.Tensor], size: int, generations: int, popsize: int,
               sigma: float = 0.1, seed: int = 0, mean: np.ndarray | None = None,
               on_generation: Callable[[int, dict[str, float]], None] | None = None) -> tuple[np.ndarray, list[dict]]:
    """Maximise ``fitness(params [P, size]) -> [P]`` with CMA-ES; the best parameters seen and
    the per-generation history (best, mean and the search's step size)."""
    try:
        import cma
    except ImportError:
        raise ReverieError("World Models' controller search needs the cma package: pip install cma") from None
    es = cma.CMAEvolutionStrategy(np.zeros(size) if mean is None else mean, sigma,
                                  {"popsize": popsize, "seed": seed + 1, "verbose": -9})
    best, best_value, history = None, -np.inf, []
    for generation in range(generations):
        candidates = np.asarray(es.ask())
        values = fitness(torch.as_tensor(candidates, dtype=torch.float32)).double().cpu().numpy()
        es.tell(list(candidates), list(-values))
        top = int(values.argmax())
        if values[top] > best_value:
            best, best_value = candidates[top].copy(), float(values[top])
        record = {"generation": generation, "best": float(values[top]), "mean": float(values.mean()),
                  "sigma": float(es.sigma), "best_ever": best_value}
        history.append(record)
        if on_generation is not None:
            on_generation(generation, record)
    return best, history
