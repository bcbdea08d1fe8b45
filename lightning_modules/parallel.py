"""Seeds in parallel: one training run per seed, several at once on a CPU with cores to spare.

A lab trains each of its networks once per seed. The runs share nothing (each
seeds everything itself and logs under its own ``seed_<s>/`` folder), so on a
CPU they can run side by side in worker processes, one after another
otherwise::

    def train_one_seed(seed: int) -> dict:
        seed_everything(seed, workers=True)
        trainer = make_trainer("hitters", "mlp", seed=seed, seed_folder=True)
        ...
        return run_record(trainer, test, seed)

    runs = for_each_seed(train_one_seed, seeds=[0, 1, 2, 3, 4], jobs=2, threads=1)

A worker runs exactly the code the sequential loop runs, with the same torch
thread count, so each seed's figures and files are the same bit for bit. The
pool is the standard library's :class:`~concurrent.futures.ProcessPoolExecutor`
with fresh (``spawn``) processes: no CUDA or OpenMP state is inherited through
``fork``. ``train`` and its arguments must be picklable: a function defined at
the top of a module (a lab script's ``train_one_seed``), or a
:func:`functools.partial` of one.

Signals: SIGTERM, SIGINT or SIGHUP to the parent reaches every worker, which
stops its run at a safe point as a single run does (see
:mod:`lightning_modules.signals`); ``--resume`` then continues each seed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from datamodules.errors import LabError, UserError
from lightning_modules.signals import STOP, RunInterrupted, interrupting_signal, signals_stop_runs

#: seconds between the parent's looks for a signal while its workers train
_POLL_SECONDS = 0.2
_SIGNALS = tuple(signal.Signals[name] for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system says; else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def parallel_jobs(seed_count: int, threads: int | None, jobs: int | None = None, on_cpu: bool = True) -> int:
    """How many seeds to train at once: ``jobs`` if given, else as many as the cores hold at ``threads`` torch
    threads each (torch's default, all cores, leaves room for one). Never more than there are seeds; one on a
    GPU or under a multi-process strategy (``on_cpu=False``), where runs would compete for the same device."""
    if not on_cpu or seed_count <= 1:
        return 1
    if jobs is None:
        jobs = cpu_cores() // (threads or cpu_cores())
    return max(1, min(jobs, seed_count))


def for_each_seed(train: Callable[[int], Any], seeds: Sequence[int], jobs: int = 1,
                  threads: int | None = None) -> list[Any]:
    """``[train(seed) for seed in seeds]``, with up to ``jobs`` seeds training at once in worker processes.

    ``threads``: torch threads in each worker (None: torch's default divided among
    the workers). Results come back in the order of ``seeds``. A run that fails
    raises its error here once every other run has finished or stopped; a signal
    stops every run and raises :class:`~lightning_modules.signals.RunInterrupted`
    naming the log folder of a stopped run (where ``--resume`` continues).
    """
    seeds = list(seeds)
    if jobs <= 1 or len(seeds) <= 1:
        return [train(seed) for seed in seeds]
    threads = threads or max(1, torch.get_num_threads() // jobs)
    context = multiprocessing.get_context("spawn")
    stopping = context.Event()  # set on a signal: a worker that has not started its seed yet skips it
    with _SignalRelay(stopping) as relay, concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(threads, stopping)
    ) as pool:
        # the workers start with the signals blocked (a mask is inherited): none dies of one before it has
        # set its own handling up in _start_worker
        with _signals_blocked():
            futures = [pool.submit(_run_in_worker, train, seed) for seed in seeds]
        while concurrent.futures.wait(futures, timeout=_POLL_SECONDS)[1]:
            relay.relay()
        outcomes = [future.result() for future in futures]
    return _results_or_raise(outcomes, relay.signum)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Within: SIGINT, SIGTERM and SIGHUP wait (the handlers run after), in this thread and processes it starts."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _SignalRelay:
    """Within: SIGINT, SIGTERM and SIGHUP to this process are recorded, and relayed to the workers as SIGTERM
    (stop at a safe point) by :meth:`relay`; seeds not started yet are skipped."""

    def __init__(self, stopping: Any) -> None:
        self.stopping = stopping
        self.signum: int | None = None
        self._relayed = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalRelay:
        self._previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}
        for signum in _SIGNALS:
            signal.signal(signum, self._record)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def _record(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum

    def relay(self) -> None:
        if self.signum is None or self._relayed:
            return
        self._relayed = True
        self.stopping.set()  # first: a worker that misses the signal below sees this before it starts a seed
        for worker in multiprocessing.active_children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)


def _start_worker(threads: int, stopping: Any) -> None:
    global _STOPPING
    _STOPPING = stopping
    torch.set_num_threads(threads)
    # the parent relays SIGINT, SIGTERM and SIGHUP as SIGTERM: a Ctrl-C that reaches the whole process group
    # is then seen once (each run's own handler, installed in _run_in_worker, stops it at a safe point)
    for signum in _SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


#: in a worker: the parent's "stopping" event
_STOPPING: Any = None


def _run_in_worker(train: Callable[[int], Any], seed: int) -> tuple[str, Any]:
    """Run one seed under the signal policy; what happened comes back as ``(kind, value)``, always picklable."""
    with signals_stop_runs() as stop:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent relays Ctrl-C (as SIGTERM)
        try:
            if _STOPPING is not None and _STOPPING.is_set():  # after the handlers: no signal can slip between
                return "interrupted", None
            return "result", train(seed)
        except BaseException as error:  # noqa: BLE001 - every failure goes back to the parent, which raises it
            if interrupting_signal(error) is not None:  # RunInterrupted, or Lightning's SIGTERMException
                return "interrupted", stop.log_dir
            return "error", _transportable(error)


def _transportable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else a :class:`LabError` (or plain ``RuntimeError``) with its message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - an exception class that can't be rebuilt from its args
        if isinstance(error, UserError):
            substitute = LabError(str(error))
            substitute.exit_status = error.exit_status
            return substitute
        return RuntimeError(f"{type(error).__name__}: {error}")


def _results_or_raise(outcomes: list[tuple[str, Any]], signum: int | None) -> list[Any]:
    """The runs' results; else the first error (it says more than an interruption), else the interruption,
    with the log folder of a stopped run (where ``--resume`` continues) in ``STOP.log_dir``."""
    for kind, value in outcomes:
        if kind == "error":
            raise value
    stopped = [value for kind, value in outcomes if kind == "interrupted"]
    if stopped or signum is not None:
        STOP.log_dir = next((log_dir for log_dir in stopped if log_dir), STOP.log_dir)
        raise RunInterrupted(signum if signum is not None else signal.SIGTERM)
    return [value for _kind, value in outcomes]
