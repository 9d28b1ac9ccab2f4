"""The CPU-scale MinAtar Breakout protocol: agents x seeds trained to one frame budget, then
evaluated on held-out episodes, as one rerunnable command.

    python benchmarks/minatar_protocol.py --agents standard i2a --seeds 0 1 2
    python benchmarks/minatar_protocol.py --no-train       # re-tabulate the recorded runs

Each (agent, seed) is a normal ``reverie train`` run folder under ``--runs``; finished runs are
kept, interrupted ones resumed, and every finished run's record (no checkpoint) is copied to
``benchmarks/results/minatar_runs/breakout/<agent>-seed<N>/`` at once, so the table grows run
by run across sessions. It writes ``benchmarks/results/minatar_protocol.json``,
``docs/minatar/report.md``, the protocol section of ``docs/benchmarks.md`` and the README's
table (:mod:`return_protocol`, shared with MiniPacman's protocol).

The settings are the MiniPacman protocol's A2C settings (16 envs, 5-step returns, RMSprop
7e-4, entropy 0.01), with MinAtar's sticky actions (0.1). MinAtar's published baselines
(Young & Tian 2019: DQN and online actor-critic AC(lambda), 30 seeds, 5M frames) stand beside
ours at the same frame count, read from the figure in the MinAtar README (approx.).
"""

from __future__ import annotations

from return_protocol import A2C_SETTINGS, ReturnProtocol, main

PROTOCOL = ReturnProtocol(
    name="minatar", title="MinAtar Breakout", tasks=("breakout",), env_id=lambda task: f"minatar-{task}",
    settings={**A2C_SETTINGS, "frames": 1_000_000,
              "checkpoint_every": 100_000},
    about="MinAtar's sticky actions (0.1); 1M frames, where MinAtar's own agents are a fifth of the way "
          "along their 5M-frame curves.",
    published_label="Published: MinAtar's baselines (Young & Tian 2019, 30 seeds, moving average of training "
                    "returns; approx., read from its figure) at 1M / 5M frames: AC(0.8) ~9 / ~17.5, AC(0) ~7.5 / "
                    "~15.5, DQN ~9.5 / ~10; a uniformly random policy scores 0.5.",
    published={"breakout": "AC(0.8) ~9, DQN ~9.5 at 1M frames"},
)

if __name__ == "__main__":
    main(PROTOCOL, __doc__.splitlines()[0])
