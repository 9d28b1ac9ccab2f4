"""``reverie offpolicy``: SAC or NAF on a continuous task, optionally model-augmented (MBPO,
imagination rollouts, MBVE) and with hindsight goals; or TDM on a goal task (``--agent tdm``).

A sibling of ``reverie train`` rather than a mode of it: ``train``'s flags are A2C's (frames
over batched envs, agent names, level banks) and its runs are actor-critic checkpoints, so an
off-policy learner there would inherit a page of flags that mean nothing to it. Every flag
here comes from :class:`~reverie.training.offpolicy.OffPolicyConfig`,
:class:`~reverie.agents.offpolicy_nets.LearnerConfig` and
:class:`~reverie.training.branched.ModelAugmentConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..core.config import add_arguments, from_arguments
from ..core.errors import ReverieError


def cmd_offpolicy(args: argparse.Namespace) -> int:
    from ..agents.offpolicy_nets import LearnerConfig
    from ..training.branched import ModelAugmentConfig
    from ..training.offpolicy import OffPolicyConfig
    from ..training.offpolicy_runs import describe, resume_offpolicy, train_offpolicy

    if args.resume is not None:
        given = [f"--{f.name.replace('_', '-')}" for cls in (OffPolicyConfig, LearnerConfig, ModelAugmentConfig)
                 for f in dataclasses.fields(cls) if getattr(args, f.name) != f.default]
        if given:
            raise ReverieError(f"--resume continues a run with the config it was started with; drop {', '.join(given)}")
        summary = resume_offpolicy(args.resume, progress=not args.quiet)
    else:
        # every config is built (and checked) before the run folder is touched
        config = from_arguments(OffPolicyConfig, args)
        learner, model = from_arguments(LearnerConfig, args), from_arguments(ModelAugmentConfig, args)
        summary = train_offpolicy(config, learner, model, progress=not args.quiet)
    print(describe(summary))
    if summary["interrupted"]:
        return 130
    if summary["completed"]:
        from ..evaluation.offpolicy_report import write_offpolicy_report

        write_offpolicy_report(summary["run_dir"])
    print(f"run folder: {summary['run_dir']} (config.json, metrics.jsonl, checkpoint.pt, summary.json, report.md)")
    return 0


def add_offpolicy_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``offpolicy`` to the ``reverie`` command's subparsers."""
    from ..agents.offpolicy_nets import LearnerConfig
    from ..training.branched import ModelAugmentConfig
    from ..training.offpolicy import OffPolicyConfig

    parser = subparsers.add_parser("offpolicy", help="SAC or NAF on a continuous task (Pendulum, parking, ...), "
                                                     "optionally with a model (MBPO, imagination, MBVE) and HER; "
                                                     "TDM on a goal task")
    add_arguments(parser, OffPolicyConfig)
    add_arguments(parser.add_argument_group("learner"), LearnerConfig)
    add_arguments(parser.add_argument_group("model augmentation"), ModelAugmentConfig)
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR from its checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_offpolicy)
