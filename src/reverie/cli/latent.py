"""``reverie latent``: Dreamer or PlaNet (an RSSM world model, and an actor-critic trained in its
imagination or CEM planning in its latent space) on a reverie world. Flags are
:class:`~reverie.workflows.latent_runs.LatentRunConfig`'s; the model's and the agent's settings
go in ``--options key=value,...`` (the fields of :class:`~reverie.models.latent.RSSMConfig` and
of :class:`~reverie.agents.dreamer.DreamerConfig` or :class:`~reverie.planning.cem.CEMConfig`)."""

from __future__ import annotations

import argparse

from ..core.config import add_arguments, from_arguments


def cmd_latent(args: argparse.Namespace) -> int:
    from ..workflows.latent_runs import PRESETS, LatentRunConfig, apply_preset, train_latent
    from ..training.runs import parse_agent_options

    config, options = apply_preset(PRESETS, args.preset, from_arguments(LatentRunConfig, args),
                                   parse_agent_options(args.options, "--options"))
    summary = train_latent(config, options, progress=not args.quiet)
    line = f"{summary['agent']} on {summary['env']}: {summary['frames']} env steps, {summary['updates']} model updates"
    if "evaluation" in summary:
        e = summary["evaluation"]
        line += (f"; held-out return {e['mean_return']:.2f} (95% CI {e['return_ci95'][0]:.2f} to "
                 f"{e['return_ci95'][1]:.2f}) over {e['episodes']} episodes")
    print(line)
    print(f"run folder: {config.out} (config.json, metrics.jsonl, checkpoint.pt, summary.json)")
    return 0


def add_latent_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``latent`` to the ``reverie`` command's subparsers."""
    from ..workflows.latent_runs import LatentRunConfig

    parser = subparsers.add_parser("latent", help="latent world models: Dreamer (actor-critic in the RSSM's "
                                                  "imagination) or PlaNet (CEM in its latent space)")
    add_arguments(parser, LatentRunConfig)
    parser.add_argument("--options", default="", metavar="K=V,...",
                        help="RSSM and agent settings, e.g. deter=128,latent=gaussian,horizon=10")
    parser.add_argument("--preset", default=None, help="built-in settings: cpu, dreamerv3 (a GPU job) or planet "
                                                       "(a GPU job); flags you give override them")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_latent)


def cmd_world_models(args: argparse.Namespace) -> int:
    from ..training.runs import parse_agent_options
    from ..workflows.latent_runs import apply_preset
    from ..workflows.world_models_runs import PRESETS, WorldModelsConfig, train_world_models

    config, options = apply_preset(PRESETS, args.preset, from_arguments(WorldModelsConfig, args),
                                   parse_agent_options(args.options, "--options"))
    summary = train_world_models(config, options, progress=not args.quiet)
    where = "dreamed" if summary.get("train_in", "dream") == "dream" else "real"
    line = f"world models on {summary['env']}: best {where} return in the search {summary['dream_return']:.2f}"
    if "evaluation" in summary:
        e, r = summary["evaluation"], summary["random"]
        line += (f"; held-out return {e['mean_return']:.2f} (95% CI {e['return_ci95'][0]:.2f} to "
                 f"{e['return_ci95'][1]:.2f}), random policy {r['mean_return']:.2f} over {e['episodes']} episodes")
    print(line)
    print(f"run folder: {config.out} (config.json, metrics.jsonl, checkpoint.pt, summary.json)")
    return 0


def add_world_models_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``world-models`` to the ``reverie`` command's subparsers."""
    from ..workflows.world_models_runs import WorldModelsConfig

    parser = subparsers.add_parser("world-models", help="World Models: a VAE, an MDN-RNN and a linear controller "
                                                        "evolved with CMA-ES in the model's dream")
    add_arguments(parser, WorldModelsConfig)
    parser.add_argument("--options", default="", metavar="K=V,...",
                        help="V and M settings, e.g. latent=16,hidden=128,temperature=1.15")
    parser.add_argument("--preset", default=None, help="built-in settings: pendulum, or carracing (the paper's "
                                                       "CarRacing setting: a job for many cores); flags you give "
                                                       "override them")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_world_models)
