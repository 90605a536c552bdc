"""How a run executes on its device: precision, memory format, compilation, CUDA graphs, threads.

None of these settings changes the recipe (model, loss, data order, random draws); they change
which kernels compute it. Each was measured (see ``docs/performance.md``) and is on by default
only where it paid (and, for the CUDA-only ones, where it has run: see ``cuda_graphs``):

* ``channels_last`` — on the CPU, oneDNN's convolutions (the transposed ones above all) run
  about 1.3–1.6× faster on NHWC tensors. The sums they compute are the same up to float rounding
  (a different summation order), so a run's numbers agree with a NCHW run to about 1e-4
  relative, not bit for bit. Off on CUDA, where it was not measured.
* ``cuda_graphs`` — on CUDA, each full-size training step (forward, loss, backward, Adam, loss
  sums) is captured once as a CUDA graph and replayed: one launch per step instead of ~100, which
  is most of the cost of these tiny models. Same kernels, same numbers. Single process only.
  Opt-in until it has run on a GPU: ``benchmarks/gpu_selfcheck.py`` checks it there against the
  eager step (and the tests marked ``gpu`` do).
* ``compile`` — ``torch.compile`` of the model; opt-in (on a 2-core CPU it gained 5–10 % for a
  compile of 25–30 s).
* ``precision`` — ``bf16`` runs the training forward pass under bfloat16 autocast and computes
  the loss in float32 from its outputs (weights, optimiser and validation stay float32); opt-in,
  since it changes the numbers.
* ``threads`` — ``torch.set_num_threads`` for the run (numbers depend on the thread count).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from vaelab.choices import COMPUTED_PRECISIONS
from vaelab.errors import ConfigError

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


@dataclass(frozen=True)
class Execution:
    """The execution choices of one training process (see the module docstring)."""

    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    cuda_graphs: bool = False
    compile: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.precision not in COMPUTED_PRECISIONS:
            raise ConfigError(
                f"an execution computes in {' or '.join(COMPUTED_PRECISIONS)}, got {self.precision!r} "
                "(resolve --precision auto with vaelab.training.precision.choose_precision first)"
            )

    @property
    def memory_format(self) -> torch.memory_format:
        """The memory format of model weights and input batches."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def prepare_model(self, model: ModuleT) -> ModuleT:
        """``model`` moved to the device in this execution's memory format (in place)."""
        # Module.to takes memory_format as a keyword, but torch's typed overloads leave it out
        return model.to(device=self.device, memory_format=self.memory_format)  # type: ignore[call-overload]

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """A float batch in this execution's memory format (a no-op when it already is)."""
        return x.contiguous(memory_format=self.memory_format) if x.dim() == 4 else x

    def float32_outputs(self, output: Any) -> Any:
        """A model output (a dataclass of tensors, possibly nested: the posterior) with its floating
        tensors in float32, so that the loss is computed in float32 after a bf16 forward pass
        (unchanged for fp32)."""
        if self.precision == "fp32":
            return output
        return _to_float32(output)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast region of the training forward pass (a no-op for fp32).

        The autocast cache is off, as CUDA graph capture requires; each weight is cast once per
        forward pass either way.
        """
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False)


def choose_execution(
    device: torch.device,
    *,
    precision: str = "fp32",
    compile: bool = False,
    threads: int | None = None,
    cuda_graphs: bool = False,
    distributed: bool = False,
    channels_last: bool | None = None,
) -> Execution:
    """The execution for ``device`` given the run's options.

    ``cuda_graphs`` (opt-in: see the module docstring) is honoured on CUDA only, in a single
    process (graph capture of DDP's collectives is fragile) and without ``compile``;
    ``channels_last`` (``None``: automatic) defaults to on for the CPU only.
    """
    if channels_last is None:
        channels_last = device.type == "cpu"
    graphs = cuda_graphs and device.type == "cuda" and not distributed and not compile
    return Execution(
        device=device,
        precision=precision,
        channels_last=channels_last,
        cuda_graphs=graphs,
        compile=compile,
        threads=threads,
    )


@contextlib.contextmanager
def thread_count(threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)`` (unchanged for ``None``), then restore."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _to_float32(value: Any) -> Any:
    """``value`` with every floating tensor in it, through nested dataclasses, in float32."""
    if torch.is_tensor(value):
        return value.float() if value.is_floating_point() else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: _to_float32(getattr(value, f.name)) for f in dataclasses.fields(value)}
        )
    return value
