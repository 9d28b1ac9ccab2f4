"""The I2A agent: imagination mechanics, distillation, frozen model, caching, variants, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from reverie.core.errors import ReverieError
from reverie.agents import agent_names, build_agent, count_parameters
from reverie.agents.i2a import I2A
from reverie.envs.registry import get_spec
from reverie.envs.sokoban import SokobanVecEnv, generate_levels
from reverie.envs.sokoban.model import PerfectModel
from reverie.models import CopyModel, GridModel, GridModelConfig, codes_to_planes
from reverie.training.actor_critic import A2C, A2CConfig
from reverie.core.checkpoint import load_checkpoint
from reverie.training.runs import RUN_KIND, load_run

SRC = Path(__file__).resolve().parents[1] / "src"
SMALL = dict(encoder_channels=4, encoder_hidden=8, rollout_channels=4, hidden=32)
SPEC = get_spec("sokoban-6x6-1")  # observations [7, 6, 6], 5 actions
SPEC7 = get_spec("sokoban-7x7-2")


pytestmark = pytest.mark.usefixtures("one_thread")


def sokoban_obs(batch: int, seed: int = 0, side: int = 6) -> torch.Tensor:
    bank = generate_levels(max(batch, 2), side, side, 1, seed=seed)
    return codes_to_planes(torch.as_tensor(bank.codes[:batch]), 7)


class Recorder:
    """A fake model: returns ``obs + 1`` and reward = the new value of cell (0, 0, 0), and
    records every call's actions and whether autograd was on."""

    def __init__(self) -> None:
        self.actions: list[torch.Tensor] = []
        self.grad_enabled: list[bool] = []

    def step(self, obs, action):
        self.actions.append(action.clone())
        self.grad_enabled.append(torch.is_grad_enabled())
        next_obs = obs + 1
        return next_obs, next_obs[:, 0, 0, 0].clone(), torch.zeros(obs.shape[0], dtype=torch.bool)


def agent_with(model, num_actions=5, obs_shape=(7, 6, 6), **options) -> I2A:
    torch.manual_seed(0)
    return I2A(obs_shape, num_actions, model, **(SMALL | options))


def lstm_inputs(agent: I2A, obs: torch.Tensor) -> torch.Tensor:
    """What the encoder's LSTM reads, step by step, ``[L, B*A, features + reward]``: the imagined
    frames' conv features with the reward beside them, last imagined step first. Checked against
    the encoder's own code: an LSTM run over these inputs gives it."""
    seen = []
    handle = agent.encoder.register_forward_hook(lambda module, args, out: seen.append((*args[:2], out)))
    try:
        agent(obs)
    finally:
        handle.remove()
    frames, rewards, code = seen[0]
    encoder = agent.encoder
    with torch.no_grad():
        features = torch.relu(encoder.conv(frames.flatten(0, 1))).flatten(1).view(*frames.shape[:2], -1)
        inputs = torch.cat((features, rewards.unsqueeze(-1)), dim=-1).flip(0)
        torch.testing.assert_close(encoder.lstm(inputs), code.detach(), rtol=1e-5, atol=1e-6)
    return inputs


# -- imagination ---------------------------------------------------------------------------------

def test_rollout_a_starts_with_action_a_then_follows_the_rollout_policy():
    model = Recorder()
    agent = agent_with(model, rollout_length=3, rollout_actions="greedy")
    obs = torch.randn(4, 7, 6, 6)
    with torch.no_grad():
        agent(obs)
    assert len(model.actions) == 3 and not any(model.grad_enabled)
    assert torch.equal(model.actions[0], torch.arange(5).repeat(4))  # row b * A + a starts with a
    state = obs.repeat_interleave(5, 0) + 1
    with torch.no_grad():
        assert torch.equal(model.actions[1], agent.rollout_policy(state).argmax(-1))


def test_sampled_rollout_actions_are_reproducible_and_travel_in_the_state_dict():
    def actions(agent):
        model = Recorder()
        agent.core.env_model = model
        with torch.no_grad():
            agent(torch.zeros(8, 7, 6, 6))
        return torch.stack(model.actions)

    a, b = agent_with(Recorder(), rollout_length=4), agent_with(Recorder(), rollout_length=4)
    assert torch.equal(actions(a), actions(b))
    state = a.state_dict()
    first = actions(a)
    b.load_state_dict(state)
    assert torch.equal(actions(b), first)
    assert not torch.equal(actions(b), first)  # the generator moved on


def test_encoder_reads_the_imagined_steps_last_first():
    agent = agent_with(Recorder(), rollout_length=4)
    inputs = lstm_inputs(agent, torch.zeros(2, 7, 6, 6))  # [L, B*A, features + reward]
    assert inputs.shape[:2] == (4, 10)
    assert inputs[:, :, -1].T.tolist() == [[4.0, 3.0, 2.0, 1.0]] * 10  # step t's reward is t


def test_copy_variant_imagines_exactly_its_input():
    agent = build_agent("i2a-copy", SPEC, rollout_length=3, **SMALL)
    obs = sokoban_obs(3)
    frames, rewards = agent.core(obs)
    assert torch.equal(frames, obs.repeat_interleave(5, 0).expand(3, -1, -1, -1, -1))
    assert torch.equal(rewards, torch.zeros(3, 15))


def test_perfect_variant_imagines_the_rules():
    agent = build_agent("i2a-perfect", SPEC, rollout_length=1, **SMALL)
    obs = sokoban_obs(2)
    frames, rewards = agent.core(obs)
    expected, reward, _ = SPEC.make_perfect_model().step(obs.repeat_interleave(5, 0), torch.arange(5).repeat(2))
    assert torch.equal(frames[0], expected) and torch.equal(rewards[0], reward)


def test_noreward_variant_feeds_zero_rewards():
    obs = torch.zeros(2, 7, 6, 6)
    assert lstm_inputs(agent_with(Recorder(), rollout_length=2), obs)[:, :, -1].abs().sum() > 0
    assert lstm_inputs(agent_with(Recorder(), rollout_length=2, use_reward=False), obs)[:, :, -1].abs().sum() == 0
    assert not build_agent("i2a-noreward", SPEC, **SMALL).use_reward
    assert build_agent("i2a", SPEC, **SMALL).use_reward


def test_distribution_imagination_feeds_the_predicted_probabilities():
    agent = build_agent("i2a", SPEC, imagine="distribution", rollout_length=2, **SMALL)
    frames, _ = agent.core(sokoban_obs(2))
    assert torch.allclose(frames.sum(2), torch.ones(()), atol=1e-5)
    assert ((frames > 0) & (frames < 1)).any()  # soft, not one-hot
    onehot, _ = build_agent("i2a", SPEC, rollout_length=2, **SMALL).core(sokoban_obs(2))
    assert torch.equal(onehot, (onehot == 1).float())


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("num_actions", [2, 5, 7])
@pytest.mark.parametrize("length", [1, 2, 4])
def test_shapes(batch, num_actions, length):
    agent = agent_with(CopyModel(), num_actions, (7, 5, 6), rollout_length=length)
    logits, value = agent(torch.randn(batch, 7, 5, 6))
    assert logits.shape == (batch, num_actions) and value.shape == (batch,)
    frames, rewards = agent.core(torch.randn(batch, 7, 5, 6))
    assert frames.shape == (length, batch * num_actions, 7, 5, 6) and rewards.shape == (length, batch * num_actions)


def test_every_variant_runs_on_sokoban_observations():
    obs = sokoban_obs(3)
    for name in ("i2a", "i2a-perfect", "i2a-copy", "i2a-noreward"):
        assert name in agent_names()
        logits, value = build_agent(name, SPEC, rollout_length=2, **SMALL)(obs)
        assert logits.shape == (3, 5) and torch.isfinite(value).all()


# -- gradients -------------------------------------------------------------------------------------

def test_distillation_reaches_the_rollout_policy_only():
    agent = agent_with(Recorder(), rollout_length=2)
    obs = torch.randn(6, 7, 6, 6)
    logits, value = agent(obs)
    loss = agent.auxiliary_losses(obs, logits, value)["distillation"]
    named = dict(agent.named_parameters())
    grads = dict(zip(named, torch.autograd.grad(loss, list(named.values()), allow_unused=True)))
    for name, grad in grads.items():
        if name.startswith("core.rollout_policy."):
            assert grad is not None and grad.abs().sum() > 0, name
        else:
            assert grad is None, name  # model-free path, encoder, head: untouched


def test_distillation_pulls_the_rollout_policy_towards_the_agents_policy():
    agent = agent_with(Recorder(), rollout_length=1, distill_weight=0.5)
    obs = torch.randn(16, 7, 6, 6)
    with torch.no_grad():
        nn.init.normal_(agent.policy.weight, std=1.0)  # a clearly non-uniform target
        target = torch.softmax(agent(obs)[0], -1)
    optimizer = torch.optim.SGD(agent.rollout_policy.parameters(), lr=0.5)

    def divergence():
        with torch.no_grad():
            log_q = torch.log_softmax(agent.rollout_policy(obs), -1)
            return float((target * (target.log() - log_q)).sum(-1).mean())

    before = divergence()
    logits, value = agent(obs)
    for _ in range(30):
        loss = agent.auxiliary_losses(obs, logits, value)["distillation"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert divergence() < 0.5 * before


def test_the_environment_model_is_frozen_and_outside_the_optimizer():
    model = GridModel.for_spec(SPEC, GridModelConfig(size="tiny"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    agent = agent_with(model, rollout_length=2)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    model_ids = {id(p) for p in model.parameters()}
    assert not model_ids & {id(p) for p in agent.parameters()}
    assert count_parameters(agent) == sum(p.numel() for p in agent.parameters())
    assert not any(k.startswith("core.env_model") for k in agent.state_dict())
    bank = generate_levels(16, 6, 6, 1, seed=3)
    trainer = A2C(agent, SokobanVecEnv(bank, 4, max_steps=10, seed=0), A2CConfig(lr_schedule="constant"), seed=0)
    for _ in range(2):
        trainer.train_step()
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def tiny_model(seed: int) -> GridModel:
    torch.manual_seed(seed)
    return GridModel.for_spec(SPEC, GridModelConfig(size="tiny"))


def test_every_rollout_transition_handed_to_the_agent_is_a_real_one():
    """``next_obs`` is each step's true next frame, an ended episode's last one included (not
    the reset that followed): the perfect model agrees with every (obs, action, next_obs, reward)."""
    bank = generate_levels(16, 6, 6, 1, seed=3)
    agent = agent_with(tiny_model(seed=0), rollout_length=1, finetune_model=1.0)
    trainer = A2C(agent, SokobanVecEnv(bank, 8, max_steps=4, seed=0), A2CConfig(n_steps=8, lr_schedule="constant"), seed=0)
    rollout = trainer.collect()
    ended = rollout["terminated"] | rollout["truncated"]
    assert ended.any() and "next_obs" in rollout
    obs = rollout["obs"].reshape(-1, 7, 6, 6)
    next_obs, reward, _ = PerfectModel().step(obs, rollout["actions"].reshape(-1))
    assert torch.equal(next_obs, rollout["next_obs"].reshape(-1, 7, 6, 6).to(next_obs.dtype))
    assert torch.allclose(reward, rollout["rewards"].reshape(-1))
    assert "next_obs" not in A2C(agent_with(CopyModel()), SokobanVecEnv(bank, 2, seed=0), A2CConfig(lr_schedule="constant"),
                                     seed=0).collect()


def test_finetuning_trains_the_model_on_the_agents_transitions_and_saves_it():
    bank = generate_levels(32, 6, 6, 1, seed=4)
    model = tiny_model(seed=1)  # untrained: much to learn
    agent = agent_with(model, rollout_length=2, finetune_model=1.0)
    assert not model.training and all(p.requires_grad for p in model.parameters())
    assert {id(p) for p in model.parameters()} <= {id(p) for p in agent.parameters()}
    env = SokobanVecEnv(bank, 16, max_steps=20, seed=0)
    trainer = A2C(agent, env, A2CConfig(lr_schedule="constant", lr=3e-3), seed=0)
    held_out = A2C(agent_with(CopyModel()), SokobanVecEnv(bank, 16, max_steps=20, seed=1),
                   A2CConfig(n_steps=8, lr_schedule="constant"), seed=1).collect()
    held_out["next_obs"] = torch.cat((held_out["obs"][1:], held_out["obs"][-1:]))  # fake the last step's
    obs = held_out["obs"][:-1].reshape(-1, 7, 6, 6)
    sliced = {k: held_out[k][:-1] for k in ("actions", "rewards", "next_obs")}
    ended = (held_out["terminated"] | held_out["truncated"])[:-1].reshape(-1)
    keep = ~ended  # rows whose next frame is the following row's observation

    def loss() -> float:
        with torch.no_grad():
            batch = {k: v.reshape(-1, *v.shape[2:])[keep] for k, v in sliced.items()}
            frame, _ = model.frame_logits(obs[keep], batch["actions"])
            target = (batch["next_obs"]).argmax(1)
            return float(torch.nn.functional.cross_entropy(frame, target, reduction="none").sum((1, 2)).mean())

    before = loss()
    for _ in range(15):
        stats = trainer.train_step()
    assert float(stats["aux/model"]) > 0 and loss() < 0.7 * before
    other = agent_with(tiny_model(seed=2), rollout_length=2, finetune_model=1.0)
    with pytest.raises(ReverieError, match="another environment model"):
        other.load_state_dict(agent.state_dict())  # fine-tuned from other starting weights
    twin = agent_with(tiny_model(seed=1), rollout_length=2, finetune_model=1.0)  # the same starting weights
    twin.load_state_dict(agent.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(twin.env_model.parameters(), model.parameters()))


def test_finetuning_options():
    with pytest.raises(ReverieError, match="finetune_model must be a number >= 0"):
        build_agent("i2a", SPEC, finetune_model=-1)
    with pytest.raises(ReverieError, match="takes no option 'finetune_model'"):
        build_agent("i2a-perfect", SPEC, finetune_model=1.0)
    with pytest.raises(ReverieError, match="needs a learned environment model"):
        agent_with(CopyModel(), finetune_model=1.0)
    tuned = build_agent("i2a", SPEC, finetune_model=0.5, **SMALL)
    frozen = build_agent("i2a", SPEC, **SMALL)
    assert count_parameters(tuned) == count_parameters(frozen) + sum(p.numel() for p in tuned.env_model.parameters())
    assert any(k.startswith("tuned_model.") for k in tuned.state_dict())


def test_large_agent_matches_the_i2a_parameter_count():
    i2a = count_parameters(build_agent("i2a", SPEC7))
    assert abs(count_parameters(build_agent("large", SPEC7)) - i2a) / i2a < 0.002
    for name in ("i2a-perfect", "i2a-copy", "i2a-noreward"):
        assert count_parameters(build_agent(name, SPEC7)) == i2a


# -- imagining once per observation ---------------------------------------------------------------

def test_the_update_reuses_the_rollouts_imagined_while_acting():
    bank = generate_levels(16, 6, 6, 1, seed=3)
    torch.manual_seed(0)
    agent = build_agent("i2a-perfect", SPEC, rollout_length=3, **SMALL)
    trainer = A2C(agent, SokobanVecEnv(bank, 4, max_steps=10, seed=0), A2CConfig(lr_schedule="constant"), seed=0)
    rollout = trainer.collect()
    obs = rollout["obs"].reshape(-1, 7, 6, 6)
    acting_values = rollout["values"].reshape(-1).clone()
    _, values = agent(obs)  # a gradient pass, as in the update: the sampled futures are reused
    assert agent.cache.hits == 1 and len(agent.cache) == 0
    assert torch.allclose(values, acting_values, atol=1e-5)
    _, fresh = agent(obs)  # nothing cached any more: imagined afresh, other samples
    assert agent.cache.misses == 1 and not torch.allclose(fresh, acting_values, atol=1e-5)


def test_cached_rollouts_are_dropped_when_the_rollout_policy_changes():
    agent = agent_with(Recorder(), rollout_length=2)
    obs = torch.randn(3, 7, 6, 6)
    with torch.inference_mode():
        agent(obs)
    with torch.no_grad():
        agent.rollout_policy.logits.bias.add_(1.0)
    agent(obs)
    assert agent.cache.hits == 0 and agent.cache.misses == 1
    with torch.inference_mode():
        agent(obs)
    agent(obs + 1)  # other observations
    assert agent.cache.hits == 0 and agent.cache.misses == 2


def test_the_cache_keeps_the_acting_rollouts_at_large_batches_with_truncations():
    """Issue 21: at 400 envs x 5 steps the bootstrap and truncated episodes' final forwards
    overflow the 2,048 rows; the update must still find every acting step's rollouts."""
    bank = generate_levels(16, 6, 6, 1, seed=3)
    torch.manual_seed(0)
    agent = build_agent("i2a-perfect", SPEC, rollout_length=2, **SMALL)
    trainer = A2C(agent, SokobanVecEnv(bank, 400, max_steps=3, seed=0), A2CConfig(n_steps=5, lr_schedule="constant"),
                  seed=0)
    assert 5 * 400 <= agent.cache.max_rows < 5 * 400 + 400
    seen: list[tuple[torch.Tensor, torch.Tensor, bool]] = []
    handle = agent.encoder.register_forward_hook(  # the update's pass
        lambda module, args, out: seen.append((args[0].clone(), args[1].clone(), torch.is_grad_enabled())))
    encode = agent.encoder.encode  # acting encodes and keeps the encoding for the update

    def recorded(frames, rewards):
        seen.append((frames.clone(), rewards.clone(), torch.is_grad_enabled()))
        return encode(frames, rewards)

    agent.encoder.encode = recorded
    try:
        stats = trainer.train_step()
    finally:
        handle.remove()
    acting, update = [s for s in seen if not s[2]], [s for s in seen if s[2]]
    assert len(acting) == 5 + 1 + 1  # acting steps, bootstrap, the truncated episodes' last observations
    assert int(trainer._truncated.sum()) > 0 and agent.cache.refused > 0
    assert len(update) == 1 and agent.cache.hits == 1 and agent.cache.misses == 0
    assert torch.equal(update[0][0], torch.cat([frames for frames, _, _ in acting[:5]], dim=1))
    assert torch.equal(update[0][1], torch.cat([rewards for _, rewards, _ in acting[:5]], dim=1))
    assert float(stats["imagination/cache_hit"]) == 1 and float(stats["imagination/cache_miss"]) == 0


def test_a_miss_where_a_hit_was_expected_is_in_the_updates_stats():
    bank = generate_levels(16, 6, 6, 1, seed=3)
    torch.manual_seed(0)
    agent = build_agent("i2a-copy", SPEC, rollout_length=1, cache_rows=10, **SMALL)  # < 5 steps x 4 envs
    trainer = A2C(agent, SokobanVecEnv(bank, 4, max_steps=10, seed=0), A2CConfig(lr_schedule="constant"), seed=0)
    stats = trainer.train_step()
    assert float(stats["imagination/cache_miss"]) == 1 and float(stats["imagination/cache_hit"]) == 0
    assert agent.training_stats() == {"imagination/cache_hit": 0, "imagination/cache_miss": 0}  # since the last call
    # the cache grew to the rollout's 20 acting rows: that was the run's only miss
    assert agent.cache.max_rows == 20
    stats = trainer.train_step()
    assert float(stats["imagination/cache_hit"]) == 1 and float(stats["imagination/cache_miss"]) == 0
    assert build_agent("i2a-copy", SPEC, cache_rows=0, **SMALL).training_stats() == {}  # no cache, no hit expected


def test_swapping_a_parameter_free_model_is_a_new_version():
    agent = build_agent("i2a-perfect", SPEC, rollout_length=2, **SMALL)
    obs = sokoban_obs(3)
    with torch.inference_mode():
        agent(obs)
    agent.core.env_model = CopyModel()  # no parameters: weight versions alone would not see it
    seen = []
    agent.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    agent(obs)  # the gradient pass: imagines again
    assert agent.cache.hits == 0 and agent.cache.misses == 1
    assert torch.equal(seen[0][0], obs.repeat_interleave(5, 0))


def test_which_weight_writes_change_the_cache_version():
    """Optimizer steps, ``load_state_dict`` and in-place writes do; writes through ``.data``
    bypass autograd's version counters (documented in ``ImaginationCore.version``: reverie's one
    such write, the distributed start-up broadcast, happens while the cache is empty)."""
    agent = agent_with(Recorder(), rollout_length=1)
    version = agent.core.version()
    agent.rollout_policy.logits.bias.data.add_(1.0)
    assert agent.core.version() == version
    agent.load_state_dict(agent.state_dict())
    assert agent.core.version() != version
    version = agent.core.version()
    optimizer = torch.optim.SGD(agent.rollout_policy.parameters(), lr=0.1)
    agent.auxiliary_losses(torch.randn(2, 7, 6, 6), torch.randn(2, 5), torch.zeros(2))["distillation"].backward()
    optimizer.step()
    assert agent.core.version() != version


def test_evaluation_draws_imagined_actions_from_its_own_stream():
    agent = agent_with(Recorder(), rollout_length=3)
    obs = torch.zeros(4, 7, 6, 6)

    def actions():
        model = Recorder()
        agent.core.env_model = model
        with torch.no_grad():
            agent(obs)
        return torch.stack(model.actions)

    training_stream = agent.core.generator(torch.device("cpu")).get_state()
    agent.eval()
    first, second = actions(), actions()
    agent.train()
    assert torch.equal(agent.core.generator(torch.device("cpu")).get_state(), training_stream)
    agent.eval()
    assert torch.equal(actions(), first) and not torch.equal(first, second)  # each evaluation starts afresh
    agent.train()


class Latent:
    """A latent model: its state is a dict holding twice the observation."""

    def encode(self, obs, state=None):
        return {"z": obs * 2}

    def decode(self, state):
        return state["z"] / 2

    def step(self, state, action):
        z = state["z"] + 2
        return {"z": z}, z[:, 0, 0, 0] / 2, torch.zeros(z.shape[0], dtype=torch.bool)


def test_latent_models_imagine_through_encode_and_decode():
    agent = agent_with(Latent(), rollout_length=3)
    obs = torch.randn(2, 7, 6, 6)
    frames, rewards = agent.core(obs)
    for t in range(3):
        assert torch.allclose(frames[t], obs.repeat_interleave(5, 0) + t + 1)
    assert agent(obs)[0].shape == (2, 5)


def test_the_grid_model_fits_raw_transitions_as_its_compact_targets():
    model = tiny_model(seed=0)
    obs = sokoban_obs(6)
    action = torch.arange(6) % 5
    next_obs, reward, _ = PerfectModel().step(obs, action)
    raw = model.loss({"obs": obs, "action": action, "next_obs": next_obs, "reward": reward})
    compact = model.loss({"obs": obs, "action": action, "next_codes": next_obs.argmax(1),
                          "reward_class": model.rewards.to_classes(reward)})
    assert torch.equal(raw["loss"], compact["loss"])


def test_agents_build_from_a_spec_or_a_shape():
    assert build_agent("standard", SPEC).policy.out_features == 5
    assert build_agent("standard", (4,), 2).policy.out_features == 2
    with pytest.raises(ReverieError, match="has 5 actions, not 3"):
        build_agent("standard", SPEC, 3)
    with pytest.raises(ReverieError, match="needs the number of actions"):
        build_agent("standard", (7, 6, 6))


# -- variants and options ----------------------------------------------------------------------------

def test_option_errors():
    with pytest.raises(ReverieError, match="imagine must be one of"):
        build_agent("i2a", SPEC, imagine="mean")
    with pytest.raises(ReverieError, match="rollout_length must be a positive integer"):
        build_agent("i2a-copy", SPEC, rollout_length=0)
    with pytest.raises(ReverieError, match="image-like observations"):
        build_agent("i2a-copy", (4,), 2)
    with pytest.raises(ReverieError, match="has no perfect model"):
        build_agent("i2a-perfect", (3, 48, 48), 5)  # a shape alone is no world
    with pytest.raises(ReverieError, match="no default model to imagine with; pass model=PATH"):
        build_agent("i2a", (7, 6, 6), 5)
    with pytest.raises(ReverieError, match="model=/no/such/model.pt"):
        build_agent("i2a", SPEC, model="/no/such/model.pt")
    with pytest.raises(ReverieError, match="takes no option 'model'"):
        build_agent("i2a-copy", SPEC, model="sokoban-10x10")


def test_weights_refuse_another_environment_model():
    state = build_agent("i2a", SPEC, **SMALL).state_dict()
    build_agent("i2a", SPEC, **SMALL).load_state_dict(state)
    with pytest.raises(ReverieError, match="another environment model"):
        build_agent("i2a-perfect", SPEC, **SMALL).load_state_dict(state)


# -- training ----------------------------------------------------------------------------------------

def test_i2a_perfect_trains_through_the_real_trainer():
    bank = generate_levels(32, 6, 6, 1, seed=4)
    torch.manual_seed(0)
    agent = build_agent("i2a-perfect", SPEC, rollout_length=2, **SMALL)
    before = [p.detach().clone() for p in agent.parameters()]
    trainer = A2C(agent, SokobanVecEnv(bank, 8, max_steps=20, seed=0), A2CConfig(), total_frames=400, seed=0)
    for _ in range(6):
        stats = trainer.train_step()
        assert all(torch.isfinite(v) for v in stats.values())
    assert float(stats["aux/distillation"]) > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, agent.parameters()))
    assert agent.cache.hits == 6


TOTAL = 16 * 5 * 30


def train_command(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "reverie", "train", "--env", "sokoban-6x6-1", "--train-levels", "40",
            "--agent", "i2a", "--agent-options", "rollout_length=2,encoder_hidden=8,model=sokoban-10x10",
            "--num-envs", "16", "--frames", str(TOTAL), "--seed", "3", "--run-dir", str(run_dir),
            "--checkpoint-every", "800", "--log-every", "400", "--eval-episodes", "0", "--no-tensorboard",
            "--quiet", *extra]


def test_an_i2a_run_killed_after_a_checkpoint_resumes_exactly(tmp_path, isolated_runs):
    from reverie.cli.main import main

    reference = tmp_path / "reference"
    assert main(train_command(reference)[3:]) == 0
    config = json.loads((reference / "config.json").read_text())
    assert "model=sokoban-10x10" in config["train"]["agent_options"]

    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(SRC), REVERIE_CACHE=str(isolated_runs))
    process = subprocess.Popen(train_command(killed), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert load_checkpoint(killed / "checkpoint.pt", RUN_KIND)["trainer"]["frames"] < TOTAL
    done = subprocess.run([sys.executable, "-m", "reverie", "train", "--resume", str(killed), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    ours = load_checkpoint(killed / "checkpoint.pt", RUN_KIND)["trainer"]
    theirs = load_checkpoint(reference / "checkpoint.pt", RUN_KIND)["trainer"]
    assert ours["frames"] == theirs["frames"] == TOTAL
    assert ours["policy"].keys() == theirs["policy"].keys()
    for name, tensor in theirs["policy"].items():
        assert torch.equal(ours["policy"][name], tensor), name
    run = load_run(killed)
    assert isinstance(run.policy, I2A) and run.policy.env_model.config.channels == (16, 16)


def test_weights_of_another_model_are_refused_in_one_line():
    torch.manual_seed(0)
    trained = build_agent("i2a-perfect", SPEC, **SMALL).state_dict()
    other = build_agent("i2a-copy", SPEC, **SMALL)
    with pytest.raises(ReverieError) as caught:
        other.load_state_dict(trained)
    message = str(caught.value)
    assert "\n" not in message and "CopyModel" in message and "model=" in message


def test_pixel_frames_are_read_scaled_and_strided_by_every_network_of_the_agent():
    """I2A reads RGB Sokoban as the standard agent does (the pixel trunk on [0, 1] values), and its
    per-imagined-frame networks stride over a sprite at a time; grids keep their 3x3 readers."""
    from reverie.envs.registry import get_spec

    rgb = build_agent("i2a-copy", get_spec("sokoban-6x6-1", observation="rgb"), rollout_length=2)
    grid = build_agent("i2a-copy", get_spec("sokoban-6x6-1"), rollout_length=2)
    standard = build_agent("standard", get_spec("sokoban-6x6-1", observation="rgb"))
    assert [m.kernel_size for m in rgb.model_free if isinstance(m, torch.nn.Conv2d)] == \
        [m.kernel_size for m in standard.trunk if isinstance(m, torch.nn.Conv2d)]
    for reader in (rgb.encoder, rgb.rollout_policy):
        assert reader.conv.kernel_size == (8, 8) and reader.conv.stride == (4, 4) and reader.input_scale == 1 / 255
    for reader in (grid.encoder, grid.rollout_policy):
        assert reader.conv.kernel_size == (3, 3) and reader.input_scale == 1.0
    frames = torch.randint(0, 256, (4, 3, 48, 48), dtype=torch.uint8)
    policy = rgb.rollout_policy
    by_hand = policy.logits(torch.relu(policy.conv(frames.float() / 255)).flatten(1))
    assert torch.allclose(policy(frames), by_hand, atol=1e-6)
    logits, value = rgb(frames)
    assert logits.shape == (4, 5) and torch.isfinite(value).all()
