"""reverie: model-based reinforcement learning around Imagination-Augmented Agents."""

__version__ = "0.1.0"


class ReverieError(Exception):
    """An error the user can cause and fix (bad input, impossible config).

    The command line prints these in one line and exits non-zero, without a traceback.
    """


def _register() -> None:
    # Gymnasium ids (reverie/Sokoban-v0, ...): string entry points, nothing heavy imported.
    from .envs.registry import register_envs

    register_envs()


_register()
