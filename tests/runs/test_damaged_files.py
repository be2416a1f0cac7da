"""Damaged run-folder files: a one-line error naming the file and what is wrong, and
``--resume`` falling back to the previous checkpoint when the newest is damaged."""

import json
import re
import shutil

import numpy as np
import pytest

import rljax
from rljax.cli import main
from rljax.runs.checkpoints import load_checkpoint, save_checkpoint
from rljax.runs.files import DamagedFile
from rljax.runs.readers import load_runs
from rljax.training.batch import FAST_COMPILE

# Five segments, a checkpoint after each but the last: the newest is after segment 4,
# the previous one after segment 3.
RUN = dict(
    seeds=[0, 1],
    total_steps=2000,
    eval_every=400,
    eval_episodes=3,
    checkpoint_every=400,
    compiler_options=FAST_COMPILE,
    progress=False,
)
CLI_RUN = [
    "q_learning",
    "--env",
    "Taxi-v3",
    "--seed-list",
    "0,1",
    "--total-steps",
    "2000",
    "--eval-every",
    "400",
    "--eval-episodes",
    "3",
    "--checkpoint-every",
    "400",
    "--fast-compile",
    "--no-progress",
]
GARBAGE = np.random.default_rng(0).bytes(256)  # not UTF-8, not msgpack


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """An uninterrupted run's folder (kept pristine: tests damage copies) and its result."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    result = rljax.train("q_learning", "Taxi-v3", out=folder, **RUN)
    return folder, result


@pytest.fixture
def run_dir(finished, tmp_path):
    """A fresh copy of the finished run folder."""
    return shutil.copytree(finished[0], tmp_path / "run")


def damage(path, how):
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        cut = len(data) // 2
        while data[cut - 1 : cut] == b"\n":  # really cut a line short
            cut -= 1
        path.write_bytes(data[:cut])
    elif how == "garbage":
        path.write_bytes(GARBAGE)
    elif how == "flipped":  # one byte in the middle: only a checksum sees it
        middle = bytearray(data)
        middle[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(middle))
    else:
        raise AssertionError(how)
    return path


def json_why(path, how):
    """What is wrong with a damaged JSON file, as the message says it."""
    if how == "empty":
        return "empty file"
    if how == "garbage":
        return "not UTF-8 text (corrupted?)"
    try:
        json.loads(path.read_text())
    except json.JSONDecodeError as err:
        return f"ends early (truncated?): {err.msg} at line {err.lineno} column {err.colno}"
    raise AssertionError("the truncated file parses")


def one_line_error(capsys, command):
    """The single stderr line of a failed ``rljax <command>``, without its prefix."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    prefix = f"rljax {command}: error: "
    assert lines[0].startswith(prefix), err
    return lines[0][len(prefix) :]


# --------------------------------------------------------------------------- JSON files


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage"])
def test_damaged_summary_json(run_dir, capsys, how):
    path = damage(run_dir / "summary.json", how)
    expected = f"malformed summary.json in {str(run_dir)!r}: {json_why(path, how)}"
    with pytest.raises(ValueError) as err:
        load_runs([run_dir])
    assert str(err.value) == expected
    assert main(["report", str(run_dir)]) == 2
    assert one_line_error(capsys, "report") == expected


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage"])
def test_damaged_run_json(run_dir, capsys, how):
    path = damage(run_dir / "run.json", how)
    expected = f"malformed run.json in {str(run_dir)!r}: {json_why(path, how)}"
    with pytest.raises(ValueError) as err:
        rljax.load_policy(run_dir, 0)
    assert str(err.value) == expected
    with pytest.raises(ValueError) as err:
        rljax.train("q_learning", "Taxi-v3", out=run_dir, resume=True, **RUN)
    assert str(err.value) == expected
    assert main(["train", *CLI_RUN, "--resume", str(run_dir)]) == 2
    assert one_line_error(capsys, "train") == expected
    assert main(["render", str(run_dir), "--seed", "0", "--out", str(run_dir / "a.gif")]) == 2
    assert one_line_error(capsys, "render") == expected
    assert not (run_dir / ".rljax.lock").exists() and not (run_dir / "a.gif").exists()


def test_run_json_that_is_not_an_object(run_dir):
    (run_dir / "run.json").write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=r"^malformed run\.json in '.*': expected a JSON object, got list$"):
        rljax.load_policy(run_dir, 0)


# --------------------------------------------------------------------------- metrics.csv

METRICS_WHY = {
    "empty": "empty file (expected the header seed,config,step,metric,value)",
    "truncated": "the last row has no line end (truncated?)",
    "garbage": "not UTF-8 text (corrupted?)",
}


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage", "bad row"])
def test_damaged_metrics_csv(run_dir, tmp_path, capsys, how):
    path = run_dir / "metrics.csv"
    if how == "bad row":
        lines = path.read_text().splitlines(keepends=True)
        lines[5] = "0,0,400,eval_ret\n"
        path.write_text("".join(lines))
        why = "line 6: not a row of seed,config,step,metric,value"
    else:
        damage(path, how)
        why = METRICS_WHY[how]
    expected = f"malformed metrics.csv in {str(run_dir)!r}: {why}"
    (run,) = load_runs([run_dir])  # the summary is fine: the table is read when the curves are
    with pytest.raises(ValueError) as err:
        run.curves
    assert str(err.value) == expected
    assert main(["report", str(run_dir), "--plot", str(tmp_path / "curves.png")]) == 2
    assert one_line_error(capsys, "report") == expected
    assert not (tmp_path / "curves.png").exists()


def test_resume_rewrites_a_damaged_metrics_csv(finished, run_dir):
    """The checkpoint holds every segment's metrics: a resumed run's table is whole again."""
    damage(run_dir / "metrics.csv", "truncated")
    rljax.train("q_learning", "Taxi-v3", out=run_dir, resume=True, **RUN)
    assert (run_dir / "metrics.csv").read_text() == (finished[0] / "metrics.csv").read_text()


# --------------------------------------------------------------------------- agent_state.msgpack

MSGPACK_WHY = {
    "empty": "empty file",
    "truncated": "ends early (truncated?)",
    "garbage": "not msgpack data (corrupted?)",
    "flipped": "checksum mismatch (corrupted?)",
}


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage", "flipped"])
def test_damaged_agent_state(run_dir, capsys, how):
    damage(run_dir / "agent_state.msgpack", how)
    expected = f"malformed agent_state.msgpack in {str(run_dir)!r}: {MSGPACK_WHY[how]}"
    with pytest.raises(ValueError) as err:
        rljax.load_policy(run_dir, 1)
    assert str(err.value) == expected
    assert main(["render", str(run_dir), "--seed", "1", "--out", str(run_dir / "a.gif")]) == 2
    assert one_line_error(capsys, "render") == expected


# --------------------------------------------------------------------------- checkpoints


def fallback_line(run_dir, why):
    return (
        f"rljax: malformed checkpoint.msgpack in {str(run_dir)!r}: {why}; resuming from the previous "
        f"checkpoint, checkpoint.prev.msgpack (after segment 3); the damaged one is now checkpoint.damaged.msgpack"
    )


def test_a_finished_run_keeps_the_previous_checkpoint(finished):
    folder = finished[0]
    assert (folder / "checkpoint.msgpack").is_file() and (folder / "checkpoint.prev.msgpack").is_file()
    assert not (folder / ".rljax.lock").exists()


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage", "flipped"])
def test_resume_falls_back_to_the_previous_checkpoint(finished, run_dir, capsys, how):
    straight = finished[1]
    damage(run_dir / "checkpoint.msgpack", how)
    capsys.readouterr()
    resumed = rljax.train("q_learning", "Taxi-v3", out=run_dir, resume=True, **RUN)
    assert capsys.readouterr().err.strip().splitlines() == [fallback_line(run_dir, MSGPACK_WHY[how])]
    np.testing.assert_array_equal(resumed.final_eval_return, straight.final_eval_return)
    np.testing.assert_array_equal(resumed.metrics["eval_return"], straight.metrics["eval_return"])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["final_eval_return"] == [float(r) for r in straight.final_eval_return]
    assert (run_dir / "metrics.csv").read_text() == (finished[0] / "metrics.csv").read_text()
    assert (run_dir / "checkpoint.damaged.msgpack").is_file()


def test_resume_with_both_checkpoints_damaged_is_a_one_line_error(run_dir, capsys):
    damage(run_dir / "checkpoint.msgpack", "garbage")
    damage(run_dir / "checkpoint.prev.msgpack", "truncated")
    expected = (
        f"malformed checkpoint.msgpack in {str(run_dir)!r}: not msgpack data (corrupted?); the previous "
        f"checkpoint is damaged too: malformed checkpoint.prev.msgpack in {str(run_dir)!r}: ends early (truncated?)"
    )
    with pytest.raises(ValueError) as err:
        rljax.train("q_learning", "Taxi-v3", out=run_dir, resume=True, **RUN)
    assert str(err.value) == expected
    assert main(["train", *CLI_RUN, "--resume", str(run_dir)]) == 2
    assert one_line_error(capsys, "train") == expected
    # nothing was moved or rewritten, and the folder is not left locked
    assert not (run_dir / "checkpoint.damaged.msgpack").exists()
    assert (run_dir / "checkpoint.msgpack").read_bytes() == GARBAGE
    assert not (run_dir / ".rljax.lock").exists()


# The rotation itself, on small hand-made states (no training).


def state(value):
    return {"a": np.full((3,), value, np.float32), "b": np.arange(4, dtype=np.int32)}


def history(n):
    return [{"eval_return": np.full((2,), float(i))} for i in range(n)]


def test_each_save_keeps_the_one_before(tmp_path):
    for i in range(1, 4):
        save_checkpoint(tmp_path, state(i), history(i), [float(i)] * i)
    newest = load_checkpoint(tmp_path, state(0))
    assert len(newest.history) == 3 and newest.state["a"][0] == 3
    (tmp_path / "checkpoint.msgpack").unlink()
    previous = load_checkpoint(tmp_path, state(0))  # newest gone (a crash between renames): the previous
    assert len(previous.history) == 2 and previous.state["a"][0] == 2


def test_missing_newest_falls_back_saying_so(tmp_path, capsys):
    save_checkpoint(tmp_path, state(1), history(1))
    save_checkpoint(tmp_path, state(2), history(2))
    (tmp_path / "checkpoint.msgpack").unlink()
    assert len(load_checkpoint(tmp_path, state(0)).history) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"rljax: no checkpoint.msgpack in {str(tmp_path)!r}; resuming from the previous checkpoint, "
        f"checkpoint.prev.msgpack (after segment 1)"
    ]


def test_the_save_after_a_fallback_keeps_the_good_previous_checkpoint(tmp_path):
    save_checkpoint(tmp_path, state(1), history(1))
    save_checkpoint(tmp_path, state(2), history(2))
    damage(tmp_path / "checkpoint.msgpack", "empty")
    assert len(load_checkpoint(tmp_path, state(0)).history) == 1
    save_checkpoint(tmp_path, state(3), history(3))
    # the damaged file was moved aside, so this save did not rotate it over the good one
    assert len(load_checkpoint(tmp_path, state(0)).history) == 3
    (tmp_path / "checkpoint.msgpack").unlink()
    assert len(load_checkpoint(tmp_path, state(0)).history) == 1


def test_a_checkpoint_of_another_shape_is_still_an_error(tmp_path):
    save_checkpoint(tmp_path, state(1), history(1))
    other = {"a": np.zeros((5,), np.float32), "b": np.arange(4, dtype=np.int32)}
    with pytest.raises(ValueError, match="does not match this run's state") as err:
        load_checkpoint(tmp_path, other)
    assert not isinstance(err.value, DamagedFile)


def test_a_checkpoint_without_a_training_state(tmp_path):
    from rljax.runs.files import _pack

    (tmp_path / "checkpoint.msgpack").write_bytes(_pack({"history": []}))
    with pytest.raises(DamagedFile) as err:
        load_checkpoint(tmp_path, state(0))
    assert str(err.value) == (
        f"malformed checkpoint.msgpack in {str(tmp_path)!r}: not an rljax checkpoint (no training state in it)"
    )


def test_an_older_checkpoint_without_checksum_still_loads(tmp_path):
    from flax import serialization

    payload = {
        "segments_done": 1,
        "state": {"0": state(7)["a"], "1": state(7)["b"]},
        "history": [{"eval_return": np.zeros(2)}],
        "segment_seconds": np.asarray([1.5]),
    }
    (tmp_path / "checkpoint.msgpack").write_bytes(serialization.msgpack_serialize(payload))
    restored = load_checkpoint(tmp_path, state(0))
    assert restored.state["a"][0] == 7 and restored.segment_seconds == [1.5]


@pytest.mark.parametrize(
    "text, why",
    [
        ('{"a": [1,\n    nu', "ends early (truncated?)"),  # cut inside null
        ('{"a": [1,\n  -', "ends early (truncated?)"),  # cut inside a number
        ('{"a": tr', "ends early (truncated?)"),
        ('{"a": [1,\n  ', "ends early (truncated?)"),
        ('{"a": "cut', "ends early (truncated?)"),
        ('{"a": x}', "not valid JSON"),
        ('{"a": nul}', "not valid JSON"),  # a broken literal with text after it is not a cut
    ],
)
def test_a_json_file_cut_inside_a_literal_reads_as_truncated(tmp_path, text, why):
    (tmp_path / "summary.json").write_text(text)
    with pytest.raises(ValueError, match=r"^malformed summary.json in .*: " + re.escape(why)):
        load_runs([tmp_path])


def test_a_checkpoint_is_written_array_by_array_with_the_bytes_and_checksum_of_one_blob(tmp_path, monkeypatch):
    """save_checkpoint streams the state (one array's host copy at a time) into the same bytes
    _pack(payload) would hold whole: the same body and SHA-256, so every reader and check is unchanged."""
    from flax import serialization

    from rljax.runs import checkpoints
    from rljax.runs.files import _pack

    state = {"params": [np.arange(i + 3, dtype=np.float32) for i in range(12)], "step": np.int32(7)}
    history = [{"eval_return": np.arange(4.0) + k} for k in range(3)]
    copies = []
    original = np.asarray

    def counting(x, *a, **k):  # host copies made from the state's arrays, in the order they are made
        out = original(x, *a, **k)
        if any(x is leaf for leaf in state["params"]):
            copies.append(out.nbytes)
        return out

    monkeypatch.setattr(checkpoints.np, "asarray", counting)
    save_checkpoint(tmp_path, state, history, [1.0, 2.0, 3.0])
    monkeypatch.setattr(checkpoints.np, "asarray", original)
    assert len(copies) == 12  # one copy per array, made as it is written
    import jax

    payload = {"state": {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}}
    payload.update(checkpoints._progress(history, [1.0, 2.0, 3.0]))
    whole = serialization.msgpack_restore(_pack(payload))
    streamed = serialization.msgpack_restore((tmp_path / "checkpoint.msgpack").read_bytes())
    assert b"".join(streamed["body"]) == b"".join(whole["body"]) and streamed["sha256"] == whole["sha256"]
    restored = load_checkpoint(tmp_path, jax.eval_shape(lambda: state))
    jax.tree.map(np.testing.assert_array_equal, restored.state, state)
    assert len(restored.history) == 3 and restored.segment_seconds == [1.0, 2.0, 3.0]


def test_a_background_checkpoint_writes_a_copy_while_the_caller_goes_on(tmp_path, monkeypatch):
    import threading

    import rljax.runs.checkpoints as checkpoints

    release, real = threading.Event(), checkpoints.save_checkpoint

    def slow(*args):  # a write that takes until the test releases it
        release.wait(30)
        real(*args)

    monkeypatch.setattr(checkpoints, "save_checkpoint", slow)
    writer = checkpoints.BackgroundCheckpoints(tmp_path)
    live = state(1)
    writer.save(live, history(1), [1.0])  # returns while the write waits
    live["a"][:] = 99  # the caller's next segment updates the state in place
    assert not (tmp_path / "checkpoint.msgpack").exists()
    release.set()
    writer.wait()
    saved = load_checkpoint(tmp_path, state(0))
    assert saved.state["a"][0] == 1 and len(saved.history) == 1  # the state as it was at save()


def test_a_background_checkpoint_of_sharded_arrays_reuses_its_host_copy(tmp_path):
    """The state of a 2-device run: copied shard by shard, into the previous save's host arrays."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from rljax.runs.checkpoints import BackgroundCheckpoints

    sharding = NamedSharding(Mesh(np.array(jax.devices()[:2]), ("lanes",)), PartitionSpec("lanes"))
    live = {"a": jax.device_put(np.arange(8.0).reshape(4, 2), sharding), "b": jax.numpy.int32(3)}
    writer = BackgroundCheckpoints(tmp_path)
    writer.save(live, history(1))
    first = writer._host["a"]
    writer.save({"a": live["a"] * 10, "b": live["b"]}, history(2))
    writer.wait()
    assert writer._host["a"] is first  # the same host memory, written again
    saved = load_checkpoint(tmp_path, jax.eval_shape(lambda: live))
    np.testing.assert_array_equal(saved.state["a"], np.arange(8.0).reshape(4, 2) * 10)
    assert int(saved.state["b"]) == 3 and len(saved.history) == 2


def test_a_background_checkpoints_error_reaches_the_caller(tmp_path, monkeypatch):
    import rljax.runs.checkpoints as checkpoints
    from rljax.runs.files import WriteFailed

    def full(*args):
        raise WriteFailed(28, "cannot write checkpoint.msgpack: No space left on device")

    monkeypatch.setattr(checkpoints, "save_checkpoint", full)
    writer = checkpoints.BackgroundCheckpoints(tmp_path)
    writer.save(state(1), history(1))
    with pytest.raises(WriteFailed, match="No space left"):
        writer.wait()
    writer.wait()  # raised once


def test_an_arrays_pieces_join_to_flaxs_bytes():
    """Checkpoints write an array's memory as it is: the pieces must be exactly flax's encoding,
    across msgpack's length forms (fixext 1-16, ext and bin 8 / 16 / 32) and dtypes."""
    import ml_dtypes

    from rljax.runs.files import map_entry, map_entry_pieces

    rng = np.random.default_rng(0)
    cases = [np.zeros(()), np.zeros((0,), np.int32), np.array(True), np.ones((2, 3), ml_dtypes.bfloat16)]
    cases += [np.arange(12, dtype=np.int64).reshape(3, 4).T, rng.normal(size=(70_000,)).astype(np.float32)]
    cases += [np.zeros((n,), np.uint8) for n in (*range(18), 230, 250, 255, 256, 65_520, 65_535, 65_536, 70_000)]
    for a in cases:
        pieces = map_entry_pieces("7", a)
        assert b"".join(bytes(p) for p in pieces) == map_entry("7", a), (a.shape, a.dtype)
    assert isinstance(map_entry_pieces("0", rng.normal(size=(1000,)))[-1], memoryview)  # not copied
