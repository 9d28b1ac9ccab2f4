"""Monte-Carlo tree search over any environment model, many levels searched as one batch.

Two flavours share one loop (the I2A paper's "MCTS with a perfect simulator" baseline):

- **UCT** (no guide): UCB1 on min-max-normalised values, every untried action first, and a
  random rollout of ``rollout_depth`` imagined steps to value each new leaf;
- **PUCT** (a guide from a trained agent, see :mod:`.guides`): AlphaZero's rule with the
  agent's policy as the prior and its value head valuing new leaves (no rollout by default).

Any world whose spec has discrete actions and a compact observation codec can be searched:
nodes hold compact states (``spec.observation.encode``: cell codes for grids, see
:mod:`.compact_model`), a node is terminal where the model says its step ended the episode,
and roots (states of the real game, which stops when it ends) are never terminal.

Why tensors and not node objects: the trees of ``B`` levels live in ``[B, capacity, A]``
tensors (visits, value sums, rewards, priors, children) and ``[B, capacity, N]`` compact
states; one simulation of every level is a few whole-batch operations per tree depth, and the
model is called once per simulation round on the rows that need a step. No Python loop
runs over levels, actions or cells.

The budget is in **imagined steps per level per decision** (model calls x rows, charged to
the level each row belongs to). A simulation costs one step for its new node plus its
rollout, the last rollout is cut to the steps left, and the model only ever sees rows that
still have budget, so a level never exceeds its budget and, unless its search stops early,
spends it exactly. Early stops: the search found a solved state (``stop_on_solution``: the
path to it becomes a plan that the next decisions follow for free, re-checked against the
real states), or the simulation cap (``budget`` simulations) was reached by simulations that
ended on known terminal states.

Each new node takes one imagined step, so the search explores one edge per simulation
(AlphaZero style) rather than expanding all ``A`` children at once. Edges whose predicted
state equals their parent's (walking into a wall) are pruned: in a deterministic game with a
step cost they are never better than the action that stays; more generally an edge whose state
repeats any state on its path from the root closes a cycle, and every cycle is beaten by the
same path without it, so those are pruned too. ``reuse_tree`` keeps the
subtree under the action taken when the real next state is the one the tree predicted.
Random choices (rollout actions, tie-breaking) are counter-based hashes of each level's key
(:mod:`reverie.core.counter_rng`), so a level is searched identically alone or in any batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.errors import ReverieError
from .compact_model import CompactModel, check_states, state_size
from ..core.counter_rng import level_keys, uniform

__all__ = ["MCTSConfig", "MCTS"]


@dataclass
class MCTSConfig:
    """Settings of :class:`MCTS` (budgets are per level per decision)."""

    budget: int = 1000  # imagined steps per level per decision
    rollout_depth: int | None = None  # UCT leaf rollout length; default 10 (UCT) / 0 (PUCT)
    c: float | None = None  # exploration constant; default 1.0 (UCT) / 1.25 (PUCT)
    gamma: float = 0.99  # discount of imagined returns
    reuse_tree: bool = True  # keep the subtree below the action taken
    prune_cycles: bool = True  # drop actions whose predicted state repeats one on the path from the root
    stop_on_solution: bool = True  # stop searching once a solved state is found; follow that path
    capacity: int | None = None  # nodes per tree; default 2 * budget + 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.budget, int) or self.budget < 1:
            raise ReverieError(f"the search budget must be a positive integer of imagined steps, got {self.budget!r}")
        if self.rollout_depth is not None and self.rollout_depth < 0:
            raise ReverieError(f"rollout_depth must be >= 0, got {self.rollout_depth}")
        if not 0 < self.gamma <= 1:
            raise ReverieError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.capacity is not None and self.capacity < self.budget + 1:
            raise ReverieError(f"capacity must be >= budget + 1 = {self.budget + 1}, got {self.capacity}")


class MCTS:
    """Batched MCTS over ``model`` in the world of ``spec``: ``start(states)``, then per real step
    ``act()`` and ``advance(actions, states)``; states are compact (``spec.observation.encode``).

    ``search(states)`` is the one-decision shortcut. After each ``act``, ``last_imagined [B]``
    holds the steps each level imagined.
    """

    def __init__(self, model, spec, config: MCTSConfig | None = None, guide=None) -> None:
        self.model, self.guide, self.spec = model, guide, spec
        self.config = config or MCTSConfig()
        cfg = self.config
        self.puct = guide is not None
        self.c = cfg.c if cfg.c is not None else (1.25 if self.puct else 1.0)
        self.depth = cfg.rollout_depth if cfg.rollout_depth is not None else (0 if self.puct else 10)
        self.capacity = cfg.capacity or 2 * cfg.budget + 1
        self.num_actions = spec.num_actions

    # -- episodes ------------------------------------------------------------------------------

    def start(self, states: torch.Tensor, keys: torch.Tensor | None = None) -> None:
        """New trees rooted at compact ``states [B, ...]``; ``keys [B]`` name each level's random stream."""
        states = check_states(states, self.spec.observation)
        b, device, m, a = states.shape[0], states.device, self.capacity, self.num_actions
        self.B, self.hw = b, state_size(self.spec.observation)
        self.keys = level_keys(self.config.seed, torch.arange(b, device=device)) if keys is None else keys.long()
        self.stepper = CompactModel(self.model, self.spec.observation, b, device)
        self.states = torch.zeros(b * m, self.hw, dtype=states.dtype, device=device)
        self.child = torch.full((b * m, a), -1, dtype=torch.int32, device=device)
        self.visits = torch.zeros(b * m, a, device=device)
        self.value_sum = torch.zeros(b * m, a, device=device)
        self.reward = torch.zeros(b * m, a, device=device)
        self.prior = torch.zeros(b * m, a, device=device)
        self.noise = torch.zeros(b * m, a, device=device)
        self.valid = torch.zeros(b * m, a, dtype=torch.bool, device=device)
        self.terminal = torch.zeros(b * m, dtype=torch.bool, device=device)
        self.size = torch.zeros(b, dtype=torch.long, device=device)
        self.root = torch.zeros(b, dtype=torch.long, device=device)
        self.qmin = torch.full((b,), float("inf"), device=device)
        self.qmax = torch.full((b,), float("-inf"), device=device)
        self.draws = torch.zeros(b, dtype=torch.long, device=device)
        self.plan = torch.zeros(b, 0, dtype=torch.long, device=device)
        self.plan_pos = torch.zeros(b, dtype=torch.long, device=device)
        self.plan_len = torch.zeros(b, dtype=torch.long, device=device)
        self.base = torch.arange(b, device=device) * m
        self.last_imagined = torch.zeros(b, dtype=torch.long, device=device)
        self._reroot(torch.arange(b, device=device), states.reshape(b, -1))

    def _new_nodes(self, rows: torch.Tensor, node: torch.Tensor, codes: torch.Tensor, terminal: torch.Tensor) -> None:
        """Initialise node ``node[i]`` of tree ``rows[i]`` (flat ids) with its state."""
        flat = self.base[rows] + node
        self.states[flat] = codes
        self.child[flat] = -1
        self.visits[flat] = 0.0
        self.value_sum[flat] = 0.0
        self.reward[flat] = 0.0
        self.valid[flat] = True
        self.terminal[flat] = terminal
        self.noise[flat] = uniform(self.keys[rows], node + (1 << 40), self.num_actions).float()
        self.prior[flat] = 1.0 / self.num_actions

    def _reroot(self, rows: torch.Tensor, codes: torch.Tensor) -> None:
        """Discard the trees of ``rows`` and root them afresh at ``codes [K, N]`` (a state of the
        real game, which the episode loop stops when it ends: never terminal)."""
        if rows.numel() == 0:
            return
        zero = torch.zeros_like(rows)
        self._new_nodes(rows, zero, codes, torch.zeros(rows.numel(), dtype=torch.bool, device=codes.device))
        self.size[rows], self.root[rows] = 1, 0
        self.qmin[rows], self.qmax[rows] = float("inf"), float("-inf")
        if self.puct:
            logp, _ = self.guide(codes)
            self.prior[self.base[rows]] = logp.double().exp().float()

    # -- one decision ----------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, active: torch.Tensor | None = None) -> torch.Tensor:
        """Search from every active root; the action to take in each level ``[B]`` (0 where inactive)."""
        b, cfg = self.B, self.config
        device = self.root.device
        active = torch.ones(b, dtype=torch.bool, device=device) if active is None else active.clone()
        before = self.stepper.imagined.clone()
        planned = active & (self.plan_pos < self.plan_len)
        actions = torch.zeros(b, dtype=torch.long, device=device)
        if self.plan.shape[1]:
            actions[planned] = self.plan[planned, self.plan_pos[planned].clamp(max=self.plan.shape[1] - 1)]
        self.plan_pos += planned.long()
        full = active & ~planned & (self.size + cfg.budget > self.capacity)
        rows = full.nonzero().squeeze(1)
        self._reroot(rows, self.states[self.base[rows] + self.root[rows]])
        searching = active & ~planned & ~self.terminal[self.base + self.root]
        remaining = torch.where(searching, cfg.budget, 0)
        sims = torch.zeros(b, dtype=torch.long, device=device)
        found = torch.full((b,), -1, dtype=torch.long, device=device)
        while True:
            running = (remaining > 0) & (sims < cfg.budget) & (found < 0)
            if not bool(running.any()):
                break
            sims += running.long()
            self._simulate(running, remaining, found)
        root = self.base + self.root
        score = self.visits[root] * 1e3 + self._normalised(self.value_sum[root] / self.visits[root].clamp(min=1))
        score = torch.where(self.valid[root], score + 1e-3 * self.noise[root], float("-inf"))
        best = torch.where(found >= 0, found, score.argmax(1))
        actions = torch.where(planned, actions, torch.where(active, best, 0))
        self.last_imagined = self.stepper.imagined - before
        return actions

    def _normalised(self, q: torch.Tensor) -> torch.Tensor:
        """Values ``[B, A]`` (row i in level i's tree) scaled by that tree's min and max to [0, 1]."""
        low, span = self.qmin[:, None], (self.qmax - self.qmin)[:, None]
        return torch.where(span > 0, ((q - low) / span.clamp(min=1e-9)).clamp(0, 1), 0.5)

    def _scores(self, flat: torch.Tensor) -> torch.Tensor:
        n, w = self.visits[flat], self.value_sum[flat]
        q = self._normalised(w / n.clamp(min=1))
        total = n.sum(1, keepdim=True)
        if self.puct:
            fpu = self._normalised(w.sum(1, keepdim=True) / total.clamp(min=1))
            score = torch.where(n > 0, q, fpu) + self.c * self.prior[flat] * (total + 1).sqrt() / (1 + n)
        else:
            # log in float64: float32 log has vectorised and scalar kernels that can differ in the
            # last bit, which would make a level's search depend on the batch it runs in
            explore = self.c * (total.clamp(min=1).double().log().float() / n.clamp(min=1)).sqrt()
            score = torch.where(n > 0, q + explore, 1e6)
        return torch.where(self.valid[flat], score + 1e-6 * self.noise[flat], float("-inf"))

    def _simulate(self, running: torch.Tensor, remaining: torch.Tensor, found: torch.Tensor) -> None:
        """One simulation in every running level: select, expand one edge, evaluate, back up."""
        cfg = self.config
        node = self.base + self.root
        descending = running.clone()
        path: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        leaf_node, leaf_action = node.clone(), torch.zeros_like(node)  # the deepest edge taken
        ended = torch.zeros_like(running)  # reached a known terminal node
        dead = torch.zeros_like(running)  # reached a node with no valid action
        while bool(descending.any()):
            top, action = self._scores(node).max(1)
            stuck = descending & torch.isinf(top)
            dead |= stuck
            on = descending & ~stuck
            path.append((node, action, on))
            leaf_node, leaf_action = torch.where(on, node, leaf_node), torch.where(on, action, leaf_action)
            nxt = self.child[node, action].long()
            nxt_flat = self.base + nxt.clamp(min=0)
            hit_end = on & (nxt >= 0) & self.terminal[nxt_flat]
            ended |= hit_end
            descending = on & (nxt >= 0) & ~hit_end
            node = torch.where(descending, nxt_flat, node)
        # a dead end (every action pruned) is worth nothing: close the edge into it
        self.valid[leaf_node[dead], leaf_action[dead]] = False
        value = torch.zeros(self.B, device=node.device)
        keep = running.clone()
        rows = (running & ~ended & ~dead).nonzero().squeeze(1)
        if rows.numel():
            p_flat, a = leaf_node[rows], leaf_action[rows]
            nxt, reward, term = self.stepper.step(self.states[p_flat], a, rows)
            remaining[rows] -= 1
            same = torch.zeros_like(term)
            if cfg.prune_cycles:  # the new state repeats one on its own path from the root
                nodes = torch.stack([n for n, _, _ in path])[:, rows]
                on = torch.stack([m for _, _, m in path])[:, rows]
                same = ((self.states[nodes] == nxt).all(2) & on).any(0)
            self.valid[p_flat[same], a[same]] = False
            keep[rows[same]] = False
            grow = ~same
            g_rows, g_flat, g_a = rows[grow], p_flat[grow], a[grow]
            new = self.size[g_rows]
            self._new_nodes(g_rows, new, nxt[grow], term[grow])
            self.size[g_rows] += 1
            self.child[g_flat, g_a] = new.int()
            self.reward[g_flat, g_a] = reward[grow]
            value[g_rows] = self._evaluate(g_rows, self.base[g_rows] + new, remaining)
            if cfg.stop_on_solution:
                self._take_plan(path, g_rows[term[grow]], found)
        if cfg.stop_on_solution:
            self._take_plan(path, ended.nonzero().squeeze(1), found)  # walked into a known solution
        self._backup(path, value, keep)

    def _evaluate(self, rows: torch.Tensor, flat: torch.Tensor, remaining: torch.Tensor) -> torch.Tensor:
        """Values of new nodes: a random rollout's discounted return, plus the guide's value."""
        gamma = self.config.gamma
        start, alive = self.states[flat], ~self.terminal[flat]
        state = start.clone()
        total = torch.zeros(rows.numel(), device=flat.device)
        discount = torch.ones_like(total)
        length = torch.where(alive, remaining[rows].clamp(max=self.depth), 0)
        if self.depth and bool((length > 0).any()):
            # every action of the rollout in one draw: the level's counter moves once per rollout
            draws = uniform(self.keys[rows], self.draws[rows], self.depth)
            self.draws[rows[length > 0]] += 1  # only levels that roll out: batch-independent
            plan = (draws * self.num_actions).long().clamp(max=self.num_actions - 1)
            taken = torch.zeros_like(length)
            for t in range(int(length.max())):
                on = alive & (length > t)
                if bool(on.all()):
                    taken += 1
                    nxt, reward, term = self.stepper.step(state, plan[:, t], rows)
                    state, alive = nxt, ~term
                    total += discount * reward
                    discount *= gamma
                    continue
                idx = on.nonzero().squeeze(1)
                if idx.numel() == 0:
                    break
                taken += on.long()
                nxt, reward, term = self.stepper.step(state[idx], plan[idx, t], rows[idx])
                state[idx] = nxt
                total[idx] += discount[idx] * reward
                discount[idx] *= gamma
                alive[idx] = ~term
            remaining[rows] -= taken
        if self.puct:
            k = rows.numel()
            logp, v = self.guide(start if self.depth == 0 else torch.cat([start, state]))
            self.prior[flat] = logp[:k].double().exp().float()
            total = total + discount * torch.where(alive, v[-k:], 0.0)
        return total

    def _take_plan(self, path, rows: torch.Tensor, found: torch.Tensor) -> None:
        """Record the root-to-solution actions of ``rows`` as their plan."""
        if rows.numel() == 0:
            return
        acts = torch.stack([a for _, a, _ in path], 1)[rows]  # [K, D]
        mask = torch.stack([m for _, _, m in path], 1)[rows]
        length = mask.long().sum(1)
        if acts.shape[1] > self.plan.shape[1]:
            pad = torch.zeros(self.B, acts.shape[1] - self.plan.shape[1], dtype=torch.long, device=acts.device)
            self.plan = torch.cat([self.plan, pad], 1)
        self.plan[rows, :acts.shape[1]] = acts
        self.plan_len[rows], self.plan_pos[rows] = length, 1  # the first action is taken now
        found[rows] = acts[:, 0]

    def _backup(self, path, leaf_value: torch.Tensor, keep: torch.Tensor) -> None:
        """Add each level's discounted return to every edge on its path, all depths at once."""
        gamma = self.config.gamma
        nodes = torch.stack([n for n, _, _ in path])  # [D, B]
        acts = torch.stack([a for _, a, _ in path])
        on = torch.stack([m for _, _, m in path]) & keep
        rewards = self.reward[nodes, acts]
        returns = torch.empty_like(rewards)
        g = leaf_value
        for d in range(len(path) - 1, -1, -1):  # G_d = r_d + gamma * G_{d+1}, deepest first
            g = torch.where(on[d], rewards[d] + gamma * g, g)
            returns[d] = g
        big = torch.finfo(returns.dtype).max
        self.qmin = torch.minimum(self.qmin, torch.where(on, returns, big).amin(0))
        self.qmax = torch.maximum(self.qmax, torch.where(on, returns, -big).amax(0))
        nodes, acts, returns = nodes[on], acts[on], returns[on]
        self.visits.index_put_((nodes, acts), torch.ones_like(returns), accumulate=True)
        self.value_sum.index_put_((nodes, acts), returns, accumulate=True)

    # -- after the real step --------------------------------------------------------------------

    @torch.no_grad()
    def advance(self, actions: torch.Tensor, states: torch.Tensor, active: torch.Tensor | None = None) -> None:
        """Move each active root to the child of ``actions`` if its predicted state equals the
        real next compact state ``states [B, ...]`` (and ``reuse_tree``); otherwise root afresh
        there. Active levels' games go on, so their roots are not terminal."""
        codes = check_states(states, self.spec.observation).reshape(self.B, -1)
        active = torch.ones(self.B, dtype=torch.bool, device=codes.device) if active is None else active
        root = self.base + self.root
        child = self.child[root, actions.long()].long()
        match = (child >= 0) & (self.states[self.base + child.clamp(min=0)] == codes).all(1)
        keep = active & match & self.config.reuse_tree
        self.root = torch.where(keep, child, self.root)
        self.terminal[(self.base + self.root)[keep]] = False
        wrong = active & ~match  # the model mispredicted: its plan is void too
        self.plan_len[wrong], self.plan_pos[wrong] = 0, 0
        fresh = (active & ~keep).nonzero().squeeze(1)
        self._reroot(fresh, codes[fresh])

    def search(self, states: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        """One decision from compact ``states [B, ...]``: start fresh trees and act."""
        self.start(states, keys)
        return self.act()

    def memory_bytes(self) -> int:
        """Bytes the trees of this search hold (to size batches)."""
        return tree_bytes(self.B, self.capacity, self.hw * self.states.element_size(), self.num_actions)


def tree_bytes(levels: int, capacity: int, state_bytes: int, actions: int) -> int:
    """Bytes of the trees of ``levels`` levels with ``capacity`` nodes each."""
    return levels * capacity * (state_bytes + actions * (4 * 6 + 1) + 1)

