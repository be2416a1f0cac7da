"""Chain: the one-dimensional corridor "DSSYSSR" from the CartPole Q-learning seed.

::

    D S S Y S S R        D = death (terminal, reward 0)
    0 1 2 3 4 5 6        Y = start, R = reward (terminal, reward 1)

Actions are 0 = left and 1 = right, deterministic. The optimal policy always goes
right; with discount gamma, ``Q(s, right) = gamma ** (length - 2 - s)``, so in the
default corridor ``Q(5, right) = 1``, ``Q(4, right) = gamma``, ``Q(3, right) = gamma**2``.
"""

from __future__ import annotations

import operator

import numpy as np

from rljax._errors import ValidationError
from rljax.envs.tabular import EnvParams, TabularEnv, TabularModel, model_from_dense

LEFT, RIGHT = 0, 1


def chain_model(length: int = 7, start: int | None = None) -> TabularModel:
    """The :class:`TabularModel` of a corridor of ``length`` cells (see the module doc).

    Raises:
      ValueError: if ``length < 3`` or ``start`` is not strictly inside the corridor.
    """
    length = operator.index(length)
    if length < 3:
        raise ValidationError(f"Chain length must be >= 3 (two ends and a start cell); got {length}")
    start = length // 2 if start is None else operator.index(start)
    if not 0 < start < length - 1:
        raise ValidationError(f"Chain start must be strictly inside the corridor, in [1, {length - 2}]; got {start}")
    S, A = length, 2
    T = np.zeros((S, A, S))
    R = np.zeros((S, A, S))
    for s in range(1, length - 1):
        T[s, LEFT, s - 1] = 1.0
        T[s, RIGHT, s + 1] = 1.0
    R[length - 2, RIGHT, length - 1] = 1.0
    # Both ends are absorbing: they are never stepped from (gymnax resets on
    # termination), but planning needs a well-formed row with value 0.
    for end in (0, length - 1):
        T[end, :, end] = 1.0
    terminal = np.zeros(S, dtype=bool)
    terminal[[0, length - 1]] = True
    initial = np.zeros(S)
    initial[start] = 1.0
    return model_from_dense(T, R, initial, terminal)


class ChainEnv(TabularEnv):
    """The corridor as a :class:`TabularEnv`; observations are the cell index.

    Attributes:
      length: number of cells; cells 0 and ``length - 1`` are terminal.
      start: the start cell.
    """

    def __init__(self, length: int = 7, start: int | None = None, max_steps_in_episode: int = 100):
        model = chain_model(length, start)
        super().__init__(model, max_steps_in_episode, name="Chain")
        self.length = int(length)
        self.start = int(np.argmax(model.initial))

    def optimal_q(self, gamma: float) -> np.ndarray:
        """Exact optimal ``Q[s, a]`` for every cell, float64 ``[length, 2]``.

        Terminal rows are 0. For an inner cell s, ``Q(s, right) = gamma**(length-2-s)``
        and ``Q(s, left) = gamma * V(s-1)`` (0 next to the death cell).
        """
        L = self.length
        q = np.zeros((L, 2))
        for s in range(1, L - 1):
            q[s, RIGHT] = gamma ** (L - 2 - s)
            q[s, LEFT] = gamma ** (L - s) if s >= 2 else 0.0
        return q


def make_chain(
    length: int = 7, start: int | None = None, max_steps_in_episode: int = 100
) -> tuple[ChainEnv, EnvParams]:
    """Makes the corridor "DSSYSSR" (``length=7``) or a longer/shorter one.

    Args:
      length: number of cells (>= 3). Entering cell 0 terminates with reward 0;
        entering cell ``length - 1`` terminates with reward 1; every other step
        gives reward 0.
      start: start cell, strictly inside; defaults to the middle cell
        ``length // 2`` (3 for the default corridor).
      max_steps_in_episode: time limit (truncation), >= 1.

    Returns:
      ``(env, env.default_params)``.
    """
    if max_steps_in_episode < 1:
        raise ValidationError(f"max_steps_in_episode must be >= 1; got {max_steps_in_episode}")
    env = ChainEnv(length, start, max_steps_in_episode)
    return env, env.default_params
