"""The vector-quantised autoencoder (``vq-vae``; van den Oord et al., 2017, "Neural Discrete
Representation Learning"), its codebook learnt by exponential moving averages.

The encoder is the book's convolutional stack without its dense bottleneck: for a 32×32 image and
``encoder_channels`` (32, 64) it ends in 64 feature maps of 8×8, and a 1×1 convolution maps each
position to a vector of ``latent_dim`` = D numbers. The quantiser (:mod:`vaelab.models.quantizer`)
replaces each of those H × W vectors by the nearest of ``codebook_size`` = K code vectors, and the
decoder — a 3×3 convolution from D to the last encoder width (no activation, as the book's dense
layer), then the book's transposed convolutions — draws the image from that grid of codes.

**Its latent points.** An image's code is a grid of H × W indices into the codebook. On the seam
(:class:`~vaelab.models.base.LatentModel`) its z is that grid's code vectors, flattened
channel-first: [N, D·H·W] (1,024 numbers for 8 × 8 codes of D = 16), so that encoding, decoding and
reconstruction work as for every family; :meth:`VectorQuantisedAutoencoder.encode_codes` and
:meth:`~VectorQuantisedAutoencoder.codes_to_points` go between the indices and z, and decoding snaps
any other point to its nearest codes (:meth:`~VectorQuantisedAutoencoder.decode_logits`). The codes are
discrete (``continuous_codes`` False): the samplers of continuous points refuse it, and its samples
come from a prior learnt over the code grids after training (a PixelCNN, issue 14's part 2); until
it has one, ``has_prior`` is False and no sampler applies.

The training forward pass (:meth:`~VectorQuantisedAutoencoder.forward`) decodes the straight-through
codes and returns, beside the logits, the chosen indices (``ModelOutput.codes``) and the commitment
distance per image (``ModelOutput.commitment``); in training mode it also moves the codebook by one
EMA step. The objective is :mod:`vaelab.training.objectives.vq_vae`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vaelab.errors import ConfigError
from vaelab.models.base import LatentModel, ModelOutput, PointPosterior, check_condition, check_prior_labels
from vaelab.models.conv_decoder import upsampling
from vaelab.models.pixelcnn import GatedPixelCNN
from vaelab.models.quantizer import EmaQuantizer
from vaelab.models.spec import ModelSpec

#: Code grids drawn together from the prior: each needs H·W passes of the PixelCNN.
SAMPLE_BATCH = 1000


class GridEncoder(nn.Module):
    """x ↦ z_e [N, D, H, W]: the convolutional ``features`` without their final flatten, then a 1×1
    convolution from the last encoder width to D = ``spec.latent_dim``."""

    def __init__(self, spec: ModelSpec, features: nn.Module) -> None:
        super().__init__()
        layers = list(features.children())
        if not layers or not isinstance(layers[-1], nn.Flatten):
            raise ConfigError("the vq-vae family needs convolutional features that end in a flatten")
        self.features = nn.Sequential(*layers[:-1])
        self.to_codes = nn.Conv2d(spec.encoder_channels[-1], spec.latent_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_codes(self.features(x))


class GridDecoder(nn.Module):
    """A grid of code vectors [N, D, H, W] ↦ image logits: a 3×3 convolution from D to the last
    encoder width (no activation), then :func:`~vaelab.models.conv_decoder.upsampling`."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.from_codes = nn.Conv2d(spec.latent_dim, spec.encoder_channels[-1], 3, padding=1)
        self.upsample = upsampling(spec)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.from_codes(grid))


class VectorQuantisedAutoencoder(LatentModel):
    """Encoder, EMA vector quantiser and decoder (see the module docstring). ``grid`` is the code
    grid's (H, W)."""

    family = "vq-vae"
    posterior_kind = "point"
    has_prior = False
    standard_normal_prior = False
    default_sampler = "prior"
    continuous_codes = False

    def __init__(self, encoder: GridEncoder, quantizer: EmaQuantizer, decoder: GridDecoder, grid: tuple[int, int]):
        super().__init__()
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        self.grid = grid
        self.codebook_size = quantizer.codes
        self.latent_dim = quantizer.dim * grid[0] * grid[1]
        self._prior: GatedPixelCNN | None = None

    @property
    def prior(self) -> GatedPixelCNN | None:
        """The prior over code grids, once :meth:`attach_prior` gave one; None before."""
        return self._prior

    def attach_prior(self, prior: GatedPixelCNN) -> None:
        """Sample from ``prior`` (a trained PixelCNN over this model's code grids) from now on: it goes
        to the model's device in evaluation mode, and ``has_prior`` becomes True. It is held outside
        the model's modules, so the model's weights, state dict and checkpoints stay the VQ-VAE's."""
        if prior.codes != self.codebook_size or prior.grid != self.grid:
            raise ConfigError(
                f"a prior over {prior.grid[0]}×{prior.grid[1]} grids of {prior.codes} codes does not fit a vq-vae "
                f"of {self.grid[0]}×{self.grid[1]} grids of {self.codebook_size} codes"
            )
        device = self.quantizer.codebook.device
        object.__setattr__(self, "_prior", prior.to(device).eval())
        self.has_prior = True

    def sample_prior(
        self, count: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``count`` code grids drawn from the attached prior, position by position (in batches of
        :data:`SAMPLE_BATCH`), as latent points [count, D·H·W]. A class-conditional prior draws sample k
        under class ``labels[k]`` (int64 [count]) or, without ``labels``, under class k mod classes (so
        a set of samples is class-balanced); a prior without classes takes no ``labels``. A ValueError
        without a prior, or for labels that do not fit it (:func:`~vaelab.models.base.check_prior_labels`)."""
        prior = self._prior
        if prior is None:
            raise ValueError("the vq-vae run has no prior over its codes yet")
        check_prior_labels(self, count, labels)
        device = self.quantizer.codebook.device
        if labels is None and prior.classes:
            labels = torch.arange(count, device=device) % prior.classes
        points = []
        for begin in range(0, count, SAMPLE_BATCH):
            size = min(SAMPLE_BATCH, count - begin)
            part = None if labels is None else labels[begin : begin + size].to(device)
            points.append(self.codes_to_points(prior.sample(size, part, generator)))
        return torch.cat(points) if points else torch.zeros((0, self.latent_dim), device=device)

    @property
    def code_shape(self) -> tuple[int, int, int]:
        """(D, H, W): the shape of one image's grid of code vectors."""
        return (self.quantizer.dim, *self.grid)

    def encode_codes(self, x: torch.Tensor) -> torch.Tensor:
        """The codebook indices of images ``x`` in [0, 1]: int64 [N, H, W] (never moves the codebook)."""
        z_e = self.encoder(x).float()
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.quantizer.dim)
        return self.quantizer.nearest(flat).view(x.shape[0], *self.grid)

    def codes_to_points(self, codes: torch.Tensor) -> torch.Tensor:
        """Latent points z [N, D·H·W] of code grids ``codes`` [N, H, W] (their code vectors, flattened)."""
        return self.quantizer.lookup(codes).flatten(1)

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> PointPosterior:
        """The point z of each image: its grid of code vectors, flattened [N, D·H·W]."""
        check_condition(self, condition)
        return PointPosterior(self.codes_to_points(self.encode_codes(x)))

    def snap(self, z: torch.Tensor) -> torch.Tensor:
        """The code grids nearest to points ``z`` [N, D·H·W], position by position: int64 [N, H, W]."""
        flat = z.view(z.shape[0], *self.code_shape).permute(0, 2, 3, 1).reshape(-1, self.quantizer.dim)
        return self.quantizer.nearest(flat.float()).view(z.shape[0], *self.grid)

    def code_indices(self, z: torch.Tensor) -> torch.Tensor:
        """The code grids of latent points ``z`` [N, D·H·W] (:meth:`snap`): int64 [N, H, W]."""
        return self.snap(z)

    @property
    def prior_classes(self) -> int:
        """The classes the attached prior draws under (0 for an unconditional prior, or none)."""
        return self._prior.classes if self._prior is not None else 0

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the images whose code vectors, flattened, are ``z`` [N, D·H·W]. A point that is
        not a grid of code vectors (a morph's midpoint, the explorer's cursor) is first snapped to the
        nearest code at each position (:meth:`snap`), so every decoded image is one that a grid of
        codes gives; the points :meth:`encode` gives are unchanged by it."""
        return self.decoder(self.quantizer.lookup(self.snap(z)))

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> ModelOutput:
        """Encode, quantise (moving the codebook in training mode), decode the straight-through codes;
        the output carries the codes and the commitment distance per image."""
        check_condition(self, condition)
        quantized = self.quantizer(self.encoder(x))
        z = quantized.straight_through
        return ModelOutput(
            logits=self.decoder(z),
            z=z.flatten(1),
            posterior=PointPosterior(z.detach().flatten(1)),
            codes=quantized.codes,
            commitment=quantized.commitment,
        )


def discrete_family(model: LatentModel) -> VectorQuantisedAutoencoder | None:
    """``model`` as a family with a codebook (its ``encode_codes``, ``quantizer``, ``grid``), or None
    for a family whose codes are continuous: what code that needs the codebook asks first."""
    if model.continuous_codes or not isinstance(model, VectorQuantisedAutoencoder):
        return None
    return model


def build_vq_vae(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> LatentModel:
    """The ``vq-vae`` family on the spec's convolutional features (a
    :data:`~vaelab.models.families.Builder`); it brings its own grid decoder, so ``decoder`` is unused.
    A :class:`ConfigError` for another architecture than ``book-conv`` or fewer than 2 codes."""
    if spec.architecture != "book-conv":
        raise ConfigError(f"the vq-vae family is built on the book-conv network only, not {spec.architecture}")
    if spec.codebook_size < 2:
        raise ConfigError("the vq-vae family needs a codebook of at least 2 codes (model setting codebook_size)")
    quantizer = EmaQuantizer(spec.codebook_size, spec.latent_dim)
    grid = (spec.feature_size, spec.feature_size)
    return VectorQuantisedAutoencoder(GridEncoder(spec, features), quantizer, GridDecoder(spec), grid)
