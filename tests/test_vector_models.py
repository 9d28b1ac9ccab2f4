"""Vector environment models: structure, ensembles, fitting, checkpoints."""

from __future__ import annotations

import pytest
import torch

from reverie.core.errors import ReverieError
from reverie.models.base import EnvironmentModel
from reverie.models.vector import (Transitions, VectorFitConfig, VectorModel, VectorModelConfig, fit_vector_model,
                                   load_vector_model, save_vector_model)


pytestmark = pytest.mark.usefixtures("one_thread")


def linear_data(n: int = 600, seed: int = 0) -> Transitions:
    """A known linear system x' = x + 0.1 (M x + N u), positions in features 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 4, generator=g)
    action = torch.rand(n, 2, generator=g) * 2 - 1
    m = torch.tensor([[0, 0, 1.0, 0], [0, 0, 0, 1.0], [0, 0, -0.2, 0], [0, 0, 0, -0.2]])
    b = torch.tensor([[0, 0], [0, 0], [1.0, 0], [0, 1.0]])
    next_obs = obs + 0.1 * (obs @ m.T + action @ b.T)
    return Transitions(obs, action, next_obs, -(obs ** 2).sum(1))


def config(kind: str = "structured", members: int = 1, **kw) -> VectorModelConfig:
    return VectorModelConfig(obs_dim=4, action_dim=2, kind=kind, hidden=32, layers=2, members=members, dt=0.1,
                             position_dims=(0, 1), **kw)


def test_structured_matrices_have_the_right_shapes_and_ignore_position():
    torch.manual_seed(0)
    model = VectorModel(config(members=3)).eval()
    model.set_normalisation(linear_data())
    obs, action = torch.randn(7, 4), torch.randn(7, 2)
    a, b = model.matrices(obs, action)
    assert a.shape == (3, 7, 4, 4) and b.shape == (3, 7, 4, 2)
    moved = obs.clone()
    moved[:, :2] += torch.randn(7, 2) * 10  # positions only
    a2, b2 = model.matrices(moved, action)
    assert torch.equal(a, a2) and torch.equal(b, b2)
    changed = obs.clone()
    changed[:, 2] += 1.0  # a velocity: A and B may (and here do) change
    assert not torch.equal(model.matrices(changed, action)[0], a)


def test_structured_step_is_x_plus_dt_times_ax_plus_bu():
    torch.manual_seed(1)
    model = VectorModel(config()).eval()
    model.set_normalisation(linear_data())
    obs, action = torch.randn(5, 4), torch.randn(5, 2)
    a, b = model.matrices(obs, action)
    expected = obs + 0.1 * ((a[0] @ obs[..., None]).squeeze(-1) + (b[0] @ action[..., None]).squeeze(-1))
    nxt, reward, _ = model.step(obs, action)
    assert torch.allclose(nxt, expected, atol=1e-5)
    assert reward.shape == (5,) and not reward.any()


@pytest.mark.parametrize("kind", ["mlp", "structured"])
def test_models_follow_the_interface_and_fit_a_linear_system(kind):
    torch.manual_seed(0)
    data = linear_data(800)
    model = VectorModel(config(kind))
    assert isinstance(model, EnvironmentModel)
    result = fit_vector_model(model, data, VectorFitConfig(epochs=60, batch_size=128, patience=10, seed=0))
    assert result.best_val_loss < 0.05 * result.val_loss[0] or result.best_val_loss < 1e-3
    test = linear_data(200, seed=5)
    with torch.no_grad():
        pred, _, _ = model.step(test.obs, test.action)
    delta = test.next_obs - test.obs
    rel = ((pred - test.next_obs).pow(2).mean() / delta.pow(2).mean()).item()
    assert rel < 0.05


def test_ensemble_disagreement_is_zero_for_identical_members_and_positive_otherwise():
    torch.manual_seed(0)
    model = VectorModel(config("mlp", members=4)).eval()
    model.set_normalisation(linear_data())
    obs, action = torch.randn(9, 4), torch.randn(9, 2)
    assert (model.disagreement(obs, action) > 0).all()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p[:1].expand_as(p))
    assert torch.equal(model.disagreement(obs, action), torch.zeros(9))
    single = VectorModel(config("mlp")).eval()
    assert torch.equal(single.disagreement(obs, action), torch.zeros(9))


def test_ensemble_step_is_the_members_mean_and_bootstrap_fitting_runs():
    torch.manual_seed(0)
    model = VectorModel(config("structured", members=3))
    fit_vector_model(model, linear_data(300), VectorFitConfig(epochs=3, seed=0))
    obs, action = torch.randn(4, 4), torch.randn(4, 2)
    with torch.no_grad():
        deltas = model.member_deltas(obs, action)
        assert deltas.shape == (3, 4, 4)
        assert torch.allclose(model.step(obs, action)[0], obs + deltas.mean(0), atol=1e-6)


def test_learned_reward_head_fits():
    torch.manual_seed(0)
    model = VectorModel(config("mlp", learn_reward=True))
    data = linear_data(800)
    fit_vector_model(model, data, VectorFitConfig(epochs=80, patience=10, seed=0))
    test = linear_data(200, seed=3)
    with torch.no_grad():
        _, reward, _ = model.step(test.obs, test.action)
    assert ((reward - test.reward).pow(2).mean() / test.reward.var()).item() < 0.1


def test_checkpoint_round_trip_and_corrupt_file(tmp_path):
    torch.manual_seed(0)
    model = VectorModel(config("structured", members=2))
    fit_vector_model(model, linear_data(200), VectorFitConfig(epochs=2, seed=0), checkpoint=tmp_path / "best.pt")
    model.eval()
    path = save_vector_model(model, tmp_path / "model.pt", {"note": "test"})
    loaded = load_vector_model(path)
    obs, action = torch.randn(6, 4), torch.randn(6, 2)
    with torch.no_grad():
        assert torch.equal(model.step(obs, action)[0], loaded.step(obs, action)[0])
    assert loaded.config == model.config
    assert load_vector_model(tmp_path / "best.pt").config == model.config
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ReverieError, match="not a readable reverie checkpoint"):
        load_vector_model(bad)
    with pytest.raises(FileNotFoundError):
        load_vector_model(tmp_path / "missing.pt")


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ReverieError, match="unknown vector model kind"):
        VectorModelConfig(kind="linear")
    with pytest.raises(ReverieError, match="position_dims"):
        VectorModelConfig(obs_dim=3, position_dims=(5,))
    model = VectorModel(config())
    with pytest.raises(ReverieError, match="obs must be"):
        model.step(torch.zeros(3, 5), torch.zeros(3, 2))
    with pytest.raises(ReverieError, match="transitions: action"):
        fit_vector_model(model, Transitions(torch.zeros(4, 4), torch.zeros(4, 3), torch.zeros(4, 4), torch.zeros(4)))


def test_partition_mode_runs_each_row_block_through_one_member():
    torch.manual_seed(0)
    model = VectorModel(config("structured", members=3), ensemble_mode="partition").eval()
    model.set_normalisation(linear_data())
    obs, action = torch.randn(6, 4), torch.randn(6, 2)
    with torch.no_grad():
        nxt, _, _ = model.step(obs, action)
        deltas = model.member_deltas(obs, action)  # every member on every row
        for i in range(3):
            rows = slice(2 * i, 2 * i + 2)
            assert torch.allclose(nxt[rows], obs[rows] + deltas[i, rows], atol=1e-6)
        # A batch that does not split evenly falls back to the members' mean.
        assert torch.allclose(model.step(obs[:5], action[:5])[0], obs[:5] + deltas[:, :5].mean(0), atol=1e-6)
    with pytest.raises(ReverieError, match="ensemble_mode"):
        VectorModel(config(), ensemble_mode="vote")


def test_episode_end_head_learns_where_episodes_end():
    """A toy world that ends where x0 + u > 0.5: the head learns the boundary, step() ends
    those rows, and transitions without ends leave it untrained (no loss term)."""
    g = torch.Generator().manual_seed(0)
    obs = torch.rand(2000, 2, generator=g) * 2 - 1
    action = torch.rand(2000, 1, generator=g) * 2 - 1
    next_obs = obs + 0.1 * action
    done = obs[:, 0] + action[:, 0] > 0.5
    model = VectorModel(VectorModelConfig(obs_dim=2, action_dim=1, kind="mlp", hidden=32, layers=2, members=2,
                                          learn_reward=True, learn_done=True))
    data = Transitions(obs, action, next_obs, torch.zeros(2000), done)
    assert set(model.loss(data)) >= {"state", "reward", "done"}
    assert "done" not in model.loss(Transitions(obs, action, next_obs, torch.zeros(2000)))
    fit_vector_model(model, data, VectorFitConfig(epochs=60, batch_size=256, lr=3e-3, patience=0, seed=0))
    test_obs = torch.rand(500, 2, generator=g) * 2 - 1
    test_action = torch.rand(500, 1, generator=g) * 2 - 1
    _, _, ended = model.step(test_obs, test_action)
    truth = test_obs[:, 0] + test_action[:, 0] > 0.5
    assert (ended == truth).float().mean() > 0.95
    # without the head a vector model never ends an episode
    plain = VectorModel(VectorModelConfig(obs_dim=2, action_dim=1, kind="mlp"))
    assert plain.member_done_logits(test_obs, test_action) is None
    assert not plain.step(test_obs, test_action)[2].any()


def test_transitions_carry_episode_ends_through_index_and_cat():
    base = Transitions(torch.zeros(3, 2), torch.zeros(3, 1), torch.ones(3, 2), torch.zeros(3))
    ends = Transitions(*base[:4], torch.tensor([True, False, True]))
    assert ends.index(torch.tensor([2, 1])).done.tolist() == [True, False]
    assert base.index(torch.tensor([0])).done is None
    assert ends.cat(ends).done.tolist() == [True, False, True] * 2
    with pytest.raises(ReverieError, match="with and without episode ends"):
        base.cat(ends)
    with pytest.raises(ReverieError, match="done has shape"):
        Transitions(*base[:4], torch.zeros(2, dtype=torch.bool)).check(2, 1)
