"""``rljax train``: the summary.json contract, reproducibility, and bad input."""

import json
import subprocess
import sys

import pytest

from rljax.cli import main

TINY = ["--total-steps", "2000", "--eval-episodes", "10", "--no-progress", "--fast-compile"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rljax.cli", *args], capture_output=True, text=True, timeout=600)


def test_train_writes_the_contract_and_is_reproducible(tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        rc = main(
            [
                "train",
                "q_learning",
                "--env",
                "Chain",
                "--seed-list",
                "3,5",
                "--out",
                str(out),
                "--set",
                "gamma=0.9",
                *TINY,
            ]
        )
        assert rc == 0
    a, b = (json.loads((o / "summary.json").read_text()) for o in outs)
    assert a["agent"] == "q_learning" and a["env"] == "Chain" and a["seeds"] == [3, 5]
    assert len(a["final_eval_return"]) == 2 and a["eval_episodes"] == 10
    assert a["env_steps_per_seed"] == 2000
    assert a["config"]["gamma"] == 0.9 and a["config"]["learning_rate"] == 0.1
    assert {"rljax", "jax", "device"} <= set(a["versions"])
    assert a["compile_time_s"] > 0 and a["train_time_s"] > 0
    # the same command gives the same numbers
    assert a["final_eval_return"] == b["final_eval_return"]
    for name in ("curves.png", "metrics.csv", "manifest.json", "config.json"):
        assert (outs[0] / name).stat().st_size > 0
    header, *rows = (outs[0] / "metrics.csv").read_text().splitlines()
    assert header == "seed,config,step,metric,value"
    assert {r.split(",")[0] for r in rows} == {"3", "5"}
    # and a seed's numbers do not depend on the others: seed 5 alone
    rc = main(
        [
            "train",
            "q_learning",
            "--env",
            "Chain",
            "--seed-list",
            "5",
            "--out",
            str(tmp_path / "c"),
            "--set",
            "gamma=0.9",
            *TINY,
        ]
    )
    c = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert rc == 0 and c["final_eval_return"] == a["final_eval_return"][1:]


@pytest.mark.parametrize(
    "args,message",
    [
        (["nope", "--env", "Chain"], "unknown agent"),
        (["q_learning", "--env", "CartPole-v1"], "discrete observations"),
        (["q_learning", "--env", "Chain", "--set", "learning_rate=0"], "learning_rate"),
        (["q_learning", "--env", "Chain", "--set", "learning_rate=-0.5"], "learning_rate"),
        (["q_learning", "--env", "Chain", "--set", "gamma=1.1"], "gamma"),
        (["q_learning", "--env", "Chain", "--set", "epsilon_start=2"], "epsilon_start"),
        (["q_learning", "--env", "Chain", "--seeds", "0"], "--seeds"),
        (["q_learning", "--env", "Chain", "--set", "colour=red"], "unknown hyperparameter"),
        (["q_learning", "--env", "Chain", "--set", "gamma"], "key=value"),
        (["q_learning", "--env", "Chain", "--set", "gamma=abc"], "cannot parse"),
        (["q_learning", "--env", "NoSuchEnv-v0"], "unknown environment id"),
        (["q_learning", "--env", "FrozenLake-v1", "--env-arg", "map_name=5x5"], "map"),
    ],
)
def test_bad_input_is_a_clear_error_and_leaves_no_folder(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    rc = main(["train", *args, "--out", str(out), *TINY])
    err = capsys.readouterr().err
    assert rc != 0
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_existing_output_folder_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    rc = main(["train", "q_learning", "--env", "Chain", "--out", str(out), *TINY])
    assert rc != 0 and "already exists" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"
    rc = main(["train", "q_learning", "--env", "Chain", "--out", str(out), "--overwrite", *TINY])
    assert rc == 0 and (out / "summary.json").exists() and not (out / "keep.txt").exists()


def test_console_entry_point_exit_code():
    proc = run_cli("train", "q_learning", "--env", "Chain", "--seeds", "0", "--out", "/nonexistent/x")
    assert proc.returncode != 0 and "--seeds must be >= 1" in proc.stderr
