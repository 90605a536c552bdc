"""Loss terms of a model over a whole dataset, without gradients."""

from __future__ import annotations

import torch
from torch import nn

from vaelab.data.batching import DeviceImages
from vaelab.data.preprocess import to_unit_float
from vaelab.training.objectives import Objective


@torch.no_grad()
def mean_terms(model: nn.Module, objective: Objective, data: DeviceImages, batch_size: int) -> dict[str, float]:
    """Each of the objective's terms averaged over every image of ``data`` (eval mode)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(len(objective.terms), dtype=torch.float64, device=data.device)
    for batch in data.batches(batch_size):
        x = to_unit_float(batch)
        terms = objective(model(x), x)
        sums += torch.stack([terms[name].detach() for name in objective.terms]).double() * x.shape[0]
    model.train(was_training)
    return dict(zip(objective.terms, (sums / len(data)).tolist()))
