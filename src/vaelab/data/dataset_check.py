"""Checking any dataset before training (``vaelab data``): what was found, and whether it would stop a run.

Fashion-MNIST is checked file by file (:func:`vaelab.data.fashion_mnist.check_all`; missing files
may first be downloaded), an image-file dataset item by item, without decoding anything
(:func:`vaelab.data.image_dataset_check.check_image_dataset`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vaelab.data.fashion_mnist import FileReport, check_all, download_missing
from vaelab.data.image_dataset_check import Check, check_image_dataset, has_problems
from vaelab.data.image_options import ImageOptions
from vaelab.data.registry import dataset_info
from vaelab.errors import ConfigError, DataError


@dataclass
class DatasetCheck:
    """What :func:`check_dataset` found: the files it downloaded, and a report per Fashion-MNIST
    file (``files``) or a row per item of an image-file dataset (``checks``)."""

    dataset: str
    downloaded: list[Path] = field(default_factory=list)
    files: list[FileReport] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def problem(self) -> DataError | None:
        """The one-line error that says training would stop, or None when nothing would stop it."""
        bad = [r for r in self.files if r.status != "ok"]
        if bad:
            return DataError(
                f"{len(bad)} of {len(self.files)} Fashion-MNIST files are missing or corrupt; install the Debian "
                "package dataset-fashion-mnist, run `vaelab data --download`, or pass --data-dir"
            )
        if has_problems(self.checks):
            return DataError(f"{self.dataset} has problems that would stop training: see the rows marked bad above")
        return None

    def raise_problem(self) -> None:
        """Raise :meth:`problem`, if there is one (after the report has been shown)."""
        problem = self.problem()
        if problem is not None:
            raise problem


def check_dataset(
    dataset: str = "fashion-mnist",
    data_dir: str | Path | None = None,
    *,
    download: bool = False,
    image_size: int = 32,
    center_crop: bool = False,
) -> DatasetCheck:
    """Find ``dataset`` (``data_dir`` first) and check it. ``download`` fetches missing
    Fashion-MNIST files into the user cache first (a :class:`ConfigError` for the other datasets,
    which vaelab cannot download); ``image_size`` and ``center_crop`` say which decoded cache of an
    image-file dataset is looked for."""
    info = dataset_info(dataset)
    if not info.image_files:
        downloaded = download_missing(data_dir) if download else []
        return DatasetCheck(dataset, downloaded, files=check_all(data_dir))
    if download:
        raise ConfigError(
            f"--download fetches Fashion-MNIST only; {dataset} cannot be downloaded by vaelab: get it "
            'yourself (see the README, "Faces: CelebA") and pass its folder as --data-dir'
        )
    options = ImageOptions(image_size=image_size, center_crop=center_crop)
    return DatasetCheck(dataset, checks=check_image_dataset(dataset, data_dir, options))
