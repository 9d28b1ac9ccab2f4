"""Saving and loading models: same predictions after a round trip; bad files refused safely."""

from __future__ import annotations

import os

import pytest
import torch

from reverie.core.errors import ReverieError
from reverie.models import GridModel, GridModelConfig, codes_to_planes, load, resolve, save_model
from reverie.models.io import model_record, pretrained_path
from reverie.core.checkpoint import save_checkpoint
from reverie.envs.registry import get_spec
from reverie.models.vector import VectorModel, VectorModelConfig

SPEC = get_spec("sokoban-10x10-4")


def trained_ish(config: GridModelConfig) -> GridModel:
    torch.manual_seed(3)
    model = GridModel.for_spec(SPEC, config)
    with torch.no_grad():  # move every weight off its initial value
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def inputs(n: int = 16):
    g = torch.Generator().manual_seed(1)
    obs = codes_to_planes(torch.randint(0, 7, (n, 10, 10), generator=g), 7)
    return obs, torch.randint(0, 5, (n,), generator=g)


@pytest.mark.parametrize("config", [GridModelConfig(size="tiny"),
                                    GridModelConfig(channels=(8, 12), feed="distribution", reward_head=False)])
def test_loading_a_checkpoint_gives_the_same_predictions(tmp_path, config):
    model = trained_ish(config)
    path = save_model(model, tmp_path / "m.pt", {"note": "test"})
    loaded = load(path)
    assert not loaded.training
    assert loaded.config.to_dict() == model.config.to_dict()
    assert loaded.metadata == {"note": "test"}
    obs, actions = inputs()
    for a, b in zip(model.step(obs, actions), loaded.step(obs, actions)):
        assert torch.equal(a, b)
    for a, b in zip(model(obs, actions), loaded(obs, actions)):
        if a is not None:
            assert torch.equal(a, b)


def test_load_reads_a_fitting_run_checkpoint_and_a_run_folder(tmp_path):
    model = trained_ish(GridModelConfig(size="tiny"))
    save_checkpoint(tmp_path / "checkpoint.pt", {"model": model_record(model), "step": 3}, kind="model-fitting-run")
    obs, actions = inputs()
    assert torch.equal(load(tmp_path).step(obs, actions)[0], model.step(obs, actions)[0])
    assert torch.equal(resolve(str(tmp_path / "checkpoint.pt")).step(obs, actions)[1], model.step(obs, actions)[1])


def test_corrupt_and_foreign_files_are_refused_clearly(tmp_path):
    path = save_model(trained_ish(GridModelConfig(size="tiny")), tmp_path / "m.pt")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(2000))
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    for bad in (truncated, garbage):
        with pytest.raises(ReverieError, match="not a readable reverie checkpoint"):
            load(bad)
    with pytest.raises(ReverieError, match="not a reverie checkpoint"):
        load(plain)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load(tmp_path / "missing.pt")


class _Hostile:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickled_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile.pt"
    payload = {"format": "reverie-checkpoint", "version": 1, "kind": "environment-model",
               "state": {"type": "grid", "config": {}, "weights": {}, "metadata": _Hostile(str(marker))}}
    torch.save(payload, hostile)
    with pytest.raises(ReverieError, match="not a readable reverie checkpoint"):
        load(hostile)
    assert not marker.exists()


def test_records_that_do_not_fit_are_refused(tmp_path):
    model = trained_ish(GridModelConfig(size="tiny"))
    record = model_record(model)
    record["config"]["channels"] = [32, 32, 32]
    save_checkpoint(tmp_path / "shape.pt", record, kind="environment-model")
    with pytest.raises(ReverieError, match="weights do not fit"):
        load(tmp_path / "shape.pt")
    record = model_record(model)
    record["config"]["size"] = "enormous"
    record["config"]["channels"] = None
    save_checkpoint(tmp_path / "config.pt", record, kind="environment-model")
    with pytest.raises(ReverieError, match="bad model config"):
        load(tmp_path / "config.pt")
    save_checkpoint(tmp_path / "other.pt", {"type": "mlp"}, kind="environment-model")
    with pytest.raises(ReverieError, match="does not hold an environment model"):
        load(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "latent.pt", {"type": "latent"}, kind="environment-model")
    with pytest.raises(ReverieError, match="holds a latent model"):
        load(tmp_path / "latent.pt")


def test_pretrained_names_are_checked():
    with pytest.raises(ReverieError, match="unknown pretrained model"):
        pretrained_path("sokoban-99x99")


def test_the_shipped_model_imagines_fixture_levels():
    from conftest import HARD
    from reverie.data.dataset import collect_dataset
    from reverie.envs.sokoban.bank import load_boxoban
    from reverie.evaluation.model_diagnostics import one_step
    from reverie.models import pretrained, pretrained_info

    model = pretrained("sokoban-10x10")
    info = pretrained_info("sokoban-10x10")
    config = model.config.to_dict()  # the record predates the spec fields (codes, actions, terminal classes)
    assert all(config[k] == v for k, v in info["model"]["config"].items())
    model.check_spec(SPEC)
    assert {"commands", "data", "fit", "evaluation"} <= set(info)
    data = collect_dataset(load_boxoban(HARD), 2000, num_envs=50, preplaced=0.5, seed=7)
    result = one_step(model, data)
    assert result["exact_frame_accuracy"] >= 0.995 and result["reward_accuracy"] >= 0.995


def test_one_file_format_holds_grid_and_vector_models(tmp_path):
    grid = trained_ish(GridModelConfig(size="tiny"))
    vector = VectorModel(VectorModelConfig(obs_dim=3, action_dim=2, members=2)).eval()
    save_model(grid, tmp_path / "grid.pt")
    save_model(vector, tmp_path / "vector.pt", {"env": "test"})
    assert isinstance(load(tmp_path / "grid.pt"), GridModel)
    loaded = load(tmp_path / "vector.pt")
    assert isinstance(loaded, VectorModel) and loaded.metadata == {"env": "test"}
    x, u = torch.randn(4, 3), torch.randn(4, 2)
    assert torch.equal(loaded.step(x, u)[0], vector.step(x, u)[0])
    with pytest.raises(ReverieError, match="does not hold a vector environment model"):
        load(tmp_path / "grid.pt", expect="vector")


def test_a_model_whose_reward_table_disagrees_with_the_env_is_refused_at_load(tmp_path):
    classes = SPEC.rewards.classes
    swapped = trained_ish(GridModelConfig(size="tiny", reward_values=(classes[1], classes[0]) + classes[2:]))
    path = save_model(swapped, tmp_path / "swapped.pt")
    load(path)  # a model file alone is fine...
    with pytest.raises(ReverieError, match=r"reward classes .* are not sokoban-10x10-4's") as error:
        resolve(str(path), spec=SPEC)  # ...but not for imagining in an env of other classes
    assert "\n" not in str(error.value)
    with pytest.raises(ReverieError, match="reward classes"):
        load(path, spec=SPEC)
    resolve(str(save_model(trained_ish(GridModelConfig(size="tiny")), tmp_path / "ok.pt")), spec=SPEC)


def test_a_wrong_shaped_tensor_is_named_with_both_shapes(tmp_path):
    model = trained_ish(GridModelConfig(size="tiny"))
    record = model_record(model)
    record["weights"]["blocks.0.conv.weight"] = torch.zeros(8, 8, 5, 5)
    save_checkpoint(tmp_path / "bad.pt", record, kind="environment-model")
    with pytest.raises(ReverieError) as info:
        load(tmp_path / "bad.pt")
    message = str(info.value)
    assert "'blocks.0.conv.weight'" in message and "[8, 8, 5, 5]" in message and "[8, 8, 3, 3]" in message
    assert "\n" not in message
    record = model_record(model)
    del record["weights"]["stem.bias"]
    save_checkpoint(tmp_path / "missing.pt", record, kind="environment-model")
    with pytest.raises(ReverieError, match="'stem.bias' .* is missing"):
        load(tmp_path / "missing.pt")


def test_a_model_file_asking_for_a_huge_model_is_refused_before_allocating(tmp_path):
    record = model_record(trained_ish(GridModelConfig(size="tiny")))
    record["config"]["channels"] = [100_000, 100_000]
    save_checkpoint(tmp_path / "huge.pt", record, kind="environment-model")
    with pytest.raises(ReverieError, match="bad model config .*parameters, above the cap"):
        load(tmp_path / "huge.pt")
