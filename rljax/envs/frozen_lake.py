"""FrozenLake-v1 as a :class:`~rljax.envs.tabular.TabularEnv`.

Gymnasium's dynamics: the agent walks on a grid of S (start), F (frozen), H (hole)
and G (goal) cells; state ``row * ncol + col``; actions 0 left, 1 down, 2 right,
3 up. On a slippery lake the agent moves in the intended direction with
probability 1/3 and in each perpendicular direction with probability 1/3; a move
into the border leaves it in place. Entering G gives reward 1; entering H or G
ends the episode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rljax._errors import ValidationError
from rljax.envs.tabular import EnvParams, TabularEnv, TabularModel

LEFT, DOWN, RIGHT, UP = range(4)
NUM_ACTIONS = 4
# (d_row, d_col) of each action.
_MOVES = ((0, -1), (1, 0), (0, 1), (-1, 0))

# Gymnasium's built-in maps (gymnasium.envs.toy_text.frozen_lake.MAPS).
MAPS: dict[str, tuple[str, ...]] = {
    "4x4": ("SFFF", "FHFH", "FFFH", "HFFG"),
    "8x8": (
        "SFFFFFFF",
        "FFFFFFFF",
        "FFFHFFFF",
        "FFFFFHFF",
        "FFFHFFFF",
        "FHHFFFHF",
        "FHFFHFHF",
        "FFFHFFFG",
    ),
}
_CELLS = "SFHG"


class FrozenLakeEnv(TabularEnv):
    """A :class:`TabularEnv` that also keeps its map, for rendering.

    Attributes:
      desc: the map, one string per row, e.g. ``("SFFF", "FHFH", "FFFH", "HFFG")``.
      is_slippery: whether moves slip to the perpendicular directions.
    """

    def __init__(
        self,
        model: TabularModel,
        max_steps_in_episode: int,
        name: str,
        desc: tuple[str, ...],
        is_slippery: bool,
    ):
        super().__init__(model, max_steps_in_episode, name)
        self.desc = desc
        self.is_slippery = is_slippery

    @property
    def nrow(self) -> int:
        return len(self.desc)

    @property
    def ncol(self) -> int:
        return len(self.desc[0])


def _row_to_str(row: str | bytes | Sequence[str | bytes]) -> str:
    """A map row as a string; also accepts bytes and lists of characters, as Gymnasium does."""
    if isinstance(row, bytes):
        return row.decode()
    if isinstance(row, str):
        return row
    return "".join(c.decode() if isinstance(c, bytes) else str(c) for c in row)


def validate_desc(desc: Sequence[str]) -> tuple[str, ...]:
    """Checks a custom map and returns it as a tuple of row strings.

    Raises:
      ValueError: naming the problem — empty map, ragged rows, unknown characters,
        no start or several starts, no goal.
    """
    if isinstance(desc, str):
        raise ValidationError(
            f"desc must be a list of row strings such as ['SFFF', 'FHFH', ...], not a single string {desc!r}"
        )
    rows = tuple(_row_to_str(row) for row in desc)
    if not rows or not rows[0]:
        raise ValidationError("desc must have at least one row and one column; got an empty map")
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValidationError(
                f"desc rows must all have the same length: row {i} ({row!r}) has length "
                f"{len(row)}, expected {width} (the length of row 0)"
            )
    unknown = sorted({c for row in rows for c in row} - set(_CELLS))
    if unknown:
        raise ValidationError(
            f"desc has unknown characters {', '.join(map(repr, unknown))}; "
            f"allowed are S (start), F (frozen), H (hole), G (goal)"
        )
    starts = sum(row.count("S") for row in rows)
    if starts == 0:
        raise ValidationError("desc has no start cell 'S'; it needs exactly one")
    if starts > 1:
        raise ValidationError(f"desc has {starts} start cells 'S'; it needs exactly one")
    if not any("G" in row for row in rows):
        raise ValidationError("desc has no goal cell 'G'; it needs at least one")
    return rows


def build_frozen_lake_model(desc: Sequence[str], is_slippery: bool = True) -> TabularModel:
    """The :class:`TabularModel` of FrozenLake on map ``desc``.

    A slippery lake has K = 3 outcomes per (state, action), in Gymnasium's order
    (action - 1, action, action + 1 mod 4); several may land on the same cell
    (e.g. along a border), exactly as in Gymnasium's ``P``. H and G are absorbing
    (stay, reward 0), like Gymnasium, though the episode ends on entering them.
    """
    rows = validate_desc(desc)
    grid = np.array([list(row) for row in rows])
    nrow, ncol = grid.shape
    num_states = nrow * ncol
    directions = (-1, 0, 1) if is_slippery else (0,)  # offsets from the intended action
    K = len(directions)

    next_state = np.zeros((num_states, NUM_ACTIONS, K), dtype=np.int32)
    prob = np.zeros((num_states, NUM_ACTIONS, K), dtype=np.float64)
    reward = np.zeros((num_states, NUM_ACTIONS, K), dtype=np.float64)
    for row in range(nrow):
        for col in range(ncol):
            s = row * ncol + col
            if grid[row, col] in "HG":
                next_state[s] = s
                prob[s, :, 0] = 1.0  # other entries keep probability 0
                continue
            for a in range(NUM_ACTIONS):
                for k, offset in enumerate(directions):
                    d_row, d_col = _MOVES[(a + offset) % NUM_ACTIONS]
                    r2 = min(max(row + d_row, 0), nrow - 1)
                    c2 = min(max(col + d_col, 0), ncol - 1)
                    next_state[s, a, k] = r2 * ncol + c2
                    prob[s, a, k] = 1.0 / K
                    reward[s, a, k] = float(grid[r2, c2] == "G")
    cells = grid.ravel()
    return TabularModel(
        next_state=next_state,
        prob=prob,
        reward=reward,
        terminal=np.isin(cells, ("H", "G")),
        initial=(cells == "S").astype(np.float64),  # validate_desc ensures one S
        action_mask=np.ones((num_states, NUM_ACTIONS), dtype=bool),
    )


def _make(
    map_name: str | None,
    is_slippery: bool,
    desc: Sequence[str] | None,
    max_steps_in_episode: int,
    name: str,
) -> tuple[FrozenLakeEnv, EnvParams]:
    if desc is None:
        if map_name not in MAPS:
            raise ValidationError(
                f"unknown map_name {map_name!r}; allowed are {', '.join(map(repr, MAPS))} "
                f"(or pass a custom map as desc=[...])"
            )
        desc = MAPS[map_name]
    rows = validate_desc(desc)
    model = build_frozen_lake_model(rows, is_slippery)
    env = FrozenLakeEnv(model, max_steps_in_episode, name, rows, bool(is_slippery))
    return env, env.default_params


def make_frozen_lake(
    map_name: str = "4x4",
    is_slippery: bool = True,
    desc: Sequence[str] | None = None,
    max_steps_in_episode: int = 100,
) -> tuple[FrozenLakeEnv, EnvParams]:
    """Makes FrozenLake-v1.

    Args:
      map_name: a built-in map, ``"4x4"`` or ``"8x8"``; ignored when ``desc`` is given.
      is_slippery: move in the intended direction with probability 1/3 only.
      desc: a custom map, one string per row over ``S F H G``, e.g.
        ``["SFFF", "FHFH", "FFFH", "HFFG"]``; exactly one S, at least one G.
      max_steps_in_episode: the time limit. Gymnasium registers FrozenLake-v1 with
        100 steps whatever the map.

    Returns:
      ``(env, env_params)``; ``env.desc`` holds the map as a tuple of strings.

    Raises:
      ValueError: for an unknown ``map_name`` or a malformed ``desc``.
    """
    return _make(map_name, is_slippery, desc, max_steps_in_episode, "FrozenLake-v1")


def make_frozen_lake_8x8(
    map_name: str = "8x8",
    is_slippery: bool = True,
    desc: Sequence[str] | None = None,
    max_steps_in_episode: int = 200,
) -> tuple[FrozenLakeEnv, EnvParams]:
    """Makes FrozenLake8x8-v1: :func:`make_frozen_lake` on the 8x8 map, 200-step limit."""
    return _make(map_name, is_slippery, desc, max_steps_in_episode, "FrozenLake8x8-v1")
