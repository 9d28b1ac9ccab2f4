"""Where Gymnasium's CarRacing class comes from, and the one-line error when Box2D is missing.

Gymnasium imports Box2D only when its ``box2d`` module is first imported, so reverie registers
the ``carracing`` spec without it and asks for the simulator only when an env is made.
"""

from __future__ import annotations

from ...core.errors import ReverieError

__all__ = ["load_car_racing", "INSTALL"]

INSTALL = "pip install 'gymnasium[box2d]' (Box2D 2.3.10 wheels and pygame-ce) or pip install -e \".[box2d]\""


def load_car_racing():
    """Gymnasium's ``CarRacing`` class, or a one-line error saying what to install."""
    try:
        from gymnasium.envs.box2d.car_racing import CarRacing
    except Exception as error:  # ImportError, or Gymnasium's DependencyNotInstalled (not an ImportError)
        if isinstance(error, ImportError) or type(error).__name__ == "DependencyNotInstalled":
            raise ReverieError(f"the carracing world needs Box2D: {INSTALL}") from None
        raise
    return CarRacing
