"""Loss terms of a model over a whole dataset, without gradients.

Validation is batched like training (same batch size, so a VAE's seeded noise and the sums are
the same at any speed setting), runs under ``torch.inference_mode``, accumulates every term on the
device and reads the sums back once. It always computes in float32, even for a run trained in
bf16, so validation numbers measure the model, not the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vaelab.data.batching import DeviceImages
from vaelab.data.corruption import Corruption
from vaelab.data.preprocess import to_unit_float
from vaelab.models.base import LatentModel, has_gaussian_posterior
from vaelab.training.execution import Execution
from vaelab.training.objectives import Objective

#: Seed of the noise ε that a VAE's validation pass draws (the same at every epoch).
VALIDATION_SEED = 0


@torch.inference_mode()
def mean_terms(
    model: LatentModel,
    objective: Objective,
    data: DeviceImages,
    batch_size: int,
    corruption: Corruption | None = None,
    execution: Execution | None = None,
) -> dict[str, float]:
    """Each of the objective's terms averaged over every image of ``data`` (eval mode).

    A VAE draws its ε from a generator seeded with :data:`VALIDATION_SEED` at each call, not from
    the global RNG, so validation numbers are deterministic, comparable across epochs, and leave
    the training RNG untouched. With ``corruption`` (a denoising model), the inputs are corrupted
    the same way, from another seeded generator, and the terms compare with the clean images.
    ``execution`` gives the memory format the model's weights are in (batches are converted to it).
    """
    was_training = model.training
    model.eval()
    forward = deterministic_forward(model, data.device)
    noise = torch.Generator(device=data.device).manual_seed(VALIDATION_SEED + 1)
    sums = torch.zeros(len(objective.terms), dtype=torch.float64, device=data.device)
    for batch in data.batches(batch_size):
        x = to_unit_float(batch)
        if execution is not None:
            x = execution.prepare_input(x)
        x_in = corruption(x, noise) if corruption else x
        terms = objective(forward(x_in), x)
        sums.add_(torch.stack([terms[name] for name in objective.terms]).double(), alpha=x.shape[0])
    model.train(was_training)
    return dict(zip(objective.terms, (sums / len(data)).tolist(), strict=True))


def deterministic_forward(model: LatentModel, device: torch.device) -> Callable[[torch.Tensor], Any]:
    """``model``'s forward pass; a VAE's draws its noise from a freshly seeded generator."""
    if not has_gaussian_posterior(model):
        return model
    generator = torch.Generator(device=device).manual_seed(VALIDATION_SEED)
    return lambda x: model(x, generator=generator)
