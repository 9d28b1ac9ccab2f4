"""World Models' "V": a variational autoencoder that compresses each frame into a small latent z.

The encoder and decoder are the latent models' own (:mod:`.networks`, sized from the
observation), with a Gaussian posterior ``N(mu, sigma)`` over ``latent`` dimensions and a unit
Gaussian prior. Following Ha & Schmidhuber (2018), the KL term is held at ``kl_tolerance x
latent`` nats from below, so the code is free to carry that much information before the KL
pulls it toward the prior.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...core.config import option
from ...core.errors import ReverieError
from .networks import ObsDecoder, ObsEncoder, obs_mode, recon_loss

__all__ = ["VAE", "VAEConfig"]


@dataclass
class VAEConfig:
    """The VAE's sizes and loss, and the observations it codes."""

    latent: int = option(32, "dimensions of z")
    depth: int = option(32, "channels of the encoder's first convolution")
    embed: int = option(256, "width of the encoder's embedding before mu and log-sigma")
    kl_tolerance: float = option(0.5, "free nats per latent dimension (the paper's 0.5)")
    obs_kind: str = ""
    obs_shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.obs_shape = tuple(int(v) for v in self.obs_shape)
        if int(self.latent) < 1 or int(self.depth) < 1 or int(self.embed) < 1 or self.kl_tolerance < 0:
            raise ReverieError("VAE latent, depth and embed must be >= 1 and kl_tolerance >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


class VAE(nn.Module):
    """``encode(obs) -> (mu, log_sigma)``, ``decode(z)``, ``loss(obs)`` (module docstring)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        if not config.obs_kind or not config.obs_shape:
            raise ReverieError("a VAE needs its observations' kind and shape")
        self.config = c = config
        self.encoder = ObsEncoder(c.obs_kind, c.obs_shape, c.depth, c.embed)
        self.posterior = nn.Linear(c.embed, 2 * c.latent)
        self.decoder = ObsDecoder(c.obs_kind, c.obs_shape, c.latent, c.depth)

    def encode(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_sigma = self.posterior(self.encoder(obs)).chunk(2, -1)
        return mu, log_sigma.clamp(-8, 4)

    def sample(self, obs: torch.Tensor) -> torch.Tensor:
        mu, log_sigma = self.encode(obs)
        return mu + log_sigma.exp() * torch.randn_like(mu)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The most likely observation for codes ``z``, in the env's own form."""
        return obs_mode(self.config.obs_kind, self.decoder(z))

    def loss(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruction (negative log-likelihood) + KL to the unit Gaussian, held at the free nats."""
        mu, log_sigma = self.encode(obs)
        z = mu + log_sigma.exp() * torch.randn_like(mu)
        recon = recon_loss(self.config.obs_kind, self.decoder(z), obs)
        kl = 0.5 * (mu.square() + (2 * log_sigma).exp() - 2 * log_sigma - 1).sum(-1)
        floor = self.config.kl_tolerance * self.config.latent
        total = (recon + kl.clamp(min=floor)).mean()
        return {"loss": total, "recon": recon.mean().detach(), "kl": kl.mean().detach()}
