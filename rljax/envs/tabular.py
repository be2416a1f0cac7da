"""Finite MDPs stored as arrays, stepped as gymnax environments.

Every tabular environment in rljax (Taxi, FrozenLake, Chain, GridMaze, TabularMDP)
is a :class:`TabularEnv` built from a :class:`TabularModel`. The model keeps, for
each (state, action), up to K possible outcomes — the same shape as Gymnasium's
``env.P[s][a]`` list of ``(prob, next_state, reward, terminated)`` — so a step is
one categorical draw over K entries, not over all S states. Dense ``T[s, a, s']``
and ``R[s, a, s']`` are derived on demand for planning and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax._errors import ValidationError
from rljax.envs._gymnax import environment, spaces


@dataclass(frozen=True, eq=False)
class TabularModel:
    """The full model of a finite MDP, as numpy arrays (constants of the environment).

    Attributes:
      next_state: int32 ``[S, A, K]``, the K possible successors of (s, a).
      prob: float ``[S, A, K]``, their probabilities (each ``[s, a, :]`` sums to 1
        for allowed actions).
      reward: float ``[S, A, K]``, the reward of each outcome.
      terminal: bool ``[S]``, entering such a state ends the episode (terminated).
      initial: float ``[S]``, the initial-state distribution.
      action_mask: bool ``[S, A]``, False for impossible actions (planning gives
        them Q = -inf; the environment treats them as a no-op with reward 0).
    """

    next_state: np.ndarray
    prob: np.ndarray
    reward: np.ndarray
    terminal: np.ndarray
    initial: np.ndarray
    action_mask: np.ndarray

    @property
    def num_states(self) -> int:
        return int(self.next_state.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.next_state.shape[1])

    def _dense(self, values: np.ndarray) -> np.ndarray:
        """Sums ``values[s, a, k]`` into ``[s, a, next_state[s, a, k]]``: sparse -> dense."""
        S, A, K = self.next_state.shape
        dense = np.zeros((S, A, S), dtype=np.float64)
        s_idx, a_idx = np.meshgrid(np.arange(S), np.arange(A), indexing="ij")
        for k in range(K):
            np.add.at(dense, (s_idx, a_idx, self.next_state[:, :, k]), values[:, :, k])
        return dense

    @property
    def T(self) -> np.ndarray:
        """Dense transition probabilities ``T[s, a, s']``."""
        return self._dense(self.prob)

    @property
    def R(self) -> np.ndarray:
        """Dense expected reward ``R[s, a, s']`` of landing in s' after (s, a)."""
        T = self.T
        weighted = self._dense(self.prob * self.reward)
        return np.divide(weighted, T, out=np.zeros_like(weighted), where=T > 0)


def model_from_dense(
    T: np.ndarray,
    R: np.ndarray,
    initial: np.ndarray,
    terminal: np.ndarray | None = None,
    action_mask: np.ndarray | None = None,
    atol: float = 1e-6,
) -> TabularModel:
    """Builds a :class:`TabularModel` from dense ``T[s, a, s']`` and ``R[s, a, s']``.

    Validates shapes and that every allowed action's row of T sums to 1, with
    errors that name the offending entry.
    """
    T = np.asarray(T, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if T.ndim != 3 or T.shape[0] != T.shape[2]:
        raise ValidationError(f"T must have shape [S, A, S]; got {T.shape}")
    S, A, _ = T.shape
    if R.shape != T.shape:
        raise ValidationError(f"R must have the same shape as T {T.shape}; got {R.shape}")
    initial = np.asarray(initial, dtype=np.float64)
    if initial.shape != (S,):
        raise ValidationError(f"initial distribution must have shape ({S},); got {initial.shape}")
    if np.any(initial < 0) or not np.isclose(initial.sum(), 1.0, atol=atol):
        raise ValidationError(f"initial distribution must be >= 0 and sum to 1; sums to {initial.sum()}")
    if action_mask is None:
        action_mask = np.ones((S, A), dtype=bool)
    action_mask = np.asarray(action_mask, dtype=bool)
    if action_mask.shape != (S, A):
        raise ValidationError(f"action_mask must have shape ({S}, {A}); got {action_mask.shape}")
    if terminal is None:
        terminal = np.zeros(S, dtype=bool)
    terminal = np.asarray(terminal, dtype=bool)
    if terminal.shape != (S,):
        raise ValidationError(f"terminal must have shape ({S},); got {terminal.shape}")
    if np.any(T < 0):
        s, a, s2 = np.argwhere(T < 0)[0]
        raise ValidationError(f"T[{s}, {a}, {s2}] = {T[s, a, s2]} is negative")
    sums = T.sum(axis=2)
    bad = action_mask & ~np.isclose(sums, 1.0, atol=atol)
    if np.any(bad):
        s, a = np.argwhere(bad)[0]
        raise ValidationError(
            f"T[{s}, {a}, :] sums to {sums[s, a]:.6g}, not 1 "
            f"(rows of allowed actions must be probability distributions)"
        )
    K = max(1, int((T > 0).sum(axis=2).max()))
    next_state = np.zeros((S, A, K), dtype=np.int32)
    prob = np.zeros((S, A, K), dtype=np.float64)
    reward = np.zeros((S, A, K), dtype=np.float64)
    for s in range(S):
        for a in range(A):
            if not action_mask[s, a]:
                next_state[s, a, :] = s  # impossible action: stay put, reward 0
                prob[s, a, 0] = 1.0
                continue
            succ = np.flatnonzero(T[s, a] > 0)
            next_state[s, a, : len(succ)] = succ
            next_state[s, a, len(succ) :] = succ[0] if len(succ) else s
            prob[s, a, : len(succ)] = T[s, a, succ]
            reward[s, a, : len(succ)] = R[s, a, succ]
    return TabularModel(next_state, prob, reward, terminal, initial, action_mask)


def _cumulative(prob: np.ndarray) -> np.ndarray:
    """Cumulative sums along the last axis, the last entry forced to exactly 1."""
    cum = np.cumsum(np.asarray(prob, dtype=np.float64), axis=-1)
    cum /= np.where(cum[..., -1:] > 0, cum[..., -1:], 1.0)
    cum[..., -1] = 1.0
    return cum


def _inverse_cdf(key: jax.Array, cum: jax.Array) -> jax.Array:
    """Index i with probability cum[i] - cum[i-1], from one uniform draw."""
    u = jax.random.uniform(key)
    return jnp.minimum(jnp.sum(cum <= u), cum.shape[-1] - 1).astype(jnp.int32)


@struct.dataclass
class EnvState(environment.EnvState):
    position: jax.Array  # int32 index of the current state
    time: int


@struct.dataclass
class EnvParams(environment.EnvParams):
    max_steps_in_episode: int = 100


class TabularEnv(environment.Environment[EnvState, EnvParams]):
    """A gymnax environment whose dynamics are a :class:`TabularModel`.

    Observations are the int32 state index. Entering a terminal state sets
    ``terminated``; reaching ``params.max_steps_in_episode`` sets ``truncated``
    (gymnax's base class handles the time limit and the auto-reset).
    """

    def __init__(self, model: TabularModel, max_steps_in_episode: int, name: str):
        super().__init__()
        self.model = model
        self._max_steps = int(max_steps_in_episode)
        self._name = name
        # Device constants, closed over by the traced step. Outcomes are drawn by
        # inverting cumulative distributions with one uniform number: gymnax
        # computes a reset on every step, and a categorical draw over all S
        # initial states made Taxi 50x slower than CartPole.
        self._next_state = jnp.asarray(model.next_state, dtype=jnp.int32)
        self._cum_prob = jnp.asarray(_cumulative(model.prob), dtype=jnp.float32)
        self._reward = jnp.asarray(model.reward, dtype=jnp.float32)
        self._terminal = jnp.asarray(model.terminal, dtype=bool)
        self._cum_initial = jnp.asarray(_cumulative(model.initial), dtype=jnp.float32)

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self._max_steps)

    def step_env(
        self, key: jax.Array, state: EnvState, action: int | jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[str, Any]]:
        s, a = state.position, jnp.asarray(action, dtype=jnp.int32)
        k = _inverse_cdf(key, self._cum_prob[s, a])
        next_position = self._next_state[s, a, k]
        reward = self._reward[s, a, k]
        terminated = self._terminal[next_position]
        state = EnvState(position=next_position, time=state.time + 1)
        return self.get_obs(state), state, reward, terminated, {}

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        position = _inverse_cdf(key, self._cum_initial)
        state = EnvState(position=position, time=0)
        return self.get_obs(state), state

    def get_obs(self, state: EnvState, params: EnvParams | None = None, key=None) -> jax.Array:
        return state.position

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        return self._terminal[state.position]

    @property
    def name(self) -> str:
        return self._name

    @property
    def num_actions(self) -> int:
        return self.model.num_actions

    @property
    def num_states(self) -> int:
        return self.model.num_states

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.model.num_actions)

    def observation_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.model.num_states)

    def state_space(self, params: EnvParams | None = None) -> spaces.Dict:
        return spaces.Dict(
            {
                "position": spaces.Discrete(self.model.num_states),
                "time": spaces.Discrete(self._max_steps),
            }
        )
