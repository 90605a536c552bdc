"""The vector quantiser of a VQ-VAE, with a codebook learnt by exponential moving averages.

The encoder gives a vector z_e ∈ R^D at every position of a grid; the quantiser replaces it by the
nearest of K code vectors e_1…e_K (squared Euclidean distance),

    k* = argmin_k ‖z_e − e_k‖²,   z_q = e_{k*},

and the decoder sees z_q. Nothing flows back through the argmin, so the decoder's gradient is
copied to z_e unchanged (the *straight-through* estimator: z_e + sg(z_q − z_e) has the value z_q and
the gradient of z_e; sg stops gradients).

**The codebook is not trained by gradients** but moved by exponential moving averages (EMA; van den
Oord et al., 2017, appendix A.1; Razavi et al., 2019). With decay γ, at each training step where n_k
positions of the batch chose code k and their encodings sum to s_k:

    N_k ← γ N_k + (1 − γ) n_k        (the code's running count)
    m_k ← γ m_k + (1 − γ) s_k        (the running sum of its encodings)
    e_k = m_k / Ñ_k,   Ñ_k = (N_k + ε) / (Σ_j N_j + K ε) · Σ_j N_j

Ñ_k is N_k with Laplace smoothing (ε), so a code that is never chosen never divides by 0. Starting
from N = m = 0 makes e_k the running mean of its encodings from the first step (the (1 − γ) factors
cancel). So the loss needs no codebook term: only the *commitment* ‖z_e − sg(e_{k*})‖², which keeps
the encoder near the codes it chose, and the reconstruction.

**Dead codes.** After the update, every code whose running count N_k is below ``dead_below`` (a code
that has not been chosen by about one position per step lately) is *restarted*: it takes the value
of an encoding of the batch drawn uniformly at random (Dhariwal et al., 2020), with N_k = 1 and
m_k = that encoding, as if one position had just chosen it. A code that still wins nothing is
restarted again at the next step, so unused codes keep landing where the encodings are. The draw
comes from the global random generator (whose state a checkpoint saves, so a resumed run restarts
the same codes the same way), and is made for every code at every step, restarted or not, so the
number of random numbers drawn never depends on the data. Since N starts at 0, the first step
restarts nearly every code: the codebook starts from encodings of the first batch.

The codebook, the counts N and the sums m are buffers: saved with the weights and in checkpoints,
untouched by the optimiser, updated only in training mode. Every computation keeps static shapes
(no boolean indexing, no ``bincount``), so a training step can be captured as a CUDA graph. Under
torchrun the counts and sums of a step are summed over the processes before the update, so every
process moves the codebook by the whole batch, and after the restarts every process takes rank 0's
codebook, counts and sums (each process drew its restarts from its own slice of the batch), so the
processes always hold the same codebook.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from vaelab.errors import ConfigError

#: The EMA decay γ of van den Oord et al. (2017) and Razavi et al. (2019).
DEFAULT_DECAY = 0.99
#: The Laplace smoothing ε of the counts (Sonnet's default).
DEFAULT_EPSILON = 1e-5
#: A code whose running count falls below this is restarted (about one position per step).
DEFAULT_DEAD_BELOW = 1.0


@dataclass
class Quantized:
    """What the quantiser gives for encodings z_e [N, D, H, W].

    Attributes:
        straight_through: z_e + sg(z_q − z_e): the value of z_q, the gradient of z_e [N, D, H, W].
        codes: the chosen indices k* [N, H, W], int64.
        commitment: ‖z_e − sg(z_q)‖² per image, summed over positions and dimensions [N]
            (squared code units; differentiable in z_e only).
    """

    straight_through: torch.Tensor
    codes: torch.Tensor
    commitment: torch.Tensor


class EmaQuantizer(nn.Module):
    """K code vectors of dimension D, learnt by EMA, with dead-code restarts (see the module
    docstring). ``decay`` γ ∈ (0, 1), ``epsilon`` ε > 0, ``dead_below`` ≥ 0 (0: never restart)."""

    codebook: torch.Tensor
    cluster_size: torch.Tensor
    code_sum: torch.Tensor

    def __init__(
        self,
        codes: int,
        dim: int,
        decay: float = DEFAULT_DECAY,
        epsilon: float = DEFAULT_EPSILON,
        dead_below: float = DEFAULT_DEAD_BELOW,
    ) -> None:
        super().__init__()
        if codes < 2 or dim < 1:
            raise ConfigError(f"a vector quantiser needs at least 2 codes of at least 1 dimension, got {codes} × {dim}")
        if not 0.0 < decay < 1.0 or not epsilon > 0.0 or not dead_below >= 0.0:
            raise ConfigError(f"bad EMA settings decay={decay}, epsilon={epsilon}, dead_below={dead_below}")
        self.codes, self.dim = codes, dim
        self.decay, self.epsilon, self.dead_below = decay, epsilon, dead_below
        #: e: the code vectors [K, D] (replaced from the first batch's encodings: see the docstring).
        self.register_buffer("codebook", torch.randn(codes, dim))
        #: N: each code's running count [K].
        self.register_buffer("cluster_size", torch.zeros(codes))
        #: m: each code's running sum of encodings [K, D].
        self.register_buffer("code_sum", torch.zeros(codes, dim))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """k* for encodings ``flat`` [M, D]: the index of the nearest code, int64 [M].

        ‖z − e_k‖² = ‖z‖² − 2 z·e_k + ‖e_k‖²; ‖z‖² is the same for every k and is left out."""
        scores = self.codebook.square().sum(dim=1) - 2.0 * flat @ self.codebook.t()
        return scores.argmin(dim=1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """The code vectors of indices ``codes`` [N, H, W], as a grid [N, D, H, W]."""
        return self.codebook[codes].permute(0, 3, 1, 2)

    def forward(self, z_e: torch.Tensor) -> Quantized:
        """Quantise encodings ``z_e`` [N, D, H, W] (float32, even under autocast); in training mode,
        then move the codebook by one EMA step and restart its dead codes."""
        with torch.autocast(z_e.device.type, enabled=False):
            z_e = z_e.float()
            flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.dim)
            codes = self.nearest(flat.detach())
            z_q = self.lookup(codes.view(z_e.shape[0], *z_e.shape[2:]))
            commitment = (z_e - z_q).square().flatten(1).sum(dim=1)
            if self.training:
                self.update(flat.detach(), codes)
        return Quantized(z_e + (z_q - z_e).detach(), codes.view(z_e.shape[0], *z_e.shape[2:]), commitment)

    @torch.no_grad()
    def update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        """One EMA step from encodings ``flat`` [M, D] and their codes [M], then the restarts."""
        one_hot = indicator(codes, self.codes, flat.dtype)  # [M, K]: counts by a matmul, not atomics
        counts, sums = one_hot.sum(dim=0), one_hot.t() @ flat
        counts, sums = _summed_over_processes(counts, sums)
        gamma = self.decay
        self.cluster_size.mul_(gamma).add_(counts, alpha=1.0 - gamma)
        self.code_sum.mul_(gamma).add_(sums, alpha=1.0 - gamma)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.codes * self.epsilon) * total
        self.codebook.copy_(self.code_sum / smoothed.unsqueeze(1))
        self.restart_dead(flat)
        _agree_with_rank_0(self.codebook, self.code_sum, self.cluster_size)

    @torch.no_grad()
    def restart_dead(self, flat: torch.Tensor) -> None:
        """Every code with N_k < ``dead_below`` takes an encoding of ``flat`` [M, D] drawn at random
        (N_k = 1, m_k = e_k = that encoding). One draw per code, dead or not (see the docstring)."""
        picks = torch.randint(flat.shape[0], (self.codes,), device=flat.device)
        candidates = flat[picks]
        dead = (self.cluster_size < self.dead_below).unsqueeze(1)
        self.codebook.copy_(torch.where(dead, candidates, self.codebook))
        self.code_sum.copy_(torch.where(dead, candidates, self.code_sum))
        self.cluster_size.copy_(torch.where(dead.squeeze(1), torch.ones_like(self.cluster_size), self.cluster_size))


def _distributed() -> bool:
    """Whether this process is one of several of a torchrun job."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _agree_with_rank_0(codebook: torch.Tensor, code_sum: torch.Tensor, cluster_size: torch.Tensor) -> None:
    """In a torchrun job, every process takes rank 0's codebook, sums and counts (the restarts drew
    from each process's own slice of the batch); nothing in one process."""
    if _distributed():
        packed = torch.cat([codebook, code_sum, cluster_size.unsqueeze(1)], dim=1)
        dist.broadcast(packed, src=0)
        dim = codebook.shape[1]
        codebook.copy_(packed[:, :dim])
        code_sum.copy_(packed[:, dim : 2 * dim])
        cluster_size.copy_(packed[:, 2 * dim])


def _summed_over_processes(counts: torch.Tensor, sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``counts`` and ``sums`` summed over the processes of a torchrun job (unchanged in one process)."""
    if _distributed():
        packed = torch.cat([counts.unsqueeze(1), sums], dim=1)
        dist.all_reduce(packed)
        return packed[:, 0], packed[:, 1:]
    return counts, sums


def indicator(codes: torch.Tensor, size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot rows [M, size] of ``codes`` [M], by comparison with 0…size−1. (``F.one_hot`` checks
    the indices' range on the host, which waits for the GPU and cannot run in a CUDA graph.)"""
    return (codes.unsqueeze(1) == torch.arange(size, device=codes.device)).to(dtype)


def code_histogram(codes: torch.Tensor, size: int) -> torch.Tensor:
    """How many times each of ``size`` codes occurs in ``codes`` (any shape): float [size]."""
    return indicator(codes.reshape(-1), size).sum(dim=0)


def perplexity(histogram: torch.Tensor) -> torch.Tensor:
    """exp(H(p)) of the frequencies p_k = c_k / Σ c of a code histogram ``histogram`` [K], with
    H(p) = −Σ p_k ln p_k (0 ln 0 = 0): the number of equally used codes that would give the same
    entropy, from 1 (one code) to K (all used equally). A scalar tensor, in codes."""
    p = histogram / histogram.sum().clamp_min(1.0)
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum()
    return torch.exp(entropy)
