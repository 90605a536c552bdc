"""The optimiser: Adam, in the fastest implementation that keeps a device's numbers.

On the CPU the ``foreach`` implementation gives bit-for-bit the numbers of the for-loop one (the
default there) and is slightly faster; the ``fused`` one is faster still but rounds differently,
so it is not used. On CUDA the fused kernel is used: it updates every parameter in a couple of
launches and can be captured in a CUDA graph (PyTorch's own default there would be foreach).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

#: Options that choose Adam's implementation, not its mathematics; a checkpoint's values for
#: them are replaced by the current process's on resume (a run may resume on another device).
IMPLEMENTATION_OPTIONS = ("foreach", "fused", "capturable", "differentiable")


def make_adam(params: Iterable[torch.nn.Parameter], lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam with learning rate ``lr``, its other hyper-parameters at PyTorch's defaults.

    β₁ = 0.9 and β₂ = 0.999 are also the book's Keras defaults; ε is not: PyTorch's is 1e-8,
    Keras' 1e-7. vaelab keeps PyTorch's (its documented recipe, see README "Where vaelab differs
    from the book"); the difference only matters where Adam's second-moment estimate is near zero.
    """
    if device.type == "cuda":
        return torch.optim.Adam(params, lr=lr, fused=True)
    return torch.optim.Adam(params, lr=lr, foreach=True)


def with_current_implementation(saved_groups: list[dict], optimizer: torch.optim.Optimizer) -> list[dict]:
    """``saved_groups`` (a checkpoint's param groups) with ``optimizer``'s implementation options, and
    its values for any option the checkpoint lacks (one written by another PyTorch version, or damaged)."""
    merged = []
    for saved, current in zip(saved_groups, optimizer.param_groups, strict=True):
        group = {**{k: v for k, v in current.items() if k != "params"}, **saved}
        for key in IMPLEMENTATION_OPTIONS:
            if key in current:
                group[key] = current[key]
        merged.append(group)
    return merged
