"""Data-parallel training over several processes, on PyTorch's own engine (DDP, torchrun).

``torchrun --nproc-per-node N -m vaelab train ...`` starts N copies of vaelab with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their environment;
:func:`open_processes` reads them, joins the process group (NCCL on CUDA, each process on
``cuda:LOCAL_RANK``; gloo on the CPU) and wraps the model in ``DistributedDataParallel``.
Without those variables (or with ``WORLD_SIZE=1``) it returns :class:`SingleProcess`, whose
methods do nothing, so the trainer has one code path.

Semantics, chosen so that N processes train *the same run* as one process:

* ``--batch-size`` is the **global** batch. Every process holds the whole dataset on its device,
  draws the same permutation from the same seeded generator, and trains on its contiguous slice
  of every global batch (:meth:`ProcessGroup.shard`). DDP averages the gradients; with the loss
  scaling in :mod:`vaelab.training.step` that is the gradient of the global batch's mean loss. A
  deterministic model (book-ae) therefore gets the weights of a single-process run up to the order
  of float additions (tested). Random draws during training (a VAE's ε, a denoiser's noise) come
  from each process's own stream (rank r > 0 reseeds from (seed, r)): statistically the same
  training, not the same numbers. A loss term measured across a batch's images (wae-mmd's and
  info-vae's MMD², β-TCVAE's minibatch estimate of q(z)) is measured on each process's slice.
* Batch normalisation: on CUDA the model's BatchNorm layers become ``SyncBatchNorm``, so the batch
  statistics are those of the global batch, as in one process. PyTorch's SyncBatchNorm does not
  run on the CPU, so there (gloo) each process normalises with its own slice's statistics, and the
  running statistics are rank 0's (DDP broadcasts them from rank 0 at every forward pass).
* Rank 0 alone writes (config, checkpoints, metrics, weights), prints and shows the progress bar.
  The training loss terms of an epoch are summed over all processes. Validation runs on rank 0
  alone, on the whole test set, so its numbers are exactly those of a single-process run.
* Ctrl-C (torchrun forwards it to every process) and a non-finite loss are agreed on every
  ``CHECK_EVERY`` steps through a small gloo all-reduce, so all processes stop at the same step;
  rank 0 writes the checkpoint, with every process's RNG states, and ``--resume`` under torchrun
  with the same number of processes continues exactly.
* Several machines: the run directory must be on a filesystem every machine sees (for
  ``--resume``, every process reads the checkpoint).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from vaelab.errors import ConfigError


class SingleProcess:
    """The ordinary case: one process, nothing to share."""

    rank = 0
    world_size = 1
    is_main = True

    def device_for(self, device: torch.device) -> torch.device:
        return device

    def shard(self, count: int) -> tuple[int, int]:
        """The part of a global batch of ``count`` images this process trains on: all of it."""
        return 0, count

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def all_reduce_(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        return flags

    def reseed(self, seed: int, *salt: int) -> None:
        pass

    def rank_rng_states(self, device: torch.device) -> dict[str, torch.Tensor]:
        return {}

    def restore_rank_rng(
        self, tensors: Mapping[str, torch.Tensor], device: torch.device, seed: int, salt: tuple[int, ...]
    ) -> None:
        pass

    def close(self, success: bool) -> None:
        pass


class ProcessGroup(SingleProcess):
    """One of ``world_size`` processes of a torchrun job (see the module docstring)."""

    def __init__(self, rank: int, world_size: int, local_rank: int) -> None:
        self.rank = rank
        self.world_size = world_size
        self.local_rank = local_rank
        self.is_main = rank == 0
        self.control = None
        self.owned = False

    def __repr__(self) -> str:
        return f"ProcessGroup(rank={self.rank}, world_size={self.world_size}, local_rank={self.local_rank})"

    def device_for(self, device: torch.device) -> torch.device:
        """``cuda:LOCAL_RANK`` for CUDA (and make it current); the CPU stays the CPU."""
        if device.type != "cuda":
            return device
        if self.local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"process {self.rank} has LOCAL_RANK {self.local_rank} but this machine has "
                f"{torch.cuda.device_count()} GPUs; use --nproc-per-node {torch.cuda.device_count()} or fewer"
            )
        device = torch.device("cuda", self.local_rank)
        torch.cuda.set_device(device)
        return device

    def join(self, device: torch.device) -> None:
        """Join the process group (NCCL on CUDA, gloo on the CPU) and open a gloo group for flags."""
        if dist.is_initialized():
            self.control = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
            return
        if device.type == "cuda":
            dist.init_process_group("nccl", rank=self.rank, world_size=self.world_size, device_id=device)
            self.control = dist.new_group(backend="gloo")
        else:
            dist.init_process_group("gloo", rank=self.rank, world_size=self.world_size)
        self.owned = True

    def shard(self, count: int) -> tuple[int, int]:
        """Bounds ``[begin, end)`` of this process's contiguous slice of a global batch of ``count``
        images: near-equal slices, the first ``count % world_size`` one image larger (a slice is
        empty only when the batch has fewer images than there are processes)."""
        base, extra = divmod(count, self.world_size)
        begin = self.rank * base + min(self.rank, extra)
        return begin, begin + base + (1 if self.rank < extra else 0)

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DistributedDataParallel (BatchNorm → SyncBatchNorm on CUDA)."""
        device = next(model.parameters()).device
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
        return nn.parallel.DistributedDataParallel(model)

    def all_reduce_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the processes, in place."""
        dist.all_reduce(tensor)
        return tensor

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag, true when it is true in any process (a collective: every process calls it)."""
        values = torch.tensor([int(flag) for flag in flags], dtype=torch.int32)
        dist.all_reduce(values, op=dist.ReduceOp.MAX, group=self.control)
        return tuple(bool(v) for v in values.tolist())

    def reseed(self, seed: int, *salt: int) -> None:
        """Give ranks > 0 their own global RNG stream, derived from ``seed``, the rank and ``salt``."""
        if self.rank:
            derived = np.random.SeedSequence([seed, self.rank, *salt]).generate_state(1, dtype=np.uint64)[0]
            torch.manual_seed(int(derived) & 0x7FFF_FFFF_FFFF_FFFF)

    def rank_rng_states(self, device: torch.device) -> dict[str, torch.Tensor]:
        """Every process's global RNG states, as checkpoint entries (a collective)."""
        states = {"torch": torch.get_rng_state()}
        if device.type == "cuda":
            states["cuda"] = torch.cuda.get_rng_state(device)
        entries = {}
        for name, local in states.items():
            gathered = [torch.empty_like(local) for _ in range(self.world_size)]
            dist.all_gather(gathered, local, group=self.control)
            entries.update({f"rng.rank.{r}.{name}": state for r, state in enumerate(gathered)})
        return entries

    def restore_rank_rng(
        self, tensors: Mapping[str, torch.Tensor], device: torch.device, seed: int, salt: tuple[int, ...]
    ) -> None:
        """This process's RNG states from a checkpoint written by the same number of processes;
        otherwise (another number, or a single-process checkpoint) a stream derived from ``seed``,
        the rank and ``salt`` (the position in training)."""
        key = f"rng.rank.{self.rank}.torch"
        last, beyond = f"rng.rank.{self.world_size - 1}.torch", f"rng.rank.{self.world_size}.torch"
        same_world = last in tensors and beyond not in tensors
        if key in tensors and same_world:
            torch.set_rng_state(tensors[key])
            if device.type == "cuda" and f"rng.rank.{self.rank}.cuda" in tensors:
                torch.cuda.set_rng_state(tensors[f"rng.rank.{self.rank}.cuda"], device)
        else:
            self.reseed(seed, *salt)

    def close(self, success: bool) -> None:
        """Leave the process group (after a barrier when everything went well)."""
        if not self.owned or not dist.is_initialized():
            return
        if success:
            dist.barrier(group=self.control)
        # Free what still holds the group (a DDP wrapper's reducer left in a reference cycle) while the group
        # exists, rather than when the interpreter exits, where freeing it has aborted a process.
        gc.collect()
        dist.destroy_process_group()
        self.owned = False


def from_environment(environ: Mapping[str, str] | None = None) -> SingleProcess:
    """:class:`ProcessGroup` when torchrun's variables say there are several processes, else
    :class:`SingleProcess` (nothing is joined yet: see :meth:`ProcessGroup.join`)."""
    environ = os.environ if environ is None else environ
    try:
        world_size = int(environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return SingleProcess()
        rank = int(environ["RANK"])
        local_rank = int(environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"WORLD_SIZE is set but RANK/LOCAL_RANK are missing or not integers ({exc}); "
            "start distributed training with torchrun"
        ) from None
    if not 0 <= rank < world_size:
        raise ConfigError(f"RANK {rank} is outside 0..{world_size - 1}; start distributed training with torchrun")
    return ProcessGroup(rank, world_size, local_rank)


def open_processes(
    device: torch.device, environ: Mapping[str, str] | None = None
) -> tuple[SingleProcess, torch.device]:
    """The processes of this run, joined, and this process's device."""
    processes = from_environment(environ)
    device = processes.device_for(device)
    if isinstance(processes, ProcessGroup):
        processes.join(device)
    return processes, device
