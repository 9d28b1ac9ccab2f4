"""Applications built from the library: ``reverie run`` (the I2A pipeline), the control tasks
of ``reverie plan`` (parking, pendulum), the latent world models' runs (``reverie latent``:
Dreamer and PlaNet; ``reverie world-models``) and the levels demo. They compose models,
agents, planners and training loops, so no library module imports these."""
