"""`reverie run`: the whole I2A pipeline on a tiny budget, its resumption, its errors, its picture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reverie.core.errors import ReverieError
from reverie.agents import build_agent
from reverie.cli.main import build_parser, main
from reverie.core.config import from_arguments
from reverie.envs.sokoban import rules
from reverie.envs.sokoban.bank import LevelBank
from reverie.envs.sokoban.env import SokobanVecEnv
from reverie.evaluation.imagination_gif import layout, save_imagination_gif, tile_scale
from reverie.evaluation.imagined_episode import record_episode
from reverie.workflows.pipeline import STAGES, PipelineConfig, run

from conftest import level

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(data_frames=2_000, fit_steps=10, agent_frames=960, rollout_length=2, num_envs=16, eval_episodes=8)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_tiny_pipeline_writes_every_artefact_then_skips_what_is_done(tmp_path):
    out = tmp_path / "pipe"
    lines: list[str] = []
    summary = run(PipelineConfig(out=out, **TINY), progress=False, log=lines.append)

    for name in ("config.json", "summary.json", "levels/train.txt", "data/manifest.json", "model/model.pt",
                 "model/summary.json", "agent/checkpoint.pt", "agent/metrics.jsonl", "evaluation.json",
                 "report.md", "report_curves.png", "imagination.gif", "imagination.json"):
        assert (out / name).is_file(), name
    assert list(summary["stages"]) == list(STAGES)
    assert all(s["seconds"] > 0 and not s["skipped"] for s in summary["stages"].values())
    assert summary["agent"]["frames"] >= 960 and summary["agent"]["completed"]
    assert set(summary["evaluation"]) == {"sample", "greedy", "random"}
    assert summary["evaluation"]["random"]["episodes"] == 8
    assert json.loads((out / "summary.json").read_text())["stages"] == summary["stages"]
    assert sum("done in" in line for line in lines) == len(STAGES)
    assert "imagination.gif" in (out / "report.md").read_text()
    # the report puts the random policy and the model's accuracy beside the agent's result
    page = (out / "report.md").read_text()
    results = page.split("## Results", 1)[1].split("## Learning curves", 1)[0]
    random = summary["evaluation"]["random"]
    assert f"| uniform random policy (for scale) | {random['success_rate']:.1%} (" in results
    assert f"| I2A, sampled actions | {summary['evaluation']['sample']['success_rate']:.1%} (" in results
    assert f"{summary['model']['exact_frame_accuracy']:.1%} of next frames exactly right" in results

    # the picture: one frame per real step plus the end; one row per action, L columns
    record = json.loads((out / "imagination.json").read_text())
    gif = Image.open(out / "imagination.gif")
    assert gif.n_frames == len(record["steps"]) + 1 == summary["imagination_gif"]["steps"] + 1
    geometry = layout(rules.NUM_ACTIONS, 2, 48, 48, tile_scale(48, 48))
    assert gif.size == (geometry["width"], geometry["height"])
    # the last frame (how it ended) keeps the imagined rows on the right, not a blank
    gif.seek(gif.n_frames - 1)
    right = np.asarray(gif.convert("RGB"))[:, geometry["grid_x"]:]
    assert (right.min(axis=2) < 200).mean() > 0.2
    for step in record["steps"]:
        actions = np.array(step["imagined_actions"])
        assert actions.shape == (rules.NUM_ACTIONS, 2) == np.shape(step["imagined_rewards"])
        assert actions[:, 0].tolist() == list(range(rules.NUM_ACTIONS))  # row a is forced to start with a

    # run again: every stage is skipped and nothing is rewritten
    stamp = (out / "model" / "model.pt").stat().st_mtime_ns
    lines.clear()
    again = run(PipelineConfig(out=out, **TINY), progress=False, log=lines.append)
    assert all(s["skipped"] for s in again["stages"].values())
    assert [s["seconds"] for s in again["stages"].values()] == [s["seconds"] for s in summary["stages"].values()]
    assert sum("skipped" in line for line in lines) == len(STAGES)
    assert (out / "model" / "model.pt").stat().st_mtime_ns == stamp
    assert again["evaluation"] == summary["evaluation"]

    # a lost artefact redoes its stage only
    (out / "imagination.gif").unlink()
    third = run(PipelineConfig(out=out, **TINY), progress=False, log=lines.append)
    assert [s["skipped"] for s in third["stages"].values()] == [True, True, True, True, False]
    assert (out / "imagination.gif").is_file()

    # other settings for the same folder are refused, not mixed in
    with pytest.raises(ReverieError, match="other settings \\(agent_frames\\)"):
        run(PipelineConfig(out=out, **(TINY | {"agent_frames": 2_000})), progress=False, log=lines.append)


def test_recorded_imagination_is_what_the_agent_imagined():
    room = level("""
        ######
        #@ $.#
        #    #
        ######""")
    env = SokobanVecEnv(LevelBank(room.codes[None].copy()), 1, max_steps=4, seed=1)
    agent = build_agent("i2a-perfect", env.spec, rollout_length=3)
    episode = record_episode(agent, env, 0, seed=1)
    first = episode.steps[0]
    assert first.imagined.shape == (5, 3, 4, 6)
    assert first.imagined_actions[:, 0].tolist() == [0, 1, 2, 3, 4]
    # with the perfect model, imagined step 1 of row a is the rules applied to action a
    tables = rules.make_tables(6, "cpu")
    for a in range(5):
        after, result = rules.step(torch.from_numpy(room.codes.reshape(1, -1).astype(np.uint8)), torch.tensor([a]), tables)
        assert np.array_equal(first.imagined[a, 0], after.view(4, 6).numpy())
        assert first.imagined_rewards[a, 0] == pytest.approx(float(result.reward[0]))
    assert (first.codes == room.codes).all() and 1 <= len(episode.steps) <= 4
    # the agent is left as it was: its model a plain attribute, not a registered child
    assert "env_model" not in agent.core._modules and type(agent.core.env_model).__name__ == "PerfectModel"


def test_gif_of_a_recorded_episode(tmp_path):
    room = level("""
        #######
        #@ $ .#
        #######""")
    env = SokobanVecEnv(LevelBank(room.codes[None].copy()), 1, max_steps=3, seed=0)
    agent = build_agent("i2a-copy", env.spec, rollout_length=4)
    episode = record_episode(agent, env, 0, seed=0)
    path = save_imagination_gif(episode, tmp_path / "imagined.gif", scale=1)
    gif = Image.open(path)
    geometry = layout(5, 4, 24, 56, 1)
    assert gif.n_frames == 4 and gif.size == (geometry["width"], geometry["height"])


def test_preset_flags_show_each_presets_value_once():
    parser = build_parser()
    run_parser = next(a for a in parser._actions if isinstance(getattr(a, "choices", None), dict)).choices["run"]
    helps = {a.dest: a.help for a in run_parser._actions}
    assert helps["agent_frames"].endswith("(by preset: default: 400,000; paper: 1,000,000,000; atari: 20,000,000)")
    assert "(default:" not in helps["agent_frames"] and helps["out"].count("(default:") == 1


def test_the_pipeline_runs_on_rgb_frames_with_a_palette_model(tmp_path):
    """The paper's observation: 8x8 sprites per cell, stored as cell codes, imagined per pixel."""
    out = tmp_path / "rgb"
    summary = run(PipelineConfig(out=out, observation="rgb", **(TINY | {"agent_frames": 320})), progress=False,
                  log=lambda line: None)
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert manifest["observation"]["kind"] == "rgb" and manifest["options"] == {"observation": "rgb"}
    assert torch.load(out / "model" / "model.pt", weights_only=True)["state"]["type"] == "palette"
    assert summary["agent"]["completed"] and summary["evaluation"]["sample"]["episodes"] == 8
    agent_config = json.loads((out / "agent" / "config.json").read_text())
    assert agent_config["train"]["observation"] == "rgb"


def test_paper_preset_has_the_papers_sizes():
    args = build_parser().parse_args(["run", "--preset", "paper"])
    config = from_arguments(PipelineConfig, args)
    assert (config.env, config.model_size, config.rollout_length, config.encoder_hidden) == \
        ("sokoban-10x10-4", "paper", 5, 256)
    assert config.out == Path("runs/pipeline-paper")
    assert PipelineConfig(preset="paper", rollout_length=3).rollout_length == 3
    args = build_parser().parse_args(["run", "--preset", "paper", "--observation", "rgb"])
    assert from_arguments(PipelineConfig, args).observation == "rgb"  # the paper's 80x80 frames


def test_atari_preset_has_the_books_breakout_settings():
    config = PipelineConfig(preset="atari")
    assert (config.env, config.rollout_length, config.encoder_hidden, config.num_envs) == ("atari-breakout", 3, 256, 16)
    assert config.out == Path("runs/pipeline-atari")


@pytest.mark.parametrize("args, message", [
    (["--rollout-length", "0"], "--rollout-length must be >= 1"),
    (["--env", "boxoban-hard"], "has no train or valid split"),
    (["--env", "boxoban-medium"], "its validation levels are its test levels"),
    (["--model-size", "giant"], "--model-size must be one of"),
    (["--observation", "sprites"], "observation must be one of symbolic, rgb"),
    (["--env", "minatar-breakout", "--observation", "rgb"], "has one observation"),
    (["--device", "gpu7"], "is not a torch device"),
    pytest.param(["--device", "cuda"], "sees no CUDA device",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")),
])
def test_bad_config_is_one_line(tmp_path, capsys, args, message):
    assert main(["run", "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_bad_preset_from_the_real_command(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-m", "reverie", "run", "--preset", "huge", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "reverie: error: unknown --preset 'huge'; choose one of default, paper, atari"


def test_recording_sees_a_learned_models_shared_first_step():
    """A learned grid model imagines the forced first step through ``step_every_action``; the
    recorder must keep that step too (it once missed it and drew rollouts one step short)."""
    room = level("""
        ######
        #@ $.#
        #    #
        ######""")
    env = SokobanVecEnv(LevelBank(room.codes[None].copy()), 1, max_steps=3, seed=1)
    agent = build_agent("i2a", env.spec, rollout_length=3)
    assert hasattr(agent.core.env_model, "step_every_action")
    first = record_episode(agent, env, 0, seed=1).steps[0]
    assert first.imagined.shape == (5, 3, 4, 6)
    assert first.imagined_actions[:, 0].tolist() == [0, 1, 2, 3, 4]
    obs = env.spec.observation.decode(torch.from_numpy(room.codes[None].astype(np.int64))).float()
    expected, _, _ = agent.core.env_model.step(obs.repeat_interleave(5, 0), torch.arange(5))
    assert np.array_equal(first.imagined[:, 0], env.spec.observation.encode(expected).numpy())
