"""``rljax render``: GIFs of trained greedy agents from run folders, and bad input."""

import argparse
import json
import shutil

import jax
import numpy as np
import pytest
from PIL import Image, ImageSequence

from rljax.cli import main
from rljax.cli.folders import add_render_parser, cmd_render
from rljax.envs import make
from rljax.policies.drawers import drawer_for
from rljax.policies.render import (
    frames_for_episode,
    play_episode,
    render_run,
    step_without_reset,
    write_gif,
)
from rljax.policies.trained import load_policy

TINY = ["--fast-compile", "--no-progress", "--total-steps", "2000", "--eval-episodes", "5"]
SEEDS = [1, 2]  # render seed 2: the second saved state, so the seed -> index lookup matters

ENV_ARGS = {
    "taxi": ["--env", "Taxi-v3"],
    "frozen_lake": ["--env", "FrozenLake-v1"],
    "maze": ["--env", "GridMaze"],
    "cartpole": ["--env", "CartPole-v1", "--env-arg", "discretize=bins-4x4x29x8"],
}
CAPTION_PX = 18  # the caption strip under each frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``trained(name)`` -> a finished ``rljax train`` folder (trained once per module)."""
    root = tmp_path_factory.mktemp("runs")
    done = {}

    def get(name):
        if name not in done:
            out = root / name
            seeds = ",".join(map(str, SEEDS))
            rc = main(["train", "q_learning", *ENV_ARGS[name], "--seed-list", seeds, "--out", str(out), *TINY])
            assert rc == 0
            done[name] = out
        return done[name]

    return get


def run_render(*argv):
    """``rljax render ...`` through a parser built like rljax.cli's."""
    parser = argparse.ArgumentParser(prog="rljax")
    add_render_parser(parser.add_subparsers(dest="command", required=True))
    return cmd_render(parser.parse_args(["render", *map(str, argv)]))


def gif_frames(path):
    with Image.open(path) as img:
        assert img.format == "GIF" and img.is_animated and img.n_frames > 1
        assert img.info.get("loop") == 0  # loops forever
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(img)]


@pytest.mark.parametrize("name", list(ENV_ARGS))
def test_render_writes_an_animated_gif(trained, tmp_path, name, capsys):
    out = tmp_path / f"{name}.gif"
    rc = run_render(trained(name), "--seed", 2, "--out", out, "--episodes", 2, "--max-steps", 60)
    assert rc == 0, capsys.readouterr().err
    assert "wrote" in capsys.readouterr().out
    frames = gif_frames(out)
    # The drawing itself changes (not just the caption's step counter): the agent moves.
    drawings = [f[:-CAPTION_PX] for f in frames]
    assert any(not np.array_equal(drawings[0], d) for d in drawings[1:])


def test_last_frame_is_where_the_episode_ended(trained):
    """The final frame shows the goal, not gymnax's auto-reset back to the start."""
    run = trained("maze")
    trained = load_policy(run, 2)
    env, params, policy = trained.env, trained.env_params, trained.act
    positions = []
    draw = drawer_for(env, params)

    def spy(state):
        positions.append(int(state.position))
        return draw(state)

    episode = play_episode(env, params, policy, jax.random.PRNGKey(0), draw=spy)
    assert episode.end == "terminated" and positions[0] == env.start and positions[-1] == env.goal
    assert len(episode.frames) == episode.length + 1
    # GridMaze is deterministic: the rendered return is the run's greedy evaluation return.
    summary = json.loads((run / "summary.json").read_text())
    assert episode.episode_return == summary["final_eval_return"][SEEDS.index(2)] == 1.0
    frames = frames_for_episode(env, params, policy, jax.random.PRNGKey(0), max_steps=2)
    assert len(frames) == 3 and frames[0].dtype == np.uint8 and frames[0].shape[2] == 3


@pytest.mark.parametrize(
    "env_id,kwargs",
    [
        ("CartPole-v1", {"discretize": "bins-4x4x29x8"}),
        ("GridMaze", {"max_steps_in_episode": 4}),  # hits the time limit (truncated)
    ],
)
def test_step_without_reset_agrees_with_gymnax_step(env_id, kwargs):
    env, params = make(env_id, **kwargs)
    no_reset = jax.jit(lambda k, s, a: step_without_reset(env, k, s, a, params))
    key = jax.random.PRNGKey(3)
    obs, state = env.reset(key, params)
    ends = set()
    for t in range(200):
        key, k_act, k_step = jax.random.split(key, 3)
        action = jax.random.randint(k_act, (), 0, env.num_actions)
        obs_a, state_a, reward_a, term_a, trunc_a = no_reset(k_step, state, action)
        obs_b, state_b, reward_b, term_b, trunc_b, info = env.step(k_step, state, action, params)
        assert (float(reward_a), bool(term_a), bool(trunc_a)) == (float(reward_b), bool(term_b), bool(trunc_b))
        np.testing.assert_array_equal(obs_a, info["final_observation"])
        if term_b or trunc_b:
            ends.add("terminated" if term_b else "truncated")
            break
        np.testing.assert_array_equal(obs_a, obs_b)
        # Up to float rounding: XLA may fuse the two compiled steps differently.
        for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        state = state_b
    assert ends, "the episode should have ended"


@pytest.mark.parametrize(
    "env_id,kwargs",
    [
        ("CartPole-v0", {}),
        ("CartPole-v1", {"discretize": "uniform6"}),
        ("Taxi-v3", {}),
        ("FrozenLake8x8-v1", {}),
        ("GridMaze", {"layout": {"rows": 2, "cols": 4, "walls": [(1, 2)], "one_way": [(6, 5)]}}),
    ],
)
def test_drawers_draw_every_supported_env(env_id, kwargs):
    env, params = make(env_id, **kwargs)
    _, state = env.reset(jax.random.PRNGKey(0), params)
    frame = drawer_for(env, params)(state)
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 2  # something was drawn


def test_unsupported_env_lists_the_supported_ones():
    env, params = make("Chain")
    with pytest.raises(ValueError, match="supported environments: CartPole-v0.*Taxi-v3.*GridMaze"):
        drawer_for(env, params)


def test_write_gif_checks_its_input(tmp_path):
    frame = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        write_gif([frame, np.zeros((5, 5, 3), np.uint8)], tmp_path / "a.gif")
    with pytest.raises(ValueError, match="fps"):
        write_gif([frame, frame], tmp_path / "a.gif", fps=60)
    assert not (tmp_path / "a.gif").exists()


def test_bad_input_is_an_error_and_writes_nothing(trained, tmp_path, capsys):
    run = trained("maze")
    out = tmp_path / "x.gif"

    def error(*argv):
        rc = run_render(*argv, "--out", out)
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("rljax render: error: ") and not out.exists()
        return err

    assert "no run.json" in error(tmp_path, "--seed", 0)
    assert "not a folder" in error(tmp_path / "missing", "--seed", 0)
    assert "seeds are: 1, 2" in error(run, "--seed", 7)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(run / "run.json", unfinished / "run.json")
    assert "agent_state.msgpack" in error(unfinished, "--seed", 1)
    chain = tmp_path / "chain"
    shutil.copytree(run, chain)
    spec = json.loads((chain / "run.json").read_text())
    (chain / "run.json").write_text(json.dumps({**spec, "env": "Chain"}))
    assert "supported environments" in error(chain, "--seed", 1)
    assert "fps" in error(run, "--seed", 1, "--fps", 0)
    assert "episodes" in error(run, "--seed", 1, "--episodes", 0)
    assert "max_steps" in error(run, "--seed", 1, "--max-steps", 0)
    assert run_render(run, "--seed", 1, "--out", tmp_path) == 2
    assert "is a folder" in capsys.readouterr().err


def test_render_run_is_reproducible(trained, tmp_path):
    run = trained("cartpole")
    a = render_run(run, 1, tmp_path / "a.gif", episodes=1, fps=20)
    b = render_run(run, 1, tmp_path / "b.gif", episodes=1, fps=20)
    assert a.returns == b.returns and a.ends[0] in ("terminated", "truncated")
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
