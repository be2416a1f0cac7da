"""``rljax render``: a GIF of a trained agent's greedy policy.

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

import argparse
import io
import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np
from PIL import Image, ImageDraw, ImageFont

Frame = np.ndarray  # uint8 RGB, shape [height, width, 3]
Policy = Callable[[jax.Array, jax.Array], jax.Array]  # (key, obs) -> action
Drawer = Callable[[Any], Frame]  # environment state -> frame

#: What :func:`drawer_for` can draw (shown in the error for anything else).
SUPPORTED_ENVS = (
    "CartPole-v0",
    "CartPole-v1 (also with discretize=...)",
    "Taxi-v3",
    "FrozenLake-v1",
    "FrozenLake8x8-v1",
    "GridMaze",
)

# GIF frame delays are stored in whole centiseconds, and browsers show delays of
# 0 or 1 cs (above 50 fps) as 10 cs, so faster GIFs would play *slower*.
MAX_FPS = 50
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


def unwrap(env: Any) -> Any:
    """The environment inside any :class:`~rljax.envs.DiscretizedObservation` layers.

    The wrapper keeps the inner environment's state and parameters, so the inner
    environment's drawer can draw it.
    """
    from rljax.envs.wrappers import DiscretizedObservation

    while isinstance(env, DiscretizedObservation):
        env = env.env
    return env


def drawer_for(env: Any, env_params: Any) -> Drawer:
    """The drawer for ``env``'s states, picked by the (unwrapped) environment's type.

    Raises:
      ValueError: no drawer for this environment; the message lists the supported ones.
    """
    from gymnax.environments.classic_control.cartpole import CartPole

    from rljax.envs.frozen_lake import FrozenLakeEnv
    from rljax.envs.grid_maze import GridMazeEnv
    from rljax.envs.tabular import TabularEnv
    from rljax.envs.taxi import NUM_STATES as TAXI_STATES

    inner = unwrap(env)
    if isinstance(inner, CartPole):  # CartPoleV0 is a subclass
        return lambda state: draw_cartpole(state, env_params)
    if isinstance(inner, FrozenLakeEnv):
        return lambda state: draw_frozen_lake(inner, state)
    if isinstance(inner, GridMazeEnv):
        return lambda state: draw_grid_maze(inner, state)
    # Taxi is a plain TabularEnv: recognise it by its name and table size.
    if isinstance(inner, TabularEnv) and inner.name == "Taxi-v3" and inner.num_states == TAXI_STATES:
        return draw_taxi
    raise ValueError(
        f"cannot render {getattr(env, 'name', type(env).__name__)}: no drawer for it; "
        f"supported environments: {', '.join(SUPPORTED_ENVS)}"
    )


def step_without_reset(
    env: Any, key: jax.Array, state: Any, action: jax.Array, params: Any
) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array]:
    """``env.step`` without gymnax's auto-reset: ``(obs, state, reward, terminated, truncated)``.

    gymnax's ``step`` replaces the final state by a fresh reset when an episode
    ends, so the last frame would show the next episode's start. This mirrors
    ``Environment.step`` (the same key split, ``step_env``, ``is_truncated``) and
    keeps the state where the episode ended; ``obs`` is then what ``step`` reports
    as ``info["final_observation"]``. ``tests/test_render.py`` checks the two agree
    (up to float rounding: XLA may fuse the two compiled programs differently).
    """
    key_step, _ = jax.random.split(key)
    obs, state, reward, terminated, _ = env.step_env(key_step, state, action, params)
    truncated = env.is_truncated(state, params)
    return obs, state, reward, terminated, truncated


# env and policy are static (hashed by identity), so every episode of the same
# policy reuses one compiled step; env_params is traced.
@partial(jax.jit, static_argnums=(0, 1))
def _policy_step(env: Any, policy: Policy, env_params: Any, key: jax.Array, state: Any, obs: jax.Array):
    """One step of ``policy`` in ``env`` without auto-reset; returns the new key first."""
    key, key_act, key_step = jax.random.split(key, 3)
    action = policy(key_act, obs)
    return (key, *step_without_reset(env, key_step, state, action, env_params))


def play_episode(
    env: Any,
    env_params: Any,
    policy: Policy,
    key: jax.Array,
    max_steps: int | None = None,
    *,
    draw: Drawer | None = None,
    caption: bool = True,
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
    """
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1; got {max_steps}")
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
        key, obs, state, reward, terminated, truncated = _policy_step(env, policy, env_params, key, state, obs)
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
# Drawers
# --------------------------------------------------------------------------

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GRID = (200, 200, 200)


@lru_cache(maxsize=None)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _frame(draw: Drawer, state: Any, caption: bool, text: str) -> Frame:
    """Draws ``state`` and, if ``caption``, a white strip with ``text`` below it."""
    frame = np.asarray(draw(jax.device_get(state)), dtype=np.uint8)
    if not caption:
        return frame
    height, width = frame.shape[:2]
    img = Image.new("RGB", (width, height + 18), WHITE)
    img.paste(Image.fromarray(frame), (0, 0))
    ImageDraw.Draw(img).text((4, height + 2), text, fill=BLACK, font=_font(12))
    return np.asarray(img)


def draw_cartpole(state: Any, params: Any, width: int = 400, height: int = 220) -> Frame:
    """CartPole as Gymnasium draws it: cart on a track, pole from the axle.

    The view spans 10% more than the track limits (``±x_threshold``, marked in
    red) so a cart that leaves the track is still visible; faint lines from the
    axle show the pole-angle limit.
    """
    x, theta = float(state.x), float(state.theta)
    x_limit = float(params.x_threshold)
    theta_limit = float(params.theta_threshold_radians)
    scale = width / (2.2 * x_limit)  # pixels per metre
    pole_len = 2.0 * float(params.length) * scale  # gymnax's length is half the pole
    cart_w, cart_h, pole_w = 0.4 * scale, 0.24 * scale, max(3.0, 0.08 * scale)
    track_y = height * 0.78

    img = Image.new("RGB", (width, height), WHITE)
    d = ImageDraw.Draw(img)
    d.line([(0, track_y), (width, track_y)], fill=BLACK, width=1)
    for edge in (-x_limit, x_limit):
        px = width / 2 + edge * scale
        d.line([(px, track_y - 8), (px, track_y + 8)], fill=(220, 40, 40), width=2)

    cx = width / 2 + x * scale
    top = track_y - cart_h / 2
    d.rectangle([cx - cart_w / 2, top, cx + cart_w / 2, top + cart_h], fill=BLACK)
    axle = np.array([cx, top + cart_h / 4])
    for limit in (-theta_limit, theta_limit):  # pole-angle limits
        tip = axle + pole_len * np.array([np.sin(limit), -np.cos(limit)])
        d.line([tuple(axle), tuple(tip)], fill=(225, 225, 225), width=1)
    # The pole leans right for theta > 0: its tip is at axle + L (sin θ, -cos θ) in
    # image coordinates (y grows downwards).
    along = np.array([np.sin(theta), -np.cos(theta)])
    across = np.array([np.cos(theta), np.sin(theta)]) * pole_w / 2
    tip = axle + pole_len * along
    d.polygon([tuple(p) for p in (axle - across, axle + across, tip + across, tip - across)], fill=(202, 152, 101))
    r = pole_w / 2
    d.ellipse([axle[0] - r, axle[1] - r, axle[0] + r, axle[1] + r], fill=(129, 132, 203))
    return np.asarray(img)


def _grid_geometry(rows: int, cols: int, max_px: int, max_cell: int) -> tuple[int, int]:
    """(cell size, margin) so a rows x cols grid fits in about ``max_px`` pixels."""
    cell = max(16, min(max_cell, max_px // max(rows, cols)))
    return cell, max(4, cell // 8)


def _cell_box(row: int, col: int, cell: int, margin: int) -> tuple[int, int, int, int]:
    x0, y0 = margin + col * cell, margin + row * cell
    return x0, y0, x0 + cell, y0 + cell


def _centered_text(d: ImageDraw.ImageDraw, box: Sequence[float], text: str, size: int, fill=BLACK) -> None:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    d.text((cx, cy), text, fill=fill, font=_font(size), anchor="mm")


def _agent_dot(d: ImageDraw.ImageDraw, box: Sequence[float], fill, outline=BLACK) -> None:
    inset = (box[2] - box[0]) * 0.25
    d.ellipse([box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset], fill=fill, outline=outline, width=2)


# Taxi: stands R, G, Y, B in Gymnasium's colours.
_TAXI_STAND_COLORS = ((230, 70, 70), (60, 170, 60), (230, 200, 40), (70, 110, 230))


def draw_taxi(state: Any, cell: int = 60) -> Frame:
    """Taxi-v3's 5x5 map: walls, the four stands, passenger, destination and taxi.

    The destination stand has a thick magenta frame; a waiting passenger is a blue
    dot on its stand; the taxi is yellow when empty and green with the passenger.
    """
    from rljax.envs.taxi import IN_TAXI, LOCS, MAP, NUM_COLS, NUM_ROWS, decode

    row, col, pass_loc, dest_idx = decode(int(state.position))
    margin = 8
    size = 2 * margin + NUM_COLS * cell
    img = Image.new("RGB", (size, 2 * margin + NUM_ROWS * cell), WHITE)
    d = ImageDraw.Draw(img)
    for i, ((r, c), color) in enumerate(zip(LOCS, _TAXI_STAND_COLORS)):
        box = _cell_box(r, c, cell, margin)
        tint = tuple(int(255 - (255 - v) * 0.35) for v in color)
        d.rectangle(box, fill=tint)
        d.text((box[0] + 4, box[1] + 2), "RGYB"[i], fill=color, font=_font(max(10, cell // 4)))
    for r in range(NUM_ROWS + 1):
        d.line([(margin, margin + r * cell), (size - margin, margin + r * cell)], fill=GRID)
    for c in range(NUM_COLS + 1):
        d.line([(margin + c * cell, margin), (margin + c * cell, margin + NUM_ROWS * cell)], fill=GRID)
    # Walls: a "|" in the text map between two cells of a row.
    for r in range(NUM_ROWS):
        for c in range(NUM_COLS - 1):
            if MAP[1 + r][2 * c + 2] == "|":
                x = margin + (c + 1) * cell
                d.line([(x, margin + r * cell), (x, margin + (r + 1) * cell)], fill=BLACK, width=4)
    d.rectangle([margin, margin, size - margin, margin + NUM_ROWS * cell], outline=BLACK, width=4)

    dest = _cell_box(*LOCS[dest_idx], cell, margin)
    d.rectangle([dest[0] + 3, dest[1] + 3, dest[2] - 3, dest[3] - 3], outline=(200, 0, 200), width=4)
    taxi = _cell_box(row, col, cell, margin)
    inset = cell * 0.18
    d.rounded_rectangle(
        [taxi[0] + inset, taxi[1] + inset, taxi[2] - inset, taxi[3] - inset],
        radius=cell // 8,
        fill=(60, 190, 60) if pass_loc == IN_TAXI else (245, 200, 0),
        outline=BLACK,
        width=2,
    )
    if pass_loc < IN_TAXI:
        box = _cell_box(*LOCS[pass_loc], cell, margin)
        r = cell * 0.12
        cx, cy = box[2] - cell * 0.22, box[3] - cell * 0.22
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(40, 90, 230), outline=BLACK)
    return np.asarray(img)


_LAKE_COLORS = {"S": (170, 205, 245), "F": (215, 235, 255), "H": (25, 45, 90), "G": (250, 200, 40)}


def draw_frozen_lake(env: Any, state: Any) -> Frame:
    """FrozenLake's map (``env.desc``): ice, holes (dark), start, goal (gold), agent (red)."""
    nrow, ncol = env.nrow, env.ncol
    cell, margin = _grid_geometry(nrow, ncol, max_px=384, max_cell=64)
    img = Image.new("RGB", (2 * margin + ncol * cell, 2 * margin + nrow * cell), WHITE)
    d = ImageDraw.Draw(img)
    for r, line in enumerate(env.desc):
        for c, kind in enumerate(line):
            box = _cell_box(r, c, cell, margin)
            d.rectangle(box, fill=_LAKE_COLORS[kind], outline=WHITE, width=1)
            if kind in "SG" and cell >= 24:
                _centered_text(d, box, kind, cell // 3, fill=(60, 60, 60))
    row, col = divmod(int(state.position), ncol)
    _agent_dot(d, _cell_box(row, col, cell, margin), fill=(220, 40, 40))
    return np.asarray(img)


def draw_grid_maze(env: Any, state: Any) -> Frame:
    """A :class:`~rljax.envs.grid_maze.GridMazeEnv`: walls (thick), one-way passages,
    start, goal (green) and the agent (blue).

    A one-way pair ``(u, v)`` blocks only ``u -> v``; it is drawn as a red edge
    with an arrowhead pointing the way that is open (from v into u).
    """
    rows, cols = env.rows, env.cols
    cell, margin = _grid_geometry(rows, cols, max_px=400, max_cell=80)
    width, height = 2 * margin + cols * cell, 2 * margin + rows * cell
    img = Image.new("RGB", (width, height), WHITE)
    d = ImageDraw.Draw(img)

    def box(c: int) -> tuple[int, int, int, int]:
        return _cell_box(*divmod(c, cols), cell, margin)

    d.rectangle(box(env.goal), fill=(150, 220, 150))
    d.rectangle(box(env.start), fill=(225, 225, 240))
    for r in range(rows + 1):
        d.line([(margin, margin + r * cell), (width - margin, margin + r * cell)], fill=GRID)
    for c in range(cols + 1):
        d.line([(margin + c * cell, margin), (margin + c * cell, height - margin)], fill=GRID)
    if cell >= 40:  # cell numbers, as in the maze's docstring (S0, S1, ...)
        for c in range(rows * cols):
            b = box(c)
            d.text((b[0] + 4, b[1] + 2), f"S{c}", fill=(130, 130, 130), font=_font(11))

    def shared_edge(u: int, v: int) -> tuple[tuple[float, float], tuple[float, float]]:
        (ur, uc), (vr, vc) = divmod(u, cols), divmod(v, cols)
        if ur == vr:  # side by side: a vertical edge
            x = margin + max(uc, vc) * cell
            return (x, margin + ur * cell), (x, margin + (ur + 1) * cell)
        y = margin + max(ur, vr) * cell
        return (margin + uc * cell, y), (margin + (uc + 1) * cell, y)

    wall_w = max(3, cell // 14)
    for u, v in env.walls:
        d.line(shared_edge(u, v), fill=BLACK, width=wall_w)
    for u, v in env.one_way:
        a, b = shared_edge(u, v)
        d.line([a, b], fill=(220, 40, 40), width=max(2, wall_w // 2))
        mid = np.array([(a[0] + b[0]) / 2, (a[1] + b[1]) / 2])
        (ur, uc), (vr, vc) = divmod(u, cols), divmod(v, cols)
        toward_u = np.array([uc - vc, ur - vr], dtype=float)  # the open direction
        side = np.array([-toward_u[1], toward_u[0]])
        s = cell * 0.12
        d.polygon(
            [tuple(mid + toward_u * s), tuple(mid - toward_u * s + side * s), tuple(mid - toward_u * s - side * s)],
            fill=(220, 40, 40),
        )
    d.rectangle([margin, margin, width - margin, height - margin], outline=BLACK, width=wall_w)
    if cell >= 24:
        _centered_text(d, box(env.goal), "G", cell // 3, fill=(40, 110, 40))
    _agent_dot(d, box(int(state.position)), fill=(50, 100, 230))
    return np.asarray(img)


# --------------------------------------------------------------------------
# GIF
# --------------------------------------------------------------------------


def _check_fps(fps: float) -> None:
    if not 0 < fps <= MAX_FPS:
        raise ValueError(
            f"fps must be in (0, {MAX_FPS}]; got {fps} (GIF delays are whole centiseconds and "
            f"browsers slow down faster GIFs)"
        )


def write_gif(frames: Sequence[Frame], path: str | os.PathLike, fps: float = 30) -> None:
    """Writes ``frames`` (equal-size RGB arrays) as a looping GIF, atomically.

    Pillow stores a run of identical frames as one frame with the summed delay, so
    repeating a frame is a cheap way to hold it.
    """
    from rljax.runs import write_bytes_atomic

    _check_fps(fps)
    if not frames:
        raise ValueError("no frames to write")
    shapes = {np.shape(f) for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"all frames must have the same shape; got {sorted(shapes)}")
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
        raise ValueError(f"episodes must be >= 1; got {episodes}")
    _check_fps(fps)
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1; got {max_steps}")
    if Path(out).is_dir():
        raise ValueError(f"output {str(out)!r} is a folder; give a file name such as agent.gif")
    from rljax.envs import make
    from rljax.policies import load_policy
    from rljax.runs import read_spec, resolve_run_dir

    spec = read_spec(resolve_run_dir(run_dir))
    drawer_for(*make(spec["env"], **(spec.get("env_kwargs") or {})))  # fail before loading what we cannot draw
    trained = load_policy(run_dir, seed)
    env, env_params, policy, spec = trained.env, trained.env_params, trained.act, trained.spec
    hold = max(1, round(HOLD_END_S * fps))
    frames: list[Frame] = []
    played = []
    for i in range(episodes):
        episode = play_episode(env, env_params, policy, jax.random.fold_in(jax.random.PRNGKey(seed), i), max_steps)
        frames += episode.frames + [episode.frames[-1]] * hold
        played.append(episode)
    write_gif(frames, out, fps)
    return RenderResult(
        path=Path(out),
        env=spec["env"],
        agent=spec["agent"],
        seed=seed,
        returns=[e.episode_return for e in played],
        lengths=[e.length for e in played],
        ends=[e.end for e in played],
        num_frames=sum(len(e.frames) for e in played),
    )


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def add_render_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``rljax render DIR --seed S --out FILE [--episodes] [--fps] [--max-steps]``."""
    p = subparsers.add_parser("render", help="a GIF of a trained seed's greedy agent (from a `rljax train` folder)")
    p.add_argument("dir", metavar="DIR", help="run folder written by `rljax train`")
    p.add_argument("--seed", type=int, required=True, help="which of the run's seeds to render")
    p.add_argument("--out", required=True, help="GIF file to write, e.g. agent.gif")
    p.add_argument("--episodes", type=int, default=1, help="fresh episodes to play one after another (default 1)")
    p.add_argument("--fps", type=float, default=30, help=f"frames per second, at most {MAX_FPS} (default 30)")
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="cut each episode after this many steps (default: the environment's time limit)",
    )
    return p


def cmd_render(args: argparse.Namespace) -> int:
    """Runs ``rljax render``; on bad input prints the error and returns 2, writing nothing."""
    try:
        result = render_run(
            args.dir, args.seed, args.out, episodes=args.episodes, fps=args.fps, max_steps=args.max_steps
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"rljax render: error: {err}", file=sys.stderr)
        return 2
    outcomes = ", ".join(f"{r:g} in {n} steps ({e})" for r, n, e in zip(result.returns, result.lengths, result.ends))
    print(f"{result.agent} on {result.env}, seed {result.seed}: {len(result.returns)} episode(s): {outcomes}")
    print(f"wrote {result.path} ({result.num_frames} frames at {args.fps:g} fps)")
    return 0
