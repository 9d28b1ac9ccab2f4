"""The ``reverie`` command: one module per subcommand, thin shells over library calls."""

from .main import build_parser, main

__all__ = ["main", "build_parser"]
