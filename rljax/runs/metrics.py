"""``metrics.csv``: the long metrics table (seed, config, step, metric, value), appended one fsynced
segment at a time, so a stopped run keeps every finished segment.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from rljax.runs.files import WriteFailed, write_bytes_atomic

METRIC_COLUMNS = ("seed", "config", "step", "metric", "value")
METRIC_HEADER = ",".join(METRIC_COLUMNS) + "\n"


def metrics_rows(seeds: list[int], config_ids: list[int], metrics: dict[str, np.ndarray], segment: int) -> str:
    """CSV rows (no header) of one segment's metrics in the long format."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    steps = metrics["env_steps"]
    for i, (seed, cid) in enumerate(zip(seeds, config_ids)):
        for name, values in metrics.items():
            if name == "env_steps":
                continue
            writer.writerow([seed, cid, int(steps[i]), name, float(values[i])])
    return buf.getvalue()


class MetricsTable:
    """Appends whole segments to ``metrics.csv`` (seed, config, step, metric, value).

    Each segment's rows go in one write followed by fsync, so the table grows while
    the run goes and memory stays bounded however long it is.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists():
            self._repair()
        else:
            write_bytes_atomic(self.path, METRIC_HEADER.encode())

    def _repair(self) -> None:
        """Makes an existing table (one being resumed) safe to append to.

        A resumed run rewrites its whole table from the checkpoint when it ends, so a
        damaged one can lose its rows; until then new segments must land on whole
        lines under the header: a cut-short last row goes, a table without its
        header (empty, corrupted) starts again from the header.
        """
        header = METRIC_HEADER.encode()
        with open(self.path, "rb+") as f:
            data = f.read()
            if not data.startswith(header):
                f.seek(0)
                f.truncate()
                f.write(header)
            elif not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())

    def keep_rows(self, count: int) -> None:
        """Drops every row after the first ``count`` (a resumed run's, written past its checkpoint).

        Those rows hold the very numbers the resumed run writes again; without this, a
        run killed between checkpoints would list those segments twice. A table with
        fewer rows (damaged) is left as it is: the resumed run rewrites it when it ends.
        """
        with open(self.path, "rb+") as f:
            f.readline()  # the header
            for _ in range(count):
                if not f.readline():
                    return
            if f.read(1):
                f.truncate(f.tell() - 1)
                f.flush()
                os.fsync(f.fileno())

    def rewrite(self, rows: Iterable[str]) -> None:
        """Replaces the whole table with ``rows`` (chunks of whole rows), atomically: a process
        killed meanwhile leaves the old table."""
        chunks = (chunk.encode() for chunk in itertools.chain([METRIC_HEADER], rows))
        write_bytes_atomic(self.path, chunks)

    def append(self, rows: str) -> None:
        """Appends whole rows and fsyncs them; a failed write (disk full) names the file."""
        try:
            with open(self.path, "a") as f:
                f.write(rows)
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:  # a partial last row is dropped when the table is reopened (resume)
            raise WriteFailed(err.errno, f"cannot append to {self.path}: {err.strerror or err}") from None
