"""The benchmark scripts follow the library: they import, read old and new result records, and
the I2A cost benchmark reports the imagination cache's hit rate (issue 21); the cost-growth curves
(issue 20) run their smoke modes into a temporary folder without touching the docs."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = ("actor_critic", "atari_a2c", "atari_model", "atari_throughput", "env_model", "finetune_model",
           "grid_model_size", "i2a_cost", "parking_offpolicy", "sample_efficiency",
           "imagination_efficiency", "mcts_scaling", "minatar_model", "minatar_protocol", "minatar_throughput",
           "model_making", "parking", "minipacman_model", "minipacman_protocol", "minipacman_throughput", "pendulum_throughput",
           "pipeline", "pixel_cost",
           "precision", "protocol_runs", "return_protocol", "rgb_sokoban", "scaling", "sokoban_protocol",
           "sokoban_throughput")


@pytest.fixture(autouse=True)
def benchmarks_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_imports(name):
    if name == "parking":
        pytest.importorskip("highway_env")
    importlib.import_module(name)


def test_readers_accept_old_solve_rate():
    from common import success_rate

    assert success_rate({"solve_rate": 0.25}) == 0.25
    assert success_rate({"success_rate": 0.5, "solve_rate": 0.25}) == 0.5
    imagination_efficiency = importlib.import_module("imagination_efficiency")
    old = [{"imagined_per_level": 10, "solve_rate": 0.0}, {"imagined_per_level": 100, "solve_rate": 0.5}]
    new = [{"imagined_per_level": 10, "success_rate": 0.0}, {"imagined_per_level": 100, "success_rate": 0.5}]
    assert imagination_efficiency.needed(old, 0.25) == imagination_efficiency.needed(new, 0.25) > 10


def test_i2a_cost_reports_cache_hit_rate():
    i2a_cost = importlib.import_module("i2a_cost")
    old_row = {"options": {}, "cache_hits": 63, "cache_misses": 0}
    assert i2a_cost.hit_rate(old_row) == "100% (63/63)"
    assert i2a_cost.hit_rate({"options": {"cache_rows": 0}, "cache_hits": 0, "cache_misses": 46}) == "off"
    assert i2a_cost.hit_rate({"options": {}}) == "-"

    from reverie.agents import build_agent
    from reverie.envs.registry import make_env
    from reverie.training.actor_critic import A2C, A2CConfig

    torch.manual_seed(0)
    env = make_env("sokoban-6x6-1", "train", 4, seed=0)
    policy = build_agent("i2a-copy", env.spec, rollout_length=1)
    trainer = A2C(policy, env, A2CConfig(n_steps=2), total_frames=10**6, seed=0)
    trainer.train_step()  # a warm-up: the trainer reads (and logs) its counts
    trainer.update(trainer.collect())  # as time_training does: the counts wait for the benchmark
    trainer.update(trainer.collect())
    counts = i2a_cost.cache_counts(policy)
    assert counts == {"cache_hit": 2, "cache_miss": 0, "cache_hit_rate": 1.0}
    assert i2a_cost.hit_rate(counts | {"options": {}}) == "100% (2/2)"
    assert i2a_cost.cache_counts(build_agent("standard", env.spec)) == {}


def test_return_protocol_pools_seeds_and_states_gains():
    return_protocol = importlib.import_module("return_protocol")
    # two runs of 100 episodes, means 1 and 3, each with a within-run sd of 1 (interval half-width 0.196)
    runs = [{"episodes": 100, "mean_return": m, "return_ci95": [m - 0.196, m + 0.196]} for m in (1.0, 3.0)]
    mean, low, high = return_protocol.pooled(runs)
    assert mean == pytest.approx(2.0) and high - mean == pytest.approx(1.96 * (2 / 200) ** 0.5, rel=1e-3)
    a = {"mean_return": 5.0, "ci95": [4.0, 6.0], "seeds": 3}
    b = {"mean_return": 2.0, "ci95": [1.0, 3.0], "seeds": 1}
    assert return_protocol.gain(a, b) == pytest.approx((3.0, 3.0 - 2 ** 0.5, 3.0 + 2 ** 0.5))
    lines = return_protocol.gain_lines({"table": {"hunt": {"i2a": a, "standard": b}, "rush": {"standard": b}}})
    assert lines == ["- hunt (`i2a` 3 seeds): over `standard` +3.0 (+1.6 to +4.4)"]
    protocol = importlib.import_module("minipacman_protocol").PROTOCOL
    assert return_protocol.order(protocol, [("hunt", "i2a", 1), ("regular", "standard", 0), ("hunt", "standard", 0)]) \
        == [("regular", "standard", 0), ("hunt", "standard", 0), ("hunt", "i2a", 1)]


def run_script(name: str, *args: str, tmp_path: Path) -> dict:
    """Run ``benchmarks/<name>.py`` with ``args`` and ``--json`` in ``tmp_path``, docs left alone;
    the record it wrote."""
    docs = BENCHMARKS.parent / "docs" / "benchmarks.md"
    before = docs.read_bytes()
    out = tmp_path / f"{name}.json"
    env = os.environ | {"PYTHONPATH": str(BENCHMARKS.parent / "src")}
    subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *args, "--json", str(out), "--no-docs"],
                   check=True, env=env, cwd=tmp_path, capture_output=True, timeout=120)
    assert docs.read_bytes() == before
    return json.loads(out.read_text())


def test_mcts_scaling_quick_mode(tmp_path):
    record = run_script("mcts_scaling", "--quick", tmp_path=tmp_path)
    assert [r["batch"] for r in record["batch"]] == record["settings"]["batches"]
    assert [r["budget"] for r in record["budget"]] == record["settings"]["budgets"]
    for row in record["batch"] + record["budget"]:
        assert row["steps_per_s"] > 0 and row["decisions_per_s"] > 0
        assert row["imagined_per_decision"] <= row["budget"]  # a level never exceeds its budget
    assert record["command"] == "PYTHONPATH=src python benchmarks/mcts_scaling.py --quick"
    text = importlib.import_module("mcts_scaling").markdown(record)
    assert "Against the batch" in text and "Against the budget" in text


def test_i2a_cost_curve_mode(tmp_path):
    record = run_script("i2a_cost", "--curve", "--lengths", "1,2", "--seconds", "0.5", "--rounds", "1",
                        tmp_path=tmp_path)
    assert record["mode"] == "curve" and [r["rollout_length"] for r in record["results"]] == [1, 2]
    assert all(r["cpu_cost"] > 1 for r in record["results"])
    i2a_cost = importlib.import_module("i2a_cost")
    assert "breakdown" not in record  # only the curve: the full run's breakdown is not timed
    assert i2a_cost.fit_line([1, 2, 3], [3.0, 5.0, 7.0]) == {"slope": 2.0, "intercept": 1.0, "r2": 1.0}
    assert i2a_cost.crossing({"slope": 2.0, "intercept": 1.0}, 9.0) == 4.0
    assert "least-squares line" in i2a_cost.curve_markdown(record)
    pairs = [{"cpu_cost": c, "cost": w, "frames_per_s": f, "standard_frames_per_s": 1.0, "cpu_frames_per_s": f,
              "standard_cpu_frames_per_s": 1.0} for c, w, f in ((5.0, 4.0, 1), (9.0, 9.0, 2), (6.0, 7.0, 3))]
    row = i2a_cost.median_row(pairs)  # the medians of each cost, the median pair's speeds
    assert (row["cpu_cost"], row["cost"], row["frames_per_s"], row["cpu_cost_range"]) == (6.0, 7.0, 3, [5.0, 9.0])


def test_i2a_cost_interleaved_mode(tmp_path):
    """--interleaved alternates each variant with the standard agent block by block and records
    the ratio of their summed CPU time per frame, the blocks' spread and the allocator."""
    record = run_script("i2a_cost", "--interleaved", "--agents", "i2a-copy", "--seconds", "1", tmp_path=tmp_path)
    assert record["mode"] == "interleaved" and record["allocator"]
    (row,) = record["results"]
    assert row["agent"] == "i2a-copy" and row["blocks"] >= 1
    low, high = row["cost_range"]
    assert row["cpu_cost"] > 1 and low <= row["median_block_cost"] <= high
    ratio = row["standard_cpu_frames_per_s"] / row["cpu_frames_per_s"]
    assert abs(ratio - row["cpu_cost"]) < 0.02 * row["cpu_cost"]  # the summed ratio, as the speeds give it
    text = importlib.import_module("i2a_cost").interleaved_markdown(record)
    assert "| i2a-copy | 5 |" in text and "alternating blocks" in text


def test_parking_table_pools_the_seeds_episodes():
    """parking_offpolicy's summary pools every seed's final evaluation episodes (Wilson) and
    averages the curves only at the evaluation steps every seed reached."""
    from reverie.core.stats import wilson_interval

    parking = importlib.import_module("parking_offpolicy")
    runs = [{"seed": 0, "steps": 30000, "episodes": 20, "successes": 5, "success_rate": 0.25,
             "curve": [[5000, 0.0], [10000, 0.25]], "steps_per_second": 30.0},
            {"seed": 1, "steps": 30000, "episodes": 20, "successes": 1, "success_rate": 0.05,
             "curve": [[5000, 0.1], [10000, 0.05], [15000, 0.5]], "steps_per_second": 40.0}]
    row = parking.summarize({"tdm": runs})["tdm"]
    assert (row["successes"], row["episodes"]) == (6, 40) and row["pooled_success"] == 0.15
    assert row["pooled_ci95"] == list(wilson_interval(6, 40))
    assert row["curve"] == [[5000, 0.05], [10000, 0.15]]  # 15000: only one seed got there
    assert row["per_seed"] == [0.25, 0.05] and row["steps_per_second"] == 35.0
    result = {"command": "c", "date": "d", "machine": "m", "steps": 30000, "eval_steps": [5000, 10000],
              "methods": {"tdm": row}, "cem": [{"name": "CEM/MPC (structured)", "success_rate": 0.93,
                                                "ci95": [0.86, 0.97], "episodes": 100, "data": "5,000 random"}]}
    table = parking.markdown(result)
    assert "| tdm | 30,000 | 2 | 15% (" in table and "6/40" in table and "| CEM/MPC (structured) |" in table
    assert "| tdm | 30,000 | 2 | 15% (" in parking.readme_table(result)


def test_protocol_rerun_is_judged_against_the_recorded_interval(tmp_path, monkeypatch):
    """``sokoban_protocol.py --rerun`` trains nothing that is already finished and sets each
    rerun beside the recorded pooled interval: a record of i2a seed 0 lands inside it, the
    standard agent's record (put in i2a's place) far below it."""
    import shutil

    protocol = importlib.import_module("sokoban_protocol")
    runs = tmp_path / "protocol-rerun"
    shutil.copytree(protocol.ARCHIVE / "i2a-seed0", runs / "i2a-seed0")
    shutil.copytree(protocol.ARCHIVE / "standard-seed0", runs / "i2a-seed1")
    monkeypatch.setattr(protocol, "RERUN_RESULTS", tmp_path / "rerun.json")
    monkeypatch.setattr(protocol, "RERUN_ARCHIVE", tmp_path / "archive")
    protocol.rerun([("i2a", 0), ("i2a", 1)], runs, 1, docs=False)
    rows = json.loads((tmp_path / "rerun.json").read_text())["rows"]
    assert [r["inside_pooled_ci95"] for r in rows] == [True, False]
    assert rows[0]["solve_rate"] == rows[0]["recorded_seed_solve_rate"]  # the same record read back
    with pytest.raises(SystemExit, match="no recorded result"):
        protocol.rerun([("nonexistent-agent", 0)], runs, 1, docs=False)
