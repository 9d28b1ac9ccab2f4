"""Open-loop imagination: context filtering, then the real actions alone."""

from __future__ import annotations

import torch

from reverie.envs.registry import get_spec
from reverie.evaluation.open_loop import open_loop, save_open_loop_gif
from reverie.models.latent import RSSM, RSSMConfig


class Shift:
    """An observation model that knows the rule exactly: the frame's value grows by the action."""

    def step(self, obs, action):
        return obs + action.view(-1, 1).float(), torch.zeros(len(obs)), torch.zeros(len(obs), dtype=torch.bool)


def test_an_exact_model_imagines_the_real_frames_from_the_actions_alone():
    actions = torch.randint(0, 3, (8, 2))
    obs = torch.cat((torch.zeros(1, 2, 1), torch.cumsum(actions.float(), 0)[..., None]))   # [9, 2, 1]
    frames, error = open_loop(Shift(), obs, actions, context=3)
    assert frames.shape == (6, 2, 1) and torch.equal(frames, obs[3:]) and (error == 0).all()


def test_a_latent_model_filters_its_context_and_a_gif_is_drawn(tmp_path):
    spec = get_spec("minatar-breakout")
    torch.manual_seed(0)
    model = RSSM.for_spec(spec, RSSMConfig(deter=16, hidden=16, groups=2, classes=4, depth=4, embed=16))
    env = spec.make_env("test", 2, seed=0)
    obs, _ = env.reset(seed=0)
    frames, actions = [obs], []
    for _ in range(7):
        action = torch.randint(0, 3, (2,))
        obs, *_ = env.step(action)
        frames.append(obs)
        actions.append(action)
    imagined, error = open_loop(model, torch.stack(frames), torch.stack(actions), context=4)
    assert imagined.shape == (4, 2, 4, 10, 10) and error.shape == (4,)
    path = save_open_loop_gif(spec, torch.stack(frames)[4:, 0], imagined[:, 0], tmp_path / "open.gif")
    assert path.stat().st_size > 0
