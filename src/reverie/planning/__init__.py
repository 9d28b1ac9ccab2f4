"""Planning over environment models: CEM/MPPI trajectory optimisation and model-predictive control.

- :class:`CEMPlanner` / :class:`CEMConfig`: batched cross-entropy method (or MPPI) over any
  continuous-action ``EnvironmentModel``, with action repeat, bounds and warm starts;
- :mod:`reverie.workflows.control`: tasks (highway-env parking, Pendulum), data collection,
  model fitting and MPC evaluation;
- :class:`MCTS` / :class:`MCSearch`: batched tree search and the I2A paper's Monte-Carlo
  search over any ``EnvironmentModel`` of a world whose spec has discrete actions and a
  compact codec, budgets in imagined steps (:mod:`reverie.planning.episodes` plays held-out
  episodes with them: ``reverie search``).
"""

from .cem import CEMConfig, CEMPlanner
from .mc_search import MCSearch, MCSearchConfig
from .mcts import MCTS, MCTSConfig

__all__ = ["CEMConfig", "CEMPlanner", "MCTS", "MCTSConfig", "MCSearch", "MCSearchConfig"]
