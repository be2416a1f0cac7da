"""``rljax.load_policy``: trained policies back from train and sweep folders, for any environment."""

import gymnasium
import jax
import numpy as np
import pytest

import rljax
from rljax.cli import main

TINY = ["--total-steps", "3000", "--eval-episodes", "2", "--no-progress", "--fast-compile"]
DQN_SMALL = ["--set", "hidden_sizes=(16,)", "--set", "learning_starts=200", "--set", "batch_size=32"]


def play_gymnasium(env_id: str, policy, episodes: int, seed: int) -> list[float]:
    """Returns of ``policy`` in Gymnasium's own ``env_id`` (NumPy float64 observations)."""
    env = gymnasium.make(env_id)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            action = int(policy(obs))
            assert env.action_space.contains(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def test_a_dqn_trained_on_acrobot_loads_and_plays_gymnasium_episodes(tmp_path):
    out = tmp_path / "acrobot"
    assert (
        main(["train", "dqn", "--env", "Acrobot-v1", "--seed-list", "0,3", "--out", str(out), *DQN_SMALL, *TINY]) == 0
    )
    policy = rljax.load_policy(out, 3)
    assert policy.env.name == "Acrobot-v1" and policy.seed == 3
    returns = play_gymnasium("Acrobot-v1", policy, episodes=2, seed=0)
    assert all(-500 <= r <= 0 for r in returns)
    # the greedy policy is a function of the observation: same observation, same action
    obs = np.array([1.0, 0.0, 1.0, 0.0, 0.1, -0.2])
    assert int(policy(obs)) == int(policy(obs.astype(np.float32))) == int(policy(list(obs)))
    # seed 0's network is not seed 3's
    other = rljax.load_policy(out, 0)
    pairs = zip(jax.tree.leaves(policy.agent_state.params), jax.tree.leaves(other.agent_state.params))
    assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in pairs)


def test_a_sweep_configuration_loads_by_label_or_index(tmp_path):
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                "dqn",
                "--env",
                "CartPole-v1",
                "--seeds",
                "2",
                "--out",
                str(out),
                "--grid",
                "learning_rate=0.001,0.003",
                *DQN_SMALL,
                *TINY,
            ]
        )
        == 0
    )
    by_label = rljax.load_policy(out, 1, config="learning_rate=0.003")
    by_index = rljax.load_policy(out, 1, config=1)
    assert float(by_label.config.learning_rate) == pytest.approx(0.003)
    for a, b in zip(jax.tree.leaves(by_label.agent_state), jax.tree.leaves(by_index.agent_state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    low = rljax.load_policy(out, 1, config=0)
    assert float(low.config.learning_rate) == pytest.approx(0.001)
    returns = play_gymnasium("CartPole-v1", by_label, episodes=2, seed=10)
    assert all(1 <= r <= 500 for r in returns)
    with pytest.raises(ValueError, match="is a sweep folder: pass config="):
        rljax.load_policy(out, 1)
    with pytest.raises(ValueError, match="unknown configuration"):
        rljax.load_policy(out, 1, config="learning_rate=9")
    with pytest.raises(ValueError, match="seed 7 was not trained"):
        rljax.load_policy(out, 7, config=0)


def test_bad_folders_and_observations(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        rljax.load_policy(tmp_path / "missing", 0)
    with pytest.raises(FileNotFoundError, match="no run.json"):
        rljax.load_policy(tmp_path, 0)
    out = tmp_path / "chain"
    assert main(["train", "q_learning", "--env", "Chain", "--seeds", "1", "--out", str(out), *TINY]) == 0
    policy = rljax.load_policy(out, 0)
    assert policy(0) in range(2)
    with pytest.raises(ValueError, match="observation of shape"):
        policy(np.zeros(3))
    with pytest.raises(ValueError, match="train folder"):
        rljax.load_policy(out, 0, config=0)


def test_final_agent_states_leave_the_replay_out_unless_asked(tmp_path):
    from rljax.runs.agent_states import AGENT_STATE_FILE, FULL_STATE_FILE, load_agent_state, save_agent_states

    lean, full = tmp_path / "lean", tmp_path / "full"
    argv = ["train", "dqn", "--env", "CartPole-v1", "--seeds", "2", *DQN_SMALL, *TINY]
    assert main([*argv, "--out", str(lean)]) == 0
    assert main([*argv, "--out", str(full), "--save-replay"]) == 0
    assert not (lean / FULL_STATE_FILE).exists() and (full / FULL_STATE_FILE).exists()
    policy = rljax.load_policy(lean, 1)
    assert policy.agent_state.replay is None
    # the replay (10,000 transitions of 2 seeds) is most of the whole state
    lean_bytes, full_bytes = (lean / AGENT_STATE_FILE).stat().st_size, (full / FULL_STATE_FILE).stat().st_size
    assert (lean_bytes, (full / AGENT_STATE_FILE).stat().st_size) == (lean_bytes, lean_bytes)
    assert full_bytes > 10 * lean_bytes
    # the whole state is the trained one: same networks as the lean file, and a replay full of transitions
    template = jax.eval_shape(
        lambda k: policy.agent.init(k, policy.env, policy.env_params, policy.config), jax.random.PRNGKey(0)
    )
    whole = load_agent_state(full, template, 1, file=FULL_STATE_FILE)
    assert int(np.asarray(whole.replay.current_index)) > 0 or bool(np.asarray(whole.replay.is_full))
    same_run = rljax.load_policy(full, 1)
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(same_run.agent_state.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a folder written before the replay was left out (whole states in agent_state.msgpack) still loads
    stacked = jax.tree.map(lambda *xs: np.stack(xs), load_agent_state(full, template, 0, file=FULL_STATE_FILE), whole)
    save_agent_states(full, stacked)
    old = rljax.load_policy(full, 1)
    assert old.agent_state.replay is not None
    obs = np.array([0.01, -0.02, 0.03, 0.0])
    assert int(old(obs)) == int(same_run(obs))
