"""The five probe environments for debugging RL agents (Andy Jones, "Debugging RL, Without the
Agonizing Pain"), as :class:`TabularEnv` so tabular and neural agents can both use them.

Each probe isolates one part of an agent; run them in order, and the first one an
agent fails points at the broken part:

====  =====================================  =====  ===========  ===================================
 id   registry id                            acts   episode      what must be learned
====  =====================================  =====  ===========  ===================================
 1    ``Probe-ConstantReward``               1      1 step       V(0) = 1 (value loss, optimizer)
 2    ``Probe-ObsDependentReward``           1      1 step       V(0) = -1, V(1) = +1 (backprop)
 3    ``Probe-DiscountedReward``             1      2 steps      V(0) = gamma, V(1) = 1 (discounting)
 4    ``Probe-ActionDependentReward``        2      1 step       pick action 1; Q(0) = [-1, +1]
 5    ``Probe-ActionObsDependentReward``     2      1 step       pick action = obs; V = +1 everywhere
====  =====================================  =====  ===========  ===================================

Observations are the int32 state index. The non-terminal states are ``0 ..
n - 1`` and the absorbing terminal state is index ``n`` (``env.terminal_state``);
an agent never observes it, since gymnax resets on termination. Every probe
exposes the answer for tests: ``env.expected_q(gamma)`` (exact Q table of the
non-terminal states, ``[n, A]``), ``env.expected_v(gamma)`` (optimal values,
``[n]``) and ``env.optimal_policy`` (the action to pick in each non-terminal state).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from rljax._errors import ValidationError
from rljax.envs.tabular import EnvParams, TabularEnv, model_from_dense


class ProbeEnv(TabularEnv):
    """A deterministic probe environment with a known optimal Q table.

    Attributes:
      num_nonterminal_states: ``n``; the observations an agent sees are ``0 .. n-1``.
      terminal_state: ``n``, the absorbing terminal state.
      optimal_policy: int ``[n]``, the action an agent must learn in each state
        (0 for the one-action probes).
    """

    def __init__(
        self,
        name: str,
        next_state: np.ndarray,
        reward: np.ndarray,
        initial: np.ndarray,
        expected_q: Callable[[float], np.ndarray],
        max_steps_in_episode: int,
    ):
        # next_state / reward: [n, A] for the non-terminal states; the terminal
        # state n is appended here as an absorbing self-loop with reward 0.
        n, A = next_state.shape
        S = n + 1
        T = np.zeros((S, A, S))
        R = np.zeros((S, A, S))
        for s in range(n):
            for a in range(A):
                T[s, a, next_state[s, a]] = 1.0
                R[s, a, next_state[s, a]] = reward[s, a]
        T[n, :, n] = 1.0
        terminal = np.zeros(S, dtype=bool)
        terminal[n] = True
        initial = np.append(np.asarray(initial, dtype=np.float64), 0.0)
        super().__init__(model_from_dense(T, R, initial, terminal), max_steps_in_episode, name)
        self.num_nonterminal_states = n
        self.terminal_state = n
        self._expected_q = expected_q
        self.optimal_policy = np.argmax(expected_q(1.0), axis=1).astype(np.int32)

    def expected_q(self, gamma: float) -> np.ndarray:
        """Exact optimal ``Q[s, a]`` of the non-terminal states, float64 ``[n, A]``."""
        return np.asarray(self._expected_q(float(gamma)), dtype=np.float64)

    def expected_v(self, gamma: float) -> np.ndarray:
        """Exact optimal ``V[s] = max_a Q[s, a]`` of the non-terminal states, ``[n]``."""
        return self.expected_q(gamma).max(axis=1)


def _check_max_steps(max_steps_in_episode: int) -> None:
    if max_steps_in_episode < 1:
        raise ValidationError(f"max_steps_in_episode must be >= 1; got {max_steps_in_episode}")


def _make(env: ProbeEnv) -> tuple[ProbeEnv, EnvParams]:
    return env, env.default_params


def make_probe_1(max_steps_in_episode: int = 100) -> tuple[ProbeEnv, EnvParams]:
    """Probe 1: one action, one observation, one step long, reward +1.

    Must learn: ``V(0) = Q(0, 0) = 1`` for any gamma. Failing this points at the
    value loss or the optimizer. ``expected_q(gamma) = [[1]]``.
    """
    _check_max_steps(max_steps_in_episode)
    return _make(
        ProbeEnv(
            "Probe-ConstantReward",
            next_state=np.array([[1]]),
            reward=np.array([[1.0]]),
            initial=np.array([1.0]),
            expected_q=lambda gamma: np.array([[1.0]]),
            max_steps_in_episode=max_steps_in_episode,
        )
    )


def make_probe_2(max_steps_in_episode: int = 100) -> tuple[ProbeEnv, EnvParams]:
    """Probe 2: one action, observation 0 or 1 uniformly at random, one step long;
    reward -1 in state 0 and +1 in state 1 (``reward = 2 * obs - 1``).

    Must learn the observation-dependent value ``V = [-1, +1]`` for any gamma.
    Learning probe 1 but not this one points at backpropagation through the
    network. ``expected_q(gamma) = [[-1], [+1]]``.
    """
    _check_max_steps(max_steps_in_episode)
    return _make(
        ProbeEnv(
            "Probe-ObsDependentReward",
            next_state=np.array([[2], [2]]),
            reward=np.array([[-1.0], [1.0]]),
            initial=np.array([0.5, 0.5]),
            expected_q=lambda gamma: np.array([[-1.0], [1.0]]),
            max_steps_in_episode=max_steps_in_episode,
        )
    )


def make_probe_3(max_steps_in_episode: int = 100) -> tuple[ProbeEnv, EnvParams]:
    """Probe 3: one action, two steps long: state 0 -> state 1 (reward 0) ->
    terminal (reward +1).

    Must learn the discounted values ``V(0) = gamma`` and ``V(1) = 1``. Learning
    probe 2 but not this one points at the discounting / bootstrapping.
    ``expected_q(gamma) = [[gamma], [1]]``.
    """
    _check_max_steps(max_steps_in_episode)
    return _make(
        ProbeEnv(
            "Probe-DiscountedReward",
            next_state=np.array([[1], [2]]),
            reward=np.array([[0.0], [1.0]]),
            initial=np.array([1.0, 0.0]),
            expected_q=lambda gamma: np.array([[gamma], [1.0]]),
            max_steps_in_episode=max_steps_in_episode,
        )
    )


def make_probe_4(max_steps_in_episode: int = 100) -> tuple[ProbeEnv, EnvParams]:
    """Probe 4: two actions, one observation, one step long; reward +1 for
    action 1 and -1 for action 0.

    Must learn the policy "always pick action 1" (``optimal_policy = [1]``), with
    ``Q(0) = [-1, +1]`` and ``V(0) = 1``. Failing this points at the advantage
    calculation, the policy loss or the policy update.
    """
    _check_max_steps(max_steps_in_episode)
    return _make(
        ProbeEnv(
            "Probe-ActionDependentReward",
            next_state=np.array([[1, 1]]),
            reward=np.array([[-1.0, 1.0]]),
            initial=np.array([1.0]),
            expected_q=lambda gamma: np.array([[-1.0, 1.0]]),
            max_steps_in_episode=max_steps_in_episode,
        )
    )


def make_probe_5(max_steps_in_episode: int = 100) -> tuple[ProbeEnv, EnvParams]:
    """Probe 5: two actions, observation 0 or 1 uniformly at random, one step
    long; reward +1 if ``action == obs`` else -1.

    Must learn the policy "pick the action equal to the observation"
    (``optimal_policy = [0, 1]``), with ``Q = [[+1, -1], [-1, +1]]`` and ``V = [1, 1]``.
    The policy and the value interact here; e.g. a value that fails to learn
    often means the batching feeds stale experience.
    """
    _check_max_steps(max_steps_in_episode)
    return _make(
        ProbeEnv(
            "Probe-ActionObsDependentReward",
            next_state=np.array([[2, 2], [2, 2]]),
            reward=np.array([[1.0, -1.0], [-1.0, 1.0]]),
            initial=np.array([0.5, 0.5]),
            expected_q=lambda gamma: np.array([[1.0, -1.0], [-1.0, 1.0]]),
            max_steps_in_episode=max_steps_in_episode,
        )
    )
