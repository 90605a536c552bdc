"""The model card of an exported model: its ``README.md``, the page the Hugging Face Hub shows.

A YAML front matter as Hub cards have (``library_name``, ``tags``, the training data and its licence
where vaelab knows them, ``pipeline_tag`` when the model samples), then, in Markdown: how to load and
use the model (Python that runs as written), what it is (family, latent space, images, parameters,
the weights' epoch and digest), the recipe (the run's ``config.json``), the metrics (the last epoch of
``metrics.jsonl``, and what ``vaelab evaluate`` and ``vaelab diagnose`` measured on these weights), the
samples image, and the commands that reproduce the run (:mod:`vaelab.training.reproduce`).

:func:`model_card` only formats: :mod:`vaelab.workflows.export` gathers the facts (:class:`CardFacts`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vaelab.models import ModelSpec
from vaelab.presentation.compare import metric_lines
from vaelab.presentation.run_summary import (
    epoch_lines,
    model_rows,
    prior_epoch_sentence,
    recipe_rows,
    reproduce_notes,
)
from vaelab.training.config import RunConfig
from vaelab.training.reproduce import Command


@dataclass(frozen=True)
class DataTerms:
    """What a card says about a dataset: its Hub id (None when it has none), the licence of the
    weights trained on it (the Hub's identifier; None: not stated), and one line on its terms."""

    hub_id: str | None
    license: str | None
    terms: str


#: What vaelab knows of each dataset's terms; any other (an image folder): :data:`UNKNOWN_TERMS`.
DATA_TERMS = {
    "fashion-mnist": DataTerms(
        "zalando-datasets/fashion_mnist", "mit", "Fashion-MNIST (Zalando Research) is under the MIT licence, as vaelab"
    ),
    "celeba": DataTerms(
        None, "other", "CelebA (MMLAB, CUHK) may be used for non-commercial research only, and so may these weights"
    ),
}
UNKNOWN_TERMS = DataTerms(None, None, "the terms of the images it was trained on apply to these weights")


@dataclass(frozen=True)
class CardFacts:
    """What a card states (:mod:`vaelab.workflows.export` gathers it).

    Attributes:
        name: the run's preset, or the family of a model saved from Python.
        description: one line on what the model is.
        source: the folder as the card's code loads it.
        spec: the model's :class:`~vaelab.models.ModelSpec`.
        capabilities: ``LatentModel.facts()``.
        latent: the latent space's size as ``vaelab presets`` shows it.
        point_size: the size of a latent point z (``LatentModel.latent_dim``: a vq-vae's is its grid of
            code vectors, flattened); the spec's ``latent_dim`` when not given.
        parameters: trainable parameters of ``encoder``, ``decoder`` and the ``total``.
        weights: ``sha256`` and ``epoch`` (None for a model saved from Python) of the weights.
        run: the run's config, None for a model saved from Python.
        last_epoch: the last row of the run's ``metrics.jsonl``, None when there is none.
        measures: rows of :func:`vaelab.presentation.compare.collect_rows` measured on these weights.
        samples: the samples image's file name beside the card, None when there is none.
        samples_note: how the samples were drawn, or why there are none.
        commands: the commands that reproduce the run (train, prior train, export).
        prior: the PixelCNN prior's settings (its constructor's arguments), None without one.
        prior_training: how the prior was trained (its ``PriorConfig``), None when not known.
        prior_last_epoch: the last row of the prior's ``metrics.jsonl``, None when there is none.
    """

    name: str
    description: str
    source: str
    spec: ModelSpec
    capabilities: dict[str, object]
    latent: str
    parameters: dict[str, int]
    weights: dict[str, Any]
    run: RunConfig | None = None
    last_epoch: dict[str, Any] | None = None
    measures: list[dict[str, Any]] = field(default_factory=list)
    samples: str | None = None
    samples_note: str = ""
    commands: list[Command] = field(default_factory=list)
    prior: dict[str, Any] | None = None
    prior_training: dict[str, Any] | None = None
    prior_last_epoch: dict[str, Any] | None = None
    point_size: int | None = None

    @property
    def terms(self) -> DataTerms:
        return DATA_TERMS.get(self.run.dataset, UNKNOWN_TERMS) if self.run else UNKNOWN_TERMS


def model_card(facts: CardFacts) -> str:
    """The card's Markdown, front matter first."""
    sections = [
        _front_matter(facts),
        f"# {facts.name}\n\n{facts.description}\n\nA {facts.spec.kind} model of vaelab (autoencoders and VAEs in "
        "PyTorch), stored as Hugging Face models are: `config.json` beside `model.safetensors`.",
        _use(facts),
        _model(facts),
        _recipe(facts),
        _metrics(facts),
        _samples(facts),
        _reproduce(facts),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _front_matter(facts: CardFacts) -> str:
    tags = ["vaelab", "pytorch", "autoencoder", facts.spec.kind]
    if facts.capabilities.get("posterior") == "gaussian":
        tags.append("variational-autoencoder")
    if facts.run is not None:
        tags.append(facts.run.dataset)
    lines = ["---", "library_name: vaelab"]
    if facts.terms.license:
        lines.append(f"license: {facts.terms.license}")
    lines += ["tags:", *(f"- {tag}" for tag in dict.fromkeys(tags))]
    if facts.terms.hub_id:
        lines += ["datasets:", f"- {facts.terms.hub_id}"]
    if facts.capabilities.get("has_prior"):
        lines.append("pipeline_tag: unconditional-image-generation")
    return "\n".join([*lines, "---"])


def _use(facts: CardFacts) -> str:
    spec = facts.spec
    conditional = bool(facts.capabilities.get("conditional"))
    labels = ", labels" if conditional else ""
    code = [
        "import torch",
        "import vaelab",
        "",
        f"model = vaelab.from_pretrained({json.dumps(facts.source)})  # this folder, or its Hub repo id (owner/name)",
        f"images = torch.rand(4, {spec.image_channels}, {spec.image_size}, {spec.image_size})  # N×C×H×W, in [0, 1]",
    ]
    if conditional:
        code.append("labels = torch.tensor([0, 1, 2, 3])  # the class of each image")
    code += [
        "with torch.no_grad():",
        f"    z = model.encode(images{labels}).mean  # [N, {facts.point_size or spec.latent_dim}]: {_what_z_is(facts)}",
        f"    decoded = model.decode(z{labels})  # back to images in [0, 1]",
    ]
    if facts.capabilities.get("has_prior"):
        code.append(f"    samples = model.decode(model.sample_prior(4){labels})  # new images, from the prior")
    hub = "`pip install 'vaelab[hub]'` lets `from_pretrained` take a Hugging Face Hub repo id."
    return "## Use\n\n```python\n" + "\n".join(code) + f"\n```\n\n{hub}"


def _what_z_is(facts: CardFacts) -> str:
    """What the card's ``z`` is, in a comment's words."""
    if not facts.capabilities.get("continuous_codes", True):
        return "each image's grid of code vectors, flattened"
    return "the posterior's mean" if facts.capabilities.get("posterior") == "gaussian" else "the code"


def _model(facts: CardFacts) -> str:
    epoch = facts.weights.get("epoch")
    rows = model_rows(facts.spec, facts.capabilities, facts.latent, facts.parameters)
    rows += [
        ("weights", (f"epoch {epoch}, " if epoch is not None else "") + f"SHA-256 `{facts.weights['sha256']}`"),
        ("files", "`config.json` (rebuilds the model), `model.safetensors` (its weights)"),
    ]
    if facts.prior is not None:
        settings = ", ".join(f"{name} {value}" for name, value in facts.prior.items())
        files = "`prior/config.json`, `prior/model.safetensors`"
        rows.append(("prior", f"a gated PixelCNN over the code grids ({settings}): {files}"))
    return "## The model\n\n" + _table(("", ""), rows)


def _recipe(facts: CardFacts) -> str:
    if facts.run is None:
        return "## Recipe\n\nSaved from Python, not from a run: no recipe, metrics or commands are known."
    recipe = json.dumps(facts.run.to_dict(), indent=2)
    terms = f"Terms: {facts.terms.terms}."
    return (
        "## Recipe\n\n"
        + _table(("", ""), recipe_rows(facts.run))
        + f"\n\n{terms}\n\nThe run's `config.json` (also under `run` in this folder's `config.json`):\n\n"
        + f"```json\n{recipe}\n```"
    )


def _metrics(facts: CardFacts) -> str:
    if facts.run is None:
        return ""
    parts = ["## Metrics"]
    row = facts.last_epoch
    if row is None:
        parts.append("The run's `metrics.jsonl` holds no epoch.")
    else:
        table = _table(("term", "training", "validation"), epoch_lines(row))
        parts.append(f"Epoch {row['epoch']}, as the run's `metrics.jsonl` records it:\n\n{table}")
    parts.append(_measures(facts.measures))
    if facts.prior_last_epoch is not None:
        parts.append(prior_epoch_sentence(facts.prior_last_epoch))
    return "\n\n".join(parts)


def _measures(rows: list[dict[str, Any]]) -> str:
    """The numbers ``vaelab evaluate`` and ``vaelab diagnose`` measured on these weights, one column per sampler."""
    if not rows:
        return "No `vaelab evaluate` or `vaelab diagnose` results of these weights (run them, then export again)."
    header = ("measured on the test set", *(f"sampler {row['sampler']}" for row in rows))
    text = "What `vaelab evaluate` and `vaelab diagnose` measured on these weights:\n\n"
    return text + _table(header, metric_lines(rows))


def _samples(facts: CardFacts) -> str:
    if facts.samples is None:
        return f"## Samples\n\n{facts.samples_note}"
    return f"## Samples\n\n![samples]({facts.samples})\n\n{facts.samples_note}"


def _reproduce(facts: CardFacts) -> str:
    if not facts.commands:
        return ""
    block = "\n".join(command.text for command in facts.commands)
    notes = reproduce_notes(facts.commands, facts.prior is not None)
    text = "## Reproduce\n\nThe commands that train this model again, with the same numbers on the same device:\n\n"
    return text + f"```bash\n{block}\n```" + "".join(f"\n\n{note}" for note in notes)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])
