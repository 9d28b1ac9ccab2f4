"""pendulum-pixels: frames of the right shape and type whose rod points where the angle says,
different angles drawing differently, and the table the env copies from matching the exact drawing."""

from __future__ import annotations

import math

import pytest
import torch

from reverie.envs.pendulum.draw import ANGLES, draw, frames
from reverie.envs.registry import get_spec, make_env


def bright_direction(frame: torch.Tensor) -> float:
    """The angle (0 up, anticlockwise) of the centroid of the frame's bright pixels, seen from the centre."""
    size = frame.shape[-1]
    bright = frame.float().sum(0) > 300        # the rod and the bob, not the dim pivot or the background
    y, x = bright.nonzero().float().unbind(1)
    dx, dy = x.mean() + 0.5 - size / 2, y.mean() + 0.5 - size / 2
    return math.atan2(-dx, -dy)


@pytest.mark.parametrize("size", [32, 64])
def test_frames_have_the_spec_shape_and_the_rod_points_along_theta(size):
    env = make_env("pendulum-pixels", "test", 16, seed=0, size=size)
    obs = env.reset_to(torch.arange(16))
    assert obs.shape == (16, 3, size, size) and obs.dtype == torch.uint8
    assert env.spec.observation.shape == (3, size, size) and env.single_observation_space.shape == (3, size, size)
    for frame, theta in zip(obs, env.theta.tolist()):
        error = (bright_direction(frame) - theta + math.pi) % (2 * math.pi) - math.pi
        assert abs(error) < 0.1, (theta, bright_direction(frame))
    before = env.theta.clone()
    after, *_ = env.step(torch.full((16, 1), 2.0))
    turned = (env.theta - before).abs() > 4 * math.pi / ANGLES        # more than two of the table's steps
    assert turned.sum() >= 8
    assert all(bool((a != b).any()) for a, b, t in zip(obs, after, turned) if t)


def test_different_angles_draw_differently_and_mirror_images_are_distinct():
    angles = torch.linspace(-math.pi, math.pi, 64, dtype=torch.float64)[:-1]
    pictures = frames(angles, 64).flatten(1)
    assert torch.unique(pictures, dim=0).shape[0] == angles.numel()
    left, right = frames(torch.tensor([0.7, -0.7], dtype=torch.float64), 64)
    assert torch.equal(left, right.flip(-1)) and not torch.equal(left, right)
    up, down = frames(torch.tensor([0.0, math.pi], dtype=torch.float64), 64)
    assert torch.equal(up, down.flip(-2)) and not torch.equal(up, down)
    assert not torch.equal(up, up.rot90(2, (-2, -1)))      # a half turn is another picture: the ends differ


def test_the_table_matches_the_exact_drawing():
    """At the table's angles, copies equal drawings (up to one level of rounding); in between, the
    nearest angle's frame is off by at most a sliver of the anti-aliased edge."""
    on_grid = torch.arange(0, ANGLES, 37, dtype=torch.float64) * (2 * math.pi / ANGLES)
    assert (draw(on_grid, 64).int() - frames(on_grid, 64).int()).abs().max() <= 1
    between = torch.rand(64, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 40 - 20
    difference = (draw(between, 64).float() - frames(between, 64).float()).abs()
    assert difference.max() <= 40 and difference.mean() < 0.5


def test_vector_and_pixel_ids_render_the_same_pictures():
    spec_v, spec_p = get_spec("pendulum"), get_spec("pendulum-pixels")
    env_v = make_env("pendulum", "valid", 3, seed=0)
    env_p = make_env("pendulum-pixels", "valid", 3, seed=0)
    obs_v, obs_p = env_v.reset_to(torch.arange(3)), env_p.reset_to(torch.arange(3))
    pictures_v, pictures_p = spec_v.render(obs_v), spec_p.render(obs_p)
    assert pictures_v.shape == pictures_p.shape == (3, 64, 64, 3) and pictures_p.dtype == torch.uint8
    assert (pictures_v.int() - pictures_p.int()).abs().float().mean() < 0.5
