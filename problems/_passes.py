"""Data passes: how many Dask computations (passes over the data) each iteration of a solve costs, shown on
the progress lines of ``ricci solve --data ... --chunks`` (issue 13: progress per iteration with its pass).

A pass is one Dask computation (``dask.compute`` of a kernel's outputs, or a product of a Gram operator with
a vector); Newton on Dask data costs two per iteration (f and g together, then the Hessian's arrays). The
count comes from a ``dask.callbacks.Callback``, which sees the computations of Dask's local schedulers
(threads, processes, synchronous); a ``distributed.Client`` runs its own scheduler, which local callbacks do
not see, so there the lines say nothing about passes rather than a wrong zero.
"""

from __future__ import annotations

import contextlib
import sys

from ._compare import LiveProgress


def _dask_data(problem) -> bool:
    return any(type(v).__module__.startswith("dask.") for v in problem.objective.data.values())


class PassCounter:
    """Counts Dask computations while active (``with PassCounter() as c: ...; c.n``); ``counting`` is False
    where a ``distributed.Client`` is the active scheduler (its computations are not seen here)."""

    def __init__(self):
        import dask.callbacks

        counter = self

        class _Start(dask.callbacks.Callback):
            def _start(self, dsk):
                counter.n += 1

        self.n = 0
        self._callback = _Start()
        distributed = sys.modules.get("distributed")
        self.counting = distributed is None or not _has_client(distributed)

    def __enter__(self):
        self._callback.__enter__()
        return self

    def __exit__(self, *exc):
        self._callback.__exit__(*exc)


def _has_client(distributed) -> bool:
    try:
        distributed.get_client()
    except ValueError:  # no client: Dask's local schedulers run the computations
        return False
    return True


class PassProgress(LiveProgress):
    """``LiveProgress`` whose lines end with the data passes the iteration cost (since the previous line's
    iteration, the solve's start for the first)."""

    def __init__(self, mode: str, counter: PassCounter, stream=None):
        super().__init__(mode, stream)
        self.counter = counter
        self._seen = 0

    def start(self):
        super().start()
        self._seen = self.counter.n

    def update(self, method, k, f, g, elapsed):
        passes, self._seen = self.counter.n - self._seen, self.counter.n
        super().update(method, k, f, g, elapsed, suffix=f"   {passes} data pass{'' if passes == 1 else 'es'}")


@contextlib.contextmanager
def progress(mode: str, problem, stream=None):
    """The progress printer for solves of ``problem``: with Dask data (and a local scheduler) one that counts
    the data passes of each iteration, while the block runs; otherwise a plain ``LiveProgress``."""
    if mode == "never" or not _dask_data(problem):
        yield LiveProgress(mode, stream)
        return
    with PassCounter() as counter:
        yield PassProgress(mode, counter, stream) if counter.counting else LiveProgress(mode, stream)
