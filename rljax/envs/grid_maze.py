"""GridMaze: a small deterministic grid maze with walls, by default the maze notes' 3x3 maze.

The default maze (states row-major, start S0, goal S8)::

    +----+----+----+
    | S0 > S1   S2 |        ``|`` and ``---`` are walls (both directions);
    +    +----+    +        ``>`` between S0 and S1 is one-way: S0 -> S1 is
    | S3 | S4   S5 |        allowed but S1 -> S0 is blocked, exactly as in the
    +----+    +----+        tutorial's allowed-move table (its drawing shows no
    | S6   S7   S8 |        wall there; the table is what its agent used).
    +----+----+----+

Actions are 0 = up, 1 = right, 2 = down, 3 = left. A move into a wall or off
the grid leaves the agent in place with reward 0; entering the goal gives
reward 1 and terminates. S3 is a dead end (walls to S4 and S6), so the shortest
path is 6 moves: S0 -> S1 -> S2 -> S5 -> S4 -> S7 -> S8.

Custom layouts are a :class:`MazeLayout` (or a dict of its fields), e.g. an open
2x3 room with one wall::

    make_grid_maze(layout=dict(rows=2, cols=3, walls=[(1, 4)], start=0, goal=5))
"""

from __future__ import annotations

import operator
from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from rljax._errors import ValidationError
from rljax.envs.tabular import EnvParams, TabularEnv, model_from_dense

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
# (d_row, d_col) of each action, in action order.
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))


@dataclass(frozen=True)
class MazeLayout:
    """A rectangular maze; cells are numbered row-major, ``cell = row * cols + col``.

    Attributes:
      rows, cols: grid size (at least 2 cells in all).
      walls: pairs ``(u, v)`` of adjacent cells with a wall between them; it
        blocks both ``u -> v`` and ``v -> u``. Order within a pair is free.
      one_way: ordered pairs ``(u, v)`` of adjacent cells: only the move
        ``u -> v`` is blocked (``v -> u`` stays open unless also walled).
      start: the start cell.
      goal: the goal cell (terminal, reward 1 on entry); defaults to the last cell.
    """

    rows: int
    cols: int
    walls: tuple[tuple[int, int], ...] = ()
    one_way: tuple[tuple[int, int], ...] = ()
    start: int = 0
    goal: int | None = None


# The maze notes' maze: walls S1|S4, S3|S4, S3|S6, S5|S8 as drawn, plus the seed
# table's one-way block S1 -> S0.
MAZE_LAYOUT = MazeLayout(
    rows=3,
    cols=3,
    walls=((1, 4), (3, 4), (3, 6), (5, 8)),
    one_way=((1, 0),),
    start=0,
    goal=8,
)


def _as_layout(layout: MazeLayout | Mapping[str, Any] | None) -> MazeLayout:
    if layout is None:
        return MAZE_LAYOUT
    if isinstance(layout, MazeLayout):
        return layout
    if isinstance(layout, Mapping):
        unknown = set(layout) - set(MazeLayout.__dataclass_fields__)
        if unknown:
            raise ValidationError(
                f"unknown maze layout keys {sorted(unknown)}; expected {sorted(MazeLayout.__dataclass_fields__)}"
            )
        return MazeLayout(**layout)
    raise ValidationError(
        f"maze layout must be a MazeLayout, a dict of its fields or None; got {type(layout).__name__}"
    )


def _check_pairs(kind: str, pairs: Any, rows: int, cols: int) -> tuple[tuple[int, int], ...]:
    """Validates pairs of adjacent in-grid cells; returns them as int tuples."""
    out = []
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValidationError(f"maze {kind} entry {pair!r} is not a pair of cells")
        u, v = (operator.index(c) for c in pair)
        for c in (u, v):
            if not 0 <= c < rows * cols:
                raise ValidationError(
                    f"maze {kind} ({u}, {v}): cell {c} is outside the {rows}x{cols} grid (cells 0..{rows * cols - 1})"
                )
        (ur, uc), (vr, vc) = divmod(u, cols), divmod(v, cols)
        if abs(ur - vr) + abs(uc - vc) != 1:
            raise ValidationError(f"maze {kind} ({u}, {v}): cells {u} and {v} are not adjacent")
        out.append((u, v))
    return tuple(out)


def validate_layout(layout: MazeLayout | Mapping[str, Any] | None) -> MazeLayout:
    """Checks a layout and returns it normalized (ints, sorted wall pairs, goal set).

    Raises:
      ValueError: naming the problem: grid too small, start/goal outside the grid
        or equal, a wall between non-adjacent or outside cells, or a goal that
        cannot be reached from the start.
    """
    layout = _as_layout(layout)
    rows, cols = operator.index(layout.rows), operator.index(layout.cols)
    if rows < 1 or cols < 1 or rows * cols < 2:
        raise ValidationError(f"maze must have rows, cols >= 1 and at least 2 cells; got {rows}x{cols}")
    n = rows * cols
    start = operator.index(layout.start)
    goal = n - 1 if layout.goal is None else operator.index(layout.goal)
    for what, cell in (("start", start), ("goal", goal)):
        if not 0 <= cell < n:
            raise ValidationError(f"maze {what} {cell} is outside the {rows}x{cols} grid (cells 0..{n - 1})")
    if start == goal:
        raise ValidationError(f"maze start and goal must differ; both are {start}")
    walls = _check_pairs("wall", layout.walls, rows, cols)
    walls = tuple(sorted({(min(u, v), max(u, v)) for u, v in walls}))
    one_way = tuple(sorted(set(_check_pairs("one_way", layout.one_way, rows, cols))))
    normalized = MazeLayout(rows, cols, walls, one_way, start, goal)
    if goal not in _reachable(normalized, start):
        raise ValidationError(f"maze goal {goal} cannot be reached from start {start}")
    return normalized


def _successor(layout: MazeLayout, cell: int, action: int) -> int:
    """Where ``action`` leads from ``cell`` (itself if blocked by a wall or the border)."""
    r, c = divmod(cell, layout.cols)
    dr, dc = _MOVES[action]
    r2, c2 = r + dr, c + dc
    if not (0 <= r2 < layout.rows and 0 <= c2 < layout.cols):
        return cell
    nxt = r2 * layout.cols + c2
    if (min(cell, nxt), max(cell, nxt)) in layout.walls or (cell, nxt) in layout.one_way:
        return cell
    return nxt


def _reachable(layout: MazeLayout, start: int) -> set[int]:
    seen, frontier = {start}, deque([start])
    while frontier:
        cell = frontier.popleft()
        for a in range(4):
            nxt = _successor(layout, cell, a)
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


class GridMazeEnv(TabularEnv):
    """A :class:`MazeLayout` as a :class:`TabularEnv`; observations are the cell index.

    Attributes (what a renderer needs):
      layout: the normalized :class:`MazeLayout`.
      rows, cols, start, goal: as in the layout.
      walls: sorted ``(u, v)`` pairs with ``u < v``, blocked both ways.
      one_way: sorted ``(u, v)`` pairs, only ``u -> v`` blocked.
      allowed_moves: bool ``[rows * cols, 4]``, whether each action moves the agent
        (the tutorial's allowed-move table, with True for 1 and False for nan).
    """

    def __init__(self, layout: MazeLayout | Mapping[str, Any] | None, max_steps_in_episode: int):
        layout = validate_layout(layout)
        n = layout.rows * layout.cols
        T = np.zeros((n, 4, n))
        R = np.zeros((n, 4, n))
        allowed = np.zeros((n, 4), dtype=bool)
        for s in range(n):
            for a in range(4):
                nxt = _successor(layout, s, a)
                allowed[s, a] = nxt != s
                if s == layout.goal:
                    nxt = s  # absorbing, value 0 for planning; never stepped from
                T[s, a, nxt] = 1.0
                if nxt == layout.goal and s != layout.goal:
                    R[s, a, nxt] = 1.0
        terminal = np.zeros(n, dtype=bool)
        terminal[layout.goal] = True
        initial = np.zeros(n)
        initial[layout.start] = 1.0
        super().__init__(model_from_dense(T, R, initial, terminal), max_steps_in_episode, "GridMaze")
        self.layout = layout
        self.rows, self.cols = layout.rows, layout.cols
        self.walls, self.one_way = layout.walls, layout.one_way
        self.start, self.goal = layout.start, int(layout.goal)
        self.allowed_moves = allowed


def make_grid_maze(
    layout: MazeLayout | Mapping[str, Any] | None = None, max_steps_in_episode: int = 100
) -> tuple[GridMazeEnv, EnvParams]:
    """Makes a grid maze: the maze notes' 3x3 maze by default.

    Args:
      layout: a :class:`MazeLayout`, a dict of its fields (``rows``, ``cols``,
        ``walls``, ``one_way``, ``start``, ``goal``), or None for
        :data:`MAZE_LAYOUT`. Validated by :func:`validate_layout`.
      max_steps_in_episode: time limit (truncation), >= 1.

    Returns:
      ``(env, env.default_params)``.
    """
    if max_steps_in_episode < 1:
        raise ValidationError(f"max_steps_in_episode must be >= 1; got {max_steps_in_episode}")
    env = GridMazeEnv(layout, max_steps_in_episode)
    return env, env.default_params
