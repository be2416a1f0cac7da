"""Value-target primitives against hand-computed values, under jit and without, and under vmap."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.agents.value_targets import (
    double_q_bootstrap,
    expected_sarsa_bootstrap,
    gae_advantages,
    n_step_targets,
    q_lambda_targets,
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


# GAE and Q(lambda): plain-Python references that look forward from each t (the
# implementations recurse backwards), on ragged streams with both kinds of end.


def random_stream(seed, T=17, ends=True):
    """One rollout slice: random rewards and values; ``next_values[t] = values[t + 1]`` inside an
    episode, a fresh value (the final observation's) where it ended and after the last step."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=T, p=[0.7, 0.15, 0.15]) if ends else np.zeros(T, int)
    kind[-1] = 0  # the last episode is left unfinished
    terminated, truncated = kind == 1, kind == 2
    values = rng.normal(size=T).astype(np.float32)
    final = rng.normal(size=T).astype(np.float32)
    next_values = np.where(terminated | truncated, final, np.append(values[1:], final[-1])).astype(np.float32)
    return dict(
        rewards=rng.normal(size=T).astype(np.float32),
        terminated=terminated,
        truncated=truncated,
        values=values,
        next_values=next_values,
    )


# The ragged stream above (terminated at 2, truncated at 5, the last episode open) with values.
RAGGED_V = dict(
    rewards=RAGGED["rewards"],
    terminated=RAGGED["terminated"],
    truncated=RAGGED["truncated"],
    values=np.array([3.0, -1.0, 2.0, 0.5, 4.0, -2.0, 1.5, 6.0], np.float32),
    next_values=np.array([-1.0, 2.0, 99.0, 4.0, -2.0, 7.0, 6.0, 9.0], np.float32),
)
STREAMS = [RAGGED_V] + [random_stream(seed) for seed in range(4)]


def episode_end(terminated, truncated, t):
    """The last step of t's episode inside the stream (its end, or the stream's last step)."""
    i = t
    while i < len(terminated) - 1 and not (terminated[i] or truncated[i]):
        i += 1
    return i


def reference_gae(rewards, terminated, truncated, values, next_values, gamma, lambda_, truncation_as_terminal=False):
    """Plain Python: A_t = sum_k (gamma lambda)^k delta_{t+k} over the rest of t's episode."""
    T = len(rewards)
    deltas = []
    for t in range(T):
        no_bootstrap = terminated[t] or (truncation_as_terminal and truncated[t])
        deltas.append(rewards[t] + (0.0 if no_bootstrap else gamma * next_values[t]) - values[t])
    advantages = []
    for t in range(T):
        advantages.append(
            sum((gamma * lambda_) ** k * deltas[t + k] for k in range(episode_end(terminated, truncated, t) - t + 1))
        )
    return np.array(advantages)


def reference_q_lambda(rewards, terminated, truncated, next_q_max, gamma, lambda_):
    """Plain Python: the lambda-weighted mixture of n-step targets inside t's episode, with the
    remaining weight lambda^(m-1) on the longest one (m steps to the episode's or stream's end)."""
    T, out = len(rewards), []
    for t in range(T):
        m = episode_end(terminated, truncated, t) - t + 1

        def n_step(n):
            g = sum(gamma**k * rewards[t + k] for k in range(n))
            last = t + n - 1
            return g + (0.0 if terminated[last] else gamma**n * next_q_max[last])

        g = sum((1 - lambda_) * lambda_ ** (n - 1) * n_step(n) for n in range(1, m))
        out.append(g + lambda_ ** (m - 1) * n_step(m))
    return np.array(out)


def q_args(stream):
    """Q(lambda)'s inputs from a stream: its next values stand in for max_a Q of the successor."""
    return stream["rewards"], stream["terminated"], stream["truncated"], stream["next_values"]


GAMMAS, LAMBDAS = (0.0, 0.9, 1.0), (0.0, 0.5, 0.95, 1.0)


class TestGAE(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_ragged_streams_against_plain_python(self):
        fn = self.variant(gae_advantages, static_argnums=(7,))
        for i, stream in enumerate(STREAMS):
            for gamma in GAMMAS:
                for lambda_ in LAMBDAS:
                    for as_terminal in (False, True):
                        adv, ret = fn(*stream.values(), gamma, lambda_, as_terminal)
                        want = reference_gae(*stream.values(), gamma, lambda_, as_terminal)
                        msg = f"stream {i} gamma={gamma} lambda={lambda_} as_terminal={as_terminal}"
                        np.testing.assert_allclose(adv, want, rtol=1e-5, atol=1e-5, err_msg=msg)
                        np.testing.assert_allclose(ret, want + stream["values"], rtol=1e-5, atol=1e-5, err_msg=msg)

    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_computed_values(self):
        adv, _ = self.variant(gae_advantages)(*RAGGED_V.values(), 0.5, 0.5)
        # deltas r + .5 v' - v: t=2 terminated (3 - 2); t=5 truncated bootstraps its final 7;
        # t=7 the value after the stream, 9. The sums stop after steps 2 and 5.
        deltas = [1 - 0.5 - 3, 2 + 1 + 1, 3 - 2, 0.5 + 2 - 0.5, -1 - 1 - 4, 2 + 3.5 + 2, 1 + 3 - 1.5, 4 + 4.5 - 6]
        want = [0.0] * 8
        for t, nxt in [(7, None), (6, 7), (5, None), (4, 5), (3, 4), (2, None), (1, 2), (0, 1)]:
            want[t] = deltas[t] + (0.25 * want[nxt] if nxt is not None else 0.0)
        np.testing.assert_allclose(adv, want, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_lambda_one_without_ends_is_monte_carlo_minus_values(self):
        stream = random_stream(7, T=12, ends=False)
        r, v, nv = stream["rewards"].astype(np.float64), stream["values"], stream["next_values"]
        adv, ret = self.variant(gae_advantages)(*stream.values(), 0.9, 1.0)
        T = len(r)
        mc = [sum(0.9**k * r[t + k] for k in range(T - t)) + 0.9 ** (T - t) * nv[-1] for t in range(T)]
        np.testing.assert_allclose(adv, np.array(mc) - v, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ret, mc, rtol=1e-5, atol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_lambda_zero_is_the_one_step_td_error(self):
        for stream in STREAMS:
            r, term, _, v, nv = (jnp.asarray(x) for x in stream.values())
            adv, ret = self.variant(gae_advantages)(*stream.values(), 0.9, 0.0)
            # Equal up to rounding: the compiled scan may fuse a multiply-add that td_target does not.
            np.testing.assert_allclose(adv, td_target(r, term, 0.9, nv) - v, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(ret, td_target(r, term, 0.9, nv), rtol=1e-6, atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_truncation_as_terminal_changes_only_the_truncated_episode(self):
        fn = self.variant(gae_advantages, static_argnums=(7,))
        for stream in STREAMS:
            term, trunc = stream["terminated"], stream["truncated"]
            if not trunc.any():
                continue
            base, _ = fn(*stream.values(), 0.9, 0.8, False)
            peer, _ = fn(*stream.values(), 0.9, 0.8, True)
            # Steps whose episode ends truncated inside the stream: the end and the steps before it.
            in_truncated = np.array([bool(trunc[episode_end(term, trunc, t)]) for t in range(len(term))])
            np.testing.assert_array_equal(np.asarray(base) != np.asarray(peer), in_truncated)

    def test_traced_gamma_and_lambda(self):
        fn = jax.jit(gae_advantages)
        for stream in STREAMS:
            adv, _ = fn(*stream.values(), jnp.float32(0.9), jnp.float32(0.7))
            np.testing.assert_allclose(adv, reference_gae(*stream.values(), 0.9, 0.7), rtol=1e-5, atol=1e-5)
        # A sweep over (gamma, lambda) is one more vmap axis.
        gammas, lambdas = jnp.array([0.5, 0.99]), jnp.array([0.0, 0.95])
        sweep = jax.jit(jax.vmap(gae_advantages, in_axes=(None,) * 5 + (0, 0)))(*RAGGED_V.values(), gammas, lambdas)
        for i in range(2):
            want = reference_gae(*RAGGED_V.values(), float(gammas[i]), float(lambdas[i]))
            np.testing.assert_allclose(sweep[0][i], want, rtol=1e-5, atol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_under_vmap_over_streams(self):
        streams = {k: np.stack([s[k] for s in STREAMS[1:]]) for k in STREAMS[1]}
        adv, ret = self.variant(jax.vmap(gae_advantages, in_axes=(0,) * 5 + (None, None)))(*streams.values(), 0.9, 0.8)
        for b, stream in enumerate(STREAMS[1:]):
            want_adv, want_ret = gae_advantages(*stream.values(), 0.9, 0.8)
            np.testing.assert_allclose(adv[b], want_adv, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(ret[b], want_ret, rtol=1e-6, atol=1e-6)

    def test_shapes_are_checked(self):
        stream = {k: np.stack([v, v]) for k, v in RAGGED_V.items()}
        with pytest.raises(AssertionError):
            gae_advantages(*stream.values(), 0.9, 0.9)  # a batch where one stream is expected
        with pytest.raises(AssertionError):
            gae_advantages(*list(RAGGED_V.values())[:4], np.zeros(7, np.float32), 0.9, 0.9)


class TestQLambda(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_ragged_streams_against_plain_python(self):
        fn = self.variant(q_lambda_targets)
        for i, stream in enumerate(STREAMS):
            for gamma in GAMMAS:
                for lambda_ in LAMBDAS:
                    got = fn(*q_args(stream), gamma, lambda_)
                    want = reference_q_lambda(*q_args(stream), gamma, lambda_)
                    msg = f"stream {i} gamma={gamma} lambda={lambda_}"
                    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=msg)

    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_computed_values(self):
        got = self.variant(q_lambda_targets)(*q_args(RAGGED_V), 0.5, 0.5)
        # Ends: t=2 terminated (r alone), t=5 truncated (bootstraps its own 7), t=7 the stream's end.
        want = [0.0] * 8
        want[7] = 4 + 0.5 * 9
        want[6] = 1 + 0.5 * (0.5 * want[7] + 0.5 * 6)
        want[5] = 2 + 0.5 * 7
        want[4] = -1 + 0.5 * (0.5 * want[5] + 0.5 * -2)
        want[3] = 0.5 + 0.5 * (0.5 * want[4] + 0.5 * 4)
        want[2] = 3.0
        want[1] = 2 + 0.5 * (0.5 * want[2] + 0.5 * 2)
        want[0] = 1 + 0.5 * (0.5 * want[1] + 0.5 * -1)
        np.testing.assert_allclose(got, want, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_lambda_zero_is_the_one_step_target(self):
        for stream in STREAMS:
            r, term, _, q = (jnp.asarray(x) for x in q_args(stream))
            got = self.variant(q_lambda_targets)(*q_args(stream), 0.9, 0.0)
            # Equal up to rounding: the compiled scan may fuse a multiply-add that td_target does not.
            np.testing.assert_allclose(got, td_target(r, term, 0.9, q), rtol=1e-6, atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_lambda_one_without_ends_is_monte_carlo(self):
        stream = random_stream(3, T=12, ends=False)
        r, q = stream["rewards"].astype(np.float64), stream["next_values"]
        got = self.variant(q_lambda_targets)(*q_args(stream), 0.9, 1.0)
        T = len(r)
        mc = [sum(0.9**k * r[t + k] for k in range(T - t)) + 0.9 ** (T - t) * q[-1] for t in range(T)]
        np.testing.assert_allclose(got, mc, rtol=1e-5, atol=1e-5)

    def test_a_truncated_end_does_not_mix_in_the_next_episode(self):
        r, term, trunc, q = q_args(RAGGED_V)
        base = q_lambda_targets(r, term, trunc, q, 0.9, 0.9)
        later = r.copy()
        later[6:] += 100.0  # the episode after the truncation at step 5
        other = q_lambda_targets(later, term, trunc, q, 0.9, 0.9)
        np.testing.assert_array_equal(base[:6], other[:6])
        np.testing.assert_allclose(base[5], r[5] + 0.9 * q[5], rtol=1e-6)

    def test_traced_gamma_and_lambda(self):
        fn = jax.jit(q_lambda_targets)
        for stream in STREAMS:
            got = fn(*q_args(stream), jnp.float32(0.9), jnp.float32(0.7))
            np.testing.assert_allclose(got, reference_q_lambda(*q_args(stream), 0.9, 0.7), rtol=1e-5, atol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_under_vmap_over_streams(self):
        streams = [np.stack(xs) for xs in zip(*(q_args(s) for s in STREAMS[1:]))]
        got = self.variant(jax.vmap(q_lambda_targets, in_axes=(0,) * 4 + (None, None)))(*streams, 0.9, 0.8)
        for b, stream in enumerate(STREAMS[1:]):
            np.testing.assert_allclose(got[b], q_lambda_targets(*q_args(stream), 0.9, 0.8), rtol=1e-6, atol=1e-6)

    def test_shapes_are_checked(self):
        r, term, trunc, q = q_args(RAGGED_V)
        with pytest.raises(AssertionError):
            q_lambda_targets(r, term, trunc, np.stack([q, q]), 0.9, 0.9)
        with pytest.raises(AssertionError):
            q_lambda_targets(r, term[:-1], trunc, q, 0.9, 0.9)
