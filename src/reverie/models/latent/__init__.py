"""Latent world models: models with a state of their own (``encode``, ``step``, ``decode``).

- :class:`RSSM`: the recurrent state-space model of PlaNet and Dreamer.
"""

from .networks import ObsDecoder, ObsEncoder
from .rssm import RSSM, LatentState, RSSMConfig, symexp, symlog

__all__ = ["RSSM", "RSSMConfig", "LatentState", "ObsEncoder", "ObsDecoder", "symlog", "symexp"]
