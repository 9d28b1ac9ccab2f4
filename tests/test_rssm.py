"""The RSSM's mechanics: shapes for every observation kind, the KL terms, free bits, resets at
episode starts, gradient flow, the EnvironmentModel interface, and learning a tiny world."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from reverie.core.errors import ReverieError
from reverie.models.base import LatentModel, initial_state, observe
from reverie.models.latent import RSSM, LatentState, ObsDecoder, ObsEncoder, RSSMConfig, symexp, symlog

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dict(deter=32, hidden=32, groups=4, classes=4, gaussian_size=8, depth=8, embed=32)


def rssm(kind="binary", shape=(4, 10, 10), actions=3, **extra) -> RSSM:
    torch.manual_seed(0)
    return RSSM(RSSMConfig(**(SMALL | extra), obs_kind=kind, obs_shape=shape, action_dim=actions))


def sequences(model: RSSM, b=3, t=5) -> dict[str, torch.Tensor]:
    c = model.config
    gen = torch.Generator().manual_seed(1)
    if c.obs_kind == "rgb":
        obs = torch.randint(0, 256, (b, t, *c.obs_shape), generator=gen, dtype=torch.uint8)
    elif c.obs_kind == "onehot":
        codes = torch.randint(0, c.obs_shape[0], (b, t, *c.obs_shape[1:]), generator=gen)
        obs = torch.nn.functional.one_hot(codes, c.obs_shape[0]).movedim(-1, 2).float()
    else:
        obs = torch.randint(0, 2, (b, t, *c.obs_shape), generator=gen).float()
    is_first = torch.zeros(b, t, dtype=torch.bool)
    is_first[:, 0] = True
    return {"obs": obs, "action": torch.randint(0, c.action_dim, (b, t), generator=gen),
            "reward": torch.randn(b, t, generator=gen), "cont": torch.ones(b, t), "is_first": is_first}


@pytest.mark.parametrize("kind,shape", [("binary", (4, 10, 10)), ("binary", (3, 15, 19)), ("onehot", (7, 6, 6)),
                                        ("rgb", (3, 64, 64)), ("rgb", (2, 84, 84)), ("vector", (5,))])
def test_encoder_and_decoder_fit_every_observation_shape(kind, shape):
    encoder, decoder = ObsEncoder(kind, shape, depth=4, embed=16), ObsDecoder(kind, shape, features=24, depth=4)
    obs = torch.zeros(2, *shape, dtype=torch.uint8 if kind == "rgb" else torch.float32)
    assert encoder(obs).shape == (2, 16)
    assert decoder(torch.zeros(2, 24)).shape == (2, *shape)


@pytest.mark.parametrize("latent", ["categorical", "gaussian"])
def test_observe_gives_posterior_and_prior_of_the_right_shapes(latent):
    model = rssm(latent=latent)
    batch = sequences(model)
    states, post, prior = model.observe(batch["obs"], batch["action"], batch["is_first"])
    stoch = 16 if latent == "categorical" else 8
    params = stoch if latent == "categorical" else 2 * stoch
    assert states.deter.shape == (3, 5, 32) and states.stoch.shape == (3, 5, stoch)
    assert post.shape == prior.shape == (3, 5, params)
    assert states.features.shape == (3, 5, 32 + stoch) and model.feature_size == 32 + stoch
    if latent == "categorical":   # each group of the sampled latent is one-hot
        groups = states.stoch.view(3, 5, 4, 4)
        assert torch.allclose(groups.sum(-1), torch.ones(3, 5, 4)) and ((groups - groups.round()).abs() < 1e-6).all()


def test_categorical_kl_matches_a_hand_computation():
    model = rssm(unimix=0.0)
    post, prior = torch.randn(2, 16), torch.randn(2, 16)
    p, q = post.view(2, 4, 4).softmax(-1), prior.view(2, 4, 4).softmax(-1)
    expected = (p * (p / q).log()).sum((1, 2))
    assert torch.allclose(model.kl(post, prior), expected, atol=1e-6)
    assert torch.allclose(model.kl(post, post), torch.zeros(2), atol=1e-6)


def test_unimix_mixes_the_uniform_into_the_probabilities():
    model = rssm(unimix=0.01)
    logits = torch.tensor([[50.0, 0, 0, 0] * 4])
    probs = model.probabilities(logits)
    assert torch.allclose(probs[0, 0], torch.tensor([0.99 + 0.0025, 0.0025, 0.0025, 0.0025]), atol=1e-6)


def test_gaussian_kl_matches_torch_distributions():
    model = rssm(latent="gaussian")
    post, prior = torch.randn(3, 16), torch.randn(3, 16)
    (m1, s1), (m2, s2) = model.gaussian(post), model.gaussian(prior)
    expected = kl_divergence(Normal(m1, s1), Normal(m2, s2)).sum(-1)
    assert torch.allclose(model.kl(post, prior), expected, atol=1e-5)
    assert (model.gaussian(torch.full((1, 16), -30.0))[1] >= 0.1).all()   # min_std


def test_free_bits_hold_each_kl_term_from_below_and_balance_the_gradients():
    model = rssm(free_nats=1.0, dyn_scale=0.5, rep_scale=0.1)
    post = torch.zeros(1, 16, requires_grad=True)
    prior = torch.zeros(1, 16, requires_grad=True)
    loss, dyn, rep = model.kl_loss(post, prior)        # equal distributions: KL 0, held at 1 nat
    assert torch.allclose(dyn, torch.zeros(1), atol=1e-6) and torch.allclose(loss, torch.tensor([0.6]))
    loss.sum().backward()
    assert post.grad.abs().sum() == 0 and prior.grad.abs().sum() == 0   # below the free bits: no gradient
    post = torch.randn(1, 16).mul(5).requires_grad_()
    prior = torch.zeros(1, 16, requires_grad=True)
    loss, dyn, rep = model.kl_loss(post, prior)
    assert dyn.item() > 1 and torch.allclose(dyn, rep)
    torch.autograd.grad(loss.sum(), [post, prior])
    g_post, g_prior = torch.autograd.grad(model.kl_loss(post, prior)[0].sum(), [post, prior])
    g_post_rep, g_prior_rep = torch.autograd.grad(model.kl(post, prior).sum(), [post, prior])
    assert torch.allclose(g_post, 0.1 * g_post_rep, atol=1e-6)     # the posterior moves by rep only
    assert torch.allclose(g_prior, 0.5 * g_prior_rep, atol=1e-6)   # the prior by dyn only


def test_an_episode_start_resets_the_state():
    model = rssm()
    batch = sequences(model, b=2, t=4)
    batch["is_first"][:, 2] = True
    torch.manual_seed(3)
    states, _, _ = model.observe(batch["obs"], batch["action"], batch["is_first"], sample=False)
    fresh = model.encode(batch["obs"][:, 2])
    assert torch.allclose(states.deter[:, 2], fresh.deter, atol=1e-6)
    assert torch.allclose(states.stoch[:, 2], fresh.stoch, atol=1e-6)


@pytest.mark.parametrize("kind,shape", [("binary", (4, 10, 10)), ("onehot", (7, 6, 6)), ("rgb", (3, 16, 16))])
def test_gradients_reach_every_parameter(kind, shape):
    model = rssm(kind, shape, free_nats=0.0)   # at init the KL is under the free bits, which stop its gradient
    batch = sequences(model)
    batch["cont"][:, -1] = 0.0
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    model.loss(batch)["loss"].backward()
    optimizer.step()                             # the reward head's last layer starts at zero
    optimizer.zero_grad()
    parts = model.loss(batch)
    parts["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing
    assert set(parts) >= {"loss", "recon", "reward_loss", "cont_loss", "kl_dyn", "kl_rep"}


def test_it_is_an_environment_model_with_a_state_of_its_own():
    model = rssm()
    assert isinstance(model, LatentModel)
    obs = torch.randint(0, 2, (6, 4, 10, 10)).float()
    state = initial_state(model, obs)
    assert isinstance(state, LatentState) and state.deter.shape == (6, 32)
    nxt, reward, done = model.step(state, torch.tensor([0, 1, 2, 0, 1, 2]))
    assert reward.shape == (6,) and done.dtype == torch.bool and not done.any()   # the continue head starts high
    frames = observe(model, nxt)
    assert frames.shape == obs.shape and set(frames.unique().tolist()) <= {0.0, 1.0}


def test_continuous_actions_are_checked():
    torch.manual_seed(0)
    model = RSSM(RSSMConfig(**SMALL, obs_kind="vector", obs_shape=(3,), action_dim=1, discrete=False))
    state = model.encode(torch.zeros(4, 3))
    assert model.step(state, torch.zeros(4, 1))[0].deter.shape == (4, 32)
    with pytest.raises(ValueError, match="continuous actions"):
        model.step(state, torch.zeros(4))


def test_bad_configs_are_refused():
    with pytest.raises(ReverieError, match="latent"):
        RSSMConfig(latent="beta")
    with pytest.raises(ReverieError, match="world"):
        RSSM(RSSMConfig())
    with pytest.raises(ReverieError, match="needs sequences"):
        rssm().loss({"obs": torch.zeros(1, 1, 4, 10, 10)})


def test_symlog_and_symexp_are_inverse():
    x = torch.tensor([-100.0, -1.0, 0.0, 0.5, 1e3])
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-5)


def test_it_learns_a_tiny_world_and_imagines_it_open_loop():
    """A dot on a 1x8 strip moves left or right with the action; reward 1 on the last cell. After
    fitting, the prior alone (no observations) imagines the dot's path and the reward."""
    torch.manual_seed(0)
    model = RSSM(RSSMConfig(**SMALL, obs_kind="binary", obs_shape=(1, 1, 8), action_dim=2))
    gen = torch.Generator().manual_seed(0)

    def episodes(b, t):
        pos = torch.randint(0, 8, (b,), generator=gen)
        actions = torch.randint(0, 2, (b, t), generator=gen)
        obs, rewards = [], []
        for i in range(t):
            if i:
                pos = (pos + 2 * actions[:, i] - 1).clamp(0, 7)
            obs.append(torch.nn.functional.one_hot(pos, 8).float().view(b, 1, 1, 8))
            rewards.append((pos == 7).float() * (i > 0))
        first = torch.zeros(b, t, dtype=torch.bool)
        first[:, 0] = True
        actions[:, 0] = 0
        return {"obs": torch.stack(obs, 1), "action": actions, "reward": torch.stack(rewards, 1),
                "cont": torch.ones(b, t), "is_first": first}

    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(500):
        parts = model.loss(episodes(32, 8))
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
    test = episodes(64, 6)
    state = model.encode(test["obs"][:, 0])
    frames_right = rewards_right = 0.0
    for i in range(1, 6):
        state, reward, _ = model.step(state, test["action"][:, i])
        frames_right += (model.decode(state) == test["obs"][:, i]).all(-1).flatten().float().mean().item() / 5
        rewards_right += ((reward - test["reward"][:, i]).abs() < 0.3).float().mean().item() / 5
    assert frames_right > 0.95 and rewards_right > 0.95
