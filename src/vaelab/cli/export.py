"""``vaelab export RUN_DIR DIR``: share a run as a folder in the Hugging Face layout, with its model card.

The handler calls :func:`vaelab.workflows.export.export_run`, which checks the run and the folder
before it writes anything.
"""

from __future__ import annotations

import argparse

from vaelab.cli.arguments import print_paths


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``export`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "export",
        help="share a run: config.json, model.safetensors and a model card, the Hugging Face layout",
        description=(
            "Write the run's model into DIR as the Hugging Face Hub expects it: config.json (what rebuilds the "
            "model, and the run's recipe) and model.safetensors (its weights), a vq-vae's PixelCNN prior in "
            "prior/ when the run has one, samples.png, and README.md, a model card with the recipe, the metrics, "
            "the samples and the commands that reproduce the run. `vaelab.from_pretrained(DIR)` loads it back, "
            "offline; upload DIR as it is (e.g. huggingface_hub.upload_folder) and the repo id loads it too. "
            "DIR must be new, empty, or an earlier export (which is replaced; other files there, such as a clone's "
            "git files, are kept)."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `vaelab train`")
    p.add_argument("folder", metavar="DIR", help="the folder to write: new, empty, or an earlier export")
    p.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> None:
    """``vaelab export``: write the folder; print the files written."""
    from vaelab.workflows.export import export_run

    print_paths(export_run(args.run_dir, args.folder))
