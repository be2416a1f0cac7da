"""A user's own agent (experiments/custom_agent.py, tabular Double Q-learning) is served like a built-in one.

It learns (exact values on probes, Taxi solved over several seeds), its update is Double
Q-learning's, and its run folder works with ``rljax.load_policy`` / ``rljax evaluate`` /
``rljax report`` in a fresh process, with sweeps and resume. Names that are not an agent
fail with one line: a ``ValueError`` in Python, exit code 2 and nothing written at the
command line.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.agents import agent_ref, get_agent
from rljax.agents.base import Clock, Transition
from rljax.cli import main
from rljax.envs import SOLVED_AT
from rljax.training.batch import FAST_COMPILE

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # experiments/ is a folder of scripts, not an installed package

from experiments.custom_agent import DoubleQState, double_q_learning  # noqa: E402

AGENT_FILE = ROOT / "experiments" / "custom_agent.py"


def train(*args, compiler_options=FAST_COMPILE, **kwargs):
    """Short runs compile fast (XLA's backend optimisations cost more than they save); no progress bar."""
    return rljax.train(double_q_learning, *args, compiler_options=compiler_options, progress=False, **kwargs)


def tables(result, run: int) -> np.ndarray:
    """Run ``run``'s two Q tables ``[2, S, A]`` from a packed final state."""
    q = np.asarray(result.final_state.agent_state.q)
    return q.reshape((-1,) + q.shape[-3:])[run]


def test_one_update_moves_one_table_towards_the_other_tables_value_of_its_argmax():
    # s = 0, a = 1, r = 1, s' = 2 (not terminal); at s' QA prefers action 0, QB action 1.
    q = jnp.zeros((2, 3, 2)).at[0, 2].set(jnp.array([5.0, 1.0])).at[1, 2].set(jnp.array([2.0, 7.0]))
    state = DoubleQState(q=q)
    batch = Transition(
        obs=jnp.array([[0]]),
        action=jnp.array([[1]]),
        reward=jnp.array([[1.0]]),
        next_obs=jnp.array([[2]]),
        terminated=jnp.array([[False]]),
        truncated=jnp.array([[False]]),
        valid=jnp.array([[True]]),
    )
    config = double_q_learning.config_type(learning_rate=0.5, gamma=0.9)
    # QA learns from QB(s', argmax QA(s')) = QB(2, 0) = 2; QB from QA(s', argmax QB(s')) = QA(2, 1) = 1.
    qa_learns = q.at[0, 0, 1].set(0.5 * (1.0 + 0.9 * 2.0))
    qb_learns = q.at[1, 0, 1].set(0.5 * (1.0 + 0.9 * 1.0))
    # 64 coin flips in one call: the update of each key, vmapped.
    step = lambda key: double_q_learning.update(key, state, batch, config, Clock.start(100))[0].q
    new_q = np.asarray(jax.vmap(step)(jax.random.split(jax.random.PRNGKey(0), 64)))
    learned = []
    for q_i in new_q:
        is_a, is_b = np.allclose(q_i, qa_learns), np.allclose(q_i, qb_learns)
        assert is_a != is_b, q_i  # exactly one of the two tables moved, by the double-Q target
        learned.append(is_b)
    assert 16 <= sum(learned) <= 48  # the coin picks either table (64 fair flips: 32 +- 4 sd)


@pytest.mark.parametrize("env_id", ["Probe-DiscountedReward", "Probe-ActionObsDependentReward"])
def test_both_tables_reach_the_probe_values(env_id):
    gamma = 0.9
    result = train(env_id, seeds=[0, 1], overrides={"gamma": gamma, "learning_rate": 0.2}, total_steps=3000)
    env, _ = rljax.make(env_id)
    n = env.num_nonterminal_states
    for run in range(2):
        for table in tables(result, run):
            np.testing.assert_allclose(table[:n], env.expected_q(gamma), atol=0.02)
    np.testing.assert_array_equal(result.final_eval_return, 1.0)


def test_solves_taxi_over_seeds_and_loads_in_a_fresh_process(tmp_path):
    out = tmp_path / "taxi"
    seeds = [0, 1, 2, 3]
    # The preset: 100k env steps, lr 0.5, 8 envs; optimised (the run is long enough to pay for it).
    result = train("Taxi-v3", seeds=seeds, out=out, eval_episodes=50, compiler_options=None)
    returns = np.asarray(result.final_eval_return)
    assert returns.min() >= SOLVED_AT["Taxi-v3"], returns
    spec = json.loads((out / "run.json").read_text())
    assert spec["agent"] == f"{AGENT_FILE}:double_q_learning"  # found from any working directory
    q_sum = tables(result, 2).sum(axis=0)  # seed 2's QA + QB
    greedy, top_two = q_sum.argmax(axis=1), np.sort(q_sum, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 1e-3  # states whose greedy action is not a tie

    # A fresh interpreter, elsewhere, that never imported the agent: load_policy, evaluate, report.
    script = textwrap.dedent(f"""
        import json, rljax
        from rljax.cli import main
        policy = rljax.load_policy({str(out)!r}, 2)
        print(json.dumps([policy.agent.name, [int(policy(s)) for s in range(500)]]))
        assert main(["evaluate", {str(out)!r}, "--episodes", "3"]) == 0
        assert main(["report", {str(out)!r}]) == 0
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    name, actions = json.loads(proc.stdout.splitlines()[0])
    assert name == "double_q_learning"
    np.testing.assert_array_equal(np.asarray(actions)[clear], greedy[clear])
    assert "| double_q_learning | Taxi-v3 | 4 |" in proc.stdout  # the report's row: agent, env, seeds


def test_sweep_and_resume_with_a_custom_agent(tmp_path):
    run = dict(seeds=[0, 1], total_steps=2000, eval_every=250, eval_episodes=5)
    sweep = rljax.sweep(
        double_q_learning,
        "Chain",
        {"learning_rate": [0.1, 0.3]},
        out=tmp_path / "sweep",
        compiler_options=FAST_COMPILE,
        progress=False,
        **run,
    )
    assert len(sweep.labels) == 2
    policy = rljax.load_policy(tmp_path / "sweep", 1, config=1)
    assert policy.agent.name == "double_q_learning" and float(policy.config.learning_rate) == 0.3
    # A folder whose agent cannot be imported (its file moved away) says so in one line ...
    spec_file = tmp_path / "sweep" / sweep.labels[0] / "run.json"
    spec_file.write_text(json.dumps({**json.loads(spec_file.read_text()), "agent": "moved_away:double_q_learning"}))
    with pytest.raises(ValueError, match="^cannot rebuild the agent of .*moved_away.*agent=[^\n]*$"):
        rljax.load_policy(tmp_path / "sweep", 0, config=0)
    # ... and loads with the agent given.
    assert rljax.load_policy(tmp_path / "sweep", 0, config=0, agent=double_q_learning).agent is double_q_learning

    # 8 segments, a checkpoint after the 4th: the resumed run redoes segments 5-8 from it.
    straight = train("Chain", out=tmp_path / "run", checkpoint_every=1000, **run)
    resumed = train("Chain", out=tmp_path / "run", resume=True, **run)  # run.json names the same agent
    assert resumed.metrics["eval_return"].shape == straight.metrics["eval_return"].shape
    np.testing.assert_array_equal(resumed.metrics["eval_return"], straight.metrics["eval_return"])
    np.testing.assert_array_equal(resumed.final_state.agent_state.q, straight.final_state.agent_state.q)


def test_an_agent_is_found_by_its_file_or_module_path():
    assert get_agent(f"{AGENT_FILE}:double_q_learning").name == "double_q_learning"
    assert get_agent("experiments.custom_agent:double_q_learning") is double_q_learning
    assert agent_ref(double_q_learning) == f"{AGENT_FILE}:double_q_learning"
    assert agent_ref(get_agent("q_learning")) == "q_learning"


def test_a_changed_copy_of_a_built_in_is_not_rebuilt_as_the_original(tmp_path):
    import dataclasses

    import rljax

    changed = dataclasses.replace(get_agent("q_learning"), presets={})  # defined nowhere importable
    assert agent_ref(changed) != "q_learning"
    one = dict(seeds=[0], lane_width=1, total_steps=200, eval_episodes=2)  # one run, not a padded lane of 8
    rljax.train(changed, "Chain", **one, progress=False, out=tmp_path / "r")
    with pytest.raises(ValueError, match="cannot rebuild the agent of .*pass it: load_policy"):
        rljax.load_policy(tmp_path / "r", 0)
    assert rljax.load_policy(tmp_path / "r", 0, agent=changed).agent is changed


@pytest.mark.parametrize(
    "name,message",
    [
        ("double_q", "unknown agent 'double_q'; known agents: dqn, "),
        ("no_such_module:agent", "agent 'no_such_module:agent': cannot import 'no_such_module'"),
        ("experiments/none.py:agent", "agent 'experiments/none.py:agent': no such file 'experiments/none.py'"),
        ("experiments.custom_agent:nope", "experiments.custom_agent has no attribute 'nope'"),
        ("experiments.custom_agent:main", "has a function, not an rljax Agent, at 'main'"),
        ("experiments.custom_agent:", "or your own as 'package.module:attribute' or 'path/to/file.py:attribute'"),
    ],
)
def test_a_bad_agent_name_is_one_line_and_writes_nothing(tmp_path, capsys, name, message):
    with pytest.raises(ValueError, match="^[^\n]*$") as err:
        get_agent(name)
    assert message in str(err.value)
    out = tmp_path / "out"
    assert main(["train", name, "--env", "Chain", "--out", str(out), "--total-steps", "100", "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
