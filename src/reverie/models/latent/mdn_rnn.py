"""World Models' "M": an LSTM that predicts the next latent as a mixture of Gaussians.

At each step the LSTM reads the frame's code ``z`` and the action, and its output gives, for
every dimension of the next ``z``, a mixture of ``mixtures`` Gaussians (weights, means,
log-deviations), as in Ha & Schmidhuber (2018); heads also predict the reward and whether the
episode ends, so a controller can be trained entirely inside the model's "dream". Sampling
takes a ``temperature``: the weights' logits are divided by it and the deviations multiplied
by its square root, so a temperature above one makes the dream harder (noisier) than the
world, which the paper found kept controllers from exploiting the model's mistakes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...core.config import option
from ...core.errors import ReverieError
from ..base import action_onehot

__all__ = ["MDNRNN", "MDNRNNConfig", "Mixture", "mixture_log_likelihood"]


class Mixture(NamedTuple):
    """Per-dimension mixtures: ``logits``, ``mean`` and ``log_std``, each ``[..., Z, K]``."""

    logits: torch.Tensor
    mean: torch.Tensor
    log_std: torch.Tensor


def mixture_log_likelihood(mixture: Mixture, z: torch.Tensor) -> torch.Tensor:
    """``log p(z)`` summed over the dimensions, ``[...]`` for ``z [..., Z]``."""
    x = z.unsqueeze(-1)
    log_normal = -0.5 * ((x - mixture.mean) / mixture.log_std.exp()).square() - mixture.log_std \
        - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(F.log_softmax(mixture.logits, -1) + log_normal, -1).sum(-1)


@dataclass
class MDNRNNConfig:
    """The MDN-RNN's sizes, and the latent and actions it models."""

    hidden: int = option(256, "LSTM width")
    mixtures: int = option(5, "Gaussians per latent dimension")
    temperature: float = option(1.15, "sampling temperature of the dream (the paper's CarRacing setting)")
    latent: int = 0
    action_dim: int = 0
    discrete: bool = True

    def __post_init__(self) -> None:
        if int(self.hidden) < 1 or int(self.mixtures) < 1 or not self.temperature > 0:
            raise ReverieError("MDN-RNN hidden and mixtures must be >= 1 and temperature > 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class MDNRNN(nn.Module):
    """``step(z, action, (h, c)) -> (mixture, reward, done logit, (h, c))`` and sequence fitting."""

    def __init__(self, config: MDNRNNConfig) -> None:
        super().__init__()
        if config.latent < 1 or config.action_dim < 1:
            raise ReverieError("an MDN-RNN needs the latent size and the action dimension")
        self.config = c = config
        self.cell = nn.LSTMCell(c.latent + c.action_dim, c.hidden)
        self.mdn = nn.Linear(c.hidden, 3 * c.latent * c.mixtures)
        self.reward_head = nn.Linear(c.hidden, 1)
        self.done_head = nn.Linear(c.hidden, 1)

    def initial(self, batch: int, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(batch, self.config.hidden, device=device)
        return zeros, zeros.clone()

    def action_vector(self, action: torch.Tensor) -> torch.Tensor:
        if self.config.discrete and not action.is_floating_point():
            return action_onehot(action, self.config.action_dim)
        return action.float().view(len(action), -1)

    def step(self, z: torch.Tensor, action: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[Mixture, torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h, c = self.cell(torch.cat((z, self.action_vector(action)), -1), hidden)
        out = self.mdn(h).view(len(h), self.config.latent, 3 * self.config.mixtures)
        logits, mean, log_std = out.split(self.config.mixtures, -1)
        mixture = Mixture(logits, mean, log_std.clamp(-6, 2))
        return mixture, self.reward_head(h).squeeze(-1), self.done_head(h).squeeze(-1), (h, c)

    def sample(self, mixture: Mixture, temperature: float | None = None) -> torch.Tensor:
        """One draw of the next latent ``[B, Z]`` at ``temperature``."""
        tau = self.config.temperature if temperature is None else temperature
        probs = (mixture.logits / tau).softmax(-1)
        pick = torch.multinomial(probs.flatten(0, 1), 1).view(*probs.shape[:-1], 1)
        mean = mixture.mean.gather(-1, pick).squeeze(-1)
        std = mixture.log_std.gather(-1, pick).squeeze(-1).exp() * math.sqrt(tau)
        return mean + std * torch.randn_like(mean)

    def loss(self, z: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, cont: torch.Tensor,
             is_first: torch.Tensor) -> dict[str, torch.Tensor]:
        """Fit on sequences ``[B, T]`` in the replay's convention (``action[t]`` led to step ``t``):
        step ``t``'s code and the next action predict step ``t + 1``'s code, reward and end.
        Predictions across an episode start are not scored, and the LSTM restarts there."""
        b, t = z.shape[:2]
        hidden = self.initial(b, z.device)
        nll, reward_loss, done_loss, count = 0.0, 0.0, 0.0, 0.0
        for i in range(t - 1):
            keep = (~is_first[:, i]).float()[:, None]
            hidden = (hidden[0] * keep, hidden[1] * keep)
            mixture, reward_pred, done_logit, hidden = self.step(z[:, i], action[:, i + 1], hidden)
            valid = (~is_first[:, i + 1]).float()
            nll = nll - (mixture_log_likelihood(mixture, z[:, i + 1]) * valid).sum()
            reward_loss = reward_loss + ((reward_pred - reward[:, i + 1].float()).square() * valid).sum()
            done_loss = done_loss + (F.binary_cross_entropy_with_logits(
                done_logit, 1.0 - cont[:, i + 1].float(), reduction="none") * valid).sum()
            count = count + valid.sum()
        count = count.clamp(min=1.0) if torch.is_tensor(count) else 1.0
        nll, reward_loss, done_loss = nll / count, reward_loss / count, done_loss / count
        total = nll / self.config.latent + reward_loss + done_loss
        return {"loss": total, "nll": nll.detach(), "reward_loss": reward_loss.detach(),
                "done_loss": done_loss.detach()}
