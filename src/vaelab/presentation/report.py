"""The chapter's analyses of a run, each writing its figure and its data into ``figures/``.

Each ``write_*`` function computes an analysis with :mod:`vaelab.latent`, saves the numbers
(``.npz``/``.json``), draws the figure and returns the paths it wrote. The command line calls
these; notebooks can call them too, or use the ``vaelab.latent`` functions and the ``plot_*``
functions directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.choices import EMBED_VIEWS, GRID_SPANS
from vaelab.data.image_set import ImageSet
from vaelab.data.selection import requested_count
from vaelab.errors import ConfigError
from vaelab.latent import decode_grid, embed, generate, reconstruct
from vaelab.latent.codec import conditions_of, encode_images
from vaelab.latent.conditions import check_sample_class_applies, class_index, resolve_class
from vaelab.latent.denoising import denoise, denoising_corruption
from vaelab.latent.embedding import Embedding
from vaelab.latent.grids import check_grid_applies, decode_quantile_grid
from vaelab.latent.normal import normal_cdf
from vaelab.latent.samplers import (
    check_fit_size,
    check_sampler_applies,
    default_sampler,
    sampler_fits_training_set,
)
from vaelab.limits import MAX_EMBEDDED_POINTS, MAX_GENERATED, MAX_GRID_SIZE, MAX_RECONSTRUCTIONS, MAX_SEED, check_range
from vaelab.models.base import has_gaussian_posterior
from vaelab.presentation.denoising import plot_denoising
from vaelab.presentation.generated import plot_generated, plot_generated_by_class
from vaelab.presentation.images import save_figure
from vaelab.presentation.latent_cdf import plot_latent_cdf
from vaelab.presentation.latent_grid import plot_latent_grid
from vaelab.presentation.latent_histograms import plot_latent_histograms
from vaelab.presentation.latent_scatter import plot_latent_scatter
from vaelab.presentation.outputs import remove_data_file, save_json, save_npz
from vaelab.presentation.reconstructions import plot_reconstructions
from vaelab.training.run import Run

#: The book embeds the first 5,000 test images for its plots.
EMBED_COUNT = 5000

#: The book reconstructs the first 10 test images.
RECONSTRUCT_COUNT = 10

#: The book's sample grids: 3 × 6 Fashion-MNIST items, 3 × 10 faces (count, columns).
SAMPLE_GRIDS = {"fashion-mnist": (18, 6)}
FACES_SAMPLE_GRID = (30, 10)


def sample_grid(dataset: str, count: int | None = None) -> tuple[int, int]:
    """How many samples to draw and how many columns to show them in: the book's grid for the
    dataset (18 in 6 columns for Fashion-MNIST, 30 in 10 for faces), or ``count`` of them."""
    default_count, columns = SAMPLE_GRIDS.get(dataset, FACES_SAMPLE_GRID)
    return (count or default_count), columns


def _labels(images_labels: np.ndarray | None, count: int) -> np.ndarray:
    return images_labels if images_labels is not None else np.full(count, -1)


def write_reconstructions(run: Run, test_set: ImageSet, count: int | None = None) -> list[Path]:
    """The first ``count`` test images above their reconstructions (default: the book's 10, or
    all when fewer; a :class:`ConfigError` when ``count`` exceeds the test set)."""
    check_range("--count", count, 1, MAX_RECONSTRUCTIONS)
    count = requested_count(count, RECONSTRUCT_COUNT, len(test_set), "--count", "test images")
    result = reconstruct(run.model, test_set, count)
    remove_data_file(data_path := run.dir.figure_path("reconstructions.npz"))
    title = f"{run.config.preset}: test images and their reconstructions"
    figure = save_figure(plot_reconstructions(result, title), run.dir.figure_path("reconstructions.png"))
    data = save_npz(
        data_path,
        originals=result.originals,
        reconstructions=result.reconstructions,
        labels=_labels(result.labels, len(result.originals)),
    )
    return [figure, data]


def write_embedding(
    run: Run,
    test_set: ImageSet,
    count: int | None = None,
    sampled: bool = False,
    seed: int = 0,
    view: str = "pca",
) -> list[Path]:
    """The first ``count`` test images (default: the book's 5,000, or all when fewer; a
    :class:`ConfigError` when ``count`` exceeds the test set) embedded: ``latent_scatter.png`` (coloured by class),
    ``latent_histograms.png`` (each dimension against N(0, 1)), for a VAE ``latent_cdf.png``
    (z beside Φ(z)), and ``embeddings.npz`` (z, labels, class names). A VAE is embedded by its
    encoder means unless ``sampled``. A latent space over 2-D is shown in its PCA plane, or with
    ``view="tsne"`` through t-SNE (much slower; see the README's "Speed")."""
    if view not in EMBED_VIEWS:
        raise ConfigError(f"unknown view {view!r}; use one of: {', '.join(EMBED_VIEWS)}")
    check_range("--count", count, 1, MAX_EMBEDDED_POINTS)
    check_range("--seed", seed, 0, MAX_SEED)
    count = requested_count(count, EMBED_COUNT, len(test_set), "--count", "test images")
    embedding = embed(run.model, test_set, count, sampled=sampled, seed=seed)
    remove_data_file(data_path := run.dir.figure_path("embeddings.npz"))
    what = "sampled z" if sampled else ("encoder means" if has_gaussian_posterior(run.model) else "z")
    title = f"{run.config.preset}: latent space of {len(embedding.z):,} test images ({what})"
    written = [
        save_figure(
            plot_latent_scatter(embedding.with_tsne(seed) if view == "tsne" else embedding, title),
            run.dir.figure_path("latent_scatter.png"),
        ),
        save_figure(plot_latent_histograms(embedding.z), run.dir.figure_path("latent_histograms.png")),
    ]
    if run.model.has_prior and run.model.standard_normal_prior:  # Φ(z) shows how well z fits N(0, I)
        written.append(save_figure(plot_latent_cdf(embedding), run.dir.figure_path("latent_cdf.png")))
    data = save_npz(
        data_path,
        z=embedding.z,
        labels=_labels(embedding.labels, len(embedding.z)),
        class_names=np.array(embedding.class_names),
        sampled=np.array(sampled),
    )
    return [*written, data]


def write_generated(
    run: Run,
    test_set: ImageSet,
    count: int | None = None,
    seed: int = 0,
    sampler: str | None = None,
    train_set: ImageSet | None = None,
    condition: str | int | None = None,
    progress: bool = True,
) -> list[Path]:
    """``count`` points drawn by ``sampler`` (default: the model's own, ``model.default_sampler``),
    decoded: the figure, ``generated.json`` (points, sampler) and ``generated.npz`` (images).
    ``count`` defaults to the book's grid for the run's dataset (:func:`sample_grid`).

    A sampler fitted after training (``gmm``, ``two-stage``) is fitted to the embeddings of ``train_set``
    (default: the run's training set; refused in one line, before any encoding, when too small); the
    others to the embedded test images. ``progress`` shows the bar of a sampler fitted by training.

    A conditional model (``cvae``) decodes every sample under class ``condition`` (a name of
    ``test_set.class_names`` or an index), or, when it is None, under every class in turn: then
    ``count`` defaults to a row of the book's grid per class (6 × 10 for Fashion-MNIST) and
    ``generated_classes.png`` shows the samples one row per class. A model whose prior is
    class-conditional (a vq-vae's PixelCNN) draws every sample under class ``condition``. The classes
    go into ``generated.json`` (``classes``, ``class_names``) and ``generated.npz`` (``labels``).
    ``condition`` is refused in one line, first, for other models (:func:`check_sample_class_applies`)."""
    check_sample_class_applies(run.model, condition)
    sampler = sampler or default_sampler(run.model)
    check_sampler_applies(sampler, run.model)
    check_range("--count", count, 1, MAX_GENERATED)
    check_range("--seed", seed, 0, MAX_SEED)
    chosen = class_index(test_set.class_names, condition)
    cycling = run.model.conditional and chosen is None
    if cycling and count is None:
        _, columns = sample_grid(run.config.dataset)
        count = min(columns * run.model.condition_dim, MAX_GENERATED)
    count, columns = sample_grid(run.config.dataset, count)
    fit_set = None
    if sampler_fits_training_set(sampler):
        fit_set = train_set or run.train_set()
        check_fit_size(sampler, len(fit_set))
    embedding = embed(run.model, test_set, EMBED_COUNT)
    fit_to = None
    if fit_set is not None:
        fit_to = encode_images(run.model, fit_set.images, labels=conditions_of(run.model, fit_set))
    generated = generate(run.model, embedding, count, seed, sampler, fit_to, chosen, progress)
    json_path, npz_path = run.dir.figure_path("generated.json"), run.dir.figure_path("generated.npz")
    by_class_path = run.dir.figure_path("generated_classes.png")
    remove_data_file(json_path, npz_path, by_class_path)
    figure = save_figure(plot_generated(embedding, generated, columns), run.dir.figure_path("generated.png"))
    figures = [figure]
    if cycling:
        title = f"{run.config.preset}: samples ({generated.sampler}) decoded under each class, one row per class"
        figures.append(save_figure(plot_generated_by_class(generated, title), by_class_path))
    arrays = {"points": generated.points, "images": generated.images}
    if generated.labels is not None:
        arrays["labels"] = generated.labels
    images = save_npz(npz_path, **arrays)
    data = save_json(json_path, generated.to_dict())
    return [*figures, data, images]


def write_grid(
    run: Run, test_set: ImageSet, size: int = 15, span: str | None = None, condition: str | int | None = None
) -> list[Path]:
    """A ``size``×``size`` grid decoded, beside the scatter: ``latent_grid.png`` and ``.npz``.

    ``span="embeddings"`` (the default for an autoencoder) spans the embeddings' min–max;
    ``span="prior"`` (the default for a VAE) takes open-interval quantiles of N(0, 1) through the
    inverse normal CDF, and the figure's axes are Φ(z).

    A conditional model (``cvae``) decodes the grid under one class: ``condition`` (a name of
    ``test_set.class_names`` or an index; refused for other models), or every class in turn when it
    is None. Each class k gets its own pair, ``latent_grid_class{k}.png`` and ``.npz`` (which
    records ``condition`` and ``class_name``), so the same z can be compared across classes.

    Refused in one line for a family with discrete codes (``vq-vae``), before any work.
    """
    check_grid_applies(run.model)
    check_range("--size", size, 2, MAX_GRID_SIZE)
    span = span or ("prior" if run.model.has_prior and run.model.standard_normal_prior else "embeddings")
    if span not in GRID_SPANS:
        raise ConfigError(f"unknown grid span {span!r}; use one of: {', '.join(GRID_SPANS)}")
    chosen = resolve_class(run.model, test_set.class_names, condition)
    embedding = embed(run.model, test_set, EMBED_COUNT)
    if not run.model.conditional:
        return _write_one_grid(run, embedding, size, span, None, "latent_grid")
    classes = range(run.model.condition_dim) if chosen is None else [chosen]
    written: list[Path] = []
    for k in classes:
        written += _write_one_grid(run, embedding, size, span, k, f"latent_grid_class{k}")
    return written


def _write_one_grid(
    run: Run, embedding: Embedding, size: int, span: str, condition: int | None, name: str
) -> list[Path]:
    """One decoded grid (under class ``condition`` for a conditional model): ``{name}.png`` and ``.npz``."""
    if span == "prior":
        grid = decode_quantile_grid(run.model, run.config.model.latent_dim, size, condition)
        plane = normal_cdf(embedding.z[:, :2])
        title = "decoded grid: N(0, 1) quantiles through Φ⁻¹"
    else:
        grid = decode_grid(run.model, embedding, size, condition)
        plane = embedding.plane
        title = "decoded grid over the embeddings' range"
    extra: dict[str, np.ndarray] = {}
    if condition is not None:
        class_name = embedding.class_names[condition]
        title += f", decoded as {class_name}"
        extra = {"condition": np.array(condition), "class_name": np.array(class_name)}
    remove_data_file(data_path := run.dir.figure_path(f"{name}.npz"))
    plot = plot_latent_grid(plane, embedding.labels, embedding.class_names, grid, title)
    figure = save_figure(plot, run.dir.figure_path(f"{name}.png"))
    data = save_npz(
        data_path,
        xs=grid.xs,
        ys=grid.ys,
        latent_points=grid.latent_points,
        images=grid.images,
        span=np.array(span),
        **extra,
    )
    return [figure, data]


def write_denoising(
    run: Run,
    test_set: ImageSet | None = None,
    kind: str | None = None,
    amount: float | None = None,
    seed: int = 0,
    *,
    data_dir: str | None = None,
    limit_test: int | None = None,
) -> list[Path]:
    """PSNR of corrupted and restored test images (``denoising.json``) and examples
    (``denoising.png``). The corruption is the run's own unless ``kind``/``amount`` say otherwise;
    an unknown kind or an amount out of its range is refused before any data loads. ``test_set``
    defaults to the run's (from ``data_dir`` or where the run found it, its first ``limit_test``
    images)."""
    corruption = denoising_corruption(run.config.corruption, kind, amount)
    check_range("--seed", seed, 0, MAX_SEED)
    test_set = test_set if test_set is not None else run.test_set(data_dir, limit_test)
    result = denoise(run.model, test_set, corruption, seed=seed)
    remove_data_file(data_path := run.dir.figure_path("denoising.json"))
    figure = save_figure(plot_denoising(result, run.config.preset), run.dir.figure_path("denoising.png"))
    data = save_json(data_path, result.to_dict())
    return [figure, data]


def write_all(run: Run, test_set: ImageSet) -> list[Path]:
    """Every analysis of the book's notebooks for this run (and denoising for a denoising model)."""
    written = (
        write_reconstructions(run, test_set)
        + write_embedding(run, test_set)
        + write_generated(run, test_set)
        + write_grid(run, test_set)
    )
    if run.config.corruption is not None:
        written += write_denoising(run, test_set)
    return written
