"""Applications built from the library: ``reverie run`` (the I2A pipeline), the control tasks
of ``reverie plan`` (parking, pendulum) and the levels demo. No library module imports these."""
