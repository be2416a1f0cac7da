"""Network pieces shared by the neural agents: an MLP, a small MinAtar CNN torso, a recurrent
(embedding -> GRU) torso, a Q-network, the observation encoding and the one optimiser they all
use (global-norm clipped Adam).

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

from rljax._errors import ValidationError

Torso = Literal["mlp", "cnn", "embedding"]
TORSOS = get_args(Torso)


def encode_observation(obs: jax.Array, num_obs_categories: int) -> jax.Array:
    """Network input: one-hot for discrete observations (``num_obs_categories`` > 0), float32 otherwise.

    Works on any leading batch shape.
    """
    if num_obs_categories:
        return jax.nn.one_hot(obs, num_obs_categories, dtype=jnp.float32)
    return jnp.asarray(obs, jnp.float32)


def scaled_observation(obs: jax.Array, num_obs_categories: int, obs_scale: tuple[float, ...]) -> jax.Array:
    """:func:`encode_observation`, float vectors then multiplied by ``obs_scale`` (per feature).

    All-ones scales (and one-hot inputs) multiply by nothing, so the program and its
    numbers stay those of the unscaled input.
    """
    x = encode_observation(obs, num_obs_categories)
    if num_obs_categories or all(float(s) == 1.0 for s in obs_scale):
        return x
    return x * jnp.asarray(obs_scale, jnp.float32)


Activation = Literal["relu", "tanh"]
ACTIVATIONS = {"relu": nn.relu, "tanh": nn.tanh}
KernelInit = Literal["lecun", "orthogonal"]


class MLP(nn.Module):
    """Dense layers: ``features[-1]`` outputs, ``activation`` after every layer but the last
    unless ``activate_final``.

    ``kernel_init="lecun"`` is Flax's default (LeCun normal); ``"orthogonal"`` uses
    orthogonal matrices scaled by sqrt(2) for the hidden layers and by ``head_scale``
    for the last (the policy-gradient habit: a 0.01 head starts the softmax near uniform).
    ``layer_norm``: a LayerNorm (learned scale and bias) between each activated layer's
    Dense and its activation, as in PQN's Q-network; off, the module and its parameters
    are the plain MLP's.
    """

    features: Sequence[int]
    activate_final: bool = False
    activation: Activation = "relu"
    kernel_init: KernelInit = "lecun"
    head_scale: float = 1.0
    layer_norm: bool = False

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
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
                x = act(x)
        return x


class GRUTorso(nn.Module):
    """One step of a recurrent torso: ``(h [..., H], x [..., F]) -> h' [..., H]``.

    A Dense embedding of ``x`` (``features`` wide, orthogonal init scaled by sqrt(2), then
    ``activation``) feeds a GRU cell of ``features`` units (flax's ``nn.GRUCell``); ``h'``
    is both the next hidden state and the features the heads read (PureJaxRL's
    ``ppo_rnn.py``: embed -> GRU -> heads). Leading axes are batch axes, so one call
    steps one environment, a batch of them, or every step of a stored rollout at once
    (given each step's hidden state). :meth:`embed` and :meth:`recur` are the two halves:
    a scan over a sequence embeds every step at once and runs only the cell step by step.
    The state at an episode's start is :meth:`initial_state` (zeros).
    """

    features: int
    activation: Activation = "tanh"

    def setup(self):
        self.embedding = nn.Dense(self.features, kernel_init=nn.initializers.orthogonal(jnp.sqrt(2.0)))
        self.cell = nn.GRUCell(self.features)

    def embed(self, x: jax.Array) -> jax.Array:
        return ACTIVATIONS[self.activation](self.embedding(x))

    def recur(self, h: jax.Array, e: jax.Array) -> jax.Array:
        return self.cell(h, e)[0]

    def __call__(self, h: jax.Array, x: jax.Array) -> jax.Array:
        return self.recur(h, self.embed(x))

    @staticmethod
    def initial_state(features: int) -> jax.Array:
        return jnp.zeros((features,), jnp.float32)


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

    Input: ``[..., 10, 10, C]`` images (MinAtar's binary channels); output: ``[..., 8 * 8 * channels]``.
    ``layer_norm``: a LayerNorm over each pixel's ``channels`` between the convolution and
    the ReLU (PQN's MinAtar network, purejaxql's ``pqn_minatar.py``).
    """

    channels: int = 16
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Conv(self.channels, kernel_size=(3, 3), strides=(1, 1), padding="VALID")(x)
        if self.layer_norm:
            x = nn.LayerNorm()(x)
        return nn.relu(x).reshape(x.shape[:-3] + (-1,))  # any leading axes (PPO's batches)


class QNetwork(nn.Module):
    """``obs -> Q(obs, .)`` for ONE observation: a torso, hidden ReLU layers, a linear head.

    Attributes:
      num_actions: outputs of the head.
      hidden_sizes: widths of the hidden Dense layers (after the torso).
      torso: ``"mlp"`` (the observation, one-hot or a vector, is flattened),
        ``"cnn"`` (:class:`MinAtarTorso` on an ``[H, W, C]`` image) or
        ``"embedding"`` (a learned vector per discrete observation, ``nn.Embed``;
        the observation is the integer itself, not one-hot). With
        ``hidden_sizes=()`` the embedding has ``num_actions`` entries and IS the Q
        vector, with no head: the Keras Taxi tutorial's ``Embedding(500, 6)``
        network, a Q table learned by gradient descent. Otherwise it has
        ``embedding_dim`` entries, followed by the hidden layers and the head.
      cnn_channels: filters of the CNN torso.
      num_obs_categories, embedding_dim: the embedding's rows and width.
      layer_norm: a LayerNorm before every ReLU (the CNN's and the hidden layers'), as in
        PQN (Gallici et al., 2025); the head stays linear.
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (64, 64)
    torso: Torso = "mlp"
    cnn_channels: int = 16
    num_obs_categories: int = 0
    embedding_dim: int = 16
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        if self.torso == "embedding":
            width = self.embedding_dim if self.hidden_sizes else self.num_actions
            x = nn.Embed(self.num_obs_categories, width)(jnp.asarray(obs, jnp.int32)).reshape(-1)
            if not self.hidden_sizes:
                return x
        elif self.torso == "cnn":
            x = MinAtarTorso(self.cnn_channels, self.layer_norm)(jnp.asarray(obs, jnp.float32))
        elif self.torso == "mlp":
            x = jnp.asarray(obs, jnp.float32).reshape(-1)
        else:
            raise ValidationError(f"unknown torso {self.torso!r}; allowed: {', '.join(TORSOS)}")
        return MLP((*self.hidden_sizes, self.num_actions), layer_norm=self.layer_norm)(x)
