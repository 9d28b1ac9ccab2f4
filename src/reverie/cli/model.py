"""``reverie model collect | fit | evaluate``: thin shells over the environment-model library.

Every flag comes from a config dataclass (:class:`~reverie.data.transitions.CollectConfig`,
:class:`~reverie.training.model_fitting.FitConfig` with
:class:`~reverie.models.GridModelConfig`, :class:`~reverie.evaluation.model_diagnostics.EvaluateConfig`),
so the command line and the Python API take the same options with the same help.
"""

from __future__ import annotations

import argparse
import dataclasses

from ..core.config import add_arguments, from_arguments


def cmd_collect(args: argparse.Namespace) -> int:
    from ..data.transitions import DEFAULT_ENV, CollectConfig, collect

    config = from_arguments(CollectConfig, args)
    policy = None
    if config.policy is not None:  # a trained run's agent plays the env it was trained on
        from ..envs.registry import get_spec
        from ..training.runs import run_policy

        policy = run_policy(config.policy, get_spec(config.env or DEFAULT_ENV).with_options(
            observation=config.observation), config.seed)
    manifest = collect(config, policy, str(config.policy) if policy is not None else "random",
                       progress=not args.quiet)
    for split, info in manifest["splits"].items():
        counts = [f"reward classes {info['reward_class_counts']}"] if "reward_class_counts" in info else []
        if "event_counts" in info:
            counts.append("events " + ", ".join(f"{name} {count:,}" for name, count
                                                in zip(manifest["events"], info["event_counts"])))
        print(f"{split}: {info['frames']:,} transitions from {info['levels']}; {'; '.join(counts)}")
    print(f"wrote {config.out} in {manifest['wall_seconds']:.0f} s")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from ..models.grid import GridModelConfig
    from ..training.model_fitting import FitConfig, describe, fit

    config = from_arguments(FitConfig, args)
    model_config = from_arguments(GridModelConfig, args)
    if args.frame_output is not None:  # a frame model's own flag (binary planes with events only)
        from ..training.model_fitting import frame_config

        model_config = dataclasses.replace(frame_config(model_config), output=args.frame_output)
    summary = fit(config, model_config, progress=not args.quiet)
    print(describe(summary))
    print(f"model: {config.out / 'model.pt'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.model_diagnostics import EvaluateConfig, evaluate, summarize

    config = from_arguments(EvaluateConfig, args)
    report = evaluate(config)
    print(summarize(report["one_step"], report["horizon_curve"]))
    print(f"report: {config.out / 'report.json'}, plot: {config.out / 'horizon.png'}")
    return 0


def add_model_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``model`` and its actions to the ``reverie`` command's subparsers."""
    from ..data.transitions import CollectConfig
    from ..evaluation.model_diagnostics import EvaluateConfig
    from ..models.frame import OUTPUTS
    from ..models.grid import GridModelConfig
    from ..training.model_fitting import FitConfig

    model = subparsers.add_parser("model", help="environment models: collect transitions, fit, evaluate")
    actions = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")

    collect = actions.add_parser("collect", help="play levels with a random policy (or a run's agent) and store "
                                                 "the transitions")
    add_arguments(collect, CollectConfig)
    collect.add_argument("--quiet", action="store_true", help="no progress bar")
    collect.set_defaults(func=cmd_collect)

    fit = actions.add_parser("fit", help="fit an environment model to collected transitions (a grid model, or a "
                                         "frame model for binary planes with events)")
    add_arguments(fit, FitConfig)
    group = fit.add_argument_group("model")
    add_arguments(group, GridModelConfig)
    group.add_argument("--frame-output", choices=OUTPUTS, default=None,
                       help="frame models (binary planes with events): predict each plane's cell as a sigmoid "
                            "(bernoulli, the paper's) or as a categorical over its levels+1 values "
                            "(default: levels, whose most likely value can make a frame exactly right; a "
                            "rounded sigmoid cannot where a ghost moves with probability 0.5)")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(func=cmd_fit)

    evaluate = actions.add_parser("evaluate", help="one-step accuracy, compounding-error curve, pictures")
    add_arguments(evaluate, EvaluateConfig)
    evaluate.set_defaults(func=cmd_evaluate)
    return model

