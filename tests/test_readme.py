"""The README's Python examples run as written (those that need no external files or hours)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_env_and_model_examples_run():
    blocks = python_blocks()
    env_example = next(b for b in blocks if "SokobanVecEnv(" in b)
    model_example = next(b for b in blocks if "pretrained(" in b)
    namespace: dict = {}
    exec(compile(env_example.replace("1024", "32"), "README env example", "exec"), namespace)
    exec(compile(model_example, "README model example", "exec"), namespace)
    assert namespace["next_obs"].shape == namespace["obs"].shape


def test_i2a_and_search_example_runs():
    example = next(b for b in python_blocks() if "MCTS(" in b)
    example = example.replace("episodes=20", "episodes=2").replace("budget=200", "budget=20")
    example = example.split("summary = run(")[0]  # the pipeline itself is tests/test_pipeline.py's
    namespace: dict = {}
    exec(compile(example, "README I2A and search example", "exec"), namespace)
    assert namespace["logits"].shape == (8, 5) and 0 <= namespace["result"]["solve_rate"] <= 1
