"""The allowed values of every option that takes a name: devices, datasets, corruptions, samplers, ….

Each list is declared here once. The module that owns the idea (named beside each list) checks its
inputs against it and is the API's word on what it accepts; the command line offers exactly these
values as its ``choices``. This module imports nothing, so the command line can read it without
loading PyTorch (the owners import it), as :mod:`vaelab.limits` does for bounds.
"""

from __future__ import annotations

#: The model families, ``ModelSpec.kind`` in a run's ``config.json`` (:data:`vaelab.models.families.FAMILIES`).
FAMILIES = ("ae", "vae", "cvae", "iwae", "vamp", "rae", "wae-mmd", "info-vae", "beta-tcvae", "vq-vae")

#: The convolutional networks a family is built on, ``ModelSpec.architecture`` (:mod:`vaelab.models.build`).
ARCHITECTURES = ("book-conv", "book-faces", "faces-mirror")

#: ``--device`` (:func:`vaelab.training.device.resolve_device`; the Python API also takes ``cuda:N``).
DEVICES = ("auto", "cpu", "cuda")

#: ``train --precision`` (:mod:`vaelab.training.precision`): ``auto`` resolves to one of :data:`COMPUTED_PRECISIONS`.
PRECISIONS = ("fp32", "bf16", "auto")

#: The precisions a run computes in (:class:`vaelab.training.execution.Execution`).
COMPUTED_PRECISIONS = ("fp32", "bf16")

#: ``train --dataset``, ``data --dataset`` (:data:`vaelab.data.registry.DATASETS`).
DATASETS = ("fashion-mnist", "celeba", "image-folder")

#: ``train --data-placement`` (:mod:`vaelab.training.placement`).
DATA_PLACEMENTS = ("auto", "device", "host")

#: ``train --on-bad-image`` (:class:`vaelab.data.image_options.ImageOptions`).
BAD_IMAGE_POLICIES = ("fail", "skip")

#: ``train``/``denoise --corruption`` (:class:`vaelab.data.corruption.Corruption`).
CORRUPTIONS = ("gaussian", "salt-pepper", "mask")

#: ``generate``/``diagnose``/``evaluate --sampler`` (:data:`vaelab.latent.samplers.SAMPLERS`).
SAMPLERS = ("uniform-box", "prior", "gmm", "two-stage")

#: ``morph --method`` and the explorer's morphs (:func:`vaelab.latent.morph.interpolate`).
MORPH_METHODS = ("linear", "slerp")

#: ``grid --span`` (:func:`vaelab.presentation.report.write_grid`).
GRID_SPANS = ("embeddings", "prior")

#: ``embed --view`` (:func:`vaelab.presentation.report.write_embedding`).
EMBED_VIEWS = ("pca", "tsne")

#: ``arithmetic --pick`` (:func:`vaelab.presentation.attribute_report.pick_images`).
ARITHMETIC_PICKS = ("first", "lacking")
