"""Loss terms of a model over a whole dataset, without gradients.

Validation is batched like training (same batch size, so a VAE's seeded noise and the sums are
the same at any speed setting), runs under ``torch.inference_mode``, accumulates every term on the
device and reads the sums back once. It always computes in float32, even for a run trained in
bf16, so validation numbers measure the model, not the arithmetic.
"""

from __future__ import annotations

import torch

from vaelab.data.batching import DeviceImages
from vaelab.data.corruption import Corruption
from vaelab.data.host_images import HostImages
from vaelab.data.preprocess import to_unit_float
from vaelab.models.base import LatentModel
from vaelab.training.batch import Batch
from vaelab.training.execution import Execution
from vaelab.training.objectives import Objective

#: Seed of the noise ε that a VAE's validation pass draws (the same at every epoch).
VALIDATION_SEED = 0


@torch.inference_mode()
def mean_terms(
    model: LatentModel,
    objective: Objective,
    data: DeviceImages | HostImages,
    batch_size: int,
    corruption: Corruption | None = None,
    execution: Execution | None = None,
    dataset_size: int = 0,
) -> dict[str, float]:
    """Each of the objective's terms averaged over every image of ``data`` (eval mode).

    Every random draw of the forward pass (a Gaussian encoder's ε, a prior's samples) comes from a
    generator seeded with :data:`VALIDATION_SEED` at each call, not from the global RNG, so
    validation numbers are deterministic, comparable across epochs, and leave the training RNG
    untouched. ``dataset_size`` (default: the validation set's) is what an objective that needs the
    training set's size (β-TCVAE) is told. With ``corruption`` (a denoising model), the inputs are corrupted
    the same way, from another seeded generator, and the terms compare with the clean images.
    ``execution`` gives the memory format the model's weights are in (batches are converted to it).
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=data.device).manual_seed(VALIDATION_SEED)
    noise = torch.Generator(device=data.device).manual_seed(VALIDATION_SEED + 1)
    sums = torch.zeros(len(objective.terms), dtype=torch.float64, device=data.device)
    for images, labels in data.labelled_batches(batch_size):
        x = to_unit_float(images)
        if execution is not None:
            x = execution.prepare_input(x)
        x_in = corruption(x, noise) if corruption else x
        output = model(x_in, labels, generator=generator)
        terms = objective(model, Batch(x_in, x, labels, dataset_size or len(data)), output)
        sums.add_(torch.stack([terms[name] for name in objective.terms]).double(), alpha=x.shape[0])
    model.train(was_training)
    return dict(zip(objective.terms, (sums / len(data)).tolist(), strict=True))
