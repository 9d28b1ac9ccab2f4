"""A GIF of an I2A episode: each real frame beside everything the agent imagined from it.

One GIF frame per real step. Left: the real position, the step and the action the agent
chose. Right: one row per action, the agent's imagined rollout for it: the forced first
action, then the rollout policy's ``L - 1`` steps; under each imagined position the action
that led to it and the imagined reward; beside each row the agent's probability of that
action. The chosen action's row is framed. A last frame shows how the episode ended: the
final position beside what the agent imagined before its last action.
Reading it shows at a glance whether the model imagines the rules right and whether the
agent acts on what it imagined.

Any world with pictures works: positions are drawn with the episode's ``spec.render`` and
actions named by ``spec.actions``; sizes below are in the renderer's pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..core.errors import ReverieError
from .imagined_episode import ImaginedEpisode, ImaginedStep
from .pictures import _atomic_save

__all__ = ["save_imagination_gif", "layout", "tile_scale", "pictures"]

PAD, GAP, BAND, HEADER, LABEL = 6, 4, 16, 20, 56
WHITE, GREY, BLACK = (255, 255, 255), (120, 120, 120), (0, 0, 0)
CHOSEN, GAIN, LOSS = (230, 120, 0), (0, 140, 0), (190, 0, 0)


def tile_scale(height: int, width: int) -> int:
    """Scale that makes an imagined picture of ``height x width`` pixels about 96 pixels across."""
    return max(1, round(96 / max(height, width)))


def layout(num_actions: int, length: int, height: int, width: int, scale: int) -> dict[str, int]:
    """Pixel geometry of a frame for pictures of ``height x width`` pixels: imagined tiles at
    ``scale``, the real position at twice it."""
    tile_w, tile_h = width * scale, height * scale
    real_w, real_h = 2 * tile_w, 2 * tile_h
    grid_x = PAD + real_w + 3 * GAP + LABEL
    rows_h = num_actions * (tile_h + BAND + GAP)
    return {"tile_w": tile_w, "tile_h": tile_h, "real_w": real_w, "real_h": real_h, "grid_x": grid_x,
            "width": grid_x + length * (tile_w + GAP) + PAD,
            "height": HEADER + max(real_h + 3 * BAND, rows_h) + PAD}


def _reward_colour(reward: float) -> tuple[int, int, int]:
    return GAIN if reward > 0 else LOSS if reward < -0.5 else GREY


def pictures(episode: ImaginedEpisode, compact: np.ndarray) -> np.ndarray:
    """Positions in the spec's compact form ``[B, ...]`` -> RGB pictures ``[B, h, w, 3]`` uint8."""
    spec = episode.spec
    if spec is None or spec.render is None:
        raise ReverieError(f"{getattr(spec, 'id', 'this world')} has no pictures (its spec has no render)")
    obs = spec.observation.decode(torch.from_numpy(np.ascontiguousarray(compact)))
    return np.asarray(spec.render(obs), dtype=np.uint8)


def _scaled(picture: np.ndarray, scale: int) -> Image.Image:
    return Image.fromarray(picture.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else picture)


def _frame(step: ImaginedStep | None, final: np.ndarray, index: int, episode: ImaginedEpisode,
           geometry: dict[str, int], scale: int, font) -> Image.Image:
    g = geometry
    spec = episode.spec
    name = spec.actions.name
    image = Image.new("RGB", (g["width"], g["height"]), WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((PAD, 3), "real", fill=BLACK, font=font)
    real = step.compact if step is not None else final
    image.paste(_scaled(pictures(episode, real[None])[0], 2 * scale), (PAD, HEADER))
    y = HEADER + g["real_h"] + 3
    if step is None:
        if episode.success is None:
            verdict = "ended"
        else:
            verdict = spec.success if episode.success else f"not {spec.success}"
        draw.text((PAD, y), f"{verdict} after {len(episode.steps)} steps", fill=BLACK, font=font)
        last = episode.steps[-1]
        draw.text((PAD, y + BAND), f"last action: {name(last.action)}", fill=CHOSEN, font=font)
        # the right side keeps what the agent imagined before its last action, not a blank
        _imagined_grid(image, draw, last, episode, g, scale, font, "imagined before the last action")
        return image
    draw.text((PAD, y), f"step {index + 1}", fill=BLACK, font=font)
    draw.text((PAD, y + BAND), f"action: {name(step.action)}", fill=CHOSEN, font=font)
    _imagined_grid(image, draw, step, episode, g, scale, font, "imagined (row = first action, then the rollout policy)")
    return image


def _imagined_grid(image: Image.Image, draw: ImageDraw.ImageDraw, step: ImaginedStep, episode: ImaginedEpisode,
                   g: dict[str, int], scale: int, font, title: str) -> None:
    """The right side of a frame: one row per action, the rollout imagined for it."""
    name = episode.spec.actions.name
    num_actions, length = step.imagined.shape[:2]
    imagined = pictures(episode, step.imagined.reshape(num_actions * length, *step.imagined.shape[2:]))
    imagined = imagined.reshape(num_actions, length, *imagined.shape[1:])
    draw.text((g["grid_x"], 3), title, fill=BLACK, font=font)
    row_h = g["tile_h"] + BAND + GAP
    for a in range(step.imagined.shape[0]):
        top = HEADER + a * row_h
        if a == step.action:
            draw.rectangle((g["grid_x"] - LABEL, top - 2, g["width"] - PAD + 1, top + row_h - GAP + 1),
                           outline=CHOSEN, width=2)
        draw.text((g["grid_x"] - LABEL + 4, top + g["tile_h"] // 2 - 10), name(a), fill=BLACK, font=font)
        draw.text((g["grid_x"] - LABEL + 4, top + g["tile_h"] // 2 + 2), f"p {step.probabilities[a]:.0%}",
                  fill=GREY, font=font)
        for t in range(step.imagined.shape[1]):
            x = g["grid_x"] + t * (g["tile_w"] + GAP)
            image.paste(_scaled(imagined[a, t], scale), (x, top))
            reward = float(step.imagined_rewards[a, t])
            draw.text((x, top + g["tile_h"] + 1), f"{name(int(step.imagined_actions[a, t]))} {reward:+.1f}",
                      fill=_reward_colour(reward), font=font)


def save_imagination_gif(episode: ImaginedEpisode, path: str | Path, scale: int | None = None,
                         frame_ms: int = 900, hold_last_ms: int = 2500) -> Path:
    """Write the episode's GIF: one frame per real step, then the final position."""
    if not episode.steps:
        raise ValueError("an imagination GIF needs at least one step")
    first = episode.steps[0]
    num_actions, length = first.imagined.shape[:2]
    height, width = pictures(episode, first.compact[None]).shape[1:3]
    scale = scale or tile_scale(height, width)
    geometry = layout(num_actions, length, height, width, scale)
    font = ImageFont.load_default(size=12)
    frames = [_frame(step, episode.final, i, episode, geometry, scale, font) for i, step in enumerate(episode.steps)]
    frames.append(_frame(None, episode.final, len(episode.steps), episode, geometry, scale, font))
    durations = [frame_ms] * (len(frames) - 1) + [hold_last_ms]
    path = Path(path)
    _atomic_save(frames[0], path, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path
