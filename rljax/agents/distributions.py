"""The action distributions of rljax's policy agents, hand-written: a categorical over logits
(Discrete actions), a diagonal Gaussian (Box actions) and SAC's tanh-squashed Gaussian.

Each function works on the last axis and broadcasts over any leading ones::

    categorical:  log pi(a) = log_softmax(logits)[a]
                  H         = -sum_a softmax(logits)_a * log_softmax(logits)_a
    Gaussian:     log pi(x) = sum_i  -(x_i - mu_i)^2 / (2 sigma_i^2) - log sigma_i - log(2 pi) / 2
                  H         = sum_i  log sigma_i + log(2 pi e) / 2           (sigma = exp(log_std))
    squashed:     a = tanh(u), u ~ N(mu, sigma^2)
                  log pi(a) = log N(u; mu, sigma) - sum_i log(1 - tanh(u_i)^2)

``tests/agents/test_ppo.py`` checks the first two against ``scipy.stats``;
``tests/agents/test_sac.py`` the squashed one against a histogram of samples and numpy.

Not distrax: it is not a dependency, it would bring TensorFlow Probability's JAX
substrate with it (pyproject.toml and uv.lock changes), and its import would cost every
``rljax train ppo`` about 0.5 s: in a scratch virtualenv with the same JAX (0.10.2,
distrax 0.1.9), ``python -c "import jax, distrax"`` took 1.47-1.88 s against 0.95-1.39 s
for ``import jax`` (5 alternating pairs, 0.49-0.60 s apart in each), where
``import rljax.agents.ppo`` takes 1.06 s. These few lines are all PPO and SAC need.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def categorical_log_prob(logits: jax.Array, action: jax.Array) -> jax.Array:
    """``log softmax(logits)[action]``: logits ``[..., A]``, integer actions ``[...]`` -> ``[...]``."""
    log_pi = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(log_pi, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def categorical_entropy(logits: jax.Array) -> jax.Array:
    """Entropy (nats) of the softmax of ``logits`` ``[..., A]`` -> ``[...]``."""
    log_pi = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)


def categorical_sample(key: jax.Array, logits: jax.Array) -> jax.Array:
    """An int32 action drawn from the softmax of ``logits`` ``[..., A]``."""
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
    """Log-density of ``x`` under the diagonal Gaussian ``N(mean, exp(log_std)^2)``, summed over the last axis."""
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * jnp.square(z) - log_std - _HALF_LOG_2PI, axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """Entropy (nats) of a diagonal Gaussian with ``log_std`` ``[..., D]`` -> ``[...]`` (the mean does not matter)."""
    return jnp.sum(log_std + 0.5 + _HALF_LOG_2PI, axis=-1)


def gaussian_sample(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """A draw of ``mean + exp(log_std) * eps``, ``eps ~ N(0, I)`` of ``mean``'s shape."""
    return mean + jnp.exp(log_std) * jax.random.normal(key, jnp.shape(mean), jnp.result_type(mean))


# --- The tanh-squashed Gaussian (SAC's policy) -------------------------------------------
#
#   u ~ N(mean, sigma^2),   a = tanh(u) in (-1, 1)^D
#   log pi(a) = log N(u; mean, sigma) - sum_i log(1 - tanh(u_i)^2)      (change of variables)
#   log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2 u))                (no 1 - a^2 -> 0 at |u| >> 1)
#
# Written on the pre-squash sample u, which the sampler has: inverting a saturated action
# with atanh (|a| rounded to 1 in float32 once |u| > ~9) would give infinities.

_LOG_2 = math.log(2.0)


def tanh_log_det_jacobian(u: jax.Array) -> jax.Array:
    """``sum_i log(1 - tanh(u_i)^2)`` over the last axis, stable for any ``u``: ``log |det d tanh(u) / du|``."""
    return jnp.sum(2.0 * (_LOG_2 - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def squashed_gaussian_log_prob(mean: jax.Array, log_std: jax.Array, u: jax.Array) -> jax.Array:
    """Log-density of ``a = tanh(u)`` where ``u ~ N(mean, exp(log_std)^2)``, given ``u``, summed over the last axis."""
    return gaussian_log_prob(mean, log_std, u) - tanh_log_det_jacobian(u)


def squashed_gaussian_sample(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(a = tanh(u), log pi(a))`` for a reparameterised draw ``u = mean + exp(log_std) * eps``:
    differentiable in ``mean`` and ``log_std``."""
    u = gaussian_sample(key, mean, log_std)
    return jnp.tanh(u), squashed_gaussian_log_prob(mean, log_std, u)
