"""Network pieces shared by the neural agents: an MLP, a small MinAtar CNN torso, a Q-network,
the observation encoding and the one optimiser they all use (global-norm clipped Adam).

:class:`QNetwork` maps ONE observation to its action values; agents ``jax.vmap`` it
over batches (XLA turns that into batched matrix products and convolutions). Sizes
are module attributes, so they come from static config fields.
"""

from __future__ import annotations

from typing import Literal, Sequence, get_args

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

Torso = Literal["mlp", "cnn"]
TORSOS = get_args(Torso)


def encode_observation(obs: jax.Array, num_obs_categories: int) -> jax.Array:
    """Network input: one-hot for discrete observations (``num_obs_categories`` > 0), float32 otherwise.

    Works on any leading batch shape.
    """
    if num_obs_categories:
        return jax.nn.one_hot(obs, num_obs_categories, dtype=jnp.float32)
    return jnp.asarray(obs, jnp.float32)


Activation = Literal["relu", "tanh"]
ACTIVATIONS = {"relu": nn.relu, "tanh": nn.tanh}
KernelInit = Literal["lecun", "orthogonal"]


class MLP(nn.Module):
    """Dense layers: ``features[-1]`` outputs, ``activation`` after every layer but the last
    unless ``activate_final``.

    ``kernel_init="lecun"`` is Flax's default (LeCun normal); ``"orthogonal"`` uses
    orthogonal matrices scaled by sqrt(2) for the hidden layers and by ``head_scale``
    for the last (the policy-gradient habit: a 0.01 head starts the softmax near uniform).
    """

    features: Sequence[int]
    activate_final: bool = False
    activation: Activation = "relu"
    kernel_init: KernelInit = "lecun"
    head_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        last = len(self.features) - 1
        for i, width in enumerate(self.features):
            if self.kernel_init == "orthogonal":
                scale = self.head_scale if i == last else jnp.sqrt(2.0)
                x = nn.Dense(width, kernel_init=nn.initializers.orthogonal(scale))(x)
            else:
                x = nn.Dense(width)(x)
            if i < last or self.activate_final:
                x = act(x)
        return x


def clipped_adam(learning_rate: jax.Array, max_grad_norm: jax.Array, eps: float | jax.Array = 1e-8):
    """Global-norm gradient clipping (off when ``max_grad_norm`` is 0), then Adam.

    Every argument may be traced: the optimiser state (Adam's moments) does not depend
    on them, so agents rebuild this at each update with the scheduled learning rate, and
    a vmapped sweep can give every run its own values.
    """
    max_norm = jnp.where(jnp.asarray(max_grad_norm) > 0, max_grad_norm, jnp.inf)
    return optax.chain(
        optax.clip_by_global_norm(max_norm),
        optax.scale_by_adam(eps=eps),
        optax.scale_by_learning_rate(learning_rate),
    )


class MinAtarTorso(nn.Module):
    """The convolution of the MinAtar DQN baseline (Young & Tian, 2019): one 3x3 convolution
    with ``channels`` filters, stride 1, VALID padding, ReLU, then flatten.

    Input: one ``[10, 10, C]`` image (MinAtar's binary channels); output: ``[8 * 8 * channels]``.
    """

    channels: int = 16

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Conv(self.channels, kernel_size=(3, 3), strides=(1, 1), padding="VALID")(x))
        return x.reshape(-1)


class QNetwork(nn.Module):
    """``obs -> Q(obs, .)`` for ONE observation: a torso, hidden ReLU layers, a linear head.

    Attributes:
      num_actions: outputs of the head.
      hidden_sizes: widths of the hidden Dense layers (after the torso).
      torso: ``"mlp"`` (the observation is flattened to a vector) or ``"cnn"``
        (:class:`MinAtarTorso` on an ``[H, W, C]`` image).
      cnn_channels: filters of the CNN torso.
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (64, 64)
    torso: str = "mlp"
    cnn_channels: int = 16

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = jnp.asarray(obs, jnp.float32)
        if self.torso == "cnn":
            x = MinAtarTorso(self.cnn_channels)(x)
        elif self.torso == "mlp":
            x = x.reshape(-1)
        else:
            raise ValueError(f"unknown torso {self.torso!r}; allowed: {', '.join(TORSOS)}")
        return MLP((*self.hidden_sizes, self.num_actions))(x)
