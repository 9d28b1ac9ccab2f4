"""Evaluation (Wilson intervals, episode accounting, held-out checks), reports and CLI errors."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from conftest import level
from reverie.core.errors import ReverieError
from reverie.cli.main import main
from reverie.envs.registry import get_spec
from reverie.envs.sokoban.bank import LevelBank
from reverie.envs.sokoban.env import SokobanVecEnv
from reverie.envs.sokoban.render import rgb_image
from reverie.evaluation.evaluate import evaluate_policy, evaluate_run, final_evaluation, read_evaluations, wilson_interval
from reverie.evaluation.report import group_curves, group_labels, read_run, write_report
from reverie.training.actor_critic import A2CConfig
from reverie.training.runs import TrainConfig, train

SRC = Path(__file__).resolve().parents[1] / "src"
pytestmark = pytest.mark.usefixtures("isolated_runs")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, level_cache) -> list[Path]:
    """Two short runs of one env and agent (seeds 1 and 2)."""
    root = tmp_path_factory.mktemp("runs")
    dirs = []
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVERIE_CACHE", str(level_cache))
        for seed in (1, 2):
            config = TrainConfig(env="sokoban-6x6-1", train_levels=50, num_envs=8, frames=2_400, seed=seed,
                                 run_dir=root / f"seed{seed}", log_every=400, eval_episodes=30, tensorboard=False)
            train(config, A2CConfig(), progress=False, evaluate=final_evaluation)
            dirs.append(config.run_dir)
    torch.set_num_threads(threads)
    return dirs


# -- the maths ---------------------------------------------------------------------------------

def test_wilson_interval_known_values():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.27753, abs=1e-5)  # z^2 / (n + z^2)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.72247, abs=1e-5)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.23659, abs=1e-5), pytest.approx(0.76341, abs=1e-5))
    low, high = wilson_interval(412, 1000)
    assert (low, high) == (pytest.approx(0.38189, abs=1e-5), pytest.approx(0.44279, abs=1e-5))
    with pytest.raises(ValueError):
        wilson_interval(3, 0)
    with pytest.raises(ValueError):
        wilson_interval(4, 3)


class FixedPolicy(nn.Module):
    """Always the same action, whatever it sees."""

    def __init__(self, action: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.full((5,), -30.0))
        with torch.no_grad():
            self.logits[action] = 30.0

    def forward(self, obs):
        return self.logits.expand(len(obs), 5), torch.zeros(len(obs))


ONE_PUSH = level("""
    #####
    #@$.#
    #####
""")


def bank_spec(levels, max_steps: int):
    """A Sokoban spec whose every split is ``levels`` (scripted tests of the episode accounting)."""
    bank = LevelBank.from_levels(levels)

    def make(spec, split, num_envs, seed, device, **options):
        return SokobanVecEnv(bank, num_envs, max_steps=spec.max_steps, device=device, seed=seed, copy_obs=False)

    return dataclasses.replace(get_spec("sokoban-6x6-1"), make=make, max_steps=max_steps)


@pytest.mark.parametrize("greedy", [True, False])
def test_episode_accounting_with_scripted_policies(greedy):
    spec = bank_spec([ONE_PUSH], max_steps=10)
    right = evaluate_policy(FixedPolicy(4), spec, "test", episodes=7, greedy=greedy, batch=3, record=True)
    assert right["episodes"] == 7 and right["successes"] == 7 and right["success_rate"] == 1.0
    assert right["mean_length"] == 1.0 and right["mean_return"] == pytest.approx(10.9)
    solved = ONE_PUSH.codes.copy()
    solved[1] = [0, 1, 5, 4, 0]  # box on target
    assert len(right["frames"]) == 2 and (right["frames"][-1] == rgb_image(solved)).all()
    assert (right["frames"][0] == rgb_image(ONE_PUSH.codes)).all()
    up = evaluate_policy(FixedPolicy(1), spec, "test", episodes=5, greedy=greedy)
    assert up["successes"] == 0 and up["mean_length"] == 10.0
    assert up["mean_return"] == pytest.approx(-1.0)
    assert up["ci95"][0] == 0.0 and 0.4 < up["ci95"][1] < 0.5


def test_episode_j_plays_level_j():
    # level 0 is solved by pushing right, level 1 (mirrored) by pushing left
    left = level("""
        #####
        #.$@#
        #####
    """)
    result = evaluate_policy(FixedPolicy(4), bank_spec([ONE_PUSH, left], max_steps=5), "test", episodes=6, greedy=True)
    assert result["successes"] == 3 and result["distinct_episodes"] == 2
    assert result["return_ci95"][0] < result["mean_return"] < result["return_ci95"][1]


def test_the_policy_reads_only_episodes_still_playing():
    # level 0 ends after one push; level 1 (mirrored) never ends under "right": from the second
    # step on, the (expensive) policy sees only level 1's rows, and the results are unchanged
    left = level("""
        #####
        #.$@#
        #####
    """)

    class Counting(FixedPolicy):
        def forward(self, obs):
            self.batches.append(len(obs))
            return super().forward(obs)

    policy = Counting(4)
    policy.batches = []
    result = evaluate_policy(policy, bank_spec([ONE_PUSH, left], max_steps=5), "test", episodes=6, greedy=True)
    assert policy.batches == [6, 3, 3, 3, 3]
    assert result["successes"] == 3 and result["mean_length"] == 3.0


def test_a_failing_evaluation_gives_the_policy_back_in_its_mode():
    class Breaks(FixedPolicy):
        def forward(self, obs):
            raise RuntimeError("boom")

    policy = Breaks(4).train()
    with pytest.raises(RuntimeError, match="boom"):
        evaluate_policy(policy, bank_spec([ONE_PUSH], max_steps=5), "test", episodes=2)
    assert policy.training


def test_old_records_are_read_under_the_new_keys(tmp_path):
    (tmp_path / "evaluation.json").write_text(json.dumps(
        {"x:test|sample": {"levels": "x:test", "mode": "sample", "solve_rate": 0.25, "solved": 5, "episodes": 20}}))
    result = read_evaluations(tmp_path)["x:test|sample|20"]  # old files: read under today's keys
    assert result["success_rate"] == 0.25 and result["successes"] == 5


# -- run evaluation ------------------------------------------------------------------------------

def test_evaluate_run_on_held_out_levels_only(runs, tmp_path):
    run = shutil.copytree(runs[0], tmp_path / "run")  # the shared runs keep their own rows
    result = evaluate_run(run, episodes=40, greedy=True)
    assert result["levels"] == "sokoban-6x6-1:test" and result["episodes"] == 40 and result["mode"] == "greedy"
    assert 0.0 <= result["ci95"][0] <= result["success_rate"] <= result["ci95"][1] <= 1.0
    assert json.loads((run / "evaluation.json").read_text())["sokoban-6x6-1:test|greedy|40"]["episodes"] == 40
    with pytest.raises(ReverieError, match="are training episodes of"):
        evaluate_run(run, "sokoban-6x6-1:train", episodes=10)
    allowed = evaluate_run(run, "sokoban-6x6-1:train", episodes=10, allow_train_levels=True, save=False)
    assert allowed["episodes"] == 10
    with pytest.raises(ReverieError, match=r"was trained on \[7, 6, 6\]"):
        evaluate_run(run, "sokoban-7x7-2:test", episodes=10)


# -- reports -------------------------------------------------------------------------------------

def test_report_page_with_curves_table_and_gif(runs, tmp_path):
    page = write_report(runs, tmp_path / "out" / "page.md")
    text = page.read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert linked == ["page_curves.png", "page_episode.gif"]
    for name in linked:
        assert (page.parent / name).is_file()
    with Image.open(page.parent / "page_curves.png") as png:
        assert png.format == "PNG" and png.size[0] > 500
    with Image.open(page.parent / "page_episode.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames >= 2
    assert "| standard on sokoban-6x6-1 | sokoban-6x6-1:test | sample | 30 | 2 |" in text
    assert text.count("| seed1 |") == 2 and text.count("| seed2 |") == 2  # sample and greedy rows


def test_curves_average_over_seeds(runs):
    records = [read_run(d) for d in runs]
    assert records[0].group == records[1].group  # runs that differ only in their seed
    assert group_labels(records) == {records[0].group: "standard on sokoban-6x6-1"}
    curve = group_curves(records, "success_rate", points=5)[records[0].group]
    assert curve["runs"] == 2 and len(curve["frames"]) == 5
    assert (curve["min"] <= curve["mean"]).all() and (curve["mean"] <= curve["max"]).all()


def test_curves_read_old_records_solve_rate():
    from reverie.evaluation.report import RunRecord

    config = {"train": {"env": "e", "agent": "a", "seed": 0}}
    old = RunRecord(Path("old"), config, [{"frames": 10, "solve_rate": 0.2}, {"frames": 20, "solve_rate": 0.4}], {}, {})
    curve = group_curves([old], "success_rate", points=3)[old.group]
    assert curve["mean"].tolist() == pytest.approx([0.2, 0.3, 0.4])


def test_single_run_report_goes_into_the_run_folder(runs, capsys):
    assert main(["report", str(runs[1])]) == 0
    assert (runs[1] / "report.md").is_file() and (runs[1] / "report_curves.png").is_file()


# -- the command line ----------------------------------------------------------------------------

def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("args, message", [
    (["train", "--env", "sokoban-3x3-9", "--run-dir", "{tmp}/a"], "unknown env id 'sokoban-3x3-9'; known ids: sokoban-6x6-1"),
    (["train", "--env", "sokoban-6x6-1", "--agent", "tiny", "--run-dir", "{tmp}/b"], "unknown agent 'tiny'; known agents: i2a, "),
    (["train", "--frames", "-100", "--run-dir", "{tmp}/c"], "--frames must be a positive integer, got -100"),
    (["train", "--resume", "{tmp}/missing"], "no such run folder"),
    (["evaluate", "{tmp}/missing"], "no such run folder"),
    (["report", "{tmp}/missing"], "no such run folder"),
    (["evaluate", "{corrupt}"], "not a readable reverie checkpoint"),
    (["train", "--resume", "{corrupt}"], "not a readable reverie checkpoint"),
])
def test_bad_input_gives_one_line_errors(args, message, tmp_path, capsys):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "checkpoint.pt").write_bytes(b"\x80\x02garbage" * 10)
    args = [a.format(tmp=tmp_path, corrupt=corrupt) for a in args]
    code, err = run_cli(args, capsys)
    assert code == 2
    assert err.startswith("reverie: error: ") and "\n" not in err
    assert message in err


def test_cli_errors_in_a_real_process_have_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    done = subprocess.run([sys.executable, "-m", "reverie", "train", "--frames", "-1",
                           "--run-dir", str(tmp_path / "x")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr


def test_cli_evaluate_json(runs, capsys, tmp_path):
    run = shutil.copytree(runs[0], tmp_path / "run")
    assert main(["evaluate", str(run), "--episodes", "12", "--json", "--sample"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 12 and result["mode"] == "sample" and len(result["ci95"]) == 2


# -- issue 15, item 14: a report a newcomer can read --------------------------------------------

def test_curve_ticks_are_few_and_short_and_one_run_gets_no_seed_title(runs):
    from reverie.evaluation.report import curves_figure, frames_label

    assert [frames_label(x) for x in (0, 500, 50_000, 150_000, 1_000_000, 2_500_000)] == \
        ["0", "500", "50k", "150k", "1M", "2.5M"]
    one = read_run(runs[0])
    one.metrics = [dict(r, frames=int(r["frames"]) * 1_000) for r in one.metrics]  # millions of frames
    figure = curves_figure([one])
    figure.canvas.draw()  # a Figure without pyplot has its own canvas
    assert figure._suptitle is None  # no "mean over seeds, min to max" over a single run
    for ax in figure.axes:
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert 2 <= len(labels) <= 7 and all(len(text) <= 5 for text in labels), labels
        assert any(text.endswith(("k", "M")) for text in labels), labels
    both = curves_figure([read_run(r) for r in runs])
    assert "mean over seeds" in both._suptitle.get_text()


def test_gif_pace_is_watchable(tmp_path):
    import numpy as np

    from reverie.evaluation.pictures import save_gif

    frames = [np.full((4, 4, 3), 40 * i, np.uint8) for i in range(5)]
    gif = Image.open(save_gif(frames, tmp_path / "e.gif", scale=1))
    durations = []
    for i in range(gif.n_frames):
        gif.seek(i)
        durations.append(gif.info["duration"])
    assert durations == [600, 200, 200, 200, 2000]  # 5 frames a second, start and end held


def test_report_gif_is_a_whole_successful_episode(runs, tmp_path):
    from reverie.evaluation.report import showcase_episode

    run = shutil.copytree(runs[0], tmp_path / "run")
    shown = showcase_episode(run, tmp_path / "episode.gif", episodes=16)
    gif = Image.open(tmp_path / "episode.gif")
    total = 0
    for i in range(gif.n_frames):
        gif.seek(i)
        total += gif.info["duration"]
    # every step is in it (identical positions merge into one longer frame), at 5 frames a second
    assert total == 600 + 200 * (shown["length"] - 1) + 2000
    if shown["successes"]:
        assert shown["success"]
    page = write_report([run], tmp_path / "r.md", eval_episodes=10)
    text = page.read_text()
    assert f"{shown['length']} steps" in text and "test episodes" in text
