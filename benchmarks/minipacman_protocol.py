"""The CPU-scale MiniPacman protocol: agents x tasks x seeds trained to one frame budget, then
evaluated on held-out episodes, as one rerunnable command.

    python benchmarks/minipacman_protocol.py --tasks hunt ambush --agents standard i2a-copy i2a i2a-perfect
    python benchmarks/minipacman_protocol.py --no-train       # re-tabulate the recorded runs

Each (task, agent, seed) is a normal ``reverie train`` run folder under ``--runs``; finished runs
are kept, interrupted ones resumed, and every finished run's record (no checkpoint) is copied to
``benchmarks/results/minipacman_runs/<task>/<agent>-seed<N>/`` at once, so the table grows run
by run across sessions. At the end it writes ``benchmarks/results/minipacman_protocol.json``,
``docs/minipacman/report.md`` (curves over every recorded run), the protocol section of
``docs/benchmarks.md`` and the README's table, with the paper's numbers beside ours (the
machinery is :mod:`return_protocol`'s, shared with MinAtar's protocol).

The settings are the released MiniPacman A2C settings (16 envs, 5-step returns, RMSprop 7e-4,
entropy 0.01, value 0.5, gradient clip 0.5) at a frame budget a CPU affords: the paper trained
for far longer, so the absolute returns are not comparable, the ordering is what is tested.
"""

from __future__ import annotations

from return_protocol import A2C_SETTINGS, ReturnProtocol, main

TASKS = ("regular", "avoid", "hunt", "ambush", "rush")
#: The paper's final returns (approx., read from its figure): standard / copy-model I2A / I2A.
PAPER = {"regular": (192, 919, 859), "avoid": (-16, 3, 23), "hunt": (-35, 33, 334),
         "ambush": (-40, -30, 294), "rush": (1.3, 178, 214)}
PAPER_AGENTS = ("standard", "i2a-copy", "i2a")

PROTOCOL = ReturnProtocol(
    name="minipacman", title="MiniPacman", tasks=TASKS, env_id=lambda task: f"minipacman-{task}",
    #: what every run shares (flags of ``reverie train``); ``env`` is set per task
    settings={**A2C_SETTINGS, "frames": 300_000,
              "checkpoint_every": 50_000},  # an imagining run takes ~40 min here: a stopped one resumes near where it was
    about="the released MiniPacman A2C settings, at the frame budget a CPU affords.",
    published_label="Published: the paper's standard / copy-model / I2A returns after far longer training "
                    "(approx., read from its figure), for direction only.",
    published={task: " / ".join(f"~{v:g}" for v in values) for task, values in PAPER.items()},
    published_by_agent={(task, agent): values[i] for task, values in PAPER.items()
                        for i, agent in enumerate(PAPER_AGENTS)},
    #: ``i2a`` imagines with the shipped model's predicted cell values (``imagine=distribution``): its most
    #: likely frame drops a ghost whose move is a coin toss about two times in three (docs/benchmarks.md,
    #: "MiniPacman's one model"), and a rollout without ghosts cannot show a hunt.
    agent_options={"i2a": "imagine=distribution"},
    default_tasks=("hunt",),
)

if __name__ == "__main__":
    main(PROTOCOL, __doc__.splitlines()[0])
