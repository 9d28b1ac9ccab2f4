"""The rollout encoder's replay: the update reuses the acting pass's conv and projection and
must get the codes and gradients a fresh pass gets."""

from __future__ import annotations

import pytest
import torch

from reverie.agents import build_agent
from reverie.agents.rollout_encoder import RolloutEncoder
from reverie.envs.registry import get_spec
from reverie.envs.sokoban import SokobanVecEnv, generate_levels
from reverie.training.actor_critic import A2C, A2CConfig

SMALL = dict(encoder_channels=4, encoder_hidden=8, rollout_channels=4, hidden=32)


def rollouts(shape, steps=3, rows=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    if shape[-1] >= 36:  # pixel frames, read scaled to [0, 1]
        frames = torch.randint(0, 256, (steps, rows, *shape), dtype=torch.uint8, generator=generator)
    else:  # one-hot planes
        codes = torch.randint(0, shape[0], (steps, rows, 1, *shape[1:]), generator=generator)
        frames = torch.zeros(steps, rows, *shape).scatter_(2, codes, 1.0)
    return frames, torch.randn(steps, rows, generator=generator)


@pytest.mark.parametrize("shape", [(7, 6, 6), (3, 40, 40)])
def test_replay_gives_the_codes_and_gradients_of_a_fresh_pass(shape):
    torch.manual_seed(0)
    encoder = RolloutEncoder(shape, channels=4, hidden=8)
    frames, rewards = rollouts(shape)
    with torch.no_grad():
        acting, encoding = encoder.encode(frames, rewards)
    fresh = encoder(frames, rewards)
    replayed = encoder(frames, rewards, replay=encoding)
    assert torch.equal(acting, fresh) and torch.equal(replayed, fresh)
    weights = list(encoder.parameters())
    direction = torch.randn_like(fresh)
    want = torch.autograd.grad(fresh, weights, direction)
    have = torch.autograd.grad(replayed, weights, direction)
    for (name, _), a, b in zip(encoder.named_parameters(), want, have):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)


def test_replay_is_skipped_without_gradients_and_under_autocast():
    torch.manual_seed(0)
    encoder = RolloutEncoder((7, 6, 6), channels=4, hidden=8)
    frames, rewards = rollouts((7, 6, 6))
    with torch.no_grad():
        _, encoding = encoder.encode(frames, rewards)
    stale = type(encoding)(encoding.features, encoding.projected + 1.0)  # a replay would show
    with torch.no_grad():
        assert torch.equal(encoder(frames, rewards, replay=stale), encoder(frames, rewards))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = encoder(frames, rewards, replay=stale)
        assert torch.equal(autocast, encoder(frames, rewards))


def trained_weights(replay: bool) -> dict[str, torch.Tensor]:
    """An I2A's weights after two A2C updates, the update replaying the acting pass's encoding or not."""
    torch.manual_seed(0)
    spec = get_spec("sokoban-6x6-1")
    agent = build_agent("i2a-perfect", spec, rollout_length=3, **SMALL)
    if not replay:
        encode = agent.encoder.encode
        agent.encoder.encode = lambda frames, rewards: (encode(frames, rewards)[0], None)
    replayed = []  # whether each gradient pass was handed the acting pass's encoding
    agent.encoder.register_forward_pre_hook(
        lambda module, args: replayed.append(len(args) > 2 and args[2] is not None) if torch.is_grad_enabled() else None)
    env = SokobanVecEnv(generate_levels(8, 6, 6, 1, seed=1), 8, seed=0)
    trainer = A2C(agent, env, A2CConfig(n_steps=4, lr_schedule="constant"), seed=0)
    for _ in range(2):
        stats = trainer.train_step()
        assert float(stats["imagination/cache_hit"]) == 1
    assert replayed == [replay, replay]
    return {k: v.clone() for k, v in agent.state_dict().items() if v.is_floating_point()}


def test_an_a2c_update_that_replays_trains_as_one_that_recomputes():
    replayed, recomputed = trained_weights(replay=True), trained_weights(replay=False)
    for name, weight in recomputed.items():
        torch.testing.assert_close(replayed[name], weight, rtol=1e-4, atol=1e-6, msg=name)


def test_a_write_to_the_encoder_between_acting_and_the_update_is_a_cache_miss():
    torch.manual_seed(0)
    agent = build_agent("i2a-copy", get_spec("sokoban-6x6-1"), rollout_length=2, **SMALL)
    obs = torch.zeros(3, 7, 6, 6).scatter_(1, torch.randint(0, 7, (3, 1, 6, 6)), 1.0)
    with torch.no_grad():
        agent(obs)
        agent.encoder.conv.weight.add_(0.5)  # its encoding is no longer what these weights compute
    agent(obs)
    assert agent.cache.hits == 0 and agent.cache.misses == 1
