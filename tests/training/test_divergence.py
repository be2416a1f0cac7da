"""A seed that diverges is flagged with its step, and leaves the other seeds' numbers untouched."""

import json

import jax.numpy as jnp
import numpy as np

from rljax.cli import main
from rljax.envs import make, registry
from rljax.envs.wrappers import EnvWrapper
from rljax.experiment import train
from rljax.training.batch import FAST_COMPILE

GOOD = {"learning_rate": 3e-3}
ABSURD = {"learning_rate": 1e30, "max_grad_norm": 0.0}  # Adam steps of 1e30: non-finite in a few updates
RUN = dict(total_steps=20_000, eval_episodes=5, compiler_options=FAST_COMPILE)
FAST = dict(compiler_options=FAST_COMPILE)


def test_diverged_configuration_is_flagged_and_isolated():
    mixed = train("reinforce", "CartPole-v1", seeds=[0, 1], overrides=[GOOD, ABSURD], **RUN)
    clean = train("reinforce", "CartPole-v1", seeds=[0, 1], overrides=[GOOD], **RUN)
    steps = mixed.diverged_at_step
    assert steps[:2] == [None, None]
    assert all(s is not None and 0 < s <= mixed.env_steps_per_seed for s in steps[2:])
    summary = mixed.summary(1)
    assert summary["diverged"] == [True, True] and summary["diverged_at_step"] == steps[2:]
    # the healthy seeds are bitwise the runs without the absurd configuration next to them
    np.testing.assert_array_equal(mixed.metrics["eval_return"][:2], clean.metrics["eval_return"])
    assert mixed.final_eval_return[:2].tolist() == clean.final_eval_return.tolist()


def test_every_seed_diverged_exits_nonzero(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "reinforce",
            "--env",
            "CartPole-v1",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--total-steps",
            "20000",
            "--eval-episodes",
            "5",
            "--no-progress",
            "--fast-compile",
            "--set",
            "learning_rate=1e30",
            "--set",
            "max_grad_norm=0",
        ]
    )
    assert rc != 0 and "every seed diverged" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["diverged"] == [True, True]


def test_nan_placeholder_metrics_are_not_divergence():
    """DQN reports a NaN loss during replay warm-up; that is not a diverged run."""
    tiny = {
        "num_envs": 2,
        "buffer_size": 500,
        "batch_size": 16,
        "learning_starts": 400,
        "hidden_sizes": (16,),
        "target_update_interval": 10,
    }
    result = train(
        "dqn",
        "CartPole-v1",
        seeds=[0, 1],
        overrides=tiny,
        total_steps=1_000,
        eval_every=250,
        eval_episodes=5,
        compiler_options=FAST_COMPILE,
    )
    assert np.isnan(result.metrics["loss"][:, 0]).all()  # warm-up: no loss yet
    assert result.diverged_at_step == [None, None]


class _NanRewardAfter(EnvWrapper):
    """CartPole whose rewards turn NaN after 5 steps of every episode (a broken environment)."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        return obs, state, jnp.where(state.time > 5, jnp.nan, reward), terminated, info


def test_a_non_finite_value_from_the_environment_is_caught_through_the_learner(monkeypatch):
    # The divergence check reads the learner's state, not DQN's replay buffer (see Loop.train_segment):
    # a NaN the environment hands over must still flag the run, through the loss and the parameters.
    for table in ("_RLJAX_ENVS", "_CALLABLES"):  # registered for this test only
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))

    def nan_reward_cartpole():
        env, params = make("CartPole-v1")
        return _NanRewardAfter(env), params

    registry.register("CartPole-NanReward", nan_reward_cartpole)
    overrides = {"learning_starts": 256, "batch_size": 32, "buffer_size": 2048, "hidden_sizes": (16,)}
    one = dict(seeds=[0], lane_width=1)  # one run, not a padded lane of 8
    run = train("dqn", "CartPole-NanReward", overrides=overrides, total_steps=4096, eval_episodes=2, **one, **FAST)
    (step,) = run.diverged_at_step
    assert step is not None and 256 <= step <= 4096
