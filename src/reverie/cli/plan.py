"""``reverie plan``: fit a dynamics model and park a car (or swing up a pendulum) with CEM/MPC.

Every flag comes from :class:`~reverie.workflows.control_pipeline.PlanConfig`, so the command line
and the Python API take the same options with the same help.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..core.config import add_arguments, from_arguments


def cmd_plan(args: argparse.Namespace) -> int:
    from ..workflows.control_pipeline import PlanConfig, describe, run_plan

    config = from_arguments(PlanConfig, args)
    log = None if (args.json or args.quiet) else (lambda text: print(text, file=sys.stderr, flush=True))
    summary = run_plan(config, log=log)
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    else:
        print(describe(summary))
        if config.out is not None:
            print(f"wrote {config.out / 'summary.json'}")
    return 0


def add_plan_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``plan`` to the ``reverie`` command's subparsers."""
    from ..workflows.control_pipeline import PlanConfig

    plan = subparsers.add_parser(
        "plan", help="model-based control: random data, fit a dynamics model, plan with CEM every step")
    add_arguments(plan, PlanConfig)
    plan.add_argument("--json", action="store_true", help="print the summary as JSON")
    plan.add_argument("--quiet", action="store_true", help="no progress lines")
    plan.set_defaults(func=cmd_plan)
    return plan
