"""Tests of the environment models' mechanics: interface, reward classes, action planes,
the perfect and copy models, and the grid model's shapes and options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import HARD, UNFILTERED_TEST
from reverie.envs.sokoban import cells, rules
from reverie.envs.sokoban.bank import load_boxoban
from reverie.envs.sokoban.env import SokobanVecEnv
from reverie.envs.registry import get_spec
from reverie.envs.sokoban.model import PerfectModel, RGBAdapter
from reverie.models import (
    SIZES,
    CopyModel,
    EnvironmentModel,
    GridModel,
    GridModelConfig,
    RewardClasses,
    action_planes,
    codes_to_planes,
    planes_to_codes,
)

SPEC = get_spec("sokoban-10x10-4")
SOKOBAN_REWARDS = SPEC.rewards.reward_classes


def grid_model(config: GridModelConfig | None = None) -> GridModel:
    return GridModel.for_spec(SPEC, config)
from reverie.core.errors import ReverieError


def random_obs(n: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return codes_to_planes(torch.randint(0, cells.NUM_CODES, (n, 10, 10), generator=g), 7)


# -- reward classes ----------------------------------------------------------------------

def test_reward_classes_map_values_and_back_exactly():
    values = SOKOBAN_REWARDS.values
    assert len(SOKOBAN_REWARDS) == 4
    np.testing.assert_allclose(values.numpy(), [-0.1, 0.9, -1.1, 10.9], rtol=1e-6)
    classes = torch.arange(4)
    assert torch.equal(SOKOBAN_REWARDS.to_classes(SOKOBAN_REWARDS.to_values(classes)), classes)
    assert torch.equal(SOKOBAN_REWARDS.to_values(SOKOBAN_REWARDS.to_classes(values)), values)
    assert torch.equal(SOKOBAN_REWARDS.check(values), classes)


def test_reward_classes_match_the_rules_bit_for_bit():
    # Every reward the rules can produce, made by the rules: one push onto, off, and the last box.
    env = SokobanVecEnv(str(UNFILTERED_TEST), num_envs=64, seed=3)
    env.reset()
    seen = set()
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        _, reward, *_ = env.step(torch.randint(0, 5, (64,), generator=g))
        classes = SOKOBAN_REWARDS.check(reward)
        back = SOKOBAN_REWARDS.to_values(classes)
        # Exact float32 equality, except that the rules compute a push from one target onto
        # another as (-0.1 + 1) - 1 = -0.10000002 in float32; that still maps to class 0.
        table_value = torch.isin(reward, SOKOBAN_REWARDS.values)
        assert torch.equal(back[table_value], reward[table_value])
        assert (classes[~table_value] == 0).all()
        assert ((back - reward).abs() < 1e-7).all()
        seen.update(classes.tolist())
    assert {0, 1, 2} <= seen
    solved = torch.tensor([rules.STEP_REWARD]) + rules.BOX_ON_REWARD * torch.ones(1) \
        + rules.BOX_OFF_REWARD * torch.zeros(1) + rules.SOLVED_REWARD * torch.ones(1)
    assert torch.equal(SOKOBAN_REWARDS.to_values(SOKOBAN_REWARDS.check(solved)), solved)


def test_reward_classes_reject_unknown_values():
    with pytest.raises(ValueError, match="none of the reward classes"):
        SOKOBAN_REWARDS.check(torch.tensor([-0.1, 0.5]))
    with pytest.raises(ValueError, match="distinct"):
        RewardClasses([1.0, 1.0])


# -- action planes -----------------------------------------------------------------------

def test_action_planes_carry_the_action():
    actions = torch.tensor([0, 1, 2, 3, 4, 2])
    planes = action_planes(actions, 4, 7, 5)
    assert planes.shape == (6, 5, 4, 7)
    for i, a in enumerate(actions.tolist()):
        assert torch.equal(planes[i, a], torch.ones(4, 7))
        others = [p for p in range(5) if p != a]
        assert torch.equal(planes[i, others], torch.zeros(4, 4, 7))


def test_grid_model_sees_the_action_planes():
    model = grid_model(GridModelConfig(size="tiny"))
    seen = {}
    model.stem.register_forward_pre_hook(lambda mod, args: seen.update(x=args[0]))
    obs, actions = random_obs(5), torch.tensor([4, 3, 2, 1, 0])
    model.step(obs, actions)
    x = seen["x"]
    assert x.shape == (5, cells.NUM_CODES + 5, 10, 10)
    assert torch.equal(x[:, :cells.NUM_CODES], obs)
    assert torch.equal(x[:, cells.NUM_CODES:], action_planes(actions, 10, 10, 5))


# -- perfect and copy models -------------------------------------------------------------

def test_copy_model_copies():
    obs = random_obs()
    next_obs, reward, _ = CopyModel().step(obs, torch.zeros(6, dtype=torch.long))
    assert torch.equal(next_obs, obs)
    assert torch.equal(reward, torch.zeros(6))
    assert torch.equal(CopyModel(reward=-0.1).step(obs, torch.ones(6, dtype=torch.long))[1], torch.full((6,), -0.1))


@pytest.mark.parametrize("observation", ["symbolic", "rgb"])
def test_perfect_model_equals_the_env_step_for_step(observation):
    env = SokobanVecEnv(str(HARD), num_envs=32, observation=observation, max_steps=25, seed=5)
    model = PerfectModel(observation)
    obs, _ = env.reset()
    g = torch.Generator().manual_seed(1)
    ended_total = 0
    for _ in range(60):
        actions = torch.randint(0, 5, (32,), generator=g)
        predicted, predicted_reward, _ = model.step(obs, actions)
        obs, reward, _, _, info = env.step(actions)
        assert torch.equal(predicted_reward, reward)
        expected = obs.clone()
        expected[info["final_index"]] = info["final_obs"]  # games that ended were reset
        ended_total += len(info["final_index"])
        assert predicted.dtype == expected.dtype
        assert torch.equal(predicted, expected)
    assert ended_total > 0


def test_perfect_model_reads_distributions():
    codes = load_boxoban(UNFILTERED_TEST).tensor()[:4].view(4, 10, 10)
    soft = codes_to_planes(codes, 7) * 0.7 + 0.3 / 7
    actions = torch.tensor([1, 2, 3, 4])
    a, ra, _ = PerfectModel().step(soft, actions)
    b, rb, _ = PerfectModel().step(codes_to_planes(codes, 7), actions)
    assert torch.equal(a, b) and torch.equal(ra, rb)


def test_models_follow_the_protocol():
    for model in (PerfectModel(), CopyModel(), grid_model()):
        assert isinstance(model, EnvironmentModel)


def test_planes_and_codes_round_trip():
    codes = torch.randint(0, 7, (3, 5, 6), dtype=torch.uint8)
    assert torch.equal(planes_to_codes(codes_to_planes(codes, 7)), codes)
    soft = torch.randn(4, 7, 5, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(planes_to_codes(soft), soft.argmax(1).to(torch.uint8))  # the most likely code
    tied = torch.tensor([0.2, 0.4, 0.4, 0.0]).view(1, 4, 1, 1)
    assert planes_to_codes(tied).item() == 1  # a tie goes to the first, as argmax's
    with pytest.raises(ValueError, match="grid observations"):
        planes_to_codes(torch.zeros(2, 5, 5))


# -- grid model --------------------------------------------------------------------------

@pytest.mark.parametrize("size", sorted(SIZES))
def test_grid_model_sizes_step_to_one_hot_frames_and_class_rewards(size):
    model = grid_model(GridModelConfig(size=size)).eval()
    obs = random_obs(4)
    next_obs, reward, _ = model.step(obs, torch.tensor([0, 1, 2, 3]))
    assert next_obs.shape == obs.shape and next_obs.dtype == obs.dtype
    assert torch.equal(next_obs.sum(1), torch.ones(4, 10, 10))
    assert set(next_obs.unique().tolist()) <= {0.0, 1.0}
    assert reward.shape == (4,) and reward.dtype == torch.float32
    assert all(any(abs(r - v) < 1e-6 for v in SOKOBAN_REWARDS.values.tolist()) for r in reward.tolist())


def test_grid_model_starts_as_the_copy_model_and_works_on_any_size():
    model = grid_model(GridModelConfig(size="tiny")).eval()
    codes = torch.randint(0, 7, (3, 6, 9))
    next_obs, _, _ = model.step(codes_to_planes(codes, 7), torch.tensor([1, 2, 3]))
    assert torch.equal(planes_to_codes(next_obs), codes.to(torch.uint8))


def test_grid_model_distribution_feed_and_no_reward_ablation():
    model = grid_model(GridModelConfig(size="tiny", feed="distribution", reward_head=False)).eval()
    next_obs, reward, _ = model.step(random_obs(3), torch.tensor([1, 1, 4]))
    torch.testing.assert_close(next_obs.sum(1), torch.ones(3, 10, 10))
    assert (next_obs > 0).all() and (next_obs < 1).all()
    assert torch.equal(reward, torch.zeros(3))
    assert model.reward_net is None
    batch = {"obs": random_obs(3), "action": torch.tensor([0, 1, 2]),
             "next_codes": torch.zeros(3, 10, 10, dtype=torch.long), "reward_class": torch.zeros(3, dtype=torch.long)}
    assert "reward_loss" not in model.loss(batch)


def test_grid_model_step_has_no_gradient_and_loss_has():
    model = grid_model(GridModelConfig(size="tiny"))
    next_obs, reward, _ = model.step(random_obs(2), torch.tensor([1, 2]))
    assert not next_obs.requires_grad and not reward.requires_grad
    batch = {"obs": random_obs(2), "action": torch.tensor([1, 2]),
             "next_codes": torch.zeros(2, 10, 10, dtype=torch.long), "reward_class": torch.tensor([0, 3])}
    out = model.loss(batch)
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_grid_model_channels_last_matches_contiguous():
    torch.manual_seed(0)
    a = grid_model(GridModelConfig(size="small", channels_last=True)).eval()
    b = grid_model(GridModelConfig(size="small", channels_last=False)).eval()
    with torch.no_grad():  # a model that changes frames, not the copy model it starts as
        a.frame_head.weight.normal_(0, 1.0)
        a.copy_gain.zero_()
    b.load_state_dict(a.state_dict())
    obs, act = random_obs(8), torch.randint(0, 5, (8,))
    fa, ra = a(obs, act)
    fb, rb = b(obs, act)
    torch.testing.assert_close(fa, fb, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ra, rb, rtol=1e-4, atol=1e-4)
    stepped = a.step(obs, act)
    assert not torch.equal(stepped[0], obs)
    for want, have in zip(stepped, b.step(obs, act)):  # each layout's own frame and pool kernels
        assert torch.equal(want, have)
    for want, have in zip(stepped, b.step(obs, act.to(torch.uint8))):  # any integer actions
        assert torch.equal(want, have)
    batch = {"obs": obs, "action": act, "next_obs": random_obs(8, seed=3), "reward": torch.zeros(8)}
    a.loss(batch)["loss"].backward()
    b.loss(batch)["loss"].backward()  # the contiguous 1x1 head is a batched product: same gradients
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_grid_model_config_errors_are_clear():
    with pytest.raises(ReverieError, match="unknown model size"):
        GridModelConfig(size="huge")
    with pytest.raises(ReverieError, match="feed"):
        GridModelConfig(feed="sample")
    with pytest.raises(ReverieError, match="stem and at least one block"):
        GridModelConfig(channels=(16,))
    assert GridModelConfig(channels="8,12,16").channels == (8, 12, 16)
    with pytest.raises(ValueError, match="channels must look like"):
        GridModelConfig(channels="8;12")
    with pytest.raises(ValueError, match="symbolic observations"):
        grid_model()(torch.zeros(1, 3, 10, 10), torch.zeros(1, dtype=torch.long))


def test_grid_model_runs_in_bfloat16_and_keeps_the_observation_dtype():
    model = grid_model(GridModelConfig(size="tiny")).eval()
    obs, actions = random_obs(4), torch.tensor([0, 1, 2, 3])
    expected = model.step(obs, actions)[0]
    model.to(torch.bfloat16)
    next_obs, reward, _ = model.step(obs, actions)
    assert next_obs.dtype == torch.float32 and reward.dtype == torch.float32
    assert torch.equal(next_obs, expected)  # it starts as the copy model, in any precision


def test_rgb_adapter_imagines_rgb_frames_through_a_symbolic_model():
    env = SokobanVecEnv(str(HARD), num_envs=8, observation="rgb", seed=2)
    obs, _ = env.reset()
    actions = torch.tensor([1, 2, 3, 4, 1, 2, 3, 4])
    expected, expected_reward, _ = PerfectModel("rgb").step(obs, actions)
    got, reward, _ = RGBAdapter(PerfectModel()).step(obs, actions)
    assert got.dtype == torch.uint8 and torch.equal(got, expected) and torch.equal(reward, expected_reward)
    copied, _, _ = RGBAdapter(grid_model(GridModelConfig(size="tiny")).eval()).step(obs, actions)
    assert torch.equal(copied, obs)  # an unfitted grid model starts as the copy model


def test_grid_model_loss_takes_raw_transitions_as_well_as_targets():
    torch.manual_seed(0)
    model = grid_model(GridModelConfig(size="tiny"))
    obs, next_obs = random_obs(4, seed=1), random_obs(4, seed=2)
    action = torch.tensor([0, 1, 2, 3])
    reward = SOKOBAN_REWARDS.values[torch.tensor([0, 3, 1, 2])]
    raw = model.loss({"obs": obs, "action": action, "next_obs": next_obs, "reward": reward})
    coded = model.loss({"obs": obs, "action": action, "next_codes": planes_to_codes(next_obs).long(),
                        "reward_class": torch.tensor([0, 3, 1, 2])})
    assert torch.equal(raw["loss"], coded["loss"])


def test_a_grid_model_of_other_reward_classes_is_refused():
    permuted = GridModelConfig(size="tiny", reward_values=tuple(SPEC.rewards.classes[i] for i in (1, 0, 2, 3)))
    model = grid_model(permuted)
    with pytest.raises(ReverieError, match="reward classes .* are not sokoban-10x10-4's"):
        model.check_spec(SPEC)
    grid_model(GridModelConfig(size="tiny")).check_spec(SPEC)  # its own classes pass


@pytest.mark.parametrize("channels_last", [True, False])
def test_every_action_step_equals_stepping_each_action(channels_last):
    """``step_every_action`` (the stem's observation part computed once per observation) imagines
    what A separate steps from repeated observations imagine: same frames, rewards and ends."""
    torch.manual_seed(0)
    model = grid_model(GridModelConfig(channels_last=channels_last))
    with torch.no_grad():  # a model that changes frames, not the copy model it starts as
        model.frame_head.weight.normal_(0, 1.0)
        model.frame_head.bias.normal_(0, 1.0)
        model.copy_gain.zero_()
    obs = random_obs(8)
    actions = torch.arange(5).repeat(8)
    frame, planes = model.frame_logits(obs.repeat_interleave(5, 0), actions)
    shared, shared_planes = model.every_action_logits(obs)
    assert torch.allclose(frame, shared, atol=1e-5) and torch.equal(planes, shared_planes)
    expected, got = model.step(obs.repeat_interleave(5, 0), actions), model.step_every_action(obs)
    assert not torch.equal(expected[0], obs.repeat_interleave(5, 0))  # some cells change
    for want, have in zip(expected, got):
        assert torch.equal(want, have)


def test_step_every_action_falls_back_to_repeated_steps():
    """Models without a shared first step get the observations repeated, rows b * A + a."""
    from reverie.models.base import step_every_action

    class Recorder:
        def step(self, state, action):
            self.seen = (state, action)
            return state, action.float(), torch.zeros_like(action, dtype=torch.bool)

    model, obs = Recorder(), random_obs(3)
    _, reward, _ = step_every_action(model, obs, 5)
    assert torch.equal(model.seen[0], obs.repeat_interleave(5, 0))
    assert reward.tolist() == [0, 1, 2, 3, 4] * 3
