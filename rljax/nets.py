"""Flax modules shared by the neural agents: an MLP, a small MinAtar CNN torso and a Q-network.

:class:`QNetwork` maps ONE observation to its action values; agents ``jax.vmap`` it
over batches (XLA turns that into batched matrix products and convolutions). Sizes
are module attributes, so they come from static config fields.
"""

from __future__ import annotations

from typing import Literal, Sequence, get_args

import flax.linen as nn
import jax
import jax.numpy as jnp

Torso = Literal["mlp", "cnn"]
TORSOS = get_args(Torso)


def encode_observation(obs: jax.Array, num_obs_categories: int) -> jax.Array:
    """Network input: one-hot for discrete observations (``num_obs_categories`` > 0), float32 otherwise.

    Works on any leading batch shape.
    """
    if num_obs_categories:
        return jax.nn.one_hot(obs, num_obs_categories, dtype=jnp.float32)
    return jnp.asarray(obs, jnp.float32)


class MLP(nn.Module):
    """Dense layers with ReLU: ``features[-1]`` outputs, ReLU after every layer but the last
    unless ``activate_final``."""

    features: Sequence[int]
    activate_final: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(self.features):
            x = nn.Dense(width)(x)
            if i < len(self.features) - 1 or self.activate_final:
                x = nn.relu(x)
        return x


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
