"""Monte-Carlo search with imagination: the I2A paper's "MC search" baseline.

At every real step each level imagines ``ceil(budget / depth)`` rollouts of up to ``depth``
steps with an environment model (perfect or learned). Rollout ``k`` starts with action
``k mod A``, so every first action gets the same share, as in I2A's one rollout per action;
a rollout policy picks the rest (an I2A run's distilled rollout policy, see
:mod:`.guides`, or uniform random). The agent takes the first action of the rollout with
the best discounted imagined return. A rollout the model predicts to solve the level
becomes a plan (``commit``): the next steps follow it without imagining, as long as the
real states are the ones the model predicted; a misprediction drops the plan.

Why it is here: with a poor model the predicted returns are wrong and the search acts on
them, where I2A learns how far to trust its imagination. All ``B x K`` rollouts of all
levels run as one batch; the Python loop is over rollout steps only. Budgets are imagined
steps per level per decision, charged as in :mod:`.compact_model` (the last rollout is cut to
the steps left; rollouts the model predicts to end the episode stop early and spend less).
States are the spec's compact observations, so any world with discrete actions and a codec
can be searched.
Random draws are counter-based per level (:mod:`reverie.core.counter_rng`), so batching never changes
a level's search.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.errors import ReverieError
from .compact_model import CompactModel, check_states, state_size
from ..core.counter_rng import hash32, level_keys, uniform

__all__ = ["MCSearchConfig", "MCSearch"]


@dataclass
class MCSearchConfig:
    """Settings of :class:`MCSearch` (budgets are per level per decision)."""

    budget: int = 1000  # imagined steps per level per decision
    depth: int = 10  # steps per rollout, the forced first one included
    gamma: float = 0.99  # discount of imagined returns
    commit: bool = True  # follow a rollout predicted to solve the level
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.budget, int) or self.budget < 1:
            raise ReverieError(f"the search budget must be a positive integer of imagined steps, got {self.budget!r}")
        if not isinstance(self.depth, int) or self.depth < 1:
            raise ReverieError(f"the rollout depth must be a positive integer, got {self.depth!r}")
        if not 0 < self.gamma <= 1:
            raise ReverieError(f"gamma must be in (0, 1], got {self.gamma}")


class MCSearch:
    """Batched MC search over ``model`` in the world of ``spec``: ``start(states)``, then per real
    step ``act()`` and ``advance(actions, states)``; states are compact (``spec.observation.encode``)."""

    def __init__(self, model, spec, config: MCSearchConfig | None = None, rollout_policy=None) -> None:
        self.model, self.policy, self.spec = model, rollout_policy, spec
        self.config = config or MCSearchConfig()
        self.num_actions = spec.num_actions
        cfg = self.config
        self.rollouts = -(-cfg.budget // cfg.depth)
        # steps of each rollout: the last one is cut so the total is exactly the budget
        self.lengths = torch.full((self.rollouts,), cfg.depth, dtype=torch.long)
        self.lengths[-1] = cfg.budget - cfg.depth * (self.rollouts - 1)

    def start(self, states: torch.Tensor, keys: torch.Tensor | None = None) -> None:
        """Levels starting at compact ``states [B, ...]``; ``keys [B]`` name their random streams."""
        states = check_states(states, self.spec.observation)
        b, device = states.shape[0], states.device
        self.B, self.hw = b, state_size(self.spec.observation)
        self.keys = level_keys(self.config.seed, torch.arange(b, device=device)) if keys is None else keys.long()
        self.stepper = CompactModel(self.model, self.spec.observation, b, device)
        self.draws = torch.zeros(b, dtype=torch.long, device=device)
        self.current = states.reshape(b, -1).clone()
        self.plan = torch.zeros(b, 0, dtype=torch.long, device=device)
        self.plan_states = torch.zeros(b, 0, self.hw, dtype=states.dtype, device=device)
        self.plan_pos = torch.zeros(b, dtype=torch.long, device=device)
        self.plan_len = torch.zeros(b, dtype=torch.long, device=device)
        self.last_imagined = torch.zeros(b, dtype=torch.long, device=device)
        self.lengths = self.lengths.to(device)

    @torch.no_grad()
    def act(self, active: torch.Tensor | None = None) -> torch.Tensor:
        """The action to take in each level ``[B]`` (0 where inactive)."""
        b, device = self.B, self.current.device
        active = torch.ones(b, dtype=torch.bool, device=device) if active is None else active
        before = self.stepper.imagined.clone()
        planned = active & (self.plan_pos < self.plan_len)
        actions = torch.zeros(b, dtype=torch.long, device=device)
        if planned.any():
            actions[planned] = self.plan[planned, self.plan_pos[planned]]
            self.plan_pos += planned.long()
        levels = (active & ~planned).nonzero().squeeze(1)
        if levels.numel():
            actions[levels] = self._search(levels)
        self.last_imagined = self.stepper.imagined - before
        return actions

    def _search(self, levels: torch.Tensor) -> torch.Tensor:
        """Imagine every rollout of ``levels`` and return their chosen first actions."""
        cfg, k, a = self.config, self.rollouts, self.num_actions
        n = levels.numel()
        lvl = levels.repeat_interleave(k)  # row r: level lvl[r], rollout r % k
        slot = torch.arange(k, device=lvl.device).repeat(n)
        length = self.lengths[slot]
        row_keys = hash32(self.keys[lvl] ^ hash32(slot + 0x3C6EF372))
        counter = self.draws[lvl] * (cfg.depth + 1)
        self.draws[levels] += 1
        state = self.current[lvl].clone()
        action = slot % a
        total = torch.zeros(lvl.numel(), device=lvl.device)
        discount = torch.ones_like(total)
        alive = torch.ones(lvl.numel(), dtype=torch.bool, device=lvl.device)
        solved_at = torch.full_like(length, -1)
        taken = torch.zeros(lvl.numel(), cfg.depth, dtype=torch.long, device=lvl.device)
        states = torch.zeros(lvl.numel(), cfg.depth, self.hw, dtype=state.dtype, device=lvl.device)
        for t in range(cfg.depth):
            idx = (alive & (length > t)).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            if t:
                rows = state[idx]
                logits = self.policy(rows) if self.policy is not None else torch.zeros(len(idx), a, device=rows.device)
                gumbel = -torch.log(-torch.log(uniform(row_keys[idx], counter[idx] + t, a))).to(logits.device)
                action[idx] = (logits.float() + gumbel.float()).argmax(1)
            nxt, reward, term = self.stepper.step(state[idx], action[idx], lvl[idx])
            state[idx] = nxt
            taken[idx, t], states[idx, t] = action[idx], nxt
            total[idx] += discount[idx] * reward
            discount[idx] *= cfg.gamma
            alive[idx] = ~term
            solved_at[idx[term]] = t
        ties = uniform(self.keys[levels], counter[::k] + cfg.depth, k).float()
        pick = (total.view(-1, k) + 1e-6 * ties).argmax(1)  # ties broken at random
        best = torch.arange(levels.numel(), device=lvl.device) * k + pick
        if cfg.commit:
            self._commit(levels, taken[best], states[best], solved_at[best])
        return taken[best, 0]

    def _commit(self, levels: torch.Tensor, acts: torch.Tensor, states: torch.Tensor, solved_at: torch.Tensor) -> None:
        """Plans for the levels whose best rollout is predicted to solve them."""
        hit = solved_at >= 0
        if not bool(hit.any()):
            return
        if self.plan.shape[1] < acts.shape[1]:
            self.plan = torch.zeros(self.B, acts.shape[1], dtype=torch.long, device=acts.device)
            self.plan_states = torch.zeros(self.B, acts.shape[1], self.hw, dtype=states.dtype, device=acts.device)
        rows = levels[hit]
        self.plan[rows, :acts.shape[1]] = acts[hit]
        self.plan_states[rows, :acts.shape[1]] = states[hit]
        self.plan_len[rows] = solved_at[hit] + 1
        self.plan_pos[rows] = 1  # the first action is taken now

    @torch.no_grad()
    def advance(self, actions: torch.Tensor, states: torch.Tensor, active: torch.Tensor | None = None) -> None:
        """Note the real next compact ``states [B, ...]``; plans whose predicted state differs are dropped."""
        codes = check_states(states, self.spec.observation).reshape(self.B, -1)
        active = torch.ones(self.B, dtype=torch.bool, device=codes.device) if active is None else active
        self.current[active] = codes[active]
        if self.plan.shape[1]:
            step = (self.plan_pos - 1).clamp(min=0, max=self.plan.shape[1] - 1)
            expected = self.plan_states[torch.arange(self.B, device=codes.device), step]
            wrong = active & (self.plan_pos > 0) & ~(expected == codes).all(1)
            self.plan_len[wrong], self.plan_pos[wrong] = 0, 0

    def search(self, states: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        """One decision from compact ``states [B, ...]``."""
        self.start(states, keys)
        return self.act()
