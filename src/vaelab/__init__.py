"""vaelab: autoencoders and variational autoencoders on images, after *Generative Deep Learning* ch. 3.

The most used entry points are available here (imported on first use, so that ``vaelab --help``
does not pay for importing PyTorch)::

    import vaelab
    run = vaelab.load_run("runs/ae")
    z = vaelab.encode_images(run.model, run.test_set().images)
    vaelab.save_pretrained(run, "shared/ae")        # config.json, model.safetensors, a model card
    model = vaelab.from_pretrained("shared/ae")     # or a Hugging Face Hub repo id
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.5.0"

_LAZY = {
    "RunConfig": "vaelab.training",
    "train": "vaelab.training",
    "load_run": "vaelab.training",
    "from_pretrained": "vaelab.training",
    "save_pretrained": "vaelab.workflows.export",
    "encode_images": "vaelab.latent",
    "decode_points": "vaelab.latent",
    "embed": "vaelab.latent",
    "generate": "vaelab.latent",
    "reconstruct": "vaelab.latent",
    "decode_grid": "vaelab.latent",
    "attribute_vector": "vaelab.latent",
    "add_vector": "vaelab.latent",
    "morph": "vaelab.latent",
}

__all__ = [  # _LAZY's names, spelled out for static tools (tests/test_gates.py checks that they agree)
    "RunConfig",
    "__version__",
    "add_vector",
    "attribute_vector",
    "decode_grid",
    "decode_points",
    "embed",
    "encode_images",
    "from_pretrained",
    "generate",
    "load_run",
    "morph",
    "reconstruct",
    "save_pretrained",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vaelab' has no attribute {name!r}")
