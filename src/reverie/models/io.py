"""Saving and loading environment models, and the pretrained models shipped with reverie.

A model file is a reverie checkpoint (see :mod:`reverie.core.checkpoint`): plain data
and tensors only, read with ``weights_only=True``, so a hostile file cannot run code. It
holds the model's ``type`` (``"grid"``, ``"vector"``, ``"frame"``, ``"pixel"``, ``"palette"``; ``"latent"`` is reserved for latent
models), its config and weights, enough to rebuild it with no other input, and metadata
(a fitted model records the env id it was fitted to). A fitting run's checkpoint holds the
same record under ``"model"``, so :func:`load` reads both. Vector models written before
this format (kind ``vector-environment-model``) are read too.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..core.errors import ReverieError
from ..core.checkpoint import load_checkpoint, save_checkpoint
from .frame import FrameModel, FrameModelConfig
from .grid import GridModel, GridModelConfig
from .palette import PaletteModel, PaletteModelConfig
from .pixel import PixelModel, PixelModelConfig
from .latent.rssm import RSSM, RSSMConfig
from .simple import CopyModel
from .vector import VectorModel, VectorModelConfig

MODEL_KIND = "environment-model"
#: The checkpoint kind vector models were written with before the one model format.
LEGACY_KINDS = ("vector-environment-model",)
#: Model types a file may hold: type -> (model class, config class).
TYPES: dict[str, tuple[type, type]] = {"grid": (GridModel, GridModelConfig), "vector": (VectorModel, VectorModelConfig),
                                        "frame": (FrameModel, FrameModelConfig), "pixel": (PixelModel, PixelModelConfig),
                                        "palette": (PaletteModel, PaletteModelConfig), "rssm": (RSSM, RSSMConfig)}
RESERVED_TYPES = ("latent",)
RUN_KIND = "model-fitting-run"
#: Pretrained models shipped inside the package (``reverie/assets/models/<name>.pt``).
PRETRAINED = tuple(sorted(p.stem for p in Path(str(resources.files("reverie") / "assets" / "models")).glob("*.pt")))


def model_type(model: Any) -> str:
    """The ``type`` a model's file records."""
    for name, (cls, _) in TYPES.items():
        if isinstance(model, cls):
            return name
    raise ReverieError(f"cannot save a {type(model).__name__}: model files hold {', '.join(TYPES)} models")


def model_record(model: Any, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a checkpoint stores about a model: type, config, weights (on the CPU), metadata."""
    weights = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    return {"type": model_type(model), "config": model.config.to_dict(), "weights": weights,
            "metadata": dict(metadata or {})}


def save_model(model: Any, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (config + weights) atomically to ``path``."""
    return save_checkpoint(path, model_record(model, metadata), kind=MODEL_KIND)


def model_from_record(record: Any, source: str = "checkpoint",
                      device: torch.device | str = "cpu", expect: str | None = None) -> Any:
    """Rebuild a model from :func:`model_record`'s dict, with clear errors for bad records
    (``expect``: the type the caller needs)."""
    kind = record.get("type") if isinstance(record, dict) else None
    if kind in RESERVED_TYPES:
        raise ReverieError(f"{source}: holds a {kind} model, which this version of reverie cannot load")
    if kind not in TYPES or (expect is not None and kind != expect):
        what = f"a {expect} environment model" if expect else f"an environment model (types: {', '.join(TYPES)})"
        raise ReverieError(f"{source}: does not hold {what}")
    if not isinstance(record.get("config"), dict) or not isinstance(record.get("weights"), dict):
        raise ReverieError(f"{source}: model record lacks its config or weights")
    model_cls, config_cls = TYPES[kind]
    try:
        config = config_cls.from_dict(record["config"])
    except (TypeError, ValueError, AttributeError, ReverieError) as err:
        raise ReverieError(f"{source}: bad model config ({err})") from None
    model = model_cls(config)
    weights = record["weights"]
    if not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ReverieError(f"{source}: model weights must all be tensors")
    _check_weights(model, weights, source)
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError) as err:
        first = str(err).strip().splitlines()
        raise ReverieError(f"{source}: weights do not fit the model config ({first[0] if first else err})") from None
    model.metadata = dict(record.get("metadata") or {})  # type: ignore[assignment]
    return model.to(device).eval()


def _check_weights(model: Any, weights: dict[str, torch.Tensor], source: str) -> None:
    """Name the first tensor that does not fit the model its config builds (torch's own message
    spans many lines and buries the name)."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in weights:
            raise ReverieError(f"{source}: weights do not fit the model config: tensor {name!r} "
                               f"(shape {list(tensor.shape)}) is missing")
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise ReverieError(f"{source}: weights do not fit the model config: tensor {name!r} has shape "
                               f"{list(weights[name].shape)}, the config expects {list(tensor.shape)}")
    unexpected = sorted(set(weights) - set(expected))
    if unexpected:
        raise ReverieError(f"{source}: weights do not fit the model config: unexpected tensor {unexpected[0]!r}"
                           + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""))


def load(path: str | Path, device: torch.device | str = "cpu", spec: Any = None, expect: str | None = None) -> Any:
    """A ready (eval-mode) model from a model file or a fitting run's checkpoint; with
    ``spec``, checked against that world (a model of other reward classes is refused)."""
    path = Path(path)
    if path.is_dir():
        for name in ("model.pt", "checkpoint.pt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"{path}: a folder without model.pt or checkpoint.pt")
    state = load_checkpoint(path)
    if isinstance(state, dict) and "model" in state and "type" not in state:
        state = state["model"]
    model = model_from_record(state, str(path), device, expect)
    if spec is not None and callable(getattr(model, "check_spec", None)):
        model.check_spec(spec)
    return model


def pretrained_path(name: str) -> Path:
    """Where the shipped model ``name`` lies (``FileNotFoundError`` if not installed)."""
    if name not in PRETRAINED:
        raise ReverieError(f"unknown pretrained model {name!r}; available: {list(PRETRAINED)}")
    path = Path(str(resources.files("reverie") / "assets" / "models" / f"{name}.pt"))
    if not path.is_file():
        raise FileNotFoundError(f"pretrained model {name!r} is not installed (looked for {path})")
    return path


def pretrained(name: str = "sokoban-10x10", device: torch.device | str = "cpu") -> GridModel:
    """A model shipped with reverie, ready to imagine; see ``<name>.json`` beside it for its making."""
    return load(pretrained_path(name), device)


def pretrained_info(name: str = "sokoban-10x10") -> dict[str, Any]:
    """The record of how a shipped model was made (command, data, frames, time, metrics)."""
    path = pretrained_path(name).with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else {}


def resolve(name: str, device: torch.device | str = "cpu", spec=None):
    """A model from a short name: ``perfect`` (the rules of the world ``spec`` describes),
    ``copy``, a pretrained name, or a file path. With ``spec``, a learned model is checked
    against the world (observations, actions, reward classes)."""
    if name == "perfect":
        if spec is None:
            raise ReverieError("the perfect model needs the env it models (pass its spec)")
        return spec.make_perfect_model()
    if name == "copy":
        return CopyModel()
    model = pretrained(name, device) if name in PRETRAINED else load(name, device)
    if spec is not None and callable(getattr(model, "check_spec", None)):
        model.check_spec(spec)
    return model
