"""What counts as a user's mistake (not a bug), and the exit status each kind ends with.

The lab scripts, ``islp-lab``, ``islp-curves`` and the chapter run all turn
these into one line on stderr and the exit status below; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

from pytorch_lightning.utilities.exceptions import MisconfigurationException

from datamodules.base import BadArgumentError, CorruptDataError, DataUnavailableError
from lightning_modules.callbacks import NonFiniteLossError
from lightning_modules.curves import CurvesError
from lightning_modules.trainer import AcceleratorUnavailableError


class LabError(RuntimeError):
    """A problem the user can fix (a bad option, a missing trained network); reported without a traceback."""


#: exit status of a bad argument (as argparse's own errors)
BAD_ARGUMENT_EXIT = 2
#: exit status of a command whose data is not available (the chapter run reports the lab as skipped)
DATA_UNAVAILABLE_EXIT = 3
#: exit status of any other user mistake: bad data, the environment
USER_ERROR_EXIT = 1

#: errors that come from the user's input or machine, not from a bug
USER_ERRORS: tuple[type[BaseException], ...] = (
    BadArgumentError,
    LabError,
    DataUnavailableError,
    CorruptDataError,
    AcceleratorUnavailableError,
    NonFiniteLossError,
    CurvesError,
    MisconfigurationException,
    FileNotFoundError,
)


def exit_status(error: BaseException) -> int:
    """The exit status a user error ends with."""
    if isinstance(error, BadArgumentError):
        return BAD_ARGUMENT_EXIT
    return DATA_UNAVAILABLE_EXIT if isinstance(error, DataUnavailableError) else USER_ERROR_EXIT
