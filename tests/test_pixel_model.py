"""The pixel environment model (Lapan's Breakout recipe): shapes, the stack shift, events, fitting, files."""

from __future__ import annotations

import pytest
import torch

from reverie.core.errors import ReverieError
from reverie.envs.registry import get_spec
from reverie.models import PixelModel, PixelModelConfig, load, save_model

pytest.importorskip("ale_py")


@pytest.fixture(scope="module")
def spec():
    return get_spec("atari-breakout")


@pytest.fixture(scope="module")
def transitions(spec):
    """Real transitions of random play: obs, action, next stack, events."""
    env = spec.make_env("train", 8, seed=0)
    obs, _ = env.reset()
    gen = torch.Generator().manual_seed(0)
    rows = {"obs": [], "action": [], "next_obs": [], "events": []}
    for _ in range(24):
        action = torch.randint(0, 4, (8,), generator=gen)
        nxt, _, _, _, info = env.step(action)
        real = nxt.clone()
        real[info["final_index"]] = info["final_obs"]
        for key, value in (("obs", obs), ("action", action), ("next_obs", real), ("events", info["events"])):
            rows[key].append(value)
        obs = nxt
    return {k: torch.cat(v) for k, v in rows.items()}


def test_step_shifts_the_stack_and_appends_the_imagined_frame(spec, transitions):
    torch.manual_seed(0)
    model = PixelModel.for_spec(spec)
    obs = transitions["obs"][:5]
    nxt, reward, done = model.step(obs, transitions["action"][:5])
    assert nxt.shape == obs.shape and nxt.dtype == torch.uint8
    assert torch.equal(nxt[:, 0], obs[:, 1])                        # the oldest frame dropped
    assert reward.shape == (5,) and done.dtype == torch.bool
    floats = model.step(obs.float(), transitions["action"][:5])[0]
    assert floats.dtype == torch.float32 and torch.equal(floats, nxt.float())


def test_gradients_reach_every_parameter(spec, transitions):
    torch.manual_seed(0)
    model = PixelModel.for_spec(spec)
    batch = {k: v[:16] for k, v in transitions.items()}
    model.loss(batch)["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_the_untrained_model_is_the_copy_model(spec, transitions):
    """The change gate starts shut, so an untrained model imagines the last frame again."""
    torch.manual_seed(0)
    model = PixelModel.for_spec(spec)
    obs = transitions["obs"][:16]
    nxt = model.step(obs, transitions["action"][:16])[0]
    assert torch.equal(nxt[:, -1], obs[:, -1])


def test_the_gate_adds_the_difference_only_where_open():
    obs = torch.full((1, 2, 4, 4), 100, dtype=torch.uint8)
    out = torch.zeros(1, 2, 4, 4)
    out[0, 0] = 50 / 255.0                     # a difference of +50 everywhere ...
    out[0, 1, 0, 0] = 3.0                      # ... but the gate is open at one pixel only
    frame = PixelModel.imagined_frame(obs, out)
    assert frame[0, 0, 0, 0] == 150 and (frame.flatten()[1:] == 100).all()


def test_fitting_lowers_the_pixel_error_below_copying(spec, transitions):
    """Fitted to 32 transitions, the model's frames are closer than the last frame copied."""
    torch.manual_seed(0)
    model = PixelModel.for_spec(spec, PixelModelConfig(channels=16, event_hidden=32))
    batch = {k: v[:32] for k, v in transitions.items()}
    copy_error = float((batch["next_obs"][:, -1].float() - batch["obs"][:, -1].float()).abs().mean())
    assert float(model.loss(batch)["pixel_error"]) == pytest.approx(copy_error)   # untrained: the copy model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        parts = model.loss(batch)
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
    assert float(model.loss(batch)["pixel_error"]) < 0.6 * copy_error


def test_a_model_file_round_trips_and_refuses_other_worlds(spec, tmp_path):
    torch.manual_seed(0)
    model = PixelModel.for_spec(spec)
    save_model(model, tmp_path / "pixel.pt")
    again = load(tmp_path / "pixel.pt", spec=spec)
    assert isinstance(again, PixelModel) and again.task == "clipped"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ReverieError, match="pixel frames"):
        PixelModel.for_spec(get_spec("minatar-breakout"))
    with pytest.raises(ReverieError, match="imagines frames"):
        again.check_spec(get_spec("atari-breakout", stack=4))
    with pytest.raises(ReverieError, match="multiples of 4"):
        PixelModelConfig(shape=(2, 83, 84))


def test_fitting_picks_the_pixel_model_for_pixel_worlds_with_events(spec):
    from reverie.models.grid import GridModelConfig
    from reverie.training.model_fitting import model_for_data, model_kind

    assert model_kind(spec) == "pixel" and model_kind(get_spec("minatar-breakout")) == "frame"
    config = model_for_data(spec, GridModelConfig())
    assert isinstance(config, PixelModelConfig) and config.shape == (2, 84, 84) and config.num_actions == 4


def test_the_atari_presets_i2a_trains_a_few_updates_on_the_cpu(spec, tmp_path):
    """`reverie run --preset atari` is a GPU job; its agent (rollout length 3, LSTM 256, 16 envs)
    on a pixel model is the same code on a CPU, checked here for two A2C updates."""
    from reverie.agents import build_agent
    from reverie.training.actor_critic import A2C, A2CConfig
    from reverie.workflows.pipeline import PipelineConfig

    preset = PipelineConfig(preset="atari")
    torch.manual_seed(0)
    path = save_model(PixelModel.for_spec(spec, PixelModelConfig(channels=16)), tmp_path / "model.pt")
    agent = build_agent("i2a", spec, model=str(path), rollout_length=preset.rollout_length,
                        encoder_hidden=preset.encoder_hidden)
    trainer = A2C(agent, spec.make_env("train", preset.num_envs, seed=0), A2CConfig(lr_schedule="constant"),
                  total_frames=10**6, seed=0)
    before = [p.detach().clone() for p in agent.parameters() if p.requires_grad]
    for _ in range(2):
        stats = trainer.train_step()
    assert trainer.frames == 2 * 5 * preset.num_envs
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in stats.values() if isinstance(v, (float, torch.Tensor)))
    after = [p for p in agent.parameters() if p.requires_grad]
    assert all(not torch.equal(a, b) for a, b in zip(before, after) if a.dim() > 1)
