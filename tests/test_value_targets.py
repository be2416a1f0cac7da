"""Value-target primitives against hand-computed values, under jit and without, and under vmap."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.agents.value_targets import (
    double_q_bootstrap,
    expected_sarsa_bootstrap,
    n_step_targets,
    q_learning_bootstrap,
    sarsa_bootstrap,
    td_target,
)

Q = np.array([[1.0, 3.0, 2.0], [0.5, -1.0, 4.0]], np.float32)  # two states' action values
Q_SEL = np.array([[0.0, 0.0, 9.0], [9.0, 0.0, 0.0]], np.float32)


class TestBootstraps(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_single_stream(self):
        self.assertEqual(float(self.variant(q_learning_bootstrap)(Q[0])), 3.0)
        self.assertEqual(float(self.variant(double_q_bootstrap)(Q[0], Q_SEL[0])), 2.0)
        self.assertEqual(float(self.variant(sarsa_bootstrap)(Q[1], jnp.int32(1))), -1.0)
        probs = jnp.array([0.25, 0.25, 0.5])
        self.assertAlmostEqual(float(self.variant(expected_sarsa_bootstrap)(Q[1], probs)), 0.125 - 0.25 + 2.0)
        r, term, boot = jnp.array([1.0, 1.0]), jnp.array([True, False]), jnp.array([5.0, 5.0])
        np.testing.assert_allclose(self.variant(td_target)(r, term, 0.9, boot), [1.0, 5.5])

    @chex.variants(with_jit=True, without_jit=True)
    def test_under_vmap(self):
        np.testing.assert_array_equal(self.variant(jax.vmap(q_learning_bootstrap))(Q), [3.0, 4.0])
        np.testing.assert_array_equal(self.variant(jax.vmap(double_q_bootstrap))(Q, Q_SEL), [2.0, 0.5])
        np.testing.assert_array_equal(self.variant(jax.vmap(sarsa_bootstrap))(Q, jnp.array([2, 0])), [2.0, 0.5])


def test_shapes_are_checked():
    with pytest.raises(AssertionError):
        q_learning_bootstrap(Q)  # a batch where one stream is expected
    with pytest.raises(AssertionError):
        td_target(jnp.zeros(2), jnp.zeros(3, bool), 0.9, jnp.zeros(2))
    with pytest.raises(ValueError, match="n must be >= 1"):
        n_step_targets(jnp.zeros(2), jnp.zeros(2, bool), jnp.zeros(2, bool), jnp.zeros(2), 0.9, 0)


def reference_n_step(rewards, terminated, truncated, next_values, gamma, n):
    """Plain Python, one t at a time."""
    T, out = len(rewards), []
    for t in range(T):
        g, disc = 0.0, 1.0
        for k in range(n):
            i = t + k
            if i >= T:
                break
            g += disc * rewards[i]
            if terminated[i]:
                break
            if truncated[i] or k == n - 1 or i == T - 1:
                g += disc * gamma * next_values[i]
                break
            disc *= gamma
        out.append(g)
    return np.array(out)


# A ragged stream: an episode that terminates at step 2, one truncated at step 5, one left open.
RAGGED = dict(
    rewards=np.array([1.0, 2.0, 3.0, 0.5, -1.0, 2.0, 1.0, 4.0], np.float32),
    terminated=np.array([0, 0, 1, 0, 0, 0, 0, 0], bool),
    truncated=np.array([0, 0, 0, 0, 0, 1, 0, 0], bool),
    next_values=np.array([10.0, 20.0, 99.0, 5.0, 6.0, 7.0, 8.0, 9.0], np.float32),
)


class TestNStep(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_ragged_episodes_against_plain_python(self):
        fn = self.variant(n_step_targets, static_argnums=(5,))
        for n in (1, 2, 3, 8):
            for gamma in (0.0, 0.9, 1.0):
                got = fn(*RAGGED.values(), gamma, n)
                want = reference_n_step(*RAGGED.values(), gamma, n)
                np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"n={n} gamma={gamma}")

    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_computed_values(self):
        got = self.variant(n_step_targets, static_argnums=(5,))(*RAGGED.values(), 0.5, 3)
        # t=0: 1 + .5*2 + .25*3 (terminated at 2: no bootstrap); t=2: 3 alone;
        # t=3: .5 + .5*-1 + .25*2 + .125*7 (truncated at 5: bootstrap 7); t=4: -1 + .5*2 + .25*7;
        # t=5: 2 + .5*7;
        # t=6: 1 + .5*4 + .25*9 (the stream's end bootstraps); t=7: 4 + .5*9.
        np.testing.assert_allclose(got, [2.75, 3.5, 3.0, 1.375, 1.75, 5.5, 3.0 + 0.25 * 9, 8.5], rtol=1e-6)

    def test_one_step_equals_td_target(self):
        r, term, trunc, v = RAGGED.values()
        np.testing.assert_allclose(
            n_step_targets(r, term, trunc, v, 0.9, 1),
            td_target(jnp.asarray(r), jnp.asarray(term), 0.9, jnp.asarray(v)),
            rtol=1e-6,
        )

    def test_under_vmap_over_streams(self):
        streams = {k: np.stack([v, v[::-1]]) for k, v in RAGGED.items()}
        got = jax.jit(jax.vmap(n_step_targets, in_axes=(0, 0, 0, 0, None, None)), static_argnums=(5,))(
            *streams.values(), 0.9, 3
        )
        for b in range(2):
            want = reference_n_step(*(v[b] for v in streams.values()), 0.9, 3)
            np.testing.assert_allclose(got[b], want, rtol=1e-6)
