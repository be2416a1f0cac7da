"""Taxi-v3 (Dietterich's taxi domain) as a :class:`~rljax.envs.tabular.TabularEnv`.

The table is Gymnasium's classic deterministic Taxi (``Taxi-v3``, identical to
``Taxi-v4`` with its default arguments): 500 states, 6 actions, one outcome per
(state, action).

State encoding (as Gymnasium): ``((taxi_row * 5 + taxi_col) * 5 + pass_loc) * 4 + dest_idx``
with ``pass_loc`` in 0..3 for the four stands R, G, Y, B and 4 for "in the taxi",
and ``dest_idx`` in 0..3.

Actions: 0 south, 1 north, 2 east, 3 west, 4 pickup, 5 dropoff. Rewards: -1 per
step, -10 for an illegal pickup or dropoff, +20 for delivering the passenger,
which terminates the episode.
"""

from __future__ import annotations

import numpy as np

from rljax.envs.tabular import EnvParams, TabularEnv, TabularModel

# The map Gymnasium uses. Only the characters between cells matter: ":" is an
# open passage, "|" a wall, so east/west moves read the character next to the cell.
MAP = (
    "+---------+",
    "|R: | : :G|",
    "| : | : : |",
    "| : : : : |",
    "| | : | : |",
    "|Y| : |B: |",
    "+---------+",
)
# (row, col) of the stands R, G, Y, B; pass_loc / dest_idx index this tuple.
LOCS = ((0, 0), (0, 4), (4, 0), (4, 3))

NUM_ROWS = NUM_COLS = 5
NUM_STATES = NUM_ROWS * NUM_COLS * (len(LOCS) + 1) * len(LOCS)  # 500
NUM_ACTIONS = 6
SOUTH, NORTH, EAST, WEST, PICKUP, DROPOFF = range(NUM_ACTIONS)

STEP_REWARD = -1.0
ILLEGAL_REWARD = -10.0
DELIVERY_REWARD = 20.0
IN_TAXI = len(LOCS)


def encode(taxi_row: int, taxi_col: int, pass_loc: int, dest_idx: int) -> int:
    """The state index of (taxi_row, taxi_col, pass_loc, dest_idx), as Gymnasium."""
    return ((taxi_row * NUM_COLS + taxi_col) * (len(LOCS) + 1) + pass_loc) * len(LOCS) + dest_idx


def decode(state: int) -> tuple[int, int, int, int]:
    """The inverse of :func:`encode`: ``(taxi_row, taxi_col, pass_loc, dest_idx)``."""
    state, dest_idx = divmod(int(state), len(LOCS))
    state, pass_loc = divmod(state, len(LOCS) + 1)
    taxi_row, taxi_col = divmod(state, NUM_COLS)
    return taxi_row, taxi_col, pass_loc, dest_idx


def _transition(row: int, col: int, pass_loc: int, dest_idx: int, action: int) -> tuple[int, float, bool]:
    """``(next_state, reward, terminated)`` of one (state, action) of the dry taxi."""
    taxi_loc = (row, col)
    reward, terminated = STEP_REWARD, False
    if action == SOUTH:
        row = min(row + 1, NUM_ROWS - 1)
    elif action == NORTH:
        row = max(row - 1, 0)
    elif action == EAST:
        if MAP[1 + row][2 * col + 2] == ":":
            col += 1
    elif action == WEST:
        if MAP[1 + row][2 * col] == ":":
            col -= 1
    elif action == PICKUP:
        if pass_loc < IN_TAXI and taxi_loc == LOCS[pass_loc]:
            pass_loc = IN_TAXI
        else:  # no passenger here, or already in the taxi
            reward = ILLEGAL_REWARD
    elif action == DROPOFF:
        if pass_loc == IN_TAXI and taxi_loc == LOCS[dest_idx]:
            pass_loc, reward, terminated = dest_idx, DELIVERY_REWARD, True
        elif pass_loc == IN_TAXI and taxi_loc in LOCS:
            # Dropping off at another stand is legal (step cost only): the
            # passenger now waits there.
            pass_loc = LOCS.index(taxi_loc)
        else:
            reward = ILLEGAL_REWARD
    return encode(row, col, pass_loc, dest_idx), reward, terminated


def build_taxi_model() -> TabularModel:
    """The :class:`TabularModel` of Gymnasium's deterministic Taxi (K = 1 outcome).

    ``terminal`` marks the four states a delivery leads to (taxi and passenger at
    the destination). ``initial`` is uniform over the 300 states whose passenger
    waits at a stand other than the destination.

    Gymnasium flags ``terminated`` on the delivery transition, not on the state,
    so its table also has non-terminating moves *into* these four states — but
    only from the 100 post-delivery states (passenger already at the
    destination), which no episode visits. Within an episode the two agree.
    """
    next_state = np.zeros((NUM_STATES, NUM_ACTIONS, 1), dtype=np.int32)
    reward = np.zeros((NUM_STATES, NUM_ACTIONS, 1), dtype=np.float64)
    terminal = np.zeros(NUM_STATES, dtype=bool)
    initial = np.zeros(NUM_STATES, dtype=np.float64)
    for s in range(NUM_STATES):
        row, col, pass_loc, dest_idx = decode(s)
        if pass_loc < IN_TAXI and pass_loc != dest_idx:
            initial[s] = 1.0
        for a in range(NUM_ACTIONS):
            s_next, r, done = _transition(row, col, pass_loc, dest_idx, a)
            next_state[s, a, 0], reward[s, a, 0] = s_next, r
            if done:
                terminal[s_next] = True
    initial /= initial.sum()
    return TabularModel(
        next_state=next_state,
        prob=np.ones((NUM_STATES, NUM_ACTIONS, 1), dtype=np.float64),
        reward=reward,
        terminal=terminal,
        initial=initial.astype(np.float64),
        # Every action is allowed: moving into a wall is a no-op that still costs -1.
        action_mask=np.ones((NUM_STATES, NUM_ACTIONS), dtype=bool),
    )


def make_taxi(max_steps_in_episode: int = 200) -> tuple[TabularEnv, EnvParams]:
    """Makes Taxi-v3: Gymnasium's Taxi table with its 200-step time limit.

    Returns:
      ``(env, env_params)``.
    """
    env = TabularEnv(build_taxi_model(), max_steps_in_episode, name="Taxi-v3")
    return env, env.default_params
