"""Continuous actions in the spine: ActionSpec's bounds, EnvSpec's refusal where a command needs
discrete actions, every existing id unchanged, and the discrete commands refusing a continuous id
in one line with a non-zero exit and nothing written."""

from __future__ import annotations

import pytest
import torch

from reverie.cli.main import main
from reverie.core.errors import ReverieError
from reverie.envs.registry import env_ids, get_spec
from reverie.envs.spec import ActionSpec

CONTINUOUS = ("pendulum", "pendulum-pixels", "carracing")


def test_action_spec_bounds():
    torque = ActionSpec(n=0, low=(-2.0,), high=(2.0,))
    assert torque.continuous and torque.dim == 1 and torque.low == (-2.0,) and torque.high == (2.0,)
    steer = ActionSpec(n=0, names=("gas", "steer"), low=(-1, -0.5), high=(1, 0.5))
    assert steer.dim == 2 and steer.low == (-1.0, -0.5)
    moves = ActionSpec(4, ("up", "down", "left", "right"))
    assert not moves.continuous and moves.dim == 0 and moves.low == () and moves.name(2) == "left"


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=1, low=(-1.0,), high=(1.0,)), "n=0"),
    (dict(n=0, low=(-1.0, 0.0), high=(1.0,)), "lower bounds"),
    (dict(n=0, low=(1.0,), high=(1.0,)), "low < high"),
    (dict(n=0, low=(float("-inf"),), high=(1.0,)), "finite"),
    (dict(n=0), "at least one action"),
    (dict(n=0, names=("a", "b"), low=(0.0,), high=(1.0,)), "names"),
])
def test_action_spec_refuses_bad_bounds(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ActionSpec(**kwargs)


def test_every_other_id_keeps_discrete_actions():
    ids = env_ids()
    assert set(CONTINUOUS) <= set(ids)
    for env_id in ids:
        spec = get_spec(env_id)
        if env_id in CONTINUOUS:
            assert spec.continuous
        else:
            assert not spec.continuous and spec.num_actions == spec.actions.n >= 1 and spec.actions.low == ()


@pytest.mark.parametrize("env_id", CONTINUOUS)
def test_num_actions_of_a_continuous_id_is_a_one_line_error(env_id):
    with pytest.raises(ReverieError, match="has continuous actions.*needs discrete actions") as err:
        get_spec(env_id).num_actions
    assert "\n" not in str(err.value)


def test_agents_and_evaluation_refuse_continuous_ids():
    from reverie.agents.actor_critic import build_agent
    from reverie.evaluation.evaluate import evaluate_policy

    for agent in ("standard", "i2a-perfect"):
        with pytest.raises(ReverieError, match="continuous actions"):
            build_agent(agent, get_spec("pendulum-pixels"))
    with pytest.raises(ReverieError, match="continuous actions"):
        evaluate_policy(torch.nn.Linear(3, 1), get_spec("pendulum"), "test", 2)


@pytest.mark.parametrize("args", [
    ["train", "--env", "pendulum-pixels", "--frames", "64", "--num-envs", "2"],
    ["train", "--env", "pendulum-pixels", "--agent", "i2a", "--frames", "64", "--num-envs", "2"],
    ["model", "collect", "--env", "pendulum", "--train-frames", "64", "--valid-frames", "16"],
    ["model", "collect", "--env", "pendulum-pixels", "--train-frames", "64", "--valid-frames", "16"],
    ["search", "--levels", "pendulum-pixels:test", "--budget", "4", "--episodes", "1"],
])
def test_discrete_commands_refuse_a_continuous_id(args, tmp_path, capsys):
    out = tmp_path / "out"
    flag = {"train": "--run-dir", "model": "--out"}.get(args[0])
    code = main(args + ([flag, str(out)] if flag else []))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "continuous actions" in err and "discrete" in err
    assert not out.exists()
