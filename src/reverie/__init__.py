"""reverie: model-based reinforcement learning around Imagination-Augmented Agents."""

from .core.errors import ReverieError
from .core.version import __version__

__all__ = ["ReverieError", "__version__"]


def _register() -> None:
    # Gymnasium ids (reverie/Sokoban-v0, ...): string entry points, nothing heavy imported.
    from .envs.registry import register_envs

    register_envs()


_register()
