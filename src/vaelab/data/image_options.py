"""How a folder of image files becomes model inputs: the size, the crop and what to do with a bad file.

These options belong to a run (they are saved in its ``config.json``), so that the analyses of
a run see the images exactly as its training did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from vaelab.choices import BAD_IMAGE_POLICIES
from vaelab.errors import ConfigError
from vaelab.limits import MAX_IMAGE_SIZE


@dataclass(frozen=True)
class ImageOptions:
    """Options of the image-file datasets (CelebA, a folder of images).

    Attributes:
        image_size: every image is resized, bilinearly, to ``image_size`` × ``image_size``
            (the book: the whole CelebA image to 32 × 32, its aspect ratio not kept).
        center_crop: first cut the largest centred square out of the image, so the resize keeps
            the aspect ratio.
        on_bad_image: ``"fail"`` stops with an error naming the first unreadable file;
            ``"skip"`` leaves unreadable files out and warns with their count.
    """

    image_size: int = 32
    center_crop: bool = False
    on_bad_image: str = "fail"

    def __post_init__(self) -> None:
        size = self.image_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_IMAGE_SIZE:
            raise ConfigError(f"--image-size must be an integer from 1 to {MAX_IMAGE_SIZE}, got {size!r}")
        if not isinstance(self.center_crop, bool):
            raise ConfigError(f"center_crop must be true or false, got {self.center_crop!r}")
        if self.on_bad_image not in BAD_IMAGE_POLICIES:
            raise ConfigError(
                f"--on-bad-image must be one of {', '.join(BAD_IMAGE_POLICIES)}, got {self.on_bad_image!r}"
            )

    def describe(self) -> str:
        """E.g. ``32×32, centre-cropped``."""
        crop = ", centre-cropped" if self.center_crop else ""
        return f"{self.image_size}×{self.image_size}{crop}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageOptions:
        """Inverse of :meth:`to_dict`; a :class:`ConfigError` on unknown keys."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown image options {sorted(unknown)} in config")
        return cls(**data)
