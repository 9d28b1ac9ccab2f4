"""Environment models: anything that maps a batch of observations and actions to next
observations and rewards.

- a world's rules as a model: ``get_spec(env_id).make_perfect_model()`` (exact by construction);
- :class:`CopyModel`: returns its input (the I2A paper's copy-model baseline);
- :class:`GridModel`: the learned pool-and-inject conv model of the paper;
- :class:`FrameModel`: its twin for binary-plane worlds with events (one model, many tasks);
- :class:`PixelModel`: stacked grey frames (Atari), the frame difference and events;
- :class:`PaletteModel`: RGB frames of a small palette (Sokoban's sprites), per-pixel colour classes;
- :func:`load` / :func:`pretrained`: ready models from checkpoints or shipped with reverie.
"""

from .base import (
    EnvironmentModel,
    LatentModel,
    RewardClasses,
    action_onehot,
    action_planes,
    codes_to_planes,
    initial_state,
    observe,
    planes_to_codes,
)
from .frame import FrameModel, FrameModelConfig
from .grid import SIZES, GridModel, GridModelConfig, PoolAndInject
from .pixel import PixelModel, PixelModelConfig
from .palette import PaletteModel, PaletteModelConfig
from .io import load, model_from_record, pretrained, pretrained_info, resolve, save_model
from .simple import CopyModel

__all__ = [
    "EnvironmentModel", "LatentModel", "RewardClasses", "action_onehot", "action_planes", "codes_to_planes",
    "planes_to_codes", "initial_state", "observe", "CopyModel", "FrameModel", "FrameModelConfig", "GridModel",
    "GridModelConfig", "PixelModel", "PixelModelConfig", "PaletteModel", "PaletteModelConfig", "PoolAndInject",
    "SIZES", "load", "save_model", "model_from_record", "pretrained", "pretrained_info", "resolve",
]
