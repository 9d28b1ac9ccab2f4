"""Shared helpers for the Sokoban tests: tiny hand-written levels and the Boxoban fixtures."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

from reverie.envs.sokoban import cells
from reverie.envs.sokoban.levels import Level, parse_xsb

#: The Boxoban fixture folder: 20 levels of unfiltered/test and 20 of hard, unmodified.
FIXTURES = Path(__file__).parent / "fixtures" / "boxoban"
UNFILTERED_TEST = FIXTURES / "unfiltered" / "test" / "000.txt"
HARD = FIXTURES / "hard" / "000.txt"
#: The full level set, present only on the project's machines (tests using it skip elsewhere).
SHARED_BOXOBAN = Path(__file__).resolve().parents[2] / "shared" / "boxoban-levels"
if SHARED_BOXOBAN.is_dir():  # where boxoban-* ids find their levels (a user sets it or --levels-dir)
    os.environ.setdefault("REVERIE_BOXOBAN", str(SHARED_BOXOBAN))

#: Hypothesis settings for every property test: derandomized so runs are reproducible.
PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def xsb(text: str) -> str:
    """Dedent a triple-quoted level and drop the surrounding blank lines."""
    return textwrap.dedent(text).strip("\n")


def level(text: str, name: str = "level") -> Level:
    """A validated level from (indented) XSB text."""
    return parse_xsb(xsb(text), name)


def grid(text: str) -> np.ndarray:
    """Cell codes of XSB text with no validation at all (any counts of boxes and targets)."""
    rows = xsb(text).split("\n")
    width = max(len(r) for r in rows)
    if any(len(r) != width for r in rows):
        raise AssertionError("test grid rows must have equal width")
    return np.array([[cells.CHAR_TO_CODE[ch] for ch in r] for r in rows], dtype=np.uint8)


def grid_text(codes: np.ndarray) -> str:
    """XSB text of a grid of codes (independent of ``levels.to_xsb``)."""
    return "\n".join("".join(cells.CHARS[int(c)] for c in row) for row in np.asarray(codes))


def random_grid(rng: np.random.Generator, height: int, width: int, density: float = 0.5) -> np.ndarray:
    """A random closed room: wall border, random interior codes, exactly one player.

    Box and target counts are arbitrary (the rules do not need them balanced); ``density``
    is the share of interior cells that are not plain floor.
    """
    codes = np.zeros((height, width), dtype=np.uint8)
    inner = rng.choice(
        [cells.WALL, cells.TARGET, cells.BOX, cells.BOX_ON_TARGET],
        size=(height - 2, width - 2),
        p=[0.35, 0.2, 0.3, 0.15],
    ).astype(np.uint8)
    inner[rng.random(inner.shape) >= density] = cells.FLOOR
    r, c = rng.integers(0, height - 2), rng.integers(0, width - 2)
    inner[r, c] = cells.PLAYER_ON_TARGET if rng.random() < 0.3 else cells.PLAYER
    codes[1:-1, 1:-1] = inner
    return codes


@pytest.fixture
def tiny_level():
    """Build a validated level from indented XSB text inside a test."""
    return level


def as_batch(*grids: np.ndarray) -> torch.Tensor:
    """Stack same-size [H, W] grids into the rules' [N, H*W] uint8 layout."""
    return torch.from_numpy(np.stack([np.asarray(g, dtype=np.uint8).reshape(-1) for g in grids]))


@pytest.fixture
def one_thread():
    """One torch thread for the test: small networks run fastest on one, and far slower on
    two when the machine's other core is busy. Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def level_cache(tmp_path_factory) -> Path:
    """A per-module folder for generated level banks (REVERIE_CACHE), so tests never touch ~/.cache."""
    return tmp_path_factory.mktemp("level-cache")


@pytest.fixture
def isolated_runs(level_cache, monkeypatch):
    """Point REVERIE_CACHE at the module's cache and restore torch's thread count afterwards."""
    monkeypatch.setenv("REVERIE_CACHE", str(level_cache))
    threads = torch.get_num_threads()
    yield level_cache
    torch.set_num_threads(threads)
