"""The user's mistakes (not bugs), each with the exit status a command ends with.

One home for every error a user can fix: a wrong argument, missing or damaged
data, a full disk, an accelerator this machine lacks. Each is a
:class:`UserError` carrying its ``exit_status``; the lab scripts, ``islp-lab``,
``islp-curves`` and the chapter run print its message as one line and exit
with that status. Anything else is a bug and keeps its traceback.

A leaf: it imports nothing of the project, so both packages (``datamodules``
below, ``lightning_modules`` above) can raise these without an import cycle.
"""

from __future__ import annotations

#: the largest seed torch and numpy both take (seeds run from 0 to it)
MAX_SEED = 2**32 - 1
#: exit status of any user mistake without a status of its own: bad data, the environment
USER_ERROR_EXIT = 1
#: exit status of a bad argument (as argparse's own errors)
BAD_ARGUMENT_EXIT = 2
#: exit status of a command whose data is not available (the chapter run reports the lab as skipped)
DATA_UNAVAILABLE_EXIT = 3


class UserError(Exception):
    """A problem the user can fix; its message says what is wrong and what to do. Reported without a traceback."""

    exit_status: int = USER_ERROR_EXIT


class BadArgumentError(UserError, ValueError):
    """An argument a user gave is wrong (the message names the value, why, and what to give instead)."""

    exit_status = BAD_ARGUMENT_EXIT


class DataUnavailableError(UserError, RuntimeError):
    """The data files (or weights) are missing and could not be downloaded (the message says what to do)."""

    exit_status = DATA_UNAVAILABLE_EXIT


class CorruptDataError(UserError, RuntimeError):
    """A data file fails its checksum or cannot be parsed (the message names the file)."""


class LabError(UserError, RuntimeError):
    """A problem with a run the user can fix (a missing trained network, a file that can't be saved)."""


class DiskFullError(LabError):
    """The disk (or quota) filled up while a file was written; the previous file is kept."""


class WriteError(LabError):
    """A file could not be written for a reason of the machine (a folder not writable, a name taken by a folder)."""


class CheckpointError(LabError):
    """A checkpoint file cannot be read: empty, cut short, or not a checkpoint at all."""


class AcceleratorUnavailableError(UserError, RuntimeError):
    """The accelerator asked for is not on this machine."""


class NonFiniteLossError(UserError, RuntimeError):
    """The training loss became NaN or infinite."""


class CurvesError(UserError, ValueError):
    """A metrics file is missing, empty, garbled, or lacks the metric asked for."""


class CurvesArgumentError(CurvesError, BadArgumentError):
    """What was asked for is not there: a run path that does not exist, or a metric the runs did not log (exit 2)."""


def exit_status(error: BaseException) -> int:
    """The exit status ``error`` ends a command with: its own for a :class:`UserError`, else 1."""
    return getattr(error, "exit_status", USER_ERROR_EXIT) if isinstance(error, UserError) else USER_ERROR_EXIT


def user_errors() -> tuple[type[BaseException], ...]:
    """What an entry point reports in one line: every :class:`UserError`, Lightning's refusal of a
    configuration, and a file the user named that is not there."""
    from pytorch_lightning.utilities.exceptions import MisconfigurationException

    return (UserError, MisconfigurationException, FileNotFoundError)
