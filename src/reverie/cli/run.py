"""``reverie run``: the main job, the whole I2A pipeline (see :mod:`reverie.workflows.pipeline`)."""

from __future__ import annotations

import argparse

from ..core.config import from_arguments


def cmd_run(args: argparse.Namespace) -> int:
    from ..workflows.pipeline import PipelineConfig, describe, run

    summary = run(from_arguments(PipelineConfig, args), progress=not args.quiet)
    print(describe(summary))
    return 130 if summary["interrupted"] else 0


def add_run_command(commands: argparse._SubParsersAction) -> None:
    """Add ``run`` to the ``reverie`` command."""
    from ..workflows.pipeline import add_pipeline_arguments

    run = commands.add_parser(
        "run", help="the main job: collect data, fit a model, train I2A, evaluate, report (~10 min)",
        description="Collect random-policy transitions, fit an environment model, train I2A with it, evaluate on "
                    "held-out levels and write a report with a GIF of what the agent imagined. Options left unset "
                    "take the --preset's values. Running the same command again skips finished stages.")
    add_pipeline_arguments(run)
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run)
