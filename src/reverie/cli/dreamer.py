"""``reverie dreamer``: a Dreamer run (an RSSM world model and an actor-critic trained in it)
on a discrete reverie world. Flags are :class:`~reverie.training.dreamer_runs.DreamerRunConfig`'s;
the model's and the behaviour's settings go in ``--options key=value,...`` (the fields of
:class:`~reverie.models.latent.RSSMConfig` and :class:`~reverie.agents.dreamer.DreamerConfig`)."""

from __future__ import annotations

import argparse

from ..core.config import add_arguments, from_arguments


def cmd_dreamer(args: argparse.Namespace) -> int:
    from ..training.dreamer_runs import DreamerRunConfig, train_dreamer
    from ..training.runs import parse_agent_options

    config = from_arguments(DreamerRunConfig, args)
    summary = train_dreamer(config, parse_agent_options(args.options, "--options"), progress=not args.quiet)
    line = f"dreamer on {summary['env']}: {summary['frames']} env steps, {summary['updates']} updates"
    if "evaluation" in summary:
        e = summary["evaluation"]
        line += (f"; held-out return {e['mean_return']:.2f} (95% CI {e['return_ci95'][0]:.2f} to "
                 f"{e['return_ci95'][1]:.2f}) over {e['episodes']} episodes")
    print(line)
    print(f"run folder: {config.out} (config.json, metrics.jsonl, checkpoint.pt, summary.json)")
    return 0


def add_dreamer_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dreamer`` to the ``reverie`` command's subparsers."""
    from ..training.dreamer_runs import DreamerRunConfig

    parser = subparsers.add_parser("dreamer", help="Dreamer: an RSSM world model and an actor-critic trained on "
                                                   "its imagined trajectories, on a discrete reverie world")
    add_arguments(parser, DreamerRunConfig)
    parser.add_argument("--options", default="", metavar="K=V,...",
                        help="RSSM and behaviour settings, e.g. deter=128,latent=gaussian,horizon=10")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_dreamer)
