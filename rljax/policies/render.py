"""Episodes of a trained agent, drawn frame by frame and written as a looping GIF.

``rljax render DIR --seed S --out agent.gif [--episodes 1] [--fps 30] [--max-steps N]``
rebuilds the agent and environment of a run folder written by ``rljax train`` (its
``run.json``), loads seed S's final agent state (``agent_state.msgpack``), plays
fresh episodes with the evaluation policy (``explore=False``: greedy for value
methods, argmax for policy gradients) and writes them as one looping GIF.

Episodes are played step by step in Python around a jitted step function, because
every frame is drawn on the host anyway. The drawers are small pure-Pillow
functions, one per environment family (:data:`SUPPORTED_ENVS`); a discretised
CartPole is drawn from its inner (continuous) state.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np
from PIL import Image

from rljax._defaults import MAX_FPS  # noqa: F401  (defined there, so the CLI reads it cheaply)
from rljax._errors import ValidationError
from rljax.policies.drawers import SUPPORTED_ENVS, Drawer, Frame, _frame, drawer_for, unwrap  # noqa: F401
from rljax.training.evaluate import step_without_reset

Policy = Callable[[jax.Array, jax.Array], jax.Array]  # (key, obs) -> action

# GIF frame delays are stored in whole centiseconds, and browsers show delays of
# 0 or 1 cs (above 50 fps) as 10 cs, so faster GIFs would play *slower*.
# The last frame of every episode is held this long, so the end is readable
# before the next episode (or the loop) starts.
HOLD_END_S = 1.0


# --------------------------------------------------------------------------
# Episodes
# --------------------------------------------------------------------------


@dataclass
class Episode:
    """One rendered episode.

    ``frames[0]`` shows the reset state and ``frames[t]`` the state after step t;
    the last frame shows where the episode ended (not gymnax's auto-reset).
    ``end`` is ``"terminated"``, ``"truncated"`` (the environment's time limit) or
    ``"max_steps"`` (cut by the caller).
    """

    frames: list[Frame] = field(repr=False)
    episode_return: float
    length: int
    end: str


# env and policy are static (hashed by identity), so every episode of the same
# policy reuses one compiled step; env_params is traced.
@partial(jax.jit, static_argnums=(0, 1))
def _policy_step(
    env: Any, policy: Policy, env_params: Any, key: jax.Array, state: Any, obs: jax.Array, actor_state: Any = None
):
    """One step of ``policy`` in ``env`` without auto-reset; returns the new key first and
    the policy's next actor state last (``None`` for a policy without a memory)."""
    key, key_act, key_step = jax.random.split(key, 3)
    if actor_state is None:
        action = policy(key_act, obs)
    else:
        action, actor_state = policy(key_act, obs, actor_state)
    return (key, *step_without_reset(env, key_step, state, action, env_params), actor_state)


def play_episode(
    env: Any,
    env_params: Any,
    policy: Policy,
    key: jax.Array,
    max_steps: int | None = None,
    *,
    draw: Drawer | None = None,
    caption: bool = True,
    actor_state: Any = None,
) -> Episode:
    """Plays one episode of ``policy`` from a fresh reset and draws every state.

    Args:
      env, env_params: a gymnax environment and its parameters.
      policy: ``(key, obs) -> action`` for one observation; it is jitted together
        with the environment step (one compiled call per step, compiled once per
        policy object).
      key: the episode's key (reset, then per step one key for the policy and one
        for the environment).
      max_steps: stop after this many steps even if the episode goes on (default:
        the environment's own time limit ends it).
      draw: ``state -> RGB frame``; default :func:`drawer_for`.
      caption: add a line under each frame with the step, the return so far and,
        on the last frame, how the episode ended.
      actor_state: for a policy with a memory, ``(key, obs, actor_state) -> (action,
        actor_state)``, its state at the episode's start (``None``: ``(key, obs) -> action``).
    """
    if max_steps is not None and max_steps < 1:
        raise ValidationError(f"max_steps must be >= 1; got {max_steps}")
    draw = draw or drawer_for(env, env_params)
    key, key_reset = jax.random.split(key)
    obs, state = env.reset(key_reset, env_params)
    frames = [_frame(draw, state, caption, "step 0  return 0")]
    # Without max_steps the environment's time limit ends the episode (that step
    # is truncated, so capping there changes nothing); the cap only guards
    # against an environment without a time limit.
    limit = max_steps if max_steps is not None else int(getattr(env_params, "max_steps_in_episode", 100_000))
    total, t, end = 0.0, 0, "max_steps"
    while t < limit:
        key, obs, state, reward, terminated, truncated, actor_state = _policy_step(
            env, policy, env_params, key, state, obs, actor_state
        )
        t += 1
        total += float(reward)
        if bool(terminated):
            end = "terminated"
        elif bool(truncated):
            end = "truncated"
        done = end != "max_steps" or t == limit
        status = {"terminated": "  (terminated)", "truncated": "  (time limit)"}.get(end, "  (cut)" if done else "")
        frames.append(_frame(draw, state, caption, f"step {t}  return {total:g}{status}"))
        if done:
            break
    return Episode(frames=frames, episode_return=total, length=t, end=end)


def frames_for_episode(
    env: Any, env_params: Any, policy: Policy, key: jax.Array, max_steps: int | None = None
) -> list[Frame]:
    """RGB frames of one episode of ``policy``: the reset state, then one per step.

    Stops when the episode terminates or is truncated (or after ``max_steps``);
    the last frame shows the final state, not the auto-reset. See :func:`play_episode`.
    """
    return play_episode(env, env_params, policy, key, max_steps).frames


# --------------------------------------------------------------------------
# GIF
# --------------------------------------------------------------------------


def _check_fps(fps: float) -> None:
    if not 0 < fps <= MAX_FPS:
        raise ValidationError(
            f"fps must be in (0, {MAX_FPS}]; got {fps} (GIF delays are whole centiseconds and "
            f"browsers slow down faster GIFs)"
        )


def write_gif(frames: Sequence[Frame], path: str | os.PathLike, fps: float = 30) -> None:
    """Writes ``frames`` (equal-size RGB arrays) as a looping GIF, atomically.

    Pillow stores a run of identical frames as one frame with the summed delay, so
    repeating a frame is a cheap way to hold it.
    """
    from rljax.runs.files import write_bytes_atomic

    _check_fps(fps)
    if not frames:
        raise ValidationError("no frames to write")
    shapes = {np.shape(f) for f in frames}
    if len(shapes) != 1:
        raise ValidationError(f"all frames must have the same shape; got {sorted(shapes)}")
    # Quantise each frame ourselves: a drawing has few colours, which the fast
    # octree quantiser keeps exactly, while Pillow's default (median cut) is ~10x
    # slower. Each frame keeps its own palette, so a colour that shows up late (the
    # taxi turning green) is never mapped to a wrong one.
    images = [
        Image.fromarray(np.asarray(f, dtype=np.uint8), "RGB").quantize(
            colors=255, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        for f in frames
    ]
    buf = io.BytesIO()
    images[0].save(
        buf, format="GIF", save_all=True, append_images=images[1:], duration=max(20, round(1000 / fps)), loop=0
    )
    write_bytes_atomic(path, buf.getvalue())


# --------------------------------------------------------------------------
# Run folders
# --------------------------------------------------------------------------


@dataclass
class RenderResult:
    """What :func:`render_run` wrote: the GIF's path and each episode's outcome."""

    path: Path
    env: str
    agent: str
    seed: int
    returns: list[float]
    lengths: list[int]
    ends: list[str]
    num_frames: int


def render_run(
    run_dir: str | os.PathLike,
    seed: int,
    out: str | os.PathLike,
    episodes: int = 1,
    fps: float = 30,
    max_steps: int | None = None,
) -> RenderResult:
    """Renders ``episodes`` fresh episodes of seed ``seed``'s greedy agent into the GIF ``out``.

    Episode i uses the key ``fold_in(PRNGKey(seed), i)``, so the same command gives
    the same GIF. Everything is checked before anything is written.
    """
    if episodes < 1:
        raise ValidationError(f"episodes must be >= 1; got {episodes}")
    _check_fps(fps)
    if max_steps is not None and max_steps < 1:
        raise ValidationError(f"max_steps must be >= 1; got {max_steps}")
    if Path(out).is_dir():
        raise ValidationError(f"output {str(out)!r} is a folder; give a file name such as agent.gif")
    from rljax.envs import make
    from rljax.policies.trained import load_policy
    from rljax.runs.manifest import read_spec, resolve_run_dir

    spec = read_spec(resolve_run_dir(run_dir))
    drawer_for(*make(spec["env"], **(spec.get("env_kwargs") or {})))  # fail before loading what we cannot draw
    trained = load_policy(run_dir, seed)
    env, env_params, spec = trained.env, trained.env_params, trained.spec
    initial = trained.initial_actor_state  # every episode starts from it (None: no memory)
    policy = trained.act if initial is None else trained.step
    hold = max(1, round(HOLD_END_S * fps))
    frames: list[Frame] = []
    played = []
    for i in range(episodes):
        episode = play_episode(
            env, env_params, policy, jax.random.fold_in(jax.random.PRNGKey(seed), i), max_steps, actor_state=initial
        )
        frames += episode.frames + [episode.frames[-1]] * hold
        played.append(episode)
    write_gif(frames, out, fps)
    return RenderResult(
        path=Path(out),
        env=spec["env"],
        agent=trained.agent.name,  # run.json may hold a custom agent's import path
        seed=seed,
        returns=[e.episode_return for e in played],
        lengths=[e.length for e in played],
        ends=[e.end for e in played],
        num_frames=sum(len(e.frames) for e in played),
    )
