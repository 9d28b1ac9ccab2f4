"""Typed configs: dataclasses whose fields document themselves, turned into CLI flags.

A field's ``metadata["help"]`` is its docstring and its ``--flag`` help at once, so the
command line and the Python API cannot drift apart. Every run writes its resolved config.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its help text."""
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _base_type(annotation: Any) -> Any:
    """``int | None`` -> int; other annotations unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one ``--flag`` per field of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = _base_type(hints[field.name])
        help_text = field.metadata.get("help", "")
        default = field.default
        if kind is bool:
            parser.add_argument(_flag(field.name), action=argparse.BooleanOptionalAction,
                                default=default, help=help_text)
            continue
        converter = field.metadata.get("parse", kind if kind in (int, float, str, Path) else str)
        parser.add_argument(_flag(field.name), type=converter, default=default,
                            metavar=field.metadata.get("metavar", field.name.upper()),
                            help=_with_default(help_text, default))


def _with_default(help_text: str, default: Any) -> str:
    """The help with ``(default: X)`` appended, unless it already names its default or there is
    none to name (``None``): help should not say "(default: the env id's) (default: None)"."""
    if default is None or "(default:" in help_text:
        return help_text
    return f"{help_text} (default: {default})"


def from_arguments(cls: type[T], args: argparse.Namespace) -> T:
    """Build ``cls`` from parsed arguments; its ``__post_init__`` checks the values, and
    :func:`~.limits.check_limits` the ones every command spells alike (seed, device, sizes),
    so a config without those checks of its own still refuses them in one line."""
    from .limits import check_limits

    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    config = cls(**{k: v for k, v in vars(args).items() if k in names})
    check_limits(config)
    return config


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config (paths as strings)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def parse_size(text: str) -> tuple[int, int]:
    """``"10x10"`` -> (10, 10): a room size, border included."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 10x10, got {text!r}") from None
    return height, width
