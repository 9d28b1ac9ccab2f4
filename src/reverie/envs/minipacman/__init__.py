"""MiniPacman as in the I2A paper: one 15x19 maze, five tasks (regular, avoid, hunt, ambush,
rush) that share its rules and differ in event rewards and when a level is cleared.

``maze`` the map and its tables, ``rules`` the batched state/step/new level, ``observation``
the frames, ``env`` the batched env, ``render`` pictures, ``spec`` the env ids. Other packages
read the spec (``reverie.envs.registry.get_spec("minipacman-hunt")``), never these modules.
"""
