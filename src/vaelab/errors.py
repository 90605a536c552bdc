"""User-facing errors.

Every problem a user can fix (a missing data file, an unknown preset, a run directory from
another model, a diverged training run) is raised as a :class:`VaelabError` whose message is one
line that says what is wrong and how to fix it. The command line prints that line and exits
non-zero without a traceback; the Python API lets it propagate like any exception.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class VaelabError(Exception):
    """Base class of every error vaelab reports to a user as one line."""


class DataError(VaelabError):
    """A dataset file is missing, truncated, corrupt or cannot be downloaded."""


class ConfigError(VaelabError):
    """A preset, option value or configuration file is invalid."""


class RunDirError(VaelabError):
    """A run directory is missing, incomplete or belongs to another model."""


class PretrainedError(VaelabError):
    """A shared model's folder (``vaelab export``) or Hub repository is missing, incomplete, damaged,
    or cannot be downloaded."""


class TrainingDivergedError(VaelabError):
    """The training loss became NaN or infinite."""


class JudgeError(VaelabError):
    """The judge classifier is missing, corrupt, or differs from the hash recorded for it."""


#: The step after fixing a failed write, unless the caller knows a better one.
AGAIN = "run the command again (each file is either written whole or left as it was)"


class WriteError(VaelabError):
    """A file could not be written (a full disk, a read-only folder, a folder where the file
    belongs). The file it would have replaced is unchanged."""

    def __init__(self, message: str, path: Path | None = None, cause: OSError | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.cause = cause

    @classmethod
    def of(cls, path: str | Path, exc: OSError, then: str = AGAIN) -> WriteError:
        """The one-line error for ``exc``, raised while writing ``path``: the cause, what to do about
        it and ``then``, the step after that."""
        action = _ACTIONS.get(exc.errno or 0, "fix that")
        return cls(f"cannot write {path} ({os_reason(exc)}); {action}, then {then}", Path(path), exc)

    def then(self, step: str) -> WriteError:
        """The same error, advising ``step`` after the fix instead of running the command again."""
        return WriteError.of(self.path, self.cause, step) if self.path and self.cause else self


def os_reason(exc: OSError) -> str:
    """The system's reason for ``exc`` in lower case, e.g. ``no space left on device``."""
    reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__)
    return reason[:1].lower() + reason[1:]


def describe_os_error(exc: OSError) -> str:
    """One line for an :class:`OSError` that reached the command line: the cause, the path(s) it
    concerns, and what to do about it."""
    paths = " and ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
    where = f" ({paths})" if paths else ""
    action = _ACTIONS.get(exc.errno or 0, "check the path and its permissions")
    return f"{os_reason(exc)}{where}; {action}, then run the command again"


_ACTIONS = {
    errno.ENOSPC: "free some disk space",
    errno.EDQUOT: "free some space in your disk quota",
    errno.EROFS: "the file system is read-only: choose a folder on a writable one",
    errno.EACCES: "you lack permission there: choose a folder you can write to",
    errno.EPERM: "you lack permission there: choose a folder you can write to",
    errno.EISDIR: "a folder is in the way: move it away or choose another folder",
    errno.ENOTDIR: "a file is in the way of a folder: move it away or choose another folder",
    errno.EIO: "the disk reported an input/output error: check it",
    errno.EMFILE: "too many files are open: close some programs",
    errno.ENOMEM: "the system is out of memory: close some programs",
}
