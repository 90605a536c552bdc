"""The shapes of the explorer API's JSON answers, as pydantic models (they are its OpenAPI schema).

:class:`ErrorDetail` is every error answer (4xx and 503): one line, never FastAPI's default list of
validation errors. :class:`RunFacts`, :class:`PlanePoints` and :class:`CodebookUse` are the answers of
``/api/run``, ``/api/points`` and ``/api/codebook``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    """An error answer: what is wrong, in one line."""

    detail: str = Field(description="one line saying what is wrong (and, where it can be, how to fix it)")


class Projection(BaseModel):
    """How the latent space is shown in the plane."""

    method: str = Field(description="`identity` (a 2-D latent space) or `pca` (the plane of PC1 and PC2)")
    explained_variance: list[float] = Field(description="each axis's share of the embeddings' variance")
    axis_labels: list[str] = Field(min_length=2, max_length=2)


class RunFacts(BaseModel):
    """The facts of the run and of the weights served (the page's facts panel).

    They describe the weights in memory, loaded when the explorer started; whether the run's
    ``model.safetensors`` holds other weights by now is ``weights_changed`` (and ``note``)."""

    run_dir: str
    name: str = Field(description="the run directory's name")
    preset: str
    kind: str = Field(description="the model family, e.g. `ae` or `vae`")
    conditional: bool = Field(
        description="whether the model decodes under a class (`cvae`): then /api/decode needs `class`, an index of "
        "`class_names` of /api/points"
    )
    dataset: str
    latent_dim: int = Field(ge=1)
    image_shape: list[int] = Field(min_length=3, max_length=3, description="channels, height, width")
    epochs_trained: int | None = Field(
        ge=0,
        description="the epoch whose weights are served (as model.safetensors recorded it when the explorer loaded "
        "it; for a file written before vaelab 0.6, the last epoch in metrics.jsonl then); null when unknown",
    )
    epochs_configured: int = Field(ge=1)
    final_val: dict[str, float] | None = Field(
        description="the validation loss terms of the epoch served (its row of metrics.jsonl); null when that row "
        "is missing or the epoch is unknown"
    )
    weights_sha256: str = Field(
        pattern="^[0-9a-f]{64}$", description="SHA-256 of the weights served (as model.safetensors records it)"
    )
    weights_changed: bool = Field(
        description="whether the run's model.safetensors now holds other weights than those served (or was "
        "removed); the explorer serves the weights it loaded until it is restarted"
    )
    weights_on_disk_epoch: int | None = Field(
        ge=0,
        description="the epoch model.safetensors records now; null when it is missing, unreadable or has no record",
    )
    note: str | None = Field(
        description="one line when the weights on disk changed, e.g. that newer ones exist and a restart shows them"
    )
    points: int = Field(ge=1, description="embedded test images: valid indices are 0 to points − 1")
    projection: Projection
    discrete_codes: bool = Field(
        description="whether the model's codes are indices into a codebook (`vq-vae`): then /api/codebook "
        "answers, and each point of /api/points is the PCA of one image's grid of code vectors, flattened"
    )
    codebook_size: int | None = Field(ge=2, description="K, the codebook's number of codes; null for continuous codes")
    code_shape: list[int] | None = Field(
        min_length=3,
        max_length=3,
        description="D, H, W: one image's grid of H × W code vectors of D numbers; null for continuous codes",
    )
    has_prior: bool = Field(description="whether the model has a prior p(z) (a vq-vae's, learnt after training)")
    sampler: str | None = Field(
        description="the sampler /api/samples draws with (the model's own, e.g. `prior`); null when it cannot "
        "draw yet (a vq-vae run without a prior: /api/samples then answers 409 saying what to run)"
    )
    sampler_note: str | None = Field(
        description="one line when `sampler` is null: why the run cannot draw yet and what to run (the line of "
        "/api/samples's 409); null otherwise"
    )


class PlaneBounds(BaseModel):
    """The plane shown: the embeddings' range plus 5 % of it on each side."""

    x: list[float] = Field(min_length=2, max_length=2, description="[lowest, highest]")
    y: list[float] = Field(min_length=2, max_length=2, description="[lowest, highest]")


class PlanePoints(BaseModel):
    """The embedded test images in the plane; item i of each list is test image ``indices[i]``."""

    count: int = Field(ge=1)
    x: list[float]
    y: list[float]
    labels: list[int] | None = Field(description="class of each point; null for a dataset without labels")
    class_names: list[str] = Field(description="name of each class (empty without labels)")
    indices: list[int] = Field(description="test-set index of each point")
    bounds: PlaneBounds
    axis_labels: list[str] = Field(min_length=2, max_length=2)


class CodebookUse(BaseModel):
    """A codebook (a model with discrete codes): each code's use over the embedded test images, and
    the code vectors in the plane of their first two principal components; item k of ``counts``,
    ``x`` and ``y`` is code k."""

    codebook_size: int = Field(ge=2, description="K, the number of codes")
    code_dim: int = Field(ge=1, description="D, the numbers in a code vector")
    grid: list[int] = Field(min_length=2, max_length=2, description="H, W: an image's grid of codes")
    images: int = Field(ge=1, description="the embedded test images counted")
    positions: int = Field(ge=1, description="grid positions counted: images × H × W (the sum of `counts`)")
    counts: list[int] = Field(description="how many positions chose each code")
    used: int = Field(ge=0, description="codes chosen at least once")
    perplexity: float = Field(
        ge=1, description="exp(entropy) of the codes' frequencies: from 1 (one code) to K (all used equally)"
    )
    x: list[float] = Field(description="each code vector's first coordinate in the plane")
    y: list[float] = Field(description="each code vector's second coordinate in the plane")
    bounds: PlaneBounds
    axis_labels: list[str] = Field(min_length=2, max_length=2)
    explained_variance: list[float] = Field(description="each axis's share of the code vectors' variance")
