"""``reverie train | evaluate | report``: thin shells over the actor-critic run library.

Every ``train`` flag comes from :class:`~reverie.training.runs.TrainConfig` and
:class:`~reverie.training.actor_critic.A2CConfig`, so the command line and the Python API take
the same options with the same help.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..core.errors import ReverieError
from ..core.config import add_arguments, from_arguments


def _given(args: argparse.Namespace, *classes: type) -> list[str]:
    """Flags of the config dataclasses whose values differ from their defaults."""
    flags = []
    for cls in classes:
        for field in dataclasses.fields(cls):
            if getattr(args, field.name) != field.default:
                flags.append("--" + field.name.replace("_", "-"))
    return flags


def cmd_train(args: argparse.Namespace) -> int:
    from ..evaluation.evaluate import final_evaluation
    from ..training import distributed, distributed_runs, runs
    from ..training.actor_critic import A2CConfig
    from ..training.runs import TrainConfig

    # started by torchrun: data-parallel over its processes (rank 0 returns the summary)
    engine = distributed_runs if distributed.launched() else runs
    if args.resume is not None:
        extra = _given(args, TrainConfig, A2CConfig)
        if extra:
            raise ReverieError(f"--resume continues a run with the config it was started with; "
                               f"drop {', '.join(extra)}")
        summary = engine.resume(args.resume, progress=not args.quiet, evaluate=final_evaluation)
    else:
        _refuse_continuous(args.env)
        config = from_arguments(TrainConfig, args)
        summary = engine.train(config, from_arguments(A2CConfig, args), progress=not args.quiet,
                               evaluate=final_evaluation)
    if summary is None:
        return 0
    print(engine.describe(summary))
    if summary["interrupted"]:
        return 130
    print(f"run folder: {summary['run_dir']} (metrics.jsonl, checkpoint.pt, evaluation.json)")
    return 0


def _refuse_continuous(env: str) -> None:
    """A2C here plays discrete actions: a continuous-control task is pointed to ``reverie offpolicy``."""
    from ..envs.control_tasks import TASKS

    for name, (gym_id, _) in TASKS.items():
        if env in (name, gym_id):
            raise ReverieError(f"{env!r} has continuous actions and `reverie train` (A2C) plays discrete ones; "
                               f"train it with `reverie offpolicy --task {name}`")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.evaluate import evaluate_run
    from ..workflows.pipeline import agent_run_hint

    try:
        result = evaluate_run(args.run_dir, args.levels, args.episodes, greedy=args.greedy,
                              allow_train_levels=args.allow_train_levels, levels_dir=args.levels_dir,
                              seed=args.seed, gif=args.gif)
    except ReverieError as err:
        raise ReverieError(f"{err}{agent_run_hint(args.run_dir)}") from None
    if args.json:
        print(json.dumps({"run": str(args.run_dir), **result}, indent=1))
        return 0
    choice = "greedy" if result["mode"] == "greedy" else "sampled"
    head = f"{result['levels']}, {choice} actions, {result['train_frames']:,} training frames: "
    if "success_rate" in result:
        low, high = result["ci95"]
        head += (f"success {result['successes']}/{result['episodes']} = {result['success_rate']:.1%} "
                 f"(95% CI {low:.1%} to {high:.1%}), ")
    else:
        head += f"{result['episodes']} episodes, "
    print(head + f"mean return {result['mean_return']:.2f}, mean length {result['mean_length']:.1f}")
    if "gif" in result:
        print(f"wrote {result['gif']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..evaluation.report import write_report

    page = write_report(args.run_dirs, args.out, eval_episodes=args.episodes, levels_dir=args.levels_dir)
    print(f"wrote {page} (with its pictures beside it)")
    return 0


def add_train_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``, ``evaluate`` and ``report`` to the ``reverie`` command's subparsers."""
    from ..training.actor_critic import A2CConfig
    from ..training.runs import TrainConfig

    train = subparsers.add_parser("train", help="train an actor-critic agent (A2C) on an env id")
    add_arguments(train, TrainConfig)
    add_arguments(train.add_argument_group("actor-critic"), A2CConfig)
    train.add_argument("--resume", type=Path, metavar="DIR",
                       help="continue the run in DIR from its checkpoint (with its saved config)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    evaluate = subparsers.add_parser("evaluate", help="success rate (95%% CI), return and length on held-out episodes")
    evaluate.add_argument("run_dir", type=Path, metavar="DIR", help="a run folder written by `reverie train`")
    evaluate.add_argument("--levels", help="env id (its test split), ID:SPLIT, a split, or a source the world "
                                           "reads, e.g. a level file or folder (default: the run's env id, test split)")
    evaluate.add_argument("--episodes", type=int, default=1000, help="episodes to play (default: 1000)")
    choice = evaluate.add_mutually_exclusive_group()
    choice.add_argument("--greedy", action="store_true", help="take the most likely action")
    choice.add_argument("--sample", dest="greedy", action="store_false",
                        help="sample actions from the policy (the default)")
    evaluate.add_argument("--allow-train-levels", action="store_true",
                          help="allow episodes the run trained on (refused otherwise)")
    evaluate.add_argument("--levels-dir", type=Path, help="level folder of worlds with level files (Boxoban ids)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of sampled actions (default: 0)")
    evaluate.add_argument("--gif", type=Path, help="also write a GIF of one episode here")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    report = subparsers.add_parser("report", help="learning curves, evaluation table and a GIF as a Markdown page")
    report.add_argument("run_dirs", type=Path, nargs="+", metavar="DIR", help="run folders")
    report.add_argument("--out", type=Path, help="the Markdown page to write (default: DIR/report.md for one "
                                                 "run, report.md here for several)")
    report.add_argument("--episodes", type=int, default=500,
                        help="test episodes for runs that have no evaluation yet (default: 500)")
    report.add_argument("--levels-dir", type=Path, help="level folder of worlds with level files (Boxoban ids)")
    report.set_defaults(func=cmd_report)

