"""Gymnasium's CarRacing-v3 (Box2D) from 64x64 RGB frames with continuous steer, gas and brake: ``carracing``."""
