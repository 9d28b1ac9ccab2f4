"""n-step returns and GAE against hand-computed cases: termination, truncation, auto-reset."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import PROPERTY
from reverie.training.returns import (
    gae_advantages,
    n_step_returns,
    next_values,
    returns_and_advantages,
)


def col(*values, dtype=torch.float32) -> torch.Tensor:
    """A [T, 1] tensor: one env over T steps."""
    return torch.tensor(values, dtype=dtype).view(-1, 1)


def flags(*values) -> torch.Tensor:
    return col(*values, dtype=torch.bool)


NONE = flags(False, False, False)


def test_n_step_without_episode_end_bootstraps_from_the_last_value():
    # R2 = 3 + .5 * 10 = 8, R1 = 2 + .5 * 8 = 6, R0 = 1 + .5 * 6 = 4
    returns = n_step_returns(col(1, 2, 3), col(0, 0, 0), torch.tensor([10.0]), NONE, NONE, gamma=0.5)
    assert returns.flatten().tolist() == [4.0, 6.0, 8.0]


def test_termination_cuts_the_return_and_the_next_episode_bootstraps_alone():
    # terminated at t=1: R1 = 2; R0 = 1 + .5 * 2 = 2; t=2 is the next episode: R2 = 3 + .5 * 10 = 8
    returns = n_step_returns(col(1, 2, 3), col(0, 0, 0), torch.tensor([10.0]),
                             flags(False, True, False), NONE, col(0, 99, 0), gamma=0.5)
    assert returns.flatten().tolist() == [2.0, 2.0, 8.0]


def test_truncation_bootstraps_from_the_final_observation_value():
    # truncated at t=1 with V(final_obs) = 4: R1 = 2 + .5 * 4 = 4; R0 = 1 + .5 * 4 = 3; R2 = 8.
    # values[2] (the reset observation's value, 7) must not be used for t=1.
    returns = n_step_returns(col(1, 2, 3), col(5, 6, 7), torch.tensor([10.0]),
                             NONE, flags(False, True, False), col(0, 4, 0), gamma=0.5)
    assert returns.flatten().tolist() == [3.0, 4.0, 8.0]


def test_episode_end_on_the_last_step_ignores_the_bootstrap():
    terminated = n_step_returns(col(1, 2), col(0, 0), torch.tensor([10.0]), flags(False, True),
                                flags(False, False), gamma=0.5)
    assert terminated.flatten().tolist() == [2.0, 2.0]
    truncated = n_step_returns(col(1, 2), col(0, 0), torch.tensor([10.0]), flags(False, False),
                               flags(False, True), col(0, 6), gamma=0.5)
    assert truncated.flatten().tolist() == [3.5, 5.0]  # R1 = 2 + .5*6, R0 = 1 + .5*5


def test_two_episode_ends_in_one_rollout_and_envs_are_independent():
    # env 0: truncated at t=0 (V=2), terminated at t=2; env 1: nothing ends (bootstrap 4).
    rewards = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    terminated = torch.tensor([[False, False], [False, False], [True, False]])
    truncated = torch.tensor([[True, False], [False, False], [False, False]])
    final = torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    returns = n_step_returns(rewards, torch.zeros(3, 2), torch.tensor([100.0, 4.0]), terminated, truncated,
                             final, gamma=0.5)
    # env 0: R2 = 1, R1 = 1 + .5 = 1.5, R0 = 1 + .5 * 2 = 2
    # env 1: R2 = 1 + 2 = 3, R1 = 1 + 1.5 = 2.5, R0 = 1 + 1.25 = 2.25
    assert returns[:, 0].tolist() == [2.0, 1.5, 1.0]
    assert returns[:, 1].tolist() == [2.25, 2.5, 3.0]


def test_next_values_picks_following_value_final_value_or_zero():
    values = col(1, 2, 3, 4)
    result = next_values(values, torch.tensor([9.0]), flags(False, True, False, False),
                         flags(False, False, True, False), col(-1, -2, -3, -4))
    assert result.flatten().tolist() == [2.0, 0.0, -3.0, 9.0]


def test_gae_hand_computed():
    # gamma .5, lambda .5, values [1, 2], bootstrap 4, rewards [1, 1], no episode end:
    # delta1 = 1 + .5*4 - 2 = 1; delta0 = 1 + .5*2 - 1 = 1; A1 = 1; A0 = 1 + .25 * 1 = 1.25
    adv = gae_advantages(col(1, 1), col(1, 2), torch.tensor([4.0]), flags(False, False), flags(False, False),
                         gamma=0.5, gae_lambda=0.5)
    assert adv.flatten().tolist() == [1.25, 1.0]
    # truncated at t=0 with V(final) = 6: delta0 = 1 + 3 - 1 = 3 and no carry from t=1
    adv = gae_advantages(col(1, 1), col(1, 2), torch.tensor([4.0]), flags(False, False), flags(True, False),
                         col(6, 0), gamma=0.5, gae_lambda=0.5)
    assert adv.flatten().tolist() == [3.0, 1.0]
    # terminated at t=0: delta0 = 1 - 1 = 0
    adv = gae_advantages(col(1, 1), col(1, 2), torch.tensor([4.0]), flags(True, False), flags(False, False),
                         col(6, 0), gamma=0.5, gae_lambda=0.5)
    assert adv.flatten().tolist() == [0.0, 1.0]


def test_returns_and_advantages_forms():
    args = (col(1, 2, 3), col(0.5, 1, 2), torch.tensor([10.0]), flags(False, True, False), NONE, None)
    returns, adv = returns_and_advantages(*args, gamma=0.5)
    assert torch.equal(adv, returns - col(0.5, 1, 2))
    lam_returns, lam_adv = returns_and_advantages(*args, gamma=0.5, gae_lambda=0.9)
    assert torch.allclose(lam_returns, lam_adv + col(0.5, 1, 2))
    with pytest.raises(ValueError, match="gae_lambda"):
        returns_and_advantages(*args, gae_lambda=1.5)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="values has shape"):
        n_step_returns(col(1, 2), col(1), torch.tensor([0.0]), flags(False, False), flags(False, False))
    with pytest.raises(ValueError, match="bootstrap"):
        n_step_returns(col(1, 2), col(1, 2), torch.tensor([0.0, 1.0]), flags(False, False), flags(False, False))


def reference_returns(rewards, values, bootstrap, terminated, truncated, final, gamma, lam):
    """Per-env, per-step loops over Python floats: an independent statement of the maths."""
    T, N = len(rewards), len(rewards[0])
    returns = [[0.0] * N for _ in range(T)]
    advantages = [[0.0] * N for _ in range(T)]
    for i in range(N):
        running, gae = bootstrap[i], 0.0
        for t in reversed(range(T)):
            if terminated[t][i]:
                follow, carry = 0.0, 0.0
            elif truncated[t][i]:
                follow, carry = final[t][i], 0.0
            else:
                follow = values[t + 1][i] if t + 1 < T else bootstrap[i]
                carry = 1.0
            running = rewards[t][i] + gamma * (follow if carry == 0.0 else running)
            returns[t][i] = running
            gae = rewards[t][i] + gamma * follow - values[t][i] + gamma * lam * carry * gae
            advantages[t][i] = gae
    return returns, advantages


@PROPERTY
@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1),
       st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_batched_matches_reference(T, N, seed, gamma, lam):
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(T, N, generator=g, dtype=torch.float64)
    values = torch.randn(T, N, generator=g, dtype=torch.float64)
    bootstrap = torch.randn(N, generator=g, dtype=torch.float64)
    final = torch.randn(T, N, generator=g, dtype=torch.float64)
    ends = torch.randint(0, 4, (T, N), generator=g)
    terminated, truncated = ends == 1, ends == 2
    final = torch.where(truncated, final, torch.zeros_like(final))
    ref_returns, ref_adv = reference_returns(rewards.tolist(), values.tolist(), bootstrap.tolist(),
                                             terminated.tolist(), truncated.tolist(), final.tolist(), gamma, lam)
    returns = n_step_returns(rewards, values, bootstrap, terminated, truncated, final, gamma)
    assert torch.allclose(returns, torch.tensor(ref_returns, dtype=torch.float64))
    adv = gae_advantages(rewards, values, bootstrap, terminated, truncated, final, gamma, lam)
    assert torch.allclose(adv, torch.tensor(ref_adv, dtype=torch.float64))
    # lambda = 1 is the n-step advantage
    adv1 = gae_advantages(rewards, values, bootstrap, terminated, truncated, final, gamma, 1.0)
    assert torch.allclose(adv1, returns - values)
