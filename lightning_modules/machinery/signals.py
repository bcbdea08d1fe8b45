"""Runs stopped by a signal: one policy for SIGTERM, SIGINT and SIGHUP in every entry point.

``timeout``, Slurm and ``docker stop`` send SIGTERM; Ctrl-C sends SIGINT; a closed
terminal or ssh session sends SIGHUP. Left to Lightning, SIGTERM ends a run with
``SIGTERMException``, a ``SystemExit`` of status 0 (success!), and Ctrl-C in ``fit``
with ``sys.exit(1)``; outside a Trainer (a scikit-learn baseline, loading data) a
signal kills the process silently. Inside :func:`signals_stop_runs` each stops the
run at a safe point instead, and :func:`interrupting_signal` tells the entry point
which signal it was, to exit with 128 + its number.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.utilities.exceptions import SIGTERMException

from lightning_modules.machinery.lightning_internals import skip_unused_batch_hooks

#: exit status of a run stopped by a signal, as a shell reports one (128 + the signal's number)
INTERRUPTED_EXIT = {
    signum: 128 + signum
    for signum in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None))
    if signum is not None  # Windows has no SIGHUP
}


class RunInterrupted(BaseException):
    """A signal (Ctrl-C's SIGINT, or SIGTERM) stopped the run.

    A ``BaseException``, as ``KeyboardInterrupt`` is, so that no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Stop:
    """The signal that stopped this run, if one did (set by the handler and :class:`StopOnSignal`)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        #: the log folder of the last Trainer built in this run (there is then a run to ``--resume``)
        self.log_dir: str | None = None
        #: inside :func:`signals_stop_runs` (an entry point that reports the stop itself), or a reader's own script
        self.entry_point = False

    def raise_if_signalled(self) -> None:
        if self.signum is not None:
            raise RunInterrupted(self.signum)


#: this process's record of a stopping signal (one run at a time: the entry point's)
STOP = _Stop()


def _on_signal(signum: int, frame: Any) -> None:
    """SIGINT or SIGTERM: stop at a safe point, once.

    While a Trainer runs, Lightning's own SIGTERM handler is installed (it calls
    this one as well): it stops the loops after the current batch, and Ctrl-C is
    handed to it so that it stops the same way. With no Trainer running there is
    no batch to finish: the run stops at once. A second signal while stopping is ignored.
    """
    if STOP.signum is not None:
        return
    STOP.signum = signum
    lightning = signal.getsignal(signal.SIGTERM)
    if lightning is _on_signal or not callable(lightning):  # no Trainer is running
        raise RunInterrupted(signum)
    if signum != signal.SIGTERM:  # Lightning's stop-at-the-next-batch (it calls this one back: ignored above)
        notices = logging.getLogger("pytorch_lightning.trainer.connectors.signal_connector")
        level = notices.level
        notices.setLevel(logging.WARNING)  # not its "Received SIGTERM" line: this was Ctrl-C
        try:
            lightning(signal.SIGTERM, frame)
        finally:
            notices.setLevel(level)


class StopOnSignal(Callback):
    """Ends a Trainer's run that a signal stopped as stopped, never as a success.

    Lightning stops a run on SIGTERM with ``SIGTERMException``, a ``SystemExit``
    of status 0: a reader's own script (``trainer = make_trainer(...);
    trainer.fit(...)``) would end as if it had succeeded, silently skipping
    everything after ``fit()``. This callback (one of every Trainer's default
    callbacks) gives that exit the status of the signal (143), and outside the
    project's entry points (which say it themselves) prints one line saying the
    run stopped and where its last checkpoint is. A signal that came after
    Lightning's last check (in the last test batch, say) ends the run the same way.
    """

    def __init__(self) -> None:
        skip_unused_batch_hooks(self)

    @staticmethod
    def _stop_if_signalled(trainer: Trainer) -> None:
        if STOP.signum is None and trainer.received_sigterm:
            STOP.signum = signal.SIGTERM
        if STOP.signum is not None and not STOP.entry_point:
            _say_stopped(trainer, STOP.signum)
            raise SystemExit(INTERRUPTED_EXIT[STOP.signum])
        STOP.raise_if_signalled()

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stop_if_signalled(trainer)

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stop_if_signalled(trainer)

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._stop_if_signalled(trainer)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if STOP.signum is None and isinstance(exception, KeyboardInterrupt):  # Python's own handler raised it
            STOP.signum = signal.SIGINT
        if isinstance(exception, SIGTERMException) and not exception.code:  # status 0 would say success
            signum = STOP.signum or signal.SIGTERM
            exception.code = INTERRUPTED_EXIT[signum]
            if not STOP.entry_point:
                _say_stopped(trainer, signum)


def _say_stopped(trainer: Trainer, signum: int) -> None:
    """One line on stderr (rank zero) for a reader's own script: the run stopped, and how to continue it."""
    if not trainer.is_global_zero:
        return
    folder = getattr(trainer.checkpoint_callback, "dirpath", None)
    where = (f"; its last checkpoint is in {folder}: continue with make_trainer(..., resume=True) and "
             "trainer.fit(..., ckpt_path=last_checkpoint(trainer))") if folder else ""
    print(f"interrupted by {signal.Signals(signum).name}: the run stopped before finishing and the script ends here"
          f" (exit status {INTERRUPTED_EXIT[signum]}){where}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def signals_stop_runs() -> Iterator[_Stop]:
    """Within: SIGINT and SIGTERM stop the run at a safe point (see :func:`_on_signal`); the handlers
    before are restored after. (Only the main thread can set handlers; elsewhere nothing changes.)"""
    STOP.signum, STOP.log_dir, STOP.entry_point = None, None, True
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {signum: signal.getsignal(signum) for signum in INTERRUPTED_EXIT} if in_main_thread else {}
    for signum in previous:
        signal.signal(signum, _on_signal)
    try:
        yield STOP
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        STOP.signum, STOP.log_dir, STOP.entry_point = None, None, False


def interrupting_signal(error: BaseException) -> int | None:
    """The signal that ``error`` (raised out of a run inside :func:`signals_stop_runs`) says stopped it, or None.

    ``SIGTERMException`` without a signal of this process's own is rank zero's,
    relayed by Lightning to every process of a DDP run.
    """
    if STOP.signum is not None and isinstance(error, (RunInterrupted, KeyboardInterrupt, SystemExit)):
        return STOP.signum
    if isinstance(error, RunInterrupted):
        return error.signum
    if isinstance(error, SIGTERMException):
        return signal.SIGTERM
    return signal.SIGINT if isinstance(error, KeyboardInterrupt) else None
