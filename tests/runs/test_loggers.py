"""``--log tensorboard|wandb``: events read back, per seed, at the steps of ``metrics.csv``."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from rljax.analysis.stats import iqm
from rljax.cli import main
from rljax.cli.args import LOG_CHOICES
from rljax.runs import loggers

TINY = ["--eval-episodes", "5", "--no-progress", "--fast-compile"]


def accumulator(folder: Path) -> EventAccumulator:
    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return ea


def scalars(ea: EventAccumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in ea.Scalars(tag)}


def csv_metric(run: Path, metric: str) -> dict[int, dict[int, float]]:
    """``{seed: {step: value}}`` of one metric in ``metrics.csv``."""
    out: dict[int, dict[int, float]] = {}
    with open(run / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row["metric"] == metric:
                out.setdefault(int(row["seed"]), {})[int(row["step"])] = float(row["value"])
    return out


def session_hparams(ea: EventAccumulator) -> dict[str, object]:
    content = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}


@pytest.fixture(scope="module")
def tb_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tb") / "run"
    argv = ["train", "q_learning", "--env", "FrozenLake-v1", "--seed-list", "0,3,4", "--out", str(out)]
    assert main([*argv, "--total-steps", "3000", "--set", "learning_rate=0.3", "--log", "tensorboard", *TINY]) == 0
    return out


def test_every_seeds_eval_return_is_in_tensorboard_at_its_env_steps(tb_run):
    expected = csv_metric(tb_run, "eval_return")
    assert sorted(expected) == [0, 3, 4]
    steps = sorted(expected[0])
    assert len(steps) >= 5 and steps[0] > 0  # one evaluation per segment, at the segment's end
    for seed, by_step in expected.items():
        got = scalars(accumulator(tb_run / "tensorboard" / f"seed_{seed}"), "eval_return")
        assert sorted(got) == sorted(by_step)
        np.testing.assert_allclose([got[s] for s in steps], [by_step[s] for s in steps], rtol=1e-6)


def test_tensorboard_has_the_training_metrics_and_the_across_seed_mean_and_iqm(tb_run):
    seed_run = accumulator(tb_run / "tensorboard" / "seed_3")
    # FrozenLake's Q-learning reports these; every metrics.csv metric but diverged_at is a tag.
    for tag in ("train_episode_return", "epsilon", "abs_td_error", "eval_return_std"):
        assert tag in seed_run.Tags()["scalars"], tag
    assert "diverged_at" not in seed_run.Tags()["scalars"]
    epsilon = csv_metric(tb_run, "epsilon")[3]
    got = scalars(seed_run, "epsilon")
    np.testing.assert_allclose([got[s] for s in sorted(epsilon)], [epsilon[s] for s in sorted(epsilon)], rtol=1e-6)

    per_seed = csv_metric(tb_run, "eval_return")
    steps = sorted(per_seed[0])
    table = np.array([[per_seed[s][t] for t in steps] for s in (0, 3, 4)])
    mean = scalars(accumulator(tb_run / "tensorboard" / "mean"), "eval_return")
    robust = scalars(accumulator(tb_run / "tensorboard" / "iqm"), "eval_return")
    np.testing.assert_allclose([mean[t] for t in steps], table.mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose([robust[t] for t in steps], iqm(table, axis=0), rtol=1e-5, atol=1e-7)


def test_tensorboard_records_the_hyperparameters_of_every_seed(tb_run):
    for seed in (0, 3, 4):
        hparams = session_hparams(accumulator(tb_run / "tensorboard" / f"seed_{seed}"))
        assert hparams["seed"] == seed
        assert hparams["agent"] == "q_learning" and hparams["env"] == "FrozenLake-v1"
        assert hparams["learning_rate"] == pytest.approx(0.3)
        assert hparams["total_steps"] == json.loads((tb_run / "summary.json").read_text())["env_steps_per_seed"]
    text = accumulator(tb_run / "tensorboard" / "mean").Tensors("config")[0].tensor_proto.string_val[0].decode()
    assert '"learning_rate": 0.3' in text


def test_sweep_logs_each_configuration_in_its_own_folder(tmp_path):
    out = tmp_path / "sweep"
    argv = ["sweep", "q_learning", "--env", "FrozenLake-v1", "--seeds", "2", "--out", str(out)]
    assert main([*argv, "--grid", "lr=0.1,0.5", "--total-steps", "1500", "--log", "tensorboard", *TINY]) == 0
    for label, lr in (("learning_rate=0.1", 0.1), ("learning_rate=0.5", 0.5)):
        expected = csv_metric(out / label, "eval_return")
        for seed in (0, 1):
            ea = accumulator(out / label / "tensorboard" / f"seed_{seed}")
            assert session_hparams(ea)["learning_rate"] == pytest.approx(lr)
            got = scalars(ea, "eval_return")
            assert sorted(got) == sorted(expected[seed])
            np.testing.assert_allclose([got[t] for t in sorted(got)], [expected[seed][t] for t in sorted(got)])


def wandb_records(path: Path) -> list[bytes]:
    """The protobuf records of a ``.wandb`` file (LevelDB log format: 32 KiB blocks, 7-byte headers)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, records, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # too little room for a header: the block is padded
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        if kind == 0:  # padding to the end of the block
            pos += left
            continue
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL, LAST
            records.append(pending)
            pending = b""
    return records


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)  # W&B stores keys with a "/" as nested keys


def test_a_wandb_offline_run_writes_its_files_with_every_seeds_eval_return(tmp_path, monkeypatch):
    from wandb.proto import wandb_internal_pb2

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    argv = ["train", "q_learning", "--env", "FrozenLake-v1", "--seed-list", "1,2", "--out", str(out)]
    assert main([*argv, "--total-steps", "1500", "--log", "wandb", *TINY]) == 0
    files = list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    expected = csv_metric(out, "eval_return")
    # W&B's service process writes the .wandb file on its own: run.finish() can return
    # before the last records reach the disk (seen once on the loaded CI machine: 13 of 21
    # history records). The service finishes the file shortly after, so read until it has
    # one history record per segment, or 60 s have passed.
    deadline = time.monotonic() + 60
    while True:
        history, config = [], {}
        for raw in wandb_records(files[0]):
            record = wandb_internal_pb2.Record.FromString(raw)
            if record.WhichOneof("record_type") == "history":
                history.append({_key(item): json.loads(item.value_json) for item in record.history.item})
            elif record.WhichOneof("record_type") == "run":  # the run's config comes with the run record
                config.update({_key(item): json.loads(item.value_json) for item in record.run.config.update})
        if len(history) >= len(expected[1]) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for seed in (1, 2):
        got = {h[f"seed_{seed}/env_step"]: h[f"seed_{seed}/eval_return"] for h in history}
        assert sorted(got) == sorted(expected[seed])
        np.testing.assert_allclose([got[t] for t in sorted(got)], [expected[seed][t] for t in sorted(got)], rtol=1e-6)
    assert "mean/eval_return" in history[-1] and "iqm/eval_return" in history[-1]
    assert config["agent"] == "q_learning" and config["env"] == "FrozenLake-v1"
    assert config["total_steps"] == json.loads((out / "summary.json").read_text())["env_steps_per_seed"]


@pytest.mark.parametrize("kind", ["tensorboard", "wandb"])
def test_a_missing_extra_is_a_one_line_error_before_anything_is_written(tmp_path, monkeypatch, capsys, kind):
    # A None entry in sys.modules makes `import kind` raise ImportError, as if not installed.
    for name in list(sys.modules):
        if name == kind or name.startswith(kind + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, kind, None)
    out = tmp_path / "run"
    command = ["train", "q_learning", "--env", "FrozenLake-v1", "--out", str(out), "--log", kind, *TINY]
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"pip install rljax[{kind}]" in err
    assert not out.exists()
    sweep = ["sweep", "q_learning", "--env", "FrozenLake-v1", "--grid", "lr=0.1,0.2", "--out", str(out)]
    assert main([*sweep, "--log", kind, *TINY]) == 2
    assert f"pip install rljax[{kind}]" in capsys.readouterr().err and not out.exists()


def test_the_command_line_offers_exactly_the_loggers_there_are():
    assert LOG_CHOICES == loggers.LOG_CHOICES


def fake_segment(steps: list[int], **metrics: list[float]) -> dict[str, np.ndarray]:
    return {"env_steps": np.array(steps, np.int32), **{k: np.array(v, np.float32) for k, v in metrics.items()}}


def test_nan_values_are_left_out_and_aggregates_use_the_finite_seeds(tmp_path):
    with loggers.SegmentLogger("tensorboard", [tmp_path], [0, 1, 2], [{"lr": 0.1}]) as log:
        log(0, fake_segment([100, 100, 100], loss=[np.nan, 2.0, 4.0], eval_return=[1.0, 2.0, 9.0]))
        log(1, fake_segment([200, 200, 200], loss=[1.0, 1.0, np.nan], eval_return=[3.0, 3.0, 3.0]))
    assert scalars(accumulator(tmp_path / "tensorboard" / "seed_0"), "loss") == {200: 1.0}
    assert scalars(accumulator(tmp_path / "tensorboard" / "mean"), "loss") == {100: 3.0, 200: 1.0}
    assert scalars(accumulator(tmp_path / "tensorboard" / "mean"), "eval_return") == {100: 4.0, 200: 3.0}


def test_a_resumed_run_replaces_what_the_interrupted_one_logged_past_its_checkpoint(tmp_path):
    with loggers.SegmentLogger("tensorboard", [tmp_path], [0], [{}]) as log:
        for i in range(4):  # the interrupted run got to segment 3; its checkpoint was after segment 1
            log(i, fake_segment([100 * (i + 1)], eval_return=[float(i)]))
    # Event files are read in name order, which starts with the whole second they were opened.
    time.sleep(1.1)
    with loggers.SegmentLogger("tensorboard", [tmp_path], [0], [{}], resume=True) as log:
        for i in range(2, 5):
            log(i, fake_segment([100 * (i + 1)], eval_return=[10.0 + i]))
    got = scalars(accumulator(tmp_path / "tensorboard" / "seed_0"), "eval_return")
    assert got == {100: 0.0, 200: 1.0, 300: 12.0, 400: 13.0, 500: 14.0}


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 16, 33])
def test_the_loggers_iqm_is_rljax_stats_iqm(n):
    rows = np.random.default_rng(n).normal(size=(3, n))
    np.testing.assert_allclose(loggers._iqm_rows(rows), [iqm(r) for r in rows], rtol=1e-12)


def test_with_a_threshold_each_seed_logs_whether_it_stays_solved(tmp_path):
    """Seed 0 touches 475 and falls back, then holds; seed 1 never touches it; seed 2 holds from the start."""
    returns = [[100.0, 480.0, 300.0, 476.0, 490.0, 500.0], [10.0] * 6, [500.0] * 6]
    with loggers.SegmentLogger("tensorboard", [tmp_path], [0, 1, 2], [{}], threshold=475.0) as log:
        for i in range(6):
            log(i, fake_segment([100 * (i + 1)] * 3, eval_return=[r[i] for r in returns]))
    tb = tmp_path / "tensorboard"
    seed0 = accumulator(tb / "seed_0")
    assert list(scalars(seed0, "at_threshold").values()) == [0.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    # not logged before the first touch; the last value is summary.json's fraction_held_after_first (4/5)
    held = scalars(seed0, "held_since_first")
    assert sorted(held) == [200, 300, 400, 500, 600]
    np.testing.assert_allclose(list(held.values()), [1.0, 1 / 2, 2 / 3, 3 / 4, 4 / 5], rtol=1e-6)
    assert "held_since_first" not in accumulator(tb / "seed_1").Tags()["scalars"]
    assert list(scalars(accumulator(tb / "seed_2"), "held_since_first").values()) == [1.0] * 6
    solved = scalars(accumulator(tb / "mean"), "at_threshold")  # the fraction of seeds solved
    np.testing.assert_allclose(list(solved.values()), [1 / 3, 2 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3], rtol=1e-6)


def test_a_resumed_run_counts_the_evaluations_before_its_checkpoint(tmp_path):
    """The held fraction continues from metrics.csv's evaluations, as an uninterrupted run's would."""
    with open(tmp_path / "metrics.csv", "w") as f:
        f.write("seed,config,step,metric,value\n0,0,100,eval_return,480.0\n0,0,200,eval_return,300.0\n")
        f.write("0,0,300,eval_return,999.0\n")  # past the checkpoint: trained again below, not counted
    with loggers.SegmentLogger("tensorboard", [tmp_path], [0], [{}], resume=True, threshold=475.0) as log:
        log(2, fake_segment([300], eval_return=[476.0]))
    held = scalars(accumulator(tmp_path / "tensorboard" / "seed_0"), "held_since_first")
    np.testing.assert_allclose(list(held.values()), [2 / 3], rtol=1e-6)
