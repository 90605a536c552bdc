"""vaelab's one reader and one writer of safetensors files (weights, checkpoints, the judge).

The writer produces the same bytes for the same tensors and metadata in every process: tensors in
sorted-name order, metadata keys sorted (the ``safetensors`` package writes its metadata in hash
order, which changes from one process to the next). It writes through Python's file objects, so a
full disk or a read-only folder is an :class:`OSError` with its ``errno``, and goes through
:func:`vaelab.atomic.atomic_write`, so a crash never leaves a half-written file.

Every file records, in its metadata under :data:`DIGEST_KEY`, the SHA-256 of its tensor data (the
bytes after the header, which are the tensors in sorted-name order). :func:`read_safetensors`
verifies it, so bytes changed on disk after writing (a flipped bit, NaNs pasted in) are refused in
one line instead of being decoded into garbage. :func:`tensors_digest` computes the same value from
tensors in memory, which is how a checkpoint records which weights file belongs to it.

The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a
JSON header (``__metadata__`` and, per tensor, dtype, shape and ``data_offsets`` into the data),
padded with spaces to a multiple of 8 bytes, then the tensors' bytes, little-endian, C order.
Reading uses the ``safetensors`` package, which validates all of that; nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import torch
from safetensors import SafetensorError, safe_open

from vaelab.atomic import atomic_write
from vaelab.errors import RunDirError, VaelabError
from vaelab.reading import FileProblem, check_regular_file

#: Metadata key of the SHA-256 (hex) of a file's tensor data.
DIGEST_KEY = "sha256"

#: Header alignment: the data starts at a multiple of 8 bytes, so every tensor can be mapped in place.
_ALIGNMENT = 8

_DTYPES: dict[torch.dtype, str] = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}

if sys.byteorder != "little":  # pragma: no cover - every platform PyTorch ships for is little-endian
    raise ImportError("vaelab writes safetensors files on little-endian machines only")


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """The SHA-256 (hex) of ``tensors``' bytes in sorted-name order: the :data:`DIGEST_KEY` that
    :func:`write_safetensors` records for a file of these tensors."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(_raw_bytes(tensors[name]))
    return digest.hexdigest()


def write_safetensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> str:
    """Write ``tensors`` (moved to the CPU) and ``metadata`` to ``path`` atomically, with the digest
    of the tensor data added to the metadata; returns that digest.

    Raises :class:`OSError` when the file cannot be written (the destination is then unchanged).
    """
    if DIGEST_KEY in metadata:
        raise ValueError(f"metadata key {DIGEST_KEY!r} is reserved for the data digest")
    cpu = {name: tensors[name].detach().to("cpu").contiguous() for name in sorted(tensors)}
    for name, tensor in cpu.items():
        if tensor.dtype not in _DTYPES:
            raise TypeError(f"tensor {name!r} has dtype {tensor.dtype}, which vaelab does not store")
    digest = tensors_digest(cpu)
    header = _header(cpu, {**metadata, DIGEST_KEY: digest})

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            _write_all(handle, header, cpu)

    atomic_write(path, write)
    return digest


def read_safetensors(
    path: Path,
    error: type[VaelabError] = RunDirError,
    fix: str = "restore it from a backup, or train again",
    max_bytes: int | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors (on the CPU) and the metadata of the safetensors file ``path``.

    A missing, unreadable, truncated or malformed file, something other than a regular file in its
    place, a file larger than ``max_bytes``, or one whose tensor data no longer match the digest
    recorded in it, is an ``error`` naming ``path`` and ending with ``fix``. Files without a recorded
    digest (written by vaelab before 0.6, or by other tools) are read unchecked.
    """
    tensors, metadata = _open(path, error, fix, tensors=True, max_bytes=max_bytes)
    recorded = metadata.get(DIGEST_KEY)
    if recorded is not None and tensors_digest(tensors) != recorded:
        raise error(
            f"{path} is damaged: its tensor data no longer match the SHA-256 recorded when it was written; {fix}"
        )
    return tensors, metadata


def read_safetensors_metadata(
    path: Path, error: type[VaelabError] = RunDirError, fix: str = "restore it from a backup, or train again"
) -> dict[str, str]:
    """The metadata of the safetensors file ``path``, reading its header only (cheap for any size)."""
    return _open(path, error, fix, tensors=False)[1]


def _open(
    path: Path, error: type[VaelabError], fix: str, tensors: bool, max_bytes: int | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        check_regular_file(path, max_bytes, "this file")
    except FileNotFoundError:
        raise error(f"{path} does not exist; {fix}") from None
    except FileProblem as problem:
        raise error(f"{path} {problem}; {fix}") from None
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            # SIM118 would write `in handle`, but a safe_open handle has keys() and cannot be iterated
            loaded = {key: handle.get_tensor(key) for key in handle.keys()} if tensors else {}  # noqa: SIM118
    except FileNotFoundError:
        raise error(f"{path} does not exist; {fix}") from None
    except IsADirectoryError:
        raise error(f"{path} is a folder, not a file; {fix}") from None
    except OSError as exc:
        raise error(f"cannot read {path} ({exc.strerror or exc}); {fix}") from None
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise error(f"{path} is corrupt or truncated ({_first_line(exc)}); {fix}") from None
    return loaded, metadata


def _header(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> bytes:
    """The length prefix and the space-padded JSON header for ``tensors`` (in their order)."""
    entries: dict[str, object] = {"__metadata__": {key: str(metadata[key]) for key in sorted(metadata)}}
    offset = 0
    for name, tensor in tensors.items():
        size = tensor.numel() * tensor.element_size()
        entries[name] = {
            "dtype": _DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = json.dumps(entries, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    text += b" " * (-(len(text) + 8) % _ALIGNMENT)
    return struct.pack("<Q", len(text)) + text


def _write_all(handle: BinaryIO, header: bytes, tensors: Mapping[str, torch.Tensor]) -> None:
    handle.write(header)
    for tensor in tensors.values():
        handle.write(_raw_bytes(tensor))


def _raw_bytes(tensor: torch.Tensor) -> memoryview:
    """The tensor's elements as bytes (a view, not a copy, when the tensor is on the CPU and
    contiguous), C order, native (little-endian) byte order."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().data if flat.numel() else memoryview(b"")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
