"""World Models' parts: the MDN-RNN's mixture likelihood and masking, temperature, the VAE's free
nats, CMA-ES improving a controller, and dreams of a whole population at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, Normal

from reverie.agents.world_models import Controller, WorldModel, cma_search, dream_returns
from reverie.models.latent.mdn_rnn import MDNRNN, MDNRNNConfig, Mixture, mixture_log_likelihood
from reverie.models.latent.vae import VAE, VAEConfig

pytest.importorskip("cma")
pytestmark = pytest.mark.usefixtures("one_thread")


def test_mixture_log_likelihood_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    logits, mean, log_std = (torch.randn(4, 3, 5, generator=gen) for _ in range(3))
    z = torch.randn(4, 3, generator=gen)
    expected = MixtureSameFamily(Categorical(logits=logits), Normal(mean, log_std.exp())).log_prob(z).sum(-1)
    assert torch.allclose(mixture_log_likelihood(Mixture(logits, mean, log_std), z), expected, atol=1e-5)


def rnn(latent=3, actions=2, discrete=True, **extra) -> MDNRNN:
    torch.manual_seed(0)
    return MDNRNN(MDNRNNConfig(hidden=16, mixtures=4, latent=latent, action_dim=actions, discrete=discrete, **extra))


def test_sampling_follows_the_temperature():
    model = rnn()
    mixture = Mixture(torch.tensor([[[10.0, 0, 0, 0]]]).expand(2000, 3, 4), torch.zeros(2000, 3, 4),
                      torch.zeros(2000, 3, 4))              # one dominant unit Gaussian per dimension
    cold, hot = model.sample(mixture, 0.25), model.sample(mixture, 4.0)
    assert cold.std().item() == pytest.approx(0.5, rel=0.1) and hot.std().item() == pytest.approx(2.0, rel=0.15)


def test_the_rnn_loss_does_not_score_predictions_across_an_episode_start():
    model = rnn()
    b, t = 2, 5
    z, action = torch.randn(b, t, 3), torch.randint(0, 2, (b, t))
    reward, cont = torch.randn(b, t), torch.ones(b, t)
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = first[:, 2] = True
    base = model.loss(z, action, reward, cont, first)
    changed_reward, changed_cont = reward.clone(), cont.clone()
    changed_reward[:, 2], changed_cont[:, 2] = 100.0, 0.0   # targets of the 1 -> 2 step, which crosses the start
    again = model.loss(z, action, changed_reward, changed_cont, first)
    assert torch.allclose(base["loss"], again["loss"])
    changed_reward[:, 3] = 100.0                             # a step inside an episode is scored
    assert model.loss(z, action, changed_reward, cont, first)["loss"] > base["loss"]


def test_the_rnn_fits_a_deterministic_latent_sequence():
    model = rnn(latent=2, actions=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    b, t = 16, 6
    action = torch.randint(0, 2, (b, t), generator=torch.Generator().manual_seed(1))
    z = torch.cumsum(torch.nn.functional.one_hot(action, 2).float() - 0.5, 1) * 0.5   # z moves with the action
    first = torch.zeros(b, t, dtype=torch.bool)
    first[:, 0] = True
    losses = []
    for _ in range(150):
        parts = model.loss(z, action, torch.zeros(b, t), torch.ones(b, t), first)
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
        losses.append(float(parts["nll"]))
    assert losses[-1] < losses[0] - 3.0     # nats per step: the next code is predicted far better than at start


def test_the_vae_holds_its_kl_at_the_free_nats():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent=4, depth=4, embed=16, kl_tolerance=0.5, obs_kind="binary", obs_shape=(2, 8, 8)))
    obs = torch.randint(0, 2, (6, 2, 8, 8)).float()
    parts = vae.loss(obs)
    assert parts["kl"] < 2.0          # a fresh encoder is near the prior: the KL term is its floor, 0.5 x 4
    assert torch.allclose(parts["loss"], parts["recon"] + 2.0, atol=1e-4)
    assert vae.decode(torch.zeros(3, 4)).shape == (3, 2, 8, 8)


def test_cma_es_improves_a_controller_on_a_toy_objective():
    target = torch.linspace(-0.5, 0.5, 6)

    def fitness(params):
        return -(params - target).square().sum(-1)

    best, history = cma_search(fitness, 6, generations=40, popsize=12, sigma=0.3, seed=0)
    assert history[-1]["best_ever"] > history[0]["best"]
    assert np.abs(best - target.numpy()).max() < 0.05


def world(discrete=True):
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent=3, depth=4, embed=8, obs_kind="vector", obs_shape=(4,)))
    return WorldModel(vae, rnn(latent=3, actions=2, discrete=discrete))


@pytest.mark.parametrize("discrete", [True, False])
def test_a_population_dreams_at_once_as_each_member_would_alone(discrete):
    model = world(discrete)
    controller = Controller(model.feature_size, 2, discrete)
    params = torch.randn(5, controller.size, generator=torch.Generator().manual_seed(2)) * 0.5
    start = torch.randn(3, 3, generator=torch.Generator().manual_seed(3))
    together = dream_returns(model, controller, params, start, horizon=6, temperature=1e-6)
    alone = torch.cat([dream_returns(model, controller, params[i:i + 1], start, horizon=6, temperature=1e-6)
                       for i in range(5)])
    assert together.shape == (5,) and torch.allclose(together, alone, atol=1e-3)


def test_the_world_model_is_an_environment_model():
    model = world()
    state = model.encode(torch.randn(4, 4))
    nxt, reward, done = model.step(state, torch.tensor([0, 1, 0, 1]))
    assert nxt.z.shape == (4, 3) and reward.shape == (4,) and done.dtype == torch.bool
    assert model.decode(nxt).shape == (4, 4)
    assert model.remember(state, torch.tensor([0, 1, 0, 1])).h.shape == (4, 16)
