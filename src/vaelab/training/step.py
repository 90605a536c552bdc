"""One training step, the unit the trainer repeats and the benchmark times.

A step takes a uint8 batch from the device-resident data and does everything on the device:
scale to [0, 1], corrupt (denoising models), forward pass (under autocast for bf16), loss,
backward pass, Adam, and adding each loss term × images to running sums. Nothing is read back to
the host, so on a GPU the host only queues work and never waits.

In a data-parallel run every process receives the same *global* batch and trains on its own
contiguous slice of it (see :meth:`vaelab.training.distributed.Distributed.shard`); the loss is
scaled so that DistributedDataParallel's gradient average equals the gradient of the global
batch's mean loss, even when the slices differ in size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from vaelab.data.corruption import Corruption
from vaelab.data.preprocess import to_unit_float
from vaelab.models.base import LatentModel, ModelOutput
from vaelab.training.batch import Batch
from vaelab.training.execution import Execution
from vaelab.training.objectives import Objective


def whole_batch(count: int) -> tuple[int, int]:
    """The shard of a single process: the whole batch."""
    return 0, count


def _latent_model(forward: Callable[..., ModelOutput]) -> LatentModel:
    """The model behind ``forward`` (the model itself, or the module a wrapper such as DDP holds)."""
    model = getattr(forward, "module", forward)
    if not isinstance(model, LatentModel):
        raise TypeError("TrainStep needs model= when forward is not a latent model or a wrapper of one")
    return model


class TrainStep:
    """An eager training step (see the module docstring); call it with a uint8 batch.

    Attributes:
        sums: float64 tensor on the device, one entry per objective term: Σ term × images over
            the steps since the last :meth:`reset` (this process's images only).
    """

    def __init__(
        self,
        forward: Callable[..., ModelOutput],
        optimizer: torch.optim.Optimizer,
        objective: Objective,
        execution: Execution,
        corruption: Corruption | None = None,
        shard: Callable[[int], tuple[int, int]] = whole_batch,
        world_size: int = 1,
        *,
        model: LatentModel | None = None,
        dataset_size: int = 0,
    ) -> None:
        self.forward = forward
        self.model = model if model is not None else _latent_model(forward)
        self.dataset_size = dataset_size
        self.optimizer = optimizer
        self.objective = objective
        self.execution = execution
        self.corruption = corruption
        self.shard = shard
        self.world_size = world_size
        self.names = tuple(objective.terms)
        self.sums = torch.zeros(len(self.names), dtype=torch.float64, device=execution.device)

    def reset(self, values: Sequence[float] | None = None) -> None:
        """Set the running sums (in place: a captured CUDA graph keeps writing to the same tensor)."""
        if values is None:
            self.sums.zero_()
        else:
            self.sums.copy_(torch.tensor(list(values), dtype=torch.float64))

    def __call__(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """One step on the uint8 ``images`` (and their ``labels``, for a conditional family)."""
        count = images.shape[0]
        begin, end = self.shard(count)
        weight = end - begin
        # A process whose slice is empty (a last batch smaller than the number of processes) still
        # joins the gradient all-reduce, with one image and a loss scaled by 0.
        part = slice(begin, end) if weight else slice(0, 1)
        x = self.execution.prepare_input(to_unit_float(images[part]))
        x_in = self.corruption(x) if self.corruption else x
        condition = labels[part] if labels is not None else None
        with self.execution.autocast():
            output = self.forward(x_in, condition)
        batch = Batch(x_in, x, condition, self.dataset_size)
        terms = self.objective(self.model, batch, self.execution.float32_outputs(output))
        loss = terms["loss"]
        scale = weight * self.world_size / count
        if scale != 1.0:
            loss = loss * scale
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        stacked = torch.stack([terms[name].detach().float() for name in self.names])
        self.sums.add_(stacked.double(), alpha=weight)
