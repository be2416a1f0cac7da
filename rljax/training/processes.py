"""What a multi-process run (``jax.distributed``) needs so that no process is left waiting:
an error on one process is an error on every one, and a signal to one stops all of them
before the same segment.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from rljax.training.interrupts import StopOnSignal


def on_every_process(step: Callable[[], Any], what: str) -> Any:
    """``step()``; in a multi-process run, an error on any process is an error on every one.

    Why: the processes meet in collectives every segment, so one that stops alone (a
    folder in use, a full disk) would leave the others waiting forever. The check is a
    collective, so it is also a barrier: no process goes on before ``step`` is done on all.
    """
    if jax.process_count() == 1:
        return step()
    from jax.experimental.multihost_utils import process_allgather

    result, error = None, None
    try:
        result = step()
    except Exception as err:
        error = err
    failed = np.flatnonzero(np.asarray(process_allgather(np.int32(error is not None))))
    if error is not None:
        raise error
    if failed.size:
        raise RuntimeError(f"{what} failed on process {', '.join(map(str, failed))} (see its error)")
    return result


class StopRequested:
    """``should_stop`` of a run: in a multi-process one, True on every process once any got a signal.

    Why: a cluster signals each process on its own, a little apart (or only some); all must
    stop before the same segment, or the others wait for it in that segment's collectives.
    :attr:`signum` is the signal that stopped the run (the highest, if several came).
    """

    def __init__(self, stopper: StopOnSignal):
        self.stopper = stopper
        self.signum: int | None = None

    def __call__(self) -> bool:
        signum = self.stopper.signum or 0
        if jax.process_count() > 1:
            from jax.experimental.multihost_utils import process_allgather

            signum = int(np.asarray(process_allgather(np.int32(signum))).max())
        self.signum = signum or None
        return self.signum is not None
