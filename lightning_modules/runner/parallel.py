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
workers are fresh (``spawn``) processes, no CUDA or OpenMP state inherited
through ``fork``, each with a pipe to the parent: the parent hands a worker one
seed at a time and knows which seed each worker trains. ``train`` and its
arguments must be picklable: a function defined at the top of a module (a lab
script's ``train_one_seed``), or a :func:`functools.partial` of one.

No worker outlives the parent. SIGTERM, SIGINT or SIGHUP to the parent reaches
every worker, which stops its run at a safe point as a single run does (see
:mod:`lightning_modules.machinery.signals`), and the parent waits for them all;
``--resume`` then continues each seed. A worker that dies (``kill -9``, the
out-of-memory killer) stops the others the same way and ends the run with one
line naming its seed (:class:`~foundations.errors.LabError`). Any other way out
of :func:`for_each_seed` kills the workers left, and on Linux a parent killed
outright (SIGKILL) takes its workers with it (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.resource_tracker
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from foundations.errors import LabError, UserError
from lightning_modules.machinery.signals import STOP, RunInterrupted, interrupting_signal, signals_stop_runs

#: seconds between the parent's looks for a signal while its workers train
_POLL_SECONDS = 0.2
#: Linux's ``prctl`` option: a signal the kernel sends this process when its parent dies
_PR_SET_PDEATHSIG = 1
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
    stops every run and raises :class:`~lightning_modules.machinery.signals.RunInterrupted`
    naming the log folder of a stopped run (where ``--resume`` continues); a worker
    that dies stops every run and raises :class:`~foundations.errors.LabError`
    naming its seed. Every worker has ended when this returns or raises.
    """
    seeds = list(seeds)
    if jobs <= 1 or len(seeds) <= 1:
        return [train(seed) for seed in seeds]
    threads = threads or max(1, torch.get_num_threads() // jobs)
    with _SignalRelay() as relay, _Workers(min(jobs, len(seeds)), threads) as workers:
        outcomes = workers.run(train, seeds, relay)
    return _results_or_raise(seeds, outcomes, relay.signum)


@contextlib.contextmanager
def _terminal_signals_ignored() -> Iterator[None]:
    """Within: SIGINT and SIGHUP are ignored, and so are they by the processes started (an ignored signal stays
    ignored through ``exec``; a blocked one does not stay blocked): a Ctrl-C or a hangup, which the terminal sends
    to the whole process group, can't kill a worker before it has set its own handling up. (Only for the moment
    the workers take to start, milliseconds: a Ctrl-C then is lost, and pressed again stops the run. SIGTERM,
    which ``timeout`` or Slurm send once, is never ignored; the parent relays it to a worker once it is ready.)"""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in _SIGNALS if signum != signal.SIGTERM}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


class _SignalRelay:
    """Within: SIGINT, SIGTERM and SIGHUP to this process are recorded (:attr:`signum`, the first one), for
    :class:`_Workers` to relay to the workers as SIGTERM (stop at a safe point)."""

    def __init__(self) -> None:
        self.signum: int | None = None
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


class _Worker:
    """One worker process, its end of the pipe, and the index of the seed it trains (None: none now)."""

    def __init__(self, context: Any, threads: int) -> None:
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, threads, os.getpid()), name="seed worker")
        self.process.start()
        theirs.close()
        self.index: int | None = None
        self.sent = False  # the seed ``index`` has been sent to it
        self.ready = False  # it has set its signal handling up: a seed, or a stop, can be sent to it
        self.closing = False  # told to exit (it has no seed left to train)


class _Workers:
    """Up to ``count`` worker processes for one :func:`for_each_seed` call; on leaving, none is left running."""

    def __init__(self, count: int, threads: int) -> None:
        self.count, self.threads = count, threads
        self.workers: list[_Worker] = []
        self.stopping = False  # a signal came or a worker died: no seed starts, the running ones stop
        self._tracker_was_running = _resource_tracker_running()

    def __enter__(self) -> _Workers:
        context = multiprocessing.get_context("spawn")
        with _terminal_signals_ignored():
            self.workers = [_Worker(context, self.threads) for _ in range(self.count)]
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for worker in self.workers:  # only after an error of the parent's own: they are of no use any more
            worker.process.kill()
        for worker in self.workers:
            worker.process.join()
            worker.connection.close()
        self.workers = []
        if not self._tracker_was_running:  # multiprocessing's helper process, started for the workers
            _stop_resource_tracker()

    def run(self, train: Callable[[int], Any], seeds: list[int], relay: _SignalRelay) -> dict[int, tuple[str, Any]]:
        """Train every seed, one at a time per worker; what each seed's run came to, by its index in ``seeds``."""
        outcomes: dict[int, tuple[str, Any]] = {}
        waiting = list(range(len(seeds)))
        relayed = False
        while self.workers:
            self.stopping = self.stopping or relay.signum is not None
            if self.stopping and not relayed:
                relayed = True
                self._stop_running_seeds()
            for worker in self.workers:
                if worker.index is None and not worker.closing and waiting and not self.stopping:
                    worker.index, worker.sent = waiting.pop(0), False  # its seed, sent once it is ready
                if not worker.ready or worker.closing or (worker.index is not None and worker.sent):
                    continue
                if worker.index is not None and not self.stopping:
                    _send(worker, (train, seeds[worker.index]))
                    worker.sent = True
                else:  # nothing left to train, or a stop: the seed it was to train is not started
                    worker.index, worker.closing = None, True
                    _send(worker, None)
            multiprocessing.connection.wait([worker.connection for worker in self.workers], timeout=_POLL_SECONDS)
            for worker in list(self.workers):
                self._collect(worker, outcomes)
        return outcomes

    def _collect(self, worker: _Worker, outcomes: dict[int, tuple[str, Any]]) -> None:
        """Take ``worker``'s seed's outcome if it sent one; if it ended, reap it (a seed it had: it died)."""
        if not worker.connection.poll():
            return
        try:
            outcome = worker.connection.recv()
        except (EOFError, ConnectionResetError):  # its end closed: the process exits (or was killed, a seed unread)
            worker.process.join()
            worker.connection.close()
            self.workers.remove(worker)
            if worker.index is not None or not worker.closing:
                self.stopping = True
                if worker.index is not None:
                    outcomes[worker.index] = ("died", _how_it_ended(worker.process.exitcode))
            return
        if isinstance(outcome, str) and outcome == _READY:
            worker.ready = True  # a stop that came while it started: it is sent no seed
        elif worker.index is not None:
            outcomes[worker.index], worker.index = outcome, None

    def _stop_running_seeds(self) -> None:
        """Relay a stop to every worker that has started: each stops its seed's run at a safe point and sends it
        back (one still starting is sent no seed)."""
        for worker in self.workers:
            if worker.ready:  # SIGTERM, which it handles from then on
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGTERM)


def _send(worker: _Worker, message: Any) -> None:
    """Send ``message`` to ``worker``; one that has died meanwhile is reaped by :meth:`_Workers._collect`."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        worker.connection.send(message)


def _how_it_ended(exitcode: int | None) -> str:
    """How a worker process ended, in words: ``killed by SIGKILL``, ``exited with status 1``."""
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with status {exitcode}"


def _resource_tracker_running() -> bool:
    """Is multiprocessing's resource tracker (a helper process it starts with the first spawned process) running?"""
    return getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None) is not None


def _stop_resource_tracker() -> None:
    """End multiprocessing's resource tracker (it would otherwise live until this process exits, and a moment
    after); it starts again if something needs it. A private method of the standard library: only where it exists."""
    stop = getattr(multiprocessing.resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        with contextlib.suppress(OSError, ChildProcessError):
            stop()


# -- in a worker process -------------------------------------------------------------------------------------

#: in a worker: a stop (SIGTERM) came between two seeds, or before the run's own handling was set up
_STOP_REQUESTED = False
#: what a worker sends first, once its signal handling is set up
_READY = "ready"


def _serve(connection: Any, threads: int, parent: int) -> None:
    """A worker's life: train the seeds the parent sends, one at a time, sending each outcome back; ``None``
    (or the parent gone) ends it."""
    _die_with_parent(parent)
    torch.set_num_threads(threads)
    # a SIGTERM here is the parent's relayed stop, which the parent reports: not Lightning's "Received SIGTERM" line
    logging.getLogger("pytorch_lightning.trainer.connectors.signal_connector").setLevel(logging.WARNING)
    # the parent relays SIGINT, SIGTERM and SIGHUP as SIGTERM: a Ctrl-C that reaches the whole process group
    # is then seen once (each run's own handler, installed in _run_in_worker, stops it at a safe point)
    for signum in _SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _note_stop)
    connection.send(_READY)
    while True:
        try:
            task = connection.recv()
        except EOFError:
            return
        except Exception as error:  # noqa: BLE001 - a seed's code that can't be loaded here: its seed's error
            outcome: tuple[str, Any] = ("error", _transportable(error))
        else:
            if task is None:
                return
            outcome = _run_in_worker(*task)
        try:
            connection.send(outcome)
        except (pickle.PicklingError, TypeError, AttributeError) as error:  # a result that can't be sent back
            connection.send(("error", RuntimeError(f"the result of a seed's run can't be sent back: {error}")))


def _note_stop(signum: int, frame: Any) -> None:
    global _STOP_REQUESTED
    _STOP_REQUESTED = True


def _die_with_parent(parent: int) -> None:
    """On Linux: the kernel kills this worker (SIGKILL) when its parent dies, even of a SIGKILL; elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl in this C library
        return
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _run_in_worker(train: Callable[[int], Any], seed: int) -> tuple[str, Any]:
    """Run one seed under the signal policy; what happened comes back as ``(kind, value)``, always picklable."""
    with signals_stop_runs() as stop:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent relays Ctrl-C (as SIGTERM)
        try:
            if _STOP_REQUESTED:  # after the handlers: no signal can slip between
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


def _run_name(seed: Any) -> str:
    """A seed's run in words: ``seed 3``, or ``rnn seed 3`` for a ``(network, seed)`` pair (as lab_nyse's runs)."""
    if isinstance(seed, tuple) and seed:
        return " ".join([*map(str, seed[:-1]), f"seed {seed[-1]}"])
    return f"seed {seed}"


def _results_or_raise(seeds: list[int], outcomes: dict[int, tuple[str, Any]], signum: int | None) -> list[Any]:
    """The runs' results; else the first error (it says more than the rest), else a signal's interruption (a
    signal to the whole group may have killed a worker as it started), else a worker's death (naming its seed),
    else the interruption of a worker signalled on its own; the log folder of a stopped run (where ``--resume``
    continues) goes to ``STOP.log_dir``."""
    ordered = [outcomes.get(index, ("not started", None)) for index in range(len(seeds))]
    for kind, value in ordered:
        if kind == "error":
            raise value
    stopped = [value for kind, value in ordered if kind == "interrupted" and value]
    died = [(seed, how) for seed, (kind, how) in zip(seeds, ordered) if kind == "died"]
    if signum is None and (died or any(kind == "not started" for kind, _ in ordered)):
        what = " and ".join(f"the worker process of {_run_name(seed)} {how}" for seed, how in died)
        whose = "their runs" if len(died) > 1 else "its run"
        where = f" (and the same --log-dir {stopped[0]})" if stopped else ""
        raise LabError(f"{what or 'a worker process died'} before {whose} finished (the other runs finished, or "
                       f"stopped at a safe point): to finish every seed, run the same command with --resume{where}")
    if stopped or signum is not None or any(kind != "result" for kind, _ in ordered):
        STOP.log_dir = stopped[0] if stopped else STOP.log_dir
        raise RunInterrupted(signum if signum is not None else signal.SIGTERM)
    return [value for _kind, value in ordered]
