"""The JSON-serialisable description of a model: everything needed to rebuild it.

A :class:`ModelSpec` is stored in a run's ``config.json``; :func:`vaelab.models.build_model`
turns it back into a module. Models never read files themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vaelab.choices import ARCHITECTURES, FAMILIES
from vaelab.errors import ConfigError
from vaelab.limits import (
    MAX_CHANNELS,
    MAX_CODEBOOK_SIZE,
    MAX_CONDITIONS,
    MAX_ENCODER_LAYERS,
    MAX_IMAGE_CHANNELS,
    MAX_IMAGE_SIZE,
    MAX_IWAE_SAMPLES,
    MAX_LATENT_DIM,
    MAX_PSEUDO_INPUTS,
    MIN_LATENT_DIM,
)


def check_trainable_latent_dim(latent_dim: int) -> None:
    """A :class:`ConfigError` unless a new run may have ``latent_dim`` dimensions (from
    :data:`~vaelab.limits.MIN_LATENT_DIM` to :data:`~vaelab.limits.MAX_LATENT_DIM`; a
    :class:`ModelSpec` itself accepts 1, so runs trained before that limit still load)."""
    if latent_dim < MIN_LATENT_DIM:
        raise ConfigError(
            f"--latent-dim {latent_dim} is too small: vaelab shows the latent space in a plane, so a run needs "
            f"at least {MIN_LATENT_DIM} dimensions"
        )
    if latent_dim > MAX_LATENT_DIM:
        raise ConfigError(f"--latent-dim {latent_dim} is too large; use at most {MAX_LATENT_DIM}")


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of an autoencoder.

    Attributes:
        kind: the model family (:data:`vaelab.choices.FAMILIES`, built by
            :mod:`vaelab.models.families`): ``"ae"`` (deterministic encoder), ``"vae"`` (Gaussian
            encoder with mean and log-variance heads), and the families after the book.
        architecture: the convolutional family: ``"book-conv"``, the chapter's Fashion-MNIST
            network (convolutions with ReLU), ``"book-faces"``, its CelebA network
            (convolutions with BatchNorm and LeakyReLU, see :mod:`vaelab.models.faces_conv`), or
            ``"faces-mirror"``, that network with a decoder that mirrors the encoder's widths
            (``faces-64``, ``faces-128``: the field's usual CelebA VAE, same module).
        latent_dim: size of the latent code z.
        image_channels: channels of the input images (1 for Fashion-MNIST, 3 for RGB faces).
        image_size: height and width of the (square) input images.
        encoder_channels: output channels of the stride-2 convolutions, in order.
        conditions: the number of classes a conditional family is conditioned on (0: none). Left
            out of :meth:`to_dict` when 0, so the configs of earlier versions read back unchanged.
        samples: the z drawn per image by the training forward pass of a family that scores
            several (``iwae``: its k, ``train --k``); 1 otherwise, and then left out of :meth:`to_dict`.
        pseudo_inputs: the number K of learnt pseudo-inputs of a VampPrior (``vamp``,
            ``train --pseudo-inputs``); 0 otherwise, and then left out of :meth:`to_dict`.
        codebook_size: the number K of code vectors of a family with discrete codes (``vq-vae``,
            whose ``latent_dim`` is then the dimension D of each code vector); 0 otherwise, and
            then left out of :meth:`to_dict`.
    """

    kind: str = "ae"
    architecture: str = "book-conv"
    latent_dim: int = 2
    image_channels: int = 1
    image_size: int = 32
    encoder_channels: tuple[int, ...] = field(default=(32, 64, 128))
    conditions: int = 0
    samples: int = 1
    pseudo_inputs: int = 0
    codebook_size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAMILIES:
            raise ConfigError(f"unknown model family {self.kind!r}; expected one of {', '.join(FAMILIES)}")
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"unknown architecture {self.architecture!r}; expected one of {', '.join(ARCHITECTURES)}")
        # 1 is allowed here (not for new runs: check_trainable_latent_dim) so older runs still load.
        _check_count("latent_dim", self.latent_dim, 1, MAX_LATENT_DIM)
        _check_count("image_channels", self.image_channels, 1, MAX_IMAGE_CHANNELS)
        _check_count("image_size", self.image_size, 1, MAX_IMAGE_SIZE)
        _check_count("conditions", self.conditions, 0, MAX_CONDITIONS)
        _check_count("samples", self.samples, 1, MAX_IWAE_SAMPLES)
        _check_count("pseudo_inputs", self.pseudo_inputs, 0, MAX_PSEUDO_INPUTS)
        _check_count("codebook_size", self.codebook_size, 0, MAX_CODEBOOK_SIZE)
        channels = self.encoder_channels
        if not isinstance(channels, (list, tuple)) or not 1 <= len(channels) <= MAX_ENCODER_LAYERS:
            raise ConfigError(
                f"encoder_channels must list 1 to {MAX_ENCODER_LAYERS} layer widths, got {_shown(channels)}"
            )
        for width in channels:
            _check_count("each of encoder_channels", width, 1, MAX_CHANNELS)
        object.__setattr__(self, "encoder_channels", tuple(channels))
        downsample = 2 ** len(self.encoder_channels)
        if self.image_size % downsample:
            raise ConfigError(
                f"image_size {self.image_size} must be divisible by {downsample} "
                f"({len(self.encoder_channels)} stride-2 convolutions)"
            )

    @property
    def feature_size(self) -> int:
        """Spatial size of the last encoder feature map (4 for 32×32 inputs)."""
        return self.image_size // 2 ** len(self.encoder_channels)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        data = asdict(self)
        data["encoder_channels"] = list(self.encoder_channels)
        if not self.conditions:
            del data["conditions"]
        if self.samples == 1:
            del data["samples"]
        if not self.pseudo_inputs:
            del data["pseudo_inputs"]
        if not self.codebook_size:
            del data["codebook_size"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Rebuild a spec from :meth:`to_dict` output, rejecting unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown model settings {sorted(unknown)} in config")
        return cls(**data)


def _check_count(name: str, value: Any, low: int, high: int) -> None:
    """A :class:`ConfigError` unless ``value`` is an integer from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low:,} to {high:,}, got {_shown(value)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
