"""A write that fails (disk full) names the file and leaves the previous file whole and loadable."""

import errno
import json

import numpy as np
import pytest

import rljax
import rljax.runs.files
from rljax.cli import main
from rljax.runs.files import WriteFailed, write_json_atomic

RUN = dict(total_steps=6_000, eval_every=500, eval_episodes=5, progress=False)


class DiskFull:
    """Makes rljax's atomic writes fail with ENOSPC while ``on`` (the data never reaches the disk)."""

    def __init__(self, monkeypatch):
        self.on = False
        real_fdopen = rljax.runs.files.os.fdopen

        def fdopen(fd, *args, **kwargs):
            f = real_fdopen(fd, *args, **kwargs)
            if self.on:
                f.close()
                raise OSError(errno.ENOSPC, "No space left on device")
            return f

        monkeypatch.setattr(rljax.runs.files.os, "fdopen", fdopen)


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"final_eval_return": [1.0]})
    disk = DiskFull(monkeypatch)
    disk.on = True
    with pytest.raises(WriteFailed, match=f"cannot write {path}: No space left on device"):
        write_json_atomic(path, {"final_eval_return": [2.0]})
    assert json.loads(path.read_text()) == {"final_eval_return": [1.0]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no temporary file left


def test_a_checkpoint_that_cannot_be_written_leaves_the_last_one_resumable(tmp_path, monkeypatch):
    straight = rljax.train("q_learning", "Taxi-v3", [0, 1], **RUN)
    out, disk = tmp_path / "run", DiskFull(monkeypatch)

    def fill_the_disk(i, metrics):
        if i == 5:  # after the checkpoints at segments 2 and 4
            disk.on = True

    with pytest.raises(WriteFailed, match="cannot write .*checkpoint.msgpack: No space left on device"):
        rljax.train("q_learning", "Taxi-v3", [0, 1], out=out, checkpoint_every=1_000, on_segment=fill_the_disk, **RUN)
    disk.on = False  # space freed
    resumed = rljax.train("q_learning", "Taxi-v3", [0, 1], out=out, resume=True, **RUN)
    np.testing.assert_array_equal(resumed.metrics["eval_return"], straight.metrics["eval_return"])


def test_the_command_line_names_the_file_and_exits_1(tmp_path, monkeypatch, capsys):
    argv = ["train", "q_learning", "--env", "Chain", "--total-steps", "400", "--eval-episodes", "2"]
    disk = DiskFull(monkeypatch)
    disk.on = True
    assert main([*argv, "--no-progress", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rljax train: error: cannot write ") and "No space left" in err[0]
