"""Diagnostics: one-step scores, the compounding-error curve, pictures and the plot."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from conftest import HARD
from reverie.data.dataset import collect_dataset
from reverie.envs.sokoban.bank import load_boxoban
from reverie.evaluation.model_diagnostics import (
    horizon_curve,
    one_step,
    pick_states,
    plot_curves,
    predicted_classes,
    rollout_pictures,
    side_by_side,
    summarize,
)
from reverie.envs.sokoban.model import PerfectModel
from reverie.models import CopyModel, GridModel, GridModelConfig


@pytest.fixture(scope="module")
def data():
    return collect_dataset(load_boxoban(HARD), 1500, num_envs=50, preplaced=0.5, seed=9)


def test_perfect_model_scores_perfectly(data):
    result = one_step(PerfectModel(), data, batch_size=512)
    assert result["frames"] == 1500
    assert result["exact_frame_accuracy"] == result["cell_accuracy"] == result["reward_accuracy"] == 1.0
    counts = data.class_counts().tolist()
    assert [v["count"] for v in result["reward_class_accuracy"].values()] == counts
    assert result["push_exact_frame_accuracy"] == 1.0 and result["push_frames"] > 0
    curve = horizon_curve(PerfectModel(), pick_states(data, 100), horizon=5)
    assert curve["exact_frame_accuracy"] == [1.0] * 5 and curve["rollout_exact"] == [1.0] * 5
    assert curve["reward_accuracy"] == [1.0] * 5


def test_copy_model_scores_what_it_should(data):
    result = one_step(CopyModel(), data)
    unchanged = (data.codes == data.next_codes).flatten(1).all(1).float().mean()
    assert result["exact_frame_accuracy"] == pytest.approx(float(unchanged))
    # A reward of 0 is no class: every row lands in the last ("other") column.
    confusion = torch.tensor(result["reward_confusion"])
    assert confusion[:, -1].sum() == 1500 and result["reward_accuracy"] == 0.0
    curve = horizon_curve(CopyModel(), pick_states(data, 200), horizon=6)
    assert curve["rollout_exact"] == sorted(curve["rollout_exact"], reverse=True)
    assert curve["exact_frame_accuracy"][0] < 1.0
    assert "reward classes" in summarize(result, curve)


def test_predicted_classes_mark_non_class_rewards():
    assert predicted_classes(torch.tensor([-0.1, 10.9, 0.0, 0.9, -1.1])).tolist() == [0, 3, 4, 1, 2]


def test_side_by_side_feeds_the_model_its_own_predictions(data):
    calls = []

    class Recorder(CopyModel):
        def step(self, obs, action):
            calls.append(obs)
            return super().step(obs, action)

    start = pick_states(data, 3)
    actions = torch.ones(4, 3, dtype=torch.long)
    real, imagined, real_r, imagined_r = side_by_side(Recorder(), start, actions)
    assert real.shape == imagined.shape == (5, 3, 10, 10)
    assert torch.equal(real[0], start) and real_r.shape == (4, 3)
    assert all(c is calls[0] for c in calls)  # the copy model's output went back in


def test_pictures_and_plot_are_written(data, tmp_path):
    start = pick_states(data, 3)
    model = GridModel.for_spec(data.spec, GridModelConfig(channels=(8, 8))).eval()
    written = rollout_pictures(model, start, 4, tmp_path / "r.png", tmp_path / "r.gif", scale=1)
    png, gif = Image.open(written["png"]), Image.open(written["gif"])
    assert png.size[0] == 64 + 5 * (80 + 4) and 1 <= gif.n_frames <= 5  # PIL merges repeated frames
    assert len(written["first_wrong_step"]) == 3
    curves = {"model": horizon_curve(model, start, 3), "copy": horizon_curve(CopyModel(), start, 3)}
    assert plot_curves(curves, tmp_path / "c.png").is_file()
