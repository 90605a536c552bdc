"""User-facing errors.

Every problem a user can fix (a missing data file, an unknown preset, a run directory from
another model, a diverged training run) is raised as a :class:`VaelabError` whose message is one
line that says what is wrong and how to fix it. The command line prints that line and exits
non-zero without a traceback; the Python API lets it propagate like any exception.
"""

from __future__ import annotations


class VaelabError(Exception):
    """Base class of every error vaelab reports to a user as one line."""


class DataError(VaelabError):
    """A dataset file is missing, truncated, corrupt or cannot be downloaded."""


class ConfigError(VaelabError):
    """A preset, option value or configuration file is invalid."""


class RunDirError(VaelabError):
    """A run directory is missing, incomplete or belongs to another model."""


class TrainingDivergedError(VaelabError):
    """The training loss became NaN or infinite."""


class JudgeError(VaelabError):
    """The judge classifier is missing, corrupt, or differs from the hash recorded for it."""
