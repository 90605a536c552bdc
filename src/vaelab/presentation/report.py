"""The chapter's analyses of a run, each writing its figure and its data into ``figures/``.

Each ``write_*`` function computes an analysis with :mod:`vaelab.latent`, saves the numbers
(``.npz``/``.json``), draws the figure and returns the paths it wrote. The command line calls
these; notebooks can call them too, or use the ``vaelab.latent`` functions and the ``plot_*``
functions directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.latent import decode_grid, embed, generate, reconstruct
from vaelab.latent.samplers import default_sampler
from vaelab.presentation.generated import plot_generated
from vaelab.presentation.images import save_figure
from vaelab.presentation.latent_grid import plot_latent_grid
from vaelab.presentation.latent_scatter import plot_latent_scatter
from vaelab.presentation.outputs import save_json, save_npz
from vaelab.presentation.reconstructions import plot_reconstructions
from vaelab.training.run import Run

#: The book embeds the first 5,000 test images for its plots.
EMBED_COUNT = 5000


def _labels(images_labels: np.ndarray | None, count: int) -> np.ndarray:
    return images_labels if images_labels is not None else np.full(count, -1)


def write_reconstructions(run: Run, test_set: ImageSet, count: int = 10) -> list[Path]:
    """The first ``count`` test images above their reconstructions."""
    result = reconstruct(run.model, test_set, count)
    data = save_npz(
        run.dir.figure_path("reconstructions.npz"),
        originals=result.originals,
        reconstructions=result.reconstructions,
        labels=_labels(result.labels, len(result.originals)),
    )
    title = f"{run.config.preset}: test images and their reconstructions"
    figure = save_figure(plot_reconstructions(result, title), run.dir.figure_path("reconstructions.png"))
    return [figure, data]


def write_embedding(run: Run, test_set: ImageSet, count: int = EMBED_COUNT) -> list[Path]:
    """The first ``count`` test images embedded, as a class-coloured scatter and ``embeddings.npz``."""
    embedding = embed(run.model, test_set, count)
    data = save_npz(
        run.dir.figure_path("embeddings.npz"),
        z=embedding.z,
        labels=_labels(embedding.labels, len(embedding.z)),
        class_names=np.array(embedding.class_names),
    )
    title = f"{run.config.preset}: latent space of {len(embedding.z):,} test images"
    figure = save_figure(plot_latent_scatter(embedding, title), run.dir.figure_path("latent_scatter.png"))
    return [figure, data]


def write_generated(
    run: Run, test_set: ImageSet, count: int = 18, seed: int = 0, sampler: str | None = None
) -> list[Path]:
    """``count`` points drawn by ``sampler`` (default: the book's for this kind of model),
    decoded: the figure, ``generated.json`` (points, sampler) and ``generated.npz`` (images)."""
    embedding = embed(run.model, test_set, EMBED_COUNT)
    generated = generate(run.model, embedding, count, seed, sampler or default_sampler(run.config.model.kind))
    data = save_json(run.dir.figure_path("generated.json"), generated.to_dict())
    images = save_npz(run.dir.figure_path("generated.npz"), points=generated.points, images=generated.images)
    figure = save_figure(plot_generated(embedding, generated), run.dir.figure_path("generated.png"))
    return [figure, data, images]


def write_grid(run: Run, test_set: ImageSet, size: int = 15) -> list[Path]:
    """A ``size``×``size`` grid spanning the embeddings' range, decoded, beside the scatter."""
    embedding = embed(run.model, test_set, EMBED_COUNT)
    grid = decode_grid(run.model, embedding, size)
    data = save_npz(
        run.dir.figure_path("latent_grid.npz"),
        xs=grid.xs, ys=grid.ys, latent_points=grid.latent_points, images=grid.images,
    )
    plot = plot_latent_grid(embedding.plane, embedding.labels, embedding.class_names, grid)
    figure = save_figure(plot, run.dir.figure_path("latent_grid.png"))
    return [figure, data]


def write_all(run: Run, test_set: ImageSet) -> list[Path]:
    """Every analysis of the book's autoencoder notebook."""
    return (
        write_reconstructions(run, test_set)
        + write_embedding(run, test_set)
        + write_generated(run, test_set)
        + write_grid(run, test_set)
    )
