"""RGB Sokoban as the paper saw it: frames stored as tile codes, and the palette model that imagines them."""

from __future__ import annotations

import pytest
import torch

from reverie.core.errors import ReverieError
from reverie.data.dataset import TransitionDataset
from reverie.data.transitions import CollectConfig, collect, read_manifest
from reverie.envs.registry import get_spec
from reverie.envs.spec import ObsSpec
from reverie.envs.tiles import NO_TILE, TileCodec
from reverie.models import PaletteModel, PaletteModelConfig, load, save_model
from reverie.training.model_fitting import model_for_data, model_kind
from reverie.models.grid import GridModelConfig


@pytest.fixture(scope="module")
def spec():
    return get_spec("sokoban-6x6-1").with_options(observation="rgb")


@pytest.fixture(scope="module")
def transitions(spec):
    """Real transitions of random play on 6x6 rooms: frames, actions, next frames, reward classes."""
    env = spec.make_env("train", 64, seed=0)
    obs = env.reset()[0].clone()  # the env redraws its observation buffer in place
    gen = torch.Generator().manual_seed(0)
    rows: dict[str, list[torch.Tensor]] = {"obs": [], "action": [], "next_obs": [], "reward_class": []}
    for _ in range(8):
        action = torch.randint(0, spec.num_actions, (64,), generator=gen)
        nxt, reward, _, _, info = env.step(action)
        nxt = nxt.clone()
        real = nxt.clone()
        real[info["final_index"]] = info["final_obs"]
        for key, value in (("obs", obs), ("action", action), ("next_obs", real),
                           ("reward_class", spec.rewards.reward_classes.to_classes(reward))):
            rows[key].append(value)
        obs = nxt
    return {k: torch.cat(v) for k, v in rows.items()}


def test_frames_are_stored_as_their_tile_codes_and_drawn_back_exactly(spec, transitions):
    codec = spec.observation
    frames = transitions["obs"]
    codes = codec.encode(frames)
    assert codes.shape == (len(frames), 6, 6) and codes.dtype == torch.uint8 and codec.compact_shape == (6, 6)
    assert torch.equal(codec.decode(codes), frames)
    symbolic = get_spec("sokoban-6x6-1").observation.encode(get_spec("sokoban-6x6-1").make_env("train", 64, seed=0)
                                                            .reset()[0])
    assert torch.equal(codes[:64], symbolic)  # Sokoban's tiles are its cell codes


def test_a_block_that_is_no_tile_is_coded_as_none(spec, transitions):
    frames = transitions["obs"][:2].clone()
    frames[1, 2, 9, 17] ^= 1  # one channel of one pixel of the cell (1, 2)
    codes = spec.observation.encode(frames)
    assert codes[1, 1, 2] == NO_TILE and (codes[0] != NO_TILE).all()
    assert int((codes == NO_TILE).sum()) == 1


def test_tiles_refuse_frames_that_are_not_whole_tiles(spec):
    tiles = spec.observation.tiles
    with pytest.raises(ValueError, match="whole tiles"):
        ObsSpec("rgb", (3, 50, 48), tiles=tiles)
    with pytest.raises(ValueError, match="whole tiles"):
        ObsSpec("binary", (3, 48, 48), tiles=tiles)
    with pytest.raises(ValueError, match="tiles of"):
        TileCodec(b"\0" * 10, 1, 8)
    assert len(tiles.colours()) == 11 and tiles.size == 8


def test_the_model_takes_palette_patch_and_rewards_from_the_spec(spec):
    model = PaletteModel.for_spec(spec)
    assert model.config.patch == 8 and len(model.config.palette) == 11 and model.config.shape == (3, 48, 48)
    assert model.config.reward_values == spec.rewards.classes and model.config.terminal_classes == (3,)
    assert model_kind(spec) == "palette"
    assert isinstance(model_for_data(spec, GridModelConfig(size="tiny")), PaletteModelConfig)
    with pytest.raises(ReverieError, match="RGB frames"):
        PaletteModel.for_spec(get_spec("sokoban-6x6-1"))
    with pytest.raises(ReverieError, match="imagines RGB frames"):
        model.check_spec(get_spec("sokoban-7x7-2").with_options(observation="rgb"))


def test_the_untrained_model_is_the_copy_model(spec, transitions):
    torch.manual_seed(0)
    model = PaletteModel.for_spec(spec)
    nxt, reward, done = model.step(transitions["obs"][:16], transitions["action"][:16])
    assert nxt.dtype == torch.uint8 and torch.equal(nxt, transitions["obs"][:16])
    assert reward.shape == (16,) and done.dtype == torch.bool
    floats = model.step(transitions["obs"][:16].float(), transitions["action"][:16])[0]
    assert floats.dtype == torch.float32 and torch.equal(floats, nxt.float())


def test_both_logit_layouts_are_the_same_numbers(spec, transitions):
    torch.manual_seed(0)
    model = PaletteModel.for_spec(spec)
    torch.nn.init.normal_(model.frame_head.weight)
    last, index = model.logits(transitions["obs"][:4], transitions["action"][:4])
    first, _ = model.logits(transitions["obs"][:4], transitions["action"][:4], colour_last=False)
    assert torch.equal(last.permute(0, 3, 1, 2), first)
    assert torch.equal(model.draw(index), transitions["obs"][:4])  # the palette classes draw the frame back


def test_gradients_reach_every_parameter_once_the_head_has_moved(spec, transitions):
    torch.manual_seed(0)
    model = PaletteModel.for_spec(spec)
    torch.nn.init.normal_(model.frame_head.weight, std=0.01)
    model.loss({k: v[:32] for k, v in transitions.items()})["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters()), \
        [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]


def test_fitting_learns_the_moves_beyond_copying(spec, transitions):
    """A hundred steps on 512 real transitions: far more exact next frames than the copy model
    it starts as (half of random steps move nothing), and exact rewards."""
    torch.manual_seed(0)
    model = PaletteModel.for_spec(spec, PaletteModelConfig(size="tiny"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(transitions)
    for step in range(100):
        index = torch.randint(len(transitions["action"]), (48,), generator=torch.Generator().manual_seed(step))
        loss = model.loss({k: v[index] for k, v in transitions.items()})["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    last = model.loss(transitions)
    assert last["frame_loss"] < 0.15 * first["frame_loss"]
    assert last["frame_accuracy"] > first["frame_accuracy"] + 0.15 and last["reward_accuracy"] > 0.95


def test_a_model_file_round_trips(spec, transitions, tmp_path):
    torch.manual_seed(0)
    model = PaletteModel.for_spec(spec, PaletteModelConfig(size="tiny"))
    torch.nn.init.normal_(model.frame_head.weight)
    save_model(model, tmp_path / "m.pt")
    again = load(tmp_path / "m.pt", spec=spec)
    assert isinstance(again, PaletteModel) and again.config == model.config
    obs, action = transitions["obs"][:8], transitions["action"][:8]
    assert all(torch.equal(a, b) for a, b in zip(model.step(obs, action), again.step(obs, action)))
    with pytest.raises(ReverieError, match="imagines RGB frames"):
        load(tmp_path / "m.pt", spec=get_spec("sokoban-7x7-2").with_options(observation="rgb"))


def test_bad_configs_are_refused_in_one_line():
    with pytest.raises(ReverieError, match="sorted"):
        PaletteModelConfig(palette=(5, 3))
    with pytest.raises(ReverieError, match="whole 8-pixel patches"):
        PaletteModelConfig(palette=(0, 1), patch=8, shape=(3, 50, 48))
    with pytest.raises(ReverieError, match="unknown model size"):
        PaletteModelConfig(size="huge")
    with pytest.raises(ReverieError, match="build it with"):
        PaletteModel(PaletteModelConfig())


def test_rgb_collection_stores_codes_and_fitting_reads_frames(tmp_path, spec):
    out = tmp_path / "data"
    collect(CollectConfig(out=out, env="sokoban-6x6-1", observation="rgb", train_frames=512, valid_frames=128,
                          generated_levels=20, num_envs=32, boxes=1), progress=False)
    manifest = read_manifest(out)
    assert manifest["observation"]["kind"] == "rgb" and manifest["options"] == {"observation": "rgb"}
    data = TransitionDataset.load(out)
    assert data.codes.shape == (512, 6, 6) and data.spec.observation.kind == "rgb"
    batch = data.batch(torch.arange(8))
    assert batch["obs"].shape == (8, 3, 48, 48) and batch["next_obs"].shape == (8, 3, 48, 48)
    assert torch.equal(spec.observation.encode(batch["next_obs"]), batch["next_codes"].to(torch.uint8))
