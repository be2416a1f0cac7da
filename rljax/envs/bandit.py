"""BernoulliBandit: the keras-rl lecture's multi-armed bandit, one pull per episode.

Arm ``a`` pays 1 with probability ``probs[a]`` and 0 otherwise. The arm
probabilities live in ``EnvParams.probs`` (a float32 array), so a batch of
different bandits is one vmap over stacked params::

    env, params = rljax.make("BernoulliBandit", probs=(0.7, 0.2, 0.3))
    batch = EnvParams(probs=jnp.array([[0.7, 0.2, 0.3], [0.1, 0.5, 0.9]]))
    jax.vmap(env.step, in_axes=(0, 0, 0, 0))(keys, states, actions, batch)

All instances of one env must have the same number of arms (the action space
is static).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax._errors import ValidationError
from rljax.envs._gymnax import environment, spaces
from rljax.envs.tabular import TabularModel

EnvState = environment.EnvState  # only the time step: a bandit has one state


@struct.dataclass
class EnvParams(environment.EnvParams):
    # Static (not a pytree leaf), so vmapping over params maps over `probs` only.
    max_steps_in_episode: int = struct.field(pytree_node=False, default=1)
    probs: jax.Array = struct.field(default_factory=lambda: jnp.array([0.7, 0.2, 0.3], dtype=jnp.float32))


def _check_probs(probs: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] < 2:
        raise ValidationError(f"a bandit needs a 1-D sequence of at least 2 arm probabilities; got shape {arr.shape}")
    bad = ~((arr >= 0.0) & (arr <= 1.0))  # also catches nan
    if np.any(bad):
        a = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"arm probabilities must be in [0, 1]; probs[{a}] = {arr[a]}")
    return arr.astype(np.float32)


def bandit_model(probs: Sequence[float] | np.ndarray) -> TabularModel:
    """The bandit as a :class:`TabularModel`, for planning.

    State 0 is the single decision state, state 1 the absorbing terminal state.
    Each arm has K = 2 outcomes, both ending the episode: reward 1 with
    probability ``probs[a]`` and reward 0 with probability ``1 - probs[a]``; so
    ``Q(0, a) = probs[a]`` for any discount.
    """
    p = _check_probs(probs)
    A = p.shape[0]
    next_state = np.ones((2, A, 2), dtype=np.int32)
    prob = np.zeros((2, A, 2), dtype=np.float32)
    reward = np.zeros((2, A, 2), dtype=np.float32)
    prob[0, :, 0], prob[0, :, 1] = p, 1.0 - p
    reward[0, :, 0] = 1.0
    prob[1, :, 0] = 1.0  # terminal: stays put, reward 0
    return TabularModel(
        next_state=next_state,
        prob=prob,
        reward=reward,
        terminal=np.array([False, True]),
        initial=np.array([1.0, 0.0], dtype=np.float32),
        action_mask=np.ones((2, A), dtype=bool),
    )


class BernoulliBandit(environment.Environment[EnvState, EnvParams]):
    """A k-armed Bernoulli bandit; each episode is a single pull.

    Observation: always 0 (int32). Action: the arm. Reward: float32
    ``Bernoulli(params.probs[action])``. Every step terminates.

    Attributes:
      probs: float32 numpy ``[k]``, the probabilities given at construction
        (those of ``default_params`` and ``model``).
      best_arm: ``argmax(probs)``.
      model: :func:`bandit_model` of ``probs``; it does not follow params
        passed to ``step``.
    """

    def __init__(self, probs: Sequence[float] | np.ndarray = (0.7, 0.2, 0.3)):
        super().__init__()
        self.probs = _check_probs(probs)
        self.best_arm = int(np.argmax(self.probs))
        self.model = bandit_model(self.probs)

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=1, probs=jnp.asarray(self.probs))

    def step_env(
        self, key: jax.Array, state: EnvState, action: int | jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[str, Any]]:
        p = params.probs[jnp.asarray(action, dtype=jnp.int32)]
        reward = jax.random.bernoulli(key, p).astype(jnp.float32)
        state = EnvState(time=state.time + 1)
        return self.get_obs(state), state, reward, jnp.array(True), {}

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        state = EnvState(time=0)
        return self.get_obs(state), state

    def get_obs(self, state: EnvState, params: EnvParams | None = None, key=None) -> jax.Array:
        return jnp.zeros((), dtype=jnp.int32)

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        # Only meaningful after a pull; gymnax resets right after it.
        return state.time >= 1

    @property
    def name(self) -> str:
        return "BernoulliBandit"

    @property
    def num_actions(self) -> int:
        return int(self.probs.shape[0])

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def observation_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(1)

    def state_space(self, params: EnvParams | None = None) -> spaces.Dict:
        return spaces.Dict({"time": spaces.Discrete(2)})


def make_bernoulli_bandit(
    probs: Sequence[float] | np.ndarray = (0.7, 0.2, 0.3),
) -> tuple[BernoulliBandit, EnvParams]:
    """Makes a Bernoulli bandit with arm probabilities ``probs`` (the keras-rl lecture's by default).

    Raises:
      ValueError: fewer than 2 arms, not 1-D, or a probability outside [0, 1].
    """
    env = BernoulliBandit(probs)
    return env, env.default_params
