"""A GIF of an I2A episode: each real frame beside everything the agent imagined from it.

One GIF frame per real step. Left: the real position, the step and the action the agent
chose. Right: one row per action, the agent's imagined rollout for it: the forced first
action, then the rollout policy's ``L - 1`` steps; under each imagined position the action
that led to it and the imagined reward; beside each row the agent's probability of that
action. The chosen action's row is framed. A last frame shows how the episode ended.
Reading it shows at a glance whether the model imagines the rules right and whether the
agent acts on what it imagined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..envs.sokoban.render import SPRITE, rgb_image
from ..envs.sokoban.rules import ACTION_NAMES
from .imagined_episode import ImaginedEpisode, ImaginedStep
from .pictures import _atomic_save

__all__ = ["save_imagination_gif", "layout", "tile_scale"]

PAD, GAP, BAND, HEADER, LABEL = 6, 4, 16, 20, 56
WHITE, GREY, BLACK = (255, 255, 255), (120, 120, 120), (0, 0, 0)
CHOSEN, GAIN, LOSS = (230, 120, 0), (0, 140, 0), (190, 0, 0)


def tile_scale(height: int, width: int) -> int:
    """Sprite scale that makes an imagined position about 96 pixels across."""
    return max(1, round(96 / (SPRITE * max(height, width))))


def layout(num_actions: int, length: int, height: int, width: int, scale: int) -> dict[str, int]:
    """Pixel geometry of a frame: imagined tiles at ``scale``, the real position at twice it."""
    tile_w, tile_h = SPRITE * width * scale, SPRITE * height * scale
    real_w, real_h = 2 * tile_w, 2 * tile_h
    grid_x = PAD + real_w + 3 * GAP + LABEL
    rows_h = num_actions * (tile_h + BAND + GAP)
    return {"tile_w": tile_w, "tile_h": tile_h, "real_w": real_w, "real_h": real_h, "grid_x": grid_x,
            "width": grid_x + length * (tile_w + GAP) + PAD,
            "height": HEADER + max(real_h + 3 * BAND, rows_h) + PAD}


def _reward_colour(reward: float) -> tuple[int, int, int]:
    return GAIN if reward > 0 else LOSS if reward < -0.5 else GREY


def _frame(step: ImaginedStep | None, final: np.ndarray, index: int, episode: ImaginedEpisode,
           geometry: dict[str, int], scale: int, font) -> Image.Image:
    g = geometry
    image = Image.new("RGB", (g["width"], g["height"]), WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((PAD, 3), "real", fill=BLACK, font=font)
    real = step.codes if step is not None else final
    image.paste(Image.fromarray(rgb_image(real, 2 * scale)), (PAD, HEADER))
    y = HEADER + g["real_h"] + 3
    if step is None:
        verdict = "solved" if episode.solved else "not solved"
        draw.text((PAD, y), f"{verdict} after {len(episode.steps)} steps", fill=BLACK, font=font)
        return image
    draw.text((PAD, y), f"step {index + 1}", fill=BLACK, font=font)
    draw.text((PAD, y + BAND), f"action: {ACTION_NAMES[step.action]}", fill=CHOSEN, font=font)
    draw.text((g["grid_x"], 3), "imagined (row = first action, then the rollout policy)",
              fill=BLACK, font=font)
    row_h = g["tile_h"] + BAND + GAP
    for a in range(step.imagined.shape[0]):
        top = HEADER + a * row_h
        if a == step.action:
            draw.rectangle((g["grid_x"] - LABEL, top - 2, g["width"] - PAD + 1, top + row_h - GAP + 1),
                           outline=CHOSEN, width=2)
        draw.text((g["grid_x"] - LABEL + 4, top + g["tile_h"] // 2 - 10), ACTION_NAMES[a], fill=BLACK, font=font)
        draw.text((g["grid_x"] - LABEL + 4, top + g["tile_h"] // 2 + 2), f"p {step.probabilities[a]:.0%}",
                  fill=GREY, font=font)
        for t in range(step.imagined.shape[1]):
            x = g["grid_x"] + t * (g["tile_w"] + GAP)
            image.paste(Image.fromarray(rgb_image(step.imagined[a, t], scale)), (x, top))
            reward = float(step.imagined_rewards[a, t])
            draw.text((x, top + g["tile_h"] + 1), f"{ACTION_NAMES[int(step.imagined_actions[a, t])]} {reward:+.1f}",
                      fill=_reward_colour(reward), font=font)
    return image


def save_imagination_gif(episode: ImaginedEpisode, path: str | Path, scale: int | None = None,
                         frame_ms: int = 900, hold_last_ms: int = 2500) -> Path:
    """Write the episode's GIF: one frame per real step, then the final position."""
    if not episode.steps:
        raise ValueError("an imagination GIF needs at least one step")
    first = episode.steps[0]
    num_actions, length, height, width = first.imagined.shape
    scale = scale or tile_scale(height, width)
    geometry = layout(num_actions, length, height, width, scale)
    font = ImageFont.load_default(size=12)
    frames = [_frame(step, episode.final, i, episode, geometry, scale, font) for i, step in enumerate(episode.steps)]
    frames.append(_frame(None, episode.final, len(episode.steps), episode, geometry, scale, font))
    durations = [frame_ms] * (len(frames) - 1) + [hold_last_ms]
    path = Path(path)
    _atomic_save(frames[0], path, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path
