"""Binary attributes of images (CelebA's 40, or a user's own) as one table, read from TXT or CSV.

Two file forms give the same :class:`AttributeTable`:

* the official CelebA ``list_attr_celeba.txt``: the first line is the number of images, the
  second the attribute names, then one line per image, ``000001.jpg -1  1  1 -1 ...``
  (fields separated by any run of spaces);
* a CSV such as Kaggle's ``list_attr_celeba.csv``: a header whose first column names the file
  column (``image_id``) and whose other columns are attribute names, then one row per image.

A value of 1 means the image has the attribute; -1 (CelebA) or 0 (a 0/1 table) means it does
not. Parsed files are memoized on their identity (path, size, modification time).
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaelab.errors import ConfigError, DataError

#: The values accepted in an attribute file, as numbers; only 1 means "has the attribute".
VALUE_CODES = {"1": 1, "-1": -1, "0": 0}
UNKNOWN_CODE = 9


@dataclass(frozen=True, eq=False)
class AttributeTable:
    """Boolean attributes ``values[i, j]``: image ``image_ids[i]`` has attribute ``names[j]``."""

    image_ids: tuple[str, ...]
    names: tuple[str, ...]
    values: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_ids", tuple(self.image_ids))
        object.__setattr__(self, "names", tuple(self.names))
        if self.values.dtype != np.bool_ or self.values.shape != (len(self.image_ids), len(self.names)):
            raise ValueError(
                f"attribute values must be bool [{len(self.image_ids)}, {len(self.names)}], "
                f"got {self.values.dtype} {self.values.shape}"
            )

    def __len__(self) -> int:
        return len(self.image_ids)

    def same_as(self, other: AttributeTable) -> bool:
        """Whether both tables hold the same images, names and values, in the same order."""
        return (
            self.image_ids == other.image_ids
            and self.names == other.names
            and bool(np.array_equal(self.values, other.values))
        )

    def index_of(self, name: str) -> int:
        """The column of attribute ``name``; a :class:`ConfigError` listing close matches otherwise."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ConfigError(unknown_name_message("attribute", name, self.names)) from None

    def column(self, name: str) -> np.ndarray:
        """Whether each image has attribute ``name``: bool [N]."""
        return self.values[:, self.index_of(name)]

    def take(self, indices: np.ndarray | list[int]) -> AttributeTable:
        """The rows at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return AttributeTable(tuple(self.image_ids[i] for i in indices), self.names, self.values[indices])

    def head(self, n: int) -> AttributeTable:
        """The first ``n`` rows."""
        return AttributeTable(self.image_ids[:n], self.names, self.values[:n])

    def rows_for(self, image_ids: list[str] | tuple[str, ...], source: Path) -> AttributeTable:
        """The rows of ``image_ids``, in that order; a DataError naming the first image that has no row."""
        position = {image_id: i for i, image_id in enumerate(self.image_ids)}
        missing = [image_id for image_id in image_ids if image_id not in position]
        if missing:
            raise DataError(
                f"{len(missing)} image(s) have no row in {source}, the first {missing[0]!r}; "
                "use the attribute file that belongs to these images, or remove the extra images"
            )
        return self.take([position[image_id] for image_id in image_ids])


def unknown_name_message(what: str, name: str, known: tuple[str, ...] | list[str]) -> str:
    """``unknown attribute 'Smilling'; did you mean Smiling? (known: ...)``."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    if not close:
        close = [k for k in known if k.lower() == name.lower() or name.lower() in k.lower()][:3]
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    listed = ", ".join(known[:12]) + (f", ... ({len(known)} in all)" if len(known) > 12 else "")
    return f"unknown {what} {name!r}{hint} (known: {listed})"


def read_attributes(path: Path) -> AttributeTable:
    """The table in ``path``: the official TXT form for ``*.txt``, CSV otherwise (memoized)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read the attribute file {path} ({exc.strerror or exc}); check that it exists") from exc
    return _read_attributes(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_attributes(path: Path, size: int, mtime_ns: int) -> AttributeTable:
    text = _read_text(path)
    if path.suffix.lower() == ".txt":
        return parse_attribute_txt(text, str(path))
    return parse_attribute_csv(text, str(path))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not a text file ({exc.reason}); replace it with the original attribute file"
        ) from exc
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror or exc}); check its permissions") from exc


def _malformed(source: str, line: int, problem: str) -> DataError:
    return DataError(f"{source} line {line}: {problem}; the attribute file is damaged: replace it with the original")


def parse_attribute_txt(text: str, source: str = "list_attr_celeba.txt") -> AttributeTable:
    """Parse the official CelebA form (count line, names line, one line per image)."""
    lines = text.splitlines()
    if len(lines) < 2:
        raise _malformed(source, len(lines) + 1, "expected a line with the number of images, then the attribute names")
    try:
        declared = int(lines[0].strip())
    except ValueError:
        raise _malformed(source, 1, f"expected the number of images, got {lines[0].strip()[:40]!r}") from None
    names = lines[1].split()
    if not names:
        raise _malformed(source, 2, "expected the attribute names")
    rows = [(number, line.split()) for number, line in enumerate(lines[2:], start=3) if line.strip()]
    table = _table(rows, names, source)
    if len(table) != declared:
        raise DataError(
            f"{source} says it holds {declared} images but has {len(table)} rows; "
            "the file is truncated or damaged: replace it with the original"
        )
    return table


def parse_attribute_csv(text: str, source: str = "attributes.csv") -> AttributeTable:
    """Parse the CSV form (header: file column, then attribute names; one row per image)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise _malformed(
            source, 1, "the file is empty; expected a header of a file column and attribute names"
        ) from None
    header = [cell.strip() for cell in header]
    if len(header) < 2 or not all(header[1:]):
        raise _malformed(source, 1, "expected a header: the file-name column, then one column per attribute")
    rows = [(reader.line_num, [cell.strip() for cell in row]) for row in reader if any(cell.strip() for cell in row)]
    return _table(rows, header[1:], source)


def _table(rows: list[tuple[int, list[str]]], names: list[str], source: str) -> AttributeTable:
    """The table of ``rows`` (line number, [file name, value, ...]), checked field by field."""
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(
            f"{source} names attribute {duplicates[0]!r} twice; replace it with the original attribute file"
        )
    for number, fields in rows:
        if len(fields) != len(names) + 1:
            raise _malformed(source, number, f"expected a file name and {len(names)} values, got {len(fields)} fields")
    ids = [fields[0] for _, fields in rows]
    codes = np.fromiter(
        (VALUE_CODES.get(value, UNKNOWN_CODE) for _, fields in rows for value in fields[1:]),
        dtype=np.int8,
        count=len(rows) * len(names),
    ).reshape(len(rows), len(names))
    unknown = codes == UNKNOWN_CODE
    if unknown.any():
        row, column = map(int, np.argwhere(unknown)[0])
        number, fields = rows[row]
        raise _malformed(source, number, f"value {fields[column + 1]!r} for {names[column]} is not 1, -1 or 0")
    seen: set[str] = set()
    for (number, _), image_id in zip(rows, ids, strict=True):
        if image_id in seen:
            raise _malformed(source, number, f"image {image_id!r} appears twice")
        seen.add(image_id)
    return AttributeTable(tuple(ids), tuple(names), codes == 1)


def clear_cache() -> None:
    """Forget the memoized attribute files."""
    _read_attributes.cache_clear()
