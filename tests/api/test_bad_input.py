"""Bad command lines, as a new user types them: each is one line of error, exit code 2, nothing written.

Every row is ``(command line, words the error must contain)``; ``{tmp}`` is the test's
temporary folder. The folder's contents are compared before and after: a refused
command may not create, change or delete anything.
"""

import pytest

from rljax.cli import main

TRAIN = ["--total-steps", "400", "--eval-episodes", "2", "--no-progress"]
OUT = ["--out", "{tmp}/out"]

CASES = [
    # --- train: names ---
    (["train", "nope", "--env", "Chain", *OUT], "unknown agent 'nope'"),
    (["train", "q_learning", "--env", "NoSuchEnv-v0", *OUT], "unknown environment id 'NoSuchEnv-v0'"),
    (["train", "q_learning", "--env", "CartPole-v1", *OUT], "need discrete observations"),
    (["train", "dqn", "--env", "Pendulum-v1", *OUT], "discrete"),
    # --- train: hyperparameters ---
    (["train", "q_learning", "--env", "Chain", "--set", "learning_rate=0", *OUT], "learning_rate"),
    (["train", "q_learning", "--env", "Chain", "--set", "lr=1.5", *OUT], "learning_rate"),
    (["train", "q_learning", "--env", "Chain", "--set", "gamma=1.1", *OUT], "gamma"),
    (["train", "q_learning", "--env", "Chain", "--set", "epsilon_start=2", *OUT], "epsilon_start"),
    (["train", "q_learning", "--env", "Chain", "--set", "colour=red", *OUT], "unknown hyperparameter 'colour'"),
    (["train", "q_learning", "--env", "Chain", "--set", "gamma", *OUT], "--set expects key=value"),
    (["train", "q_learning", "--env", "Chain", "--set", "gamma=abc", *OUT], "cannot parse gamma='abc'"),
    (["train", "q_learning", "--env", "Chain", "--set", "epsilon_schedule=cosine", *OUT], "epsilon_schedule"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "batch_size=0", *OUT], "batch_size must be >= 1"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "hidden_sizes=(0,)", *OUT], "hidden_sizes"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "loss=l3", *OUT], "loss"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "torso=cnn", *OUT], "torso='cnn' needs"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "torso=embedding", *OUT], "torso='embedding' needs"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "buffer_size=10", *OUT], "buffer_size"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "learning_starts=10", *OUT], "learning_starts"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "tau=0", *OUT], "tau"),
    (["train", "reinforce", "--env", "CartPole-v1", "--set", "activation=sigmoid", *OUT], "activation"),
    # --- train: environment options ---
    (["train", "q_learning", "--env", "FrozenLake-v1", "--env-arg", "map_name=5x5", *OUT], "map_name '5x5'"),
    (["train", "q_learning", "--env", "FrozenLake-v1", "--env-arg", "foo=1", *OUT], "its options: map_name"),
    (["train", "dqn", "--env", "CartPole-v1", "--env-arg", "foo=1", *OUT], "unknown option(s) 'foo' for CartPole"),
    (["train", "dqn", "--env", "Breakout-MinAtar", "--env-arg", "foo=1", *OUT], "use_minimal_action_set"),
    (["train", "q_learning", "--env", "CartPole-v1", "--env-arg", "discretize=nope", *OUT], "discretize"),
    (["train", "q_learning", "--env", "Chain", "--env-arg", "length", *OUT], "--env-arg expects key=value"),
    (["train", "q_learning", "--env", "Chain", "--env-arg", "length=abc", *OUT], "Chain option length='abc' must be"),
    (["train", "q_learning", "--env", "Chain", "--env-arg", "length=-1", *OUT], "length must be >= 3"),
    (["train", "q_learning", "--env", "FrozenLake-v1", "--env-arg", "is_slippery=maybe", *OUT], "True or False"),
    (["train", "q_learning", "--env", "GridMaze", "--env-arg", "foo=1", *OUT], "its options: layout"),
    (["train", "dqn", "--env", "CartPole-v1", "--env-arg", "gravity=abc", *OUT], "gravity='abc' must be a finite"),
    (["train", "dqn", "--env", "CartPole-v1", "--env-arg", "gravity=1e400", *OUT], "gravity=inf must be a finite"),
    (["train", "dqn", "--env", "Acrobot-v1", "--env-arg", "link_mass_1=True", *OUT], "link_mass_1=True must be"),
    (["train", "dqn", "--env", "Acrobot-v1", "--env-arg", "link_mass_1=0", *OUT], "link_mass_1=0 must be > 0"),
    (["train", "dqn", "--env", "CartPole-v1", "--env-arg", "max_steps_in_episode=0", *OUT], "in [1, 2,147,483,647]"),
    (["train", "dqn", "--env", "CartPole-v1", "--env-arg", "max_steps_in_episode=9.5", *OUT], "must be an integer"),
    (["train", "dqn", "--env", "MountainCar-v0", "--env-arg", "foo=1", *OUT], "its options: max_steps_in_episode"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "env.gravity=x", *OUT], "gravity='x' must be a finite"),
    (["train", "q_learning", "--env", "TabularMDP", *OUT], "TabularMDP needs both T"),
    (["train", "ppo", "--env", "brax/hopper", "--env-arg", "backend=bullet", *OUT], "backend='bullet' must be one of"),
    (["train", "ppo", "--env", "brax/hopper", "--env-arg", "foo=1", *OUT], "its options: backend, max_steps"),
    (["train", "sac", "--env", "brax/hopper", "--env-arg", "reset_noise_scale=x", *OUT], "must be a finite number"),
    (["train", "sac", "--env", "brax/hopper", "--env-arg", "healthy_z_range=(1,0)", *OUT], "2 numbers, low <= high"),
    (["train", "sac", "--env", "brax/hopper", "--env-arg", "max_steps_in_episode=0", *OUT], "in [1, 2,147,483,647]"),
    (["train", "dqn", "--env", "brax/inverted_pendulum", *OUT], "discrete"),
    # --- train: non-finite and mistyped values ---
    (["train", "q_learning", "--env", "Chain", "--set", "gamma=nan", *OUT], "gamma must be in [0.0, 1.0]; got nan"),
    (["train", "q_learning", "--env", "Chain", "--set", "learning_rate=inf", *OUT], "got inf"),
    (["train", "q_learning", "--env", "Chain", "--set", "learning_rate=1e400", *OUT], "got inf"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "num_envs=0", *OUT], "num_envs must be >= 1"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "num_envs=2.5", *OUT], "cannot parse num_envs='2.5' as int"),
    (["train", "dqn", "--env", "CartPole-v1", "--set", "double_dqn=maybe", *OUT], "as bool"),
    (["train", "ppo", "--env", "CartPole-v1", "--set", "num_minibatches=3", *OUT], "must divide"),
    (["train", "ppo", "--env", "CartPole-v1", "--set", "clip_eps=0", *OUT], "clip_eps must be > 0"),
    (["train", "ppo", "--env", "CartPole-v1", "--set", "num_epochs=0", *OUT], "num_epochs must be >= 1"),
    (["train", "pqn", "--env", "CartPole-v1", "--set", "q_lambda=1.5", *OUT], "q_lambda must be in [0.0, 1.0]"),
    (["train", "pqn", "--env", "Pendulum-v1", *OUT], "needs a discrete action space"),
    (["train", "muzero", "--env", "CartPole-v1", "--set", "num_simulations=0", *OUT], "num_simulations must be >= 1"),
    # --- train: seeds, steps, lanes, devices, cadence ---
    (["train", "q_learning", "--env", "Chain", "--seeds", "0", *OUT], "--seeds must be >= 1"),
    (["train", "q_learning", "--env", "Chain", "--seed-list", "1,1", *OUT], "repeated seeds"),
    (["train", "q_learning", "--env", "Chain", "--seed-list", "a,b", *OUT], "comma-separated integers"),
    (["train", "q_learning", "--env", "Chain", "--seed-list", "-1", *OUT], "non-negative"),
    (["train", "q_learning", "--env", "Chain", "--total-steps", "0", *OUT], "--total-steps must be >= 1"),
    (["train", "q_learning", "--env", "Chain", "--total-steps", "3000000000", *OUT], "total_steps must be <= 2,147"),
    (
        ["train", "dqn", "--env", "CartPole-v1", "--total-steps", "2147483647", "--eval-every", "1000000000", *OUT],
        "rounds up to 3,000,000,000 in whole segments",
    ),
    (["train", "q_learning", "--env", "Chain", "--eval-every", "3000000000", *OUT], "eval_every must be <= 2,147,483"),
    # A state larger than the memory there is (1024 seeds x a 10M-transition replay: ~391 GiB): before compiling.
    (
        ["train", "dqn", "--env", "CartPole-v1", "--seeds", "1024", "--set", "buffer_size=10000000", *OUT],
        "GiB of state",
    ),
    (
        ["sweep", "dqn", "--env", "CartPole-v1", "--seeds", "512", "--set", "buffer_size=10000000"]
        + ["--grid", "learning_rate=0.001,0.002", *OUT],
        "GiB of state",
    ),
    (["train", "q_learning", "--env", "Chain", "--checkpoint-every", "3000000000", *OUT], "checkpoint_every must"),
    (["train", "q_learning", "--env", "Chain", "--seed-list", "1,,2", *OUT], "none empty"),
    (["train", "q_learning", "--env", "Chain", "--seed-list", ",", *OUT], "none empty"),
    (["train", "q_learning", "--env", "Chain", "--seed-list", "4294967296", *OUT], "2**32"),
    (["train", "q_learning", "--env", "Chain", "--set", "gamma=0.9", "--set", "gamma=0.8", *OUT], "'gamma' twice"),
    (["train", "q_learning", "--env", "Chain", "--set", "lr=0.1", "--set", "learning_rate=0.2", *OUT], "twice"),
    (["train", "q_learning", "--env", "Chain", "--env-arg", "length=5", "--env-arg", "length=6", *OUT], "twice"),
    (["train", "q_learning", "--env", "Chain", "--eval-episodes", "0", *OUT], "eval_episodes must be >= 1"),
    (["train", "q_learning", "--env", "Chain", "--eval-every", "0", *OUT], "eval_every must be > 0"),
    (["train", "q_learning", "--env", "Chain", "--lane-width", "0", *OUT], "--lane-width must be >= 1"),
    (["train", "q_learning", "--env", "Chain", "--num-devices", "0", *OUT], "num_devices must be in"),
    (["train", "q_learning", "--env", "Chain", "--num-devices", "99", *OUT], "num_devices must be in"),
    (["train", "q_learning", "--env", "Chain", "--checkpoint-every", "0", *OUT], "--checkpoint-every must be >= 1"),
    (["train", "q_learning", "--env", "Chain", "--watchdog", "-1", *OUT], "--watchdog must be >= 0"),
    # --- train: folders ---
    (["train", "q_learning", "--env", "Chain"], "--out is required"),
    (["train", "q_learning", "--env", "Chain", "--out", "{tmp}/existing"], "already exists"),
    (["train", "q_learning", "--env", "Chain", "--out", "{tmp}/a_file", "--overwrite"], "is not a folder"),
    (["train", "q_learning", "--env", "Chain", "--resume", "{tmp}/missing"], "missing"),
    (["train", "q_learning", "--env", "Chain", "--resume", "{tmp}/existing", "--out", "{tmp}/x"], "--resume DIR"),
    (["train", "q_learning", "--env", "Chain", "--resume", "{tmp}/existing"], "existing"),
    # --- sweep ---
    (["sweep", "q_learning", "--env", "Chain", *OUT], "sweep needs at least one --grid"),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "lr=", *OUT], "--grid expects KEY=V1,V2"),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "lr=0.1,,0.2", *OUT], "no empty values"),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "lr=0.1,abc", *OUT], "cannot parse learning_rate='abc'"),
    (
        ["sweep", "q_learning", "--env", "Chain", "--grid", "lr=0.1", "--grid", "lr=0.2", *OUT],
        "names 'learning_rate' twice",
    ),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "colour=1,2", *OUT], "unknown hyperparameter 'colour'"),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "learning_rate=nan,0.1", *OUT], "got nan"),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "gamma=0.9,inf", *OUT], "got inf"),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "lr=0.1,0.2", "--set", "lr=0.3", *OUT], "give it once"),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "lr=0.1,0", *OUT], "learning_rate"),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "num_envs=1,2", *OUT], "--allow-recompile"),
    (["sweep", "dqn", "--env", "CartPole-v1", "--grid", "env.x_threshold=2,3", *OUT], "--allow-recompile"),
    (["sweep", "dqn", "--env", "CartPole-v1", "--grid", "env.gravity=9.8,nan", *OUT], "gravity='nan' must be"),
    (["sweep", "nope", "--env", "Chain", "--grid", "lr=0.1,0.2", *OUT], "unknown agent 'nope'"),
    (["sweep", "q_learning", "--env", "Chain", "--grid", "lr=0.1,0.2", "--out", "{tmp}/existing"], "already exists"),
    # --- report and render ---
    (["report", "{tmp}/missing"], "missing"),
    (["report", "{tmp}/existing"], "summary.json"),
    (["render", "{tmp}/missing", "--seed", "0", "--out", "{tmp}/a.gif"], "missing"),
    (["render", "{tmp}/existing", "--seed", "0", "--out", "{tmp}/a.gif"], "run.json"),
    (["render", "{tmp}/existing", "--seed", "0", "--out", "{tmp}/a.gif", "--fps", "0"], "fps must be in (0, 50]"),
    (["report", "{tmp}/existing", "{tmp}/missing"], "neither a run folder"),
    (["evaluate", "{tmp}/missing", "--episodes", "2"], "missing"),
    (["evaluate", "{tmp}/existing", "--episodes", "2"], "run.json"),
    (["evaluate", "{tmp}/existing", "--episodes", "0"], "episodes"),
]


def snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*"))


@pytest.mark.parametrize("argv,words", CASES, ids=[" ".join(a[:6]) + f" [{i}]" for i, (a, _) in enumerate(CASES)])
def test_a_bad_command_line_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, words):
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.txt").write_text("precious")
    (tmp_path / "a_file").write_text("not a folder")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] in ("train", "sweep"):
        argv = [argv[0], argv[1], *TRAIN, *argv[2:]]  # the case's own flags come last and win
    before = snapshot(tmp_path)
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"rljax {argv[0]}: error: "), err
    assert words in lines[0], lines[0]
    assert snapshot(tmp_path) == before


def test_there_are_at_least_eighty_cases():
    assert len(CASES) >= 80


def test_step_counts_rounded_to_whole_segments_are_said(tmp_path, capsys):
    argv = ["train", "dqn", "--env", "CartPole-v1", "--total-steps", "1000", "--eval-every", "250", "--no-progress"]
    argv += [
        "--set",
        "num_envs=3",
        "--set",
        "hidden_sizes=(8,)",
        "--set",
        "learning_starts=200",
        "--set",
        "train_frequency=1",  # updates of 3 env steps (the CartPole preset collects 16 per env)
        "--eval-episodes",
        "2",
    ]
    assert main([*argv, "--set", "batch_size=32", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "note: --total-steps 1000 runs as 1245 env steps per seed (5 segments of 249)" in out
    assert "note: --eval-every 250 runs as 249 env steps (whole updates of 3 env steps)" in out


def test_python_api_warns_when_step_counts_are_rounded():
    """``rljax.train`` says what the command line's note says: a value changed is never silent."""
    import rljax

    with pytest.warns(UserWarning) as caught:
        rljax.train("q_learning", "Chain", total_steps=1000, eval_every=300, eval_episodes=2, progress=False)
    notes = [str(w.message) for w in caught]
    schedule = rljax.build("q_learning", "Chain", total_steps=1000, eval_every=300).loop.schedule
    assert schedule.total_steps != 1000  # the case is one that rounds
    assert f"total_steps=1000 runs as {schedule.total_steps} env steps per seed" in " ".join(notes)


def test_python_sweep_warns_when_step_counts_are_rounded():
    """``rljax.sweep`` (and so ``rljax sweep``) says it too: one note for the one program."""
    import rljax

    with pytest.warns(UserWarning) as caught:
        rljax.sweep(
            "q_learning", "Chain", {"learning_rate": [0.1, 0.5]}, total_steps=1000, eval_every=300, eval_episodes=2
        )
    notes = [str(w.message) for w in caught if "runs as" in str(w.message)]
    schedule = rljax.build("q_learning", "Chain", total_steps=1000, eval_every=300).loop.schedule
    assert notes == schedule.rounding_notes(1000, 300) and notes  # said once, not once per configuration


def test_periodic_checkpoints_count_their_host_copy_in_the_memory_check(tmp_path, capsys, monkeypatch):
    """On CPU a checkpoint's host copy is a second state in the same memory: a run whose state
    fits once but not twice is refused with --checkpoint-every (and runs without it)."""
    from rljax.training import plan as plan_module
    from rljax.training.batch import BatchRunner

    state = 3 * 2**30  # what the runs' state is said to take, against 5 GiB of memory
    monkeypatch.setattr(BatchRunner, "state_bytes", lambda self, keys, configs: state)
    monkeypatch.setattr(plan_module, "memory_available", lambda devices: (5 * 2**30, "the test's memory"))
    base = ["train", "q_learning", "--env", "Chain", "--seeds", "2", "--total-steps", "200", "--no-progress"]
    out = tmp_path / "run"
    assert main([*base, "--checkpoint-every", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3.0 GiB of state, and as much again for the checkpoints' host copy" in err[0]
    assert "no --checkpoint-every" in err[0] and not out.exists()
    assert main([*base, "--out", str(out)]) == 0
