"""Planning over environment models: CEM/MPPI trajectory optimisation and model-predictive control.

- :class:`CEMPlanner` / :class:`CEMConfig`: batched cross-entropy method (or MPPI) over any
  continuous-action ``EnvironmentModel``, with action repeat, bounds and warm starts;
- :mod:`reverie.planning.control`: tasks (highway-env parking, Pendulum), data collection,
  model fitting and MPC evaluation.
"""

from .cem import CEMConfig, CEMPlanner

__all__ = ["CEMConfig", "CEMPlanner"]
