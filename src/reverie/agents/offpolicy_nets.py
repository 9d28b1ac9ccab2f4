"""Small pieces the off-policy learners share: MLPs, Polyak averaging, the learner config.

Why here: SAC and NAF are two readings of one recipe (a replay batch in, a critic target,
a few optimiser steps, slowly moving target networks), so they take one config and one
builder, and the run infrastructure (:mod:`reverie.training.offpolicy`) never asks which.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core.config import option
from ..core.errors import ReverieError

AGENTS = ("sac", "naf", "tdm")


@dataclass
class LearnerConfig:
    """The off-policy learner: SAC (twin Q, tanh Gaussian, learned temperature), NAF or TDM."""

    agent: str = option("sac", "sac (continuous soft actor-critic), naf (normalized advantage functions) or "
                               "tdm (temporal difference models; goal tasks)")
    hidden: int = option(256, "hidden units per layer of every network")
    layers: int = option(2, "hidden layers per network")
    lr: float = option(3e-4, "learning rate of every optimizer (Adam)")
    gamma: float = option(0.99, "discount")
    tau: float = option(0.005, "Polyak rate of the target networks")
    batch_size: int = option(256, "transitions per gradient update")
    alpha: float = option(0.2, "SAC: initial entropy temperature")
    autotune: bool = option(True, "SAC: learn the temperature towards the target entropy -|A|")
    naf_noise: float = option(0.3, "NAF: std of the Gaussian exploration noise added to mu")
    naf_mu_penalty: float = option(0.0, "NAF: weight of a squared hinge penalty on the pre-tanh mu beyond "
                                        "+-naf_mu_bound, added to the loss (keeps the greedy action off tanh's "
                                        "flat ends; 0 = off)")
    naf_mu_bound: float = option(2.0, "NAF: |pre-tanh mu| left free by --naf-mu-penalty (tanh(2) = 0.96)")
    tdm_horizon: int = option(10, "TDM: largest horizon T_max (relabelled uniformly in 0..T_max; acting uses T_max)")
    tdm_future: float = option(0.5, "TDM: share of a batch relabelled with goals reached later in the episode")
    tdm_random: float = option(0.2, "TDM: share of a batch relabelled with goals reached anywhere in the replay")
    tdm_noise: float = option(0.2, "TDM: std of the Gaussian exploration noise while collecting")
    tdm_mpc_grid: int = option(0, "TDM: act by MPC over N grid points per action axis plus the actor's action "
                                  "(0 = the actor alone)")

    def __post_init__(self) -> None:
        if self.agent not in AGENTS:
            raise ReverieError(f"unknown off-policy agent {self.agent!r}; choose one of {', '.join(AGENTS)}")
        for name in ("hidden", "layers", "batch_size"):
            if getattr(self, name) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or not 0 <= self.gamma <= 1 or not 0 < self.tau <= 1:
            raise ReverieError("--lr must be > 0, --gamma in [0, 1] and --tau in (0, 1]")
        if not self.alpha > 0 or self.naf_noise < 0:
            raise ReverieError("--alpha must be > 0 and --naf-noise >= 0")
        if self.naf_mu_penalty < 0 or not self.naf_mu_bound > 0:
            raise ReverieError("--naf-mu-penalty must be >= 0 and --naf-mu-bound > 0")
        if self.tdm_horizon < 0 or self.tdm_noise < 0 or self.tdm_mpc_grid == 1 or self.tdm_mpc_grid < 0:
            raise ReverieError("--tdm-horizon and --tdm-noise must be >= 0 and --tdm-mpc-grid 0 or >= 2")
        if not (0 <= self.tdm_future and 0 <= self.tdm_random and self.tdm_future + self.tdm_random <= 1):
            raise ReverieError("--tdm-future and --tdm-random must be >= 0 and sum to at most 1")


def mlp(fan_in: int, fan_out: int, hidden: int, layers: int) -> nn.Sequential:
    """ReLU MLP ``fan_in -> hidden x layers -> fan_out``."""
    sizes = [fan_in] + [hidden] * layers
    parts: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        parts += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*parts, nn.Linear(sizes[-1], fan_out))


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``target <- (1 - tau) target + tau source``, parameter by parameter (fused)."""
    t, s = list(target.parameters()), list(source.parameters())
    torch._foreach_lerp_(t, s, tau)


def build_learner(config: LearnerConfig, obs_dim: int, action_dim: int, device: torch.device | str = "cpu"):
    """The learner ``config.agent`` for flat inputs of ``obs_dim`` and actions in ``[-1, 1]^action_dim``."""
    if config.agent == "sac":
        from .sac import SAC

        return SAC(config, obs_dim, action_dim, device)
    if config.agent == "tdm":
        raise ReverieError("TDM is built by the trainer from the goal task (reverie.agents.tdm.TDM)")
    from .naf import NAF

    return NAF(config, obs_dim, action_dim, device)
