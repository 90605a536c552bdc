"""The training recipe: the one declaration of what a preset prescribes and a run records.

A :class:`Recipe` is the data, the model and how to train it: dataset, model spec, objective and
its parameters, epochs, batch size, learning rate (Adam) and, for a denoising model, the
corruption of its inputs. Two classes extend it rather than repeat its fields:

* :class:`~vaelab.models.presets.Preset` — a recipe with a name and a description (the book's);
* :class:`~vaelab.training.config.RunConfig` — a recipe plus the run's own settings (preset name,
  seed, data selection, execution), saved flat in ``config.json``.

The recipe only declares; the run checks its values (``RunConfig.__post_init__``), because the
objectives live in the training layer, which models may not import.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from vaelab.data.corruption import Corruption
from vaelab.models.spec import ModelSpec


@dataclass(frozen=True)
class Recipe:
    """What to train and how.

    Attributes:
        dataset: the dataset it trains on (see :mod:`vaelab.data.registry`).
        model: the architecture.
        objective: the training objective's name (see :mod:`vaelab.training.objectives`).
        objective_params: its parameters.
        epochs, batch_size, lr: the optimiser's settings (Adam).
        corruption: for a denoising model, how training inputs are corrupted (the target stays
            the clean image); None otherwise.
    """

    dataset: str
    model: ModelSpec
    objective: str
    objective_params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 3
    batch_size: int = 100
    lr: float = 1e-3
    corruption: Corruption | None = None

    def recipe_fields(self) -> dict[str, Any]:
        """The recipe's fields by name, of a :class:`Recipe` or of any class that extends it."""
        return {name: getattr(self, name) for name in RECIPE_FIELDS}


RECIPE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Recipe))
"""The names of the recipe's fields, in declaration order."""
