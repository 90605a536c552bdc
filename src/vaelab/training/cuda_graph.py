"""A training step captured as one CUDA graph and replayed, for launch-bound models on a GPU.

A book-ae step is ~100 small kernels; launched one by one from Python each costs more host time
than the GPU needs to run it. :class:`GraphedStep` runs the first :data:`WARMUP_STEPS` full-size
batches eagerly on a side stream (the warm-up PyTorch's graph capture needs: lazy library
handles, optimiser state, allocator pools), then captures the whole step — uint8 → float,
corruption, forward, loss, backward, fused Adam, loss sums — and from then on copies each batch
into the graph's static input and replays it. The graph runs exactly the kernels the eager step
runs, so the numbers do not change; random draws (a VAE's ε, a denoiser's noise) come from
PyTorch's graph-safe CUDA generator, whose state a checkpoint saves as usual. Batches of another
size than the run's batch size (an epoch's last, smaller batch) run eagerly. If capture fails,
the step falls back to eager execution for the rest of the run and says so once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from vaelab.training.step import TrainStep

#: Eager steps before capture (PyTorch's examples use 3; DDP would need 11, but graphs are single-process).
WARMUP_STEPS = 3


class GraphedStep:
    """Wraps an eager :class:`TrainStep`; same call signature, same ``sums`` and ``reset``."""

    def __init__(self, step: TrainStep, batch_size: int, log: Callable[[str], None] = print) -> None:
        self.step = step
        self.batch_size = batch_size
        self.log = log
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: torch.Tensor | None = None
        self.static_labels: torch.Tensor | None = None
        self.stream: torch.cuda.Stream | None = None
        self.warm = 0
        self.failed = False

    @property
    def sums(self) -> torch.Tensor:
        return self.step.sums

    def reset(self, values: Sequence[float] | None = None) -> None:
        self.step.reset(values)

    def __call__(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        if self.failed or batch.shape[0] != self.batch_size:
            self.step(batch, labels)
        elif self.graph is not None and self.static is not None:  # captured together
            self.static.copy_(batch)
            if labels is not None and self.static_labels is not None:
                self.static_labels.copy_(labels)
            self.graph.replay()
        elif self.warm < WARMUP_STEPS:
            self._warm_up(batch, labels)
        else:
            self._capture_and_run(batch, labels)

    def _side_stream(self) -> torch.cuda.Stream:
        if self.stream is None:
            self.stream = torch.cuda.Stream(device=batch_device(self.step))
        return self.stream

    def _warm_up(self, batch: torch.Tensor, labels: torch.Tensor | None) -> None:
        """One real training step, eager, on the stream the capture will use."""
        stream = self._side_stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self.step(batch, labels)
        torch.cuda.current_stream().wait_stream(stream)
        if self.static is None:
            self.static = torch.empty_like(batch)
            self.static_labels = None if labels is None else torch.empty_like(labels)
        self.warm += 1

    def _capture_and_run(self, batch: torch.Tensor, labels: torch.Tensor | None) -> None:
        assert self.static is not None
        self.static.copy_(batch)
        if labels is not None and self.static_labels is not None:
            self.static_labels.copy_(labels)
        graph = torch.cuda.CUDAGraph()
        groups = self.step.optimizer.param_groups
        try:
            for group in groups:
                group["capturable"] = True  # fused Adam keeps its step count on the GPU already
            with torch.cuda.graph(graph, stream=self._side_stream()):
                self.step(self.static, self.static_labels)
        except RuntimeError as exc:
            self.failed = True
            self.log(f"note: CUDA graph capture failed ({str(exc).splitlines()[0]}); training continues eagerly")
            self.step(batch, labels)
            return
        finally:
            for group in groups:
                group["capturable"] = False
        self.graph = graph
        graph.replay()


def batch_device(step: TrainStep) -> torch.device:
    """The CUDA device a step computes on."""
    return step.execution.device
