"""TabularMDP: any finite MDP given as dense arrays, and the keras-rl lecture's 3-state MDP as a preset.

::

    env, params = rljax.make("TabularMDP", T=T, R=R)           # your own MDP
    env, params = rljax.make("TabularMDP", preset="lecture-3-state")   # the keras-rl lecture's MDP
"""

from __future__ import annotations

import operator
from typing import Callable

import numpy as np

from rljax._errors import ValidationError
from rljax.envs.tabular import EnvParams, TabularEnv, model_from_dense


def three_state_mdp() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The keras-rl lecture's 3-state, 3-action MDP as dense arrays ``(T, R, action_mask)``.

    ``T[s, a, s']`` and ``R[s, a, s']`` are float64 ``[3, 3, 3]``; the tutorial's
    ``None`` rows (impossible actions) are all-zero rows of T with
    ``action_mask[s, a] = False``. Allowed actions: state 0: {0, 1, 2}, state 1:
    {0, 2}, state 2: {1}. There is no terminal state (episodes end by the time
    limit). With gamma = 0.9 the optimal Q (impossible actions as -inf) is about::

        [[18.92, 17.03, 13.62],
         [ 0.00,  -inf, -4.88],
         [ -inf, 50.13,  -inf]]
    """
    transition_probabilities = [  # shape=[s, a, s'], as in the seed
        [[0.7, 0.3, 0.0], [1.0, 0.0, 0.0], [0.8, 0.2, 0.0]],
        [[0.0, 1.0, 0.0], None, [0.0, 0.0, 1.0]],
        [None, [0.8, 0.1, 0.1], None],
    ]
    rewards = [  # shape=[s, a, s']
        [[+10, 0, 0], [0, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 0], [0, 0, -50]],
        [[0, 0, 0], [+40, 0, 0], [0, 0, 0]],
    ]
    possible_actions = [[0, 1, 2], [0, 2], [1]]
    T = np.array([[row if row is not None else [0.0] * 3 for row in s] for s in transition_probabilities])
    R = np.array(rewards, dtype=np.float64)
    action_mask = np.zeros((3, 3), dtype=bool)
    for s, actions in enumerate(possible_actions):
        action_mask[s, actions] = True
    return T, R, action_mask


# name -> () -> (T, R, action_mask)
PRESETS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
    "lecture-3-state": three_state_mdp,
}


def make_tabular_mdp(
    T: np.ndarray | None = None,
    R: np.ndarray | None = None,
    initial: np.ndarray | int | None = None,
    terminal: np.ndarray | None = None,
    action_mask: np.ndarray | None = None,
    max_steps_in_episode: int = 100,
    preset: str | None = None,
) -> tuple[TabularEnv, EnvParams]:
    """Makes a :class:`TabularEnv` from dense arrays (validated by ``model_from_dense``).

    Args:
      T: transition probabilities ``[S, A, S]``; each allowed action's row sums to 1.
      R: rewards ``[S, A, S]`` of landing in s' after (s, a).
      initial: initial-state distribution ``[S]``, or a state index; defaults to state 0.
      terminal: bool ``[S]``, states that end the episode on entry; default none.
      action_mask: bool ``[S, A]``, False for impossible actions; default all allowed.
      max_steps_in_episode: time limit (truncation), >= 1.
      preset: instead of T/R/action_mask, a named MDP from :data:`PRESETS`
        (``"lecture-3-state"``: :func:`three_state_mdp`).

    Raises:
      ValueError: unknown preset, preset combined with T/R/action_mask, missing
        T or R, a bad ``initial`` index, or anything ``model_from_dense`` rejects
        (shape mismatches, rows not summing to 1, ...).
    """
    if max_steps_in_episode < 1:
        raise ValidationError(f"max_steps_in_episode must be >= 1; got {max_steps_in_episode}")
    if preset is not None:
        if preset not in PRESETS:
            raise ValidationError(f"unknown TabularMDP preset {preset!r}; known presets: {sorted(PRESETS)}")
        if T is not None or R is not None or action_mask is not None:
            raise ValidationError("give either preset or T/R/action_mask, not both")
        T, R, action_mask = PRESETS[preset]()
    if T is None or R is None:
        raise ValidationError("TabularMDP needs both T [S, A, S] and R [S, A, S] (or a preset)")
    T = np.asarray(T, dtype=np.float64)
    if T.ndim != 3:  # checked here too: the default `initial` needs S
        raise ValidationError(f"T must have shape [S, A, S]; got {T.shape}")
    if initial is None or np.ndim(initial) == 0:  # a start state, not a distribution
        index = 0 if initial is None else operator.index(initial)
        if not 0 <= index < T.shape[0]:
            raise ValidationError(f"initial state {index} is outside the {T.shape[0]} states")
        initial = np.zeros(T.shape[0])
        initial[index] = 1.0
    model = model_from_dense(T, R, initial, terminal, action_mask)
    env = TabularEnv(model, max_steps_in_episode, name="TabularMDP")
    return env, env.default_params
