"""The gated PixelCNN (van den Oord et al., 2016, "Conditional Image Generation with PixelCNN
Decoders"): an autoregressive prior over a VQ-VAE's grids of codes.

A grid of H × W code indices c is read in raster order (row by row, left to right), and the model
gives each position a categorical distribution over the K codes given every position before it
(and the image's class y, when conditional):

    p(c | y) = Π_{i, j} p(c_{ij} | c_{<ij}, y),    c_{<ij} = rows above i, and row i left of j.

**Two stacks, no blind spot.** A stack of masked 3×3 convolutions misses a wedge of the positions
above and to the right (the "blind spot"). The gated PixelCNN splits each layer in two:

* the *vertical* stack sees whole rows: a (n+1) × (2n+1) convolution (n = ``kernel`` // 2) over the
  input padded n rows on top, so its output at row i depends on rows i−n…i only;
* the *horizontal* stack sees the current row: a 1 × (n+1) convolution over the input padded n
  columns on the left, so its output at column j depends on columns j−n…j of row i only;
* the vertical stack feeds the horizontal one *shifted down one row* (through a 1×1 convolution),
  so position (i, j) of the horizontal stack receives rows < i from it — never row i itself;
* in the first layer, whose input is the codes themselves, the horizontal stack's input is also
  shifted right one column (it sees columns j−n−1…j−1) and there is no residual connection, so
  no position ever sees its own code; later layers may include column j, which by then carries
  only what came before it.

**Gates.** Each stack's convolution gives 2C channels, split into two halves a and b, and the layer's
output is tanh(a) ⊙ σ(b). With classes, a learnt vector per class (2C numbers) is added to a and b
of both stacks at every position (the paper's conditioning on a one-hot h: V·h is that vector).
The horizontal stack's output goes through a 1×1 convolution and is added to its input (a residual
connection, from the second layer on). After the last layer: ReLU, 1×1 convolution, ReLU, 1×1
convolution to K logits per position.

The codes enter through a learnt embedding of C numbers per code. ``tests/test_pixelcnn.py`` checks
that the logits at a position never depend on that position or any later one.
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.errors import ConfigError
from vaelab.models.pixelcnn_sampling import sample_grids


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """``x`` [N, C, H, W] moved down one row: row i holds row i−1, row 0 zeros."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


def gate(x: torch.Tensor) -> torch.Tensor:
    """tanh(a) ⊙ σ(b) for the two halves a, b of ``x``'s channels: [N, 2C, H, W] → [N, C, H, W]."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One layer of both stacks (see the module docstring); ``first`` for the layer on the codes."""

    def __init__(self, channels: int, kernel: int, first: bool, classes: int) -> None:
        super().__init__()
        self.first, self.n = first, kernel // 2
        self.vertical = nn.Conv2d(channels, 2 * channels, (self.n + 1, kernel))
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal = nn.Conv2d(channels, 2 * channels, (1, self.n + 1))
        self.horizontal_out = nn.Conv2d(channels, channels, 1)
        self.class_bias = nn.Embedding(classes, 2 * channels) if classes else None

    def forward(
        self, v: torch.Tensor, h: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The stacks' next feature maps, each [N, C, H, W], from ``v`` and ``h`` (and the classes)."""
        v_pre, v_next = self.vertical_part(v, labels)
        return v_next, self.horizontal_part(h, self.vertical_to_horizontal(shift_down(v_pre)), labels)

    def vertical_part(self, v: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The vertical stack: its pre-activation [N, 2C, H, W] (before the class bias; row i from rows
        i−n…i of ``v``) and its next feature map, the gated, biased pre-activation [N, C, H, W]."""
        n = self.n
        v_pre = self.vertical(F.pad(v, (n, n, n, 0)))
        return v_pre, gate(self._biased(v_pre, labels))

    def horizontal_part(
        self, h: torch.Tensor, from_vertical: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        """The horizontal stack's next feature map [N, C, H, W] from ``h`` (each row on its own) and
        ``from_vertical``, what the vertical stack adds to each row: its 1×1-convolved pre-activation of
        the row above (:meth:`forward`), [N, 2C, H, W] or, for rows that share it, broadcastable."""
        n = self.n
        h_in = F.pad(h, (n + 1, 0, 0, 0))[..., :-1] if self.first else F.pad(h, (n, 0, 0, 0))
        h_out = self.horizontal_out(gate(self._biased(self.horizontal(h_in) + from_vertical, labels)))
        return h_out if self.first else h + h_out

    def _biased(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """``x`` plus each item's class bias (a class-conditional layer given classes), else ``x``."""
        if self.class_bias is None or labels is None:
            return x
        return x + self.class_bias(labels)[:, :, None, None]


class GatedPixelCNN(nn.Module):
    """p(c | y) over grids of ``grid`` = (H, W) indices into ``codes`` = K codes (see the module
    docstring): ``layers`` gated layers of ``channels`` = C channels, ``kernel`` odd, and ``classes``
    > 0 for a class-conditional prior. Its settings stay attributes (``codes``, ``grid``, ``channels``,
    ``kernel``, ``classes``; the layers are ``len(self.layers)``): :meth:`settings` gives them back as
    the constructor takes them."""

    def __init__(
        self, codes: int, grid: tuple[int, int], channels: int = 64, layers: int = 8, kernel: int = 5, classes: int = 0
    ) -> None:
        super().__init__()
        if kernel < 3 or kernel % 2 == 0:
            raise ConfigError(f"the PixelCNN's kernel must be odd and at least 3, got {kernel}")
        if codes < 2 or channels < 1 or layers < 1 or classes < 0:
            raise ConfigError(f"bad PixelCNN settings: {codes} codes, {channels} channels, {layers} layers")
        self.codes, self.grid, self.classes = codes, grid, classes
        self.channels, self.kernel = channels, kernel
        self.embedding = nn.Embedding(codes, channels)
        self.layers = nn.ModuleList(GatedLayer(channels, kernel, index == 0, classes) for index in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, codes, 1))

    def settings(self) -> dict[str, Any]:
        """The constructor's arguments that rebuild this network (JSON-ready: ``grid`` as a list)."""
        return {
            "codes": self.codes,
            "grid": list(self.grid),
            "channels": self.channels,
            "layers": len(self.layers),
            "kernel": self.kernel,
            "classes": self.classes,
        }

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """The codes' embeddings: int64 [N, H, W] → [N, C, H, W]."""
        return self.embedding(codes).permute(0, 3, 1, 2)

    def logits_of(self, embedded: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [N, K, H, W] of every position from embedded codes [N, C, H, W] (differentiable in
        them, which the causality test uses)."""
        self._check_labels(labels)
        v = h = embedded
        for layer in self.layers:
            v, h = layer(v, h, labels)
        return self.head(h)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [N, K, H, W]: at (i, j), of p(c_ij | c_<ij, y), for code grids ``codes`` [N, H, W]."""
        return self.logits_of(self.embed(codes), labels)

    def nll_bits(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """−log₂ p(c | y) per image, divided by the H·W positions: bits per code, [N]."""
        logits = self(codes, labels)
        nats = F.cross_entropy(logits, codes, reduction="none").flatten(1).mean(dim=1)
        return nats / math.log(2)

    def sample(
        self, count: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``count`` code grids drawn position by position in raster order: int64 [count, H, W].
        Draws come from ``generator`` (or the global generator).

        The logits are those of :meth:`forward`, computed once per position: each layer's vertical
        stack runs once per row on that row, each position runs each layer's horizontal stack on its
        own column from the columns kept before it (:mod:`vaelab.models.pixelcnn_sampling`;
        tests/test_pixelcnn.py checks the draws against passes of the whole network over the whole grid)."""
        self._check_labels(labels)
        return sample_grids(self, count, labels, generator)

    @property
    def gated_layers(self) -> list[GatedLayer]:
        """The gated layers, in order (typed: iterating the ModuleList gives modules)."""
        return [cast(GatedLayer, layer) for layer in self.layers]

    def _check_labels(self, labels: torch.Tensor | None) -> None:
        if self.classes and labels is None:
            raise ValueError("a class-conditional PixelCNN needs a class for every grid")
        if not self.classes and labels is not None:
            raise ValueError("this PixelCNN takes no classes")
