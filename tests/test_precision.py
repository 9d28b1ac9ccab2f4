"""Mixed precision and channels-last in the actor-critic trainer, on Sokoban's RGB frames."""

from __future__ import annotations

import copy
import json
import math
import signal
from pathlib import Path

import pytest
import torch

from reverie.agents import build_agent
from reverie.core.errors import ReverieError
from reverie.envs.registry import get_spec
from reverie.training import runs
from reverie.training.actor_critic import A2C, A2CConfig
from reverie.training.runs import TrainConfig, resume, train

pytestmark = pytest.mark.usefixtures("isolated_runs", "one_thread")

RGB = dict(observation="rgb", train_levels=20)


def rgb_trainer(config: A2CConfig, device: str = "cpu", num_envs: int = 8) -> A2C:
    spec = get_spec("sokoban-6x6-1", **RGB)
    torch.manual_seed(0)
    policy = build_agent("standard", spec).to(device)
    return A2C(policy, spec.make_env("train", num_envs, seed=0, device=device), config, total_frames=10_000, seed=0)


def weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_a_bf16_step_on_rgb_frames_is_finite_and_learns():
    trainer = rgb_trainer(A2CConfig(precision="bf16"))
    assert trainer.obs.shape[1:] == (3, 48, 48)
    with torch.no_grad():  # the forward passes really run in bf16 (fp32 would give float32 logits)
        assert trainer.forward(trainer.obs)[0].dtype == torch.bfloat16
    before = weights(trainer.policy)
    for _ in range(2):
        stats = trainer.train_step()
        for key in ("loss", "policy_loss", "value_loss", "entropy", "grad_norm"):
            assert math.isfinite(float(stats[key])), key
    assert stats["loss"].dtype == torch.float32  # losses are reduced from float32 logits and values
    assert all(p.dtype == torch.float32 for p in trainer.policy.parameters())  # the weights stay float32
    assert not any(torch.equal(a, b) for a, b in zip(before, weights(trainer.policy)))


def test_fp16_on_the_cpu_and_unknown_precisions_are_refused_in_one_line():
    with pytest.raises(ReverieError, match="fp16 needs a CUDA device") as err:
        rgb_trainer(A2CConfig(precision="fp16"))
    assert "\n" not in str(err.value)
    with pytest.raises(ReverieError, match="--precision must be one of fp32, bf16, fp16, got 'fp8'") as err:
        A2CConfig(precision="fp8")
    assert "\n" not in str(err.value)


def test_channels_last_gives_the_default_logits():
    plain = rgb_trainer(A2CConfig())
    nhwc = rgb_trainer(A2CConfig(channels_last=True))
    conv = nhwc.policy.trunk[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    with torch.no_grad():
        for a, b in zip(plain.forward(plain.obs), nhwc.forward(nhwc.obs)):
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    for _ in range(2):  # and trains alike (the rollouts agree while the logits do)
        plain.train_step()
        nhwc.train_step()
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(weights(plain.policy), weights(nhwc.policy)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 autocast needs CUDA")
def test_fp16_on_cuda_scales_gradients_and_checkpoints_the_scale():
    trainer = rgb_trainer(A2CConfig(precision="fp16", channels_last=True), device="cuda")
    before = weights(trainer.policy)
    stats = [trainer.train_step() for _ in range(3)][-1]
    assert math.isfinite(float(stats["loss"])) and trainer.scaler is not None
    assert not all(torch.equal(a, b) for a, b in zip(before, weights(trainer.policy)))
    state = copy.deepcopy(trainer.state_dict())
    assert "grad_scaler" in state and state["grad_scaler"]["scale"] > 0


def test_a_bf16_run_records_its_precision_and_resumes_with_it(tmp_path, monkeypatch):
    trainers: list[A2C] = []

    class Interrupted(A2C):
        """The run's trainer, recorded; the first one is Ctrl-C'd after 160 frames."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            trainers.append(self)

        def train_step(self):
            stats = super().train_step()
            if len(trainers) == 1 and self.frames == 160:
                signal.raise_signal(signal.SIGINT)  # the run stops after this update, with a checkpoint
            return stats

    monkeypatch.setattr(runs, "A2C", Interrupted)
    run_dir = Path(tmp_path / "run")
    config = TrainConfig(env="sokoban-6x6-1", observation="rgb", train_levels=20, num_envs=8, frames=320, seed=0,
                         run_dir=run_dir, log_every=160, checkpoint_every=320, eval_episodes=0, tensorboard=False)
    summary = train(config, A2CConfig(precision="bf16", channels_last=True), progress=False)
    assert summary["interrupted"] and summary["frames"] == 160
    saved = json.loads((run_dir / "config.json").read_text())["a2c"]
    assert saved["precision"] == "bf16" and saved["channels_last"] is True
    summary = resume(run_dir, progress=False)
    assert summary["completed"] and summary["frames"] == 320
    resumed = trainers[-1]
    assert len(trainers) == 2 and resumed.config.precision == "bf16" and resumed.config.channels_last
    assert resumed.autocast_dtype == torch.bfloat16
