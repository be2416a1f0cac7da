"""Pillow drawers: one small pure function per environment family, state -> RGB frame.

:func:`drawer_for` picks the drawer for an environment (a discretised CartPole is
drawn from its inner, continuous state); :data:`SUPPORTED_ENVS` lists what can be
drawn. :mod:`rljax.policies.render` plays episodes and writes them as GIFs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

import jax
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rljax._errors import ValidationError

Frame = np.ndarray  # uint8 RGB, shape [height, width, 3]
Drawer = Callable[[Any], Frame]  # environment state -> frame

#: What :func:`drawer_for` can draw (shown in the error for anything else).
SUPPORTED_ENVS = (
    "CartPole-v0",
    "CartPole-v1 (also with discretize=...)",
    "CartPoleNoVel-v1",
    "Taxi-v3",
    "FrozenLake-v1",
    "FrozenLake8x8-v1",
    "GridMaze",
)


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
    from rljax.envs._gymnax import classic_cartpole
    from rljax.envs.frozen_lake import FrozenLakeEnv
    from rljax.envs.grid_maze import GridMazeEnv
    from rljax.envs.tabular import TabularEnv
    from rljax.envs.taxi import NUM_STATES as TAXI_STATES

    CartPole = classic_cartpole.CartPole

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
    raise ValidationError(
        f"cannot render {getattr(env, 'name', type(env).__name__)}: no drawer for it; "
        f"supported environments: {', '.join(SUPPORTED_ENVS)}"
    )


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
