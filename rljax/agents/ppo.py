"""Proximal Policy Optimization (Schulman et al., 2017): the clipped surrogate, GAE(lambda), an
actor and a critic; Discrete and Box (continuous) actions.

Acting, in ``num_envs`` environments at once: sample from the policy -- a softmax over
logits (Discrete), or a diagonal Gaussian with a state-independent learned log-std (Box)
-- and record the sample's log-probability and V(s) in the rollout batch
(``ActOutput.extras``). Evaluation (``explore=False``) is deterministic: the argmax, or
the Gaussian's mean.

Recurrent (``recurrent=True``, PureJaxRL's ``ppo_rnn.py``): each environment carries a GRU
state h, the agent's actor state (``Agent.init_actor_state``: zeros at an episode's start;
the loop resets it after the step that ended the episode)::

    h'      <- GRU(h, embed(s))          one torso under both heads (shared_torso), or one each
    pi, V   <- heads(h')                 the actor state the next step reads is h'

Learning, after every ``rollout_length`` steps of those environments (a batch of
N = rollout_length x num_envs transitions)::

    r_t   <- r_t / std(discounted return)                  if scale_rewards (running, per seed)
    A, G  <- GAE(lambda) per env (value_targets.gae_advantages):
               delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
               A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1};   G_t = A_t + V(s_t)
             s'_t is the TRUE successor: a terminated step does not bootstrap, a truncated
             one bootstraps from V(its final observation), the rollout's last step from
             V(the observation after it); truncation_as_terminal=True treats a truncated
             step as terminated (PureJaxRL's PPO), to measure what that costs;
             recurrent: V(s'_t) = V(GRU(h'_t, embed(s'_t))), the episode's own memory
             (h'_t from the state act read at t, batch.actor_state), before any reset
    repeat num_epochs times:
        shuffle the N transitions (a permutation drawn from a split key)
            recurrent: shuffle the num_envs sequences instead; a minibatch is
            num_envs / num_minibatches whole sequences of rollout_length steps
        for each of num_minibatches minibatches:
            recurrent: pi, V <- the GRU re-run along each sequence from the rollout's first
                       state h_0 (batch.actor_state[0]), reset to zeros after every done
                       step as while acting (only the cell in a lax.scan; the embedding
                       and heads on every step at once); the first ratio is then 1
            ratio   = pi(a|s) / pi_old(a|s)
            A       = (A - mean A) / (std A + 1e-8)            if normalize_advantages (per minibatch)
            L_pi    = -mean min(ratio A, clip(ratio, 1 - clip_eps, 1 + clip_eps) A)
            L_V     = mean max((V - G)^2, (V_old + clip(V - V_old, +-clip_eps) - G)^2) / 2
                      (plain (V - G)^2 / 2 without clip_value_loss)
            L       = L_pi + value_coef * L_V - entropy_coef * mean H(pi(.|s))
            theta  <- Adam(clip_by_global_norm(grad L, max_grad_norm)), learning rate
                      annealed linearly to learning_rate * learning_rate_end_fraction over the run
    update the running observation statistics with the rollout's observations   if normalize_obs

Observation normalisation (``normalize_obs``, :mod:`rljax.agents.normalize`) keeps a
running mean and variance per seed in the agent state. Acting and all of one update's
epochs read the same statistics (those before the rollout), so the first minibatch's
ratio is 1 (to rounding) as it should be; the rollout's observations are folded in after the
update, for the next rollout. Evaluation reads them and never updates them.

Networks: MLPs with orthogonal initialisation (sqrt(2) for hidden layers, 0.01 for the
policy head so the first policy is near uniform / near zero-mean, 1.0 for the value
head; with ``torso="cnn"`` MinAtar images pass rljax.agents.nets' 3x3 convolution first).
Actor and critic are separate MLPs by default (``shared_torso=False``), as in
PureJaxRL and CleanRL; ``shared_torso=True`` puts both heads on one torso. On CartPole-v1
at the preset (25.6k steps; 100-episode greedy evaluations, seeds 0-31) separate
networks end solved in 31/32 seeds, a shared torso in 29/32, and over a grid of lr 3e-3 /
1e-2 / 3e-2 x value_coef 0.1 / 0.5 / 1 in 9 to 31 of 32 (its best, lr 1e-2 and
value_coef 1, leaves a seed at 122 where the separate networks' worst is at 242): the
shared torso is no better at its best and far more sensitive to both. Why: in a shared
torso the critic's loss drowns the policy's. Until the task is learned (~13k steps) the
value term's gradient on the torso is 30-100x the policy term's (median of 8 seeds),
because the critic regresses returns of up to ~100 (gamma 0.99) while the normalised
advantages are ~1. Adam scales each parameter's step by its own gradient history, so
separate actor weights take full steps on the policy gradient; the shared torso's steps
follow the value gradient, and the policy head must make do with features learned for
V. The grid agrees: at lr 3e-3, value_coef 0.5 -> 0.1 lifts the shared torso from 12/32
to 25/32. (``experiments/ppo_measurements.py torso`` / ``gradients``.)

Box actions: the Gaussian's sample ``u`` is the policy's action and its log-probability
is the Gaussian's; the environment gets ``u`` mapped into the Box by ``action_bounds``:
``"clip"`` (CleanRL's and PureJaxRL's ``ClipAction``: the log-probability ignores the
clip) or ``"tanh"`` (``low + (tanh(u) + 1) (high - low) / 2``, a squashed Gaussian). The
squash's log-Jacobian does not depend on the parameters, so it cancels in the ratio and
both use the Gaussian's log-probability of ``u`` (stored in the batch, so no ``atanh``
of a saturated action is ever needed); the entropy bonus is the Gaussian's. On
Pendulum-v1 at the preset (100-episode greedy evaluations; IQM / worst of 16 final
returns): clip -190.2 / -252.3 on seeds 0-15 and -176.1 / -202.3 on seeds 16-31; tanh
-173.8 / -199.8 and -178.8 / -465.1; at lr 5e-4 (seeds 0-15) clip -170.9 / -230.2, tanh
-168.2 / -215.3. The IQMs are level; tanh left a seed far below the rest (-465; the
worst of seeds 16-31 was below -450 at every evaluation), clip's worst ended within
-200 to -260. The
default is ``"clip"`` (also the references' choice). (``experiments/ppo_measurements.py
bounds``.)

Recurrent PPO needs its memory where the observation hides the state: on CartPoleNoVel-v1
(CartPole-v1 without its velocities) at its preset (102.4k steps; 100-episode greedy
evaluations; 2-core Intel Xeon CPU, 2026-12-07; ``rljax train ppo --env CartPoleNoVel-v1
--seeds 16``) 14/16 seeds end solved on seeds 0-15 (IQM 500.0, worst 153.3) and 12/16 on
16-31 (IQM 500.0, worst 176.3); the same settings feed-forward (``--set recurrent=false``)
end solved in 0/16 (IQM 43.9, best 46.2), and so does the CartPole-v1 preset's
feed-forward shape (4 envs x 32 steps, 64-64 separate MLPs; IQM 42.9): without velocities
a reactive policy cannot tell which way the pole moves. 16 seeds: compile 11 s, train
157 s recurrent / 10 s feed-forward (the GRU's steps are sequential, in acting and in
every minibatch).

Truncation: the time limit bootstraps from V(final observation); PureJaxRL's
``truncation_as_terminal=True`` treats it as a terminal state. On CartPole-v1 at the
preset, where every solved episode ends by truncation at 500 steps, 31/32 seeds (0-31)
end solved bootstrapping and 29/32 treating truncations as terminal
(``experiments/ppo_measurements.py truncation``).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from rljax._errors import ValidationError
from rljax.agents.base import (
    ActOutput,
    Agent,
    Clock,
    Transition,
    annealed_learning_rate,
    check_choice,
    check_positive,
    check_range,
    reset_where,
)
from rljax.agents.distributions import (
    categorical_entropy,
    categorical_log_prob,
    categorical_sample,
    gaussian_entropy,
    gaussian_log_prob,
    gaussian_sample,
)
from rljax.agents.minibatches import minibatch_epochs
from rljax.agents.nets import ACTIVATIONS, MLP, Activation, GRUTorso, MinAtarTorso, clipped_adam, encode_observation
from rljax.agents.normalize import (
    RewardScalingState,
    RunningStats,
    reward_scaling,
    running_obs_stats,
    update_running_stats,
)
from rljax.agents.value_targets import gae_advantages
from rljax.envs._gymnax import spaces

ActionBounds = Literal["clip", "tanh"]
ACTION_BOUNDS = get_args(ActionBounds)
PPOTorso = Literal["mlp", "cnn"]
PPO_TORSOS = get_args(PPOTorso)


@struct.dataclass
class PPOConfig:
    """Hyperparameters of PPO.

    Traced (a sweep over them is one compiled program): ``learning_rate``,
    ``learning_rate_end_fraction``, ``gamma``, ``gae_lambda``, ``clip_eps``,
    ``entropy_coef``, ``value_coef``, ``max_grad_norm``, ``adam_eps``,
    ``initial_log_std`` and ``schedule_steps``. Static: everything marked ``struct.field(pytree_node=False)``.
    """

    learning_rate: float = 2.5e-4  # Adam step size at the start of the run
    learning_rate_end_fraction: float = 0.0  # linear anneal to learning_rate * this (1 = constant)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2  # the ratio's clip range (and the value clip's, with clip_value_loss)
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float = 0.5  # global-norm gradient clipping; 0 = no clipping
    adam_eps: float = 1e-5  # PureJaxRL's and CleanRL's (Adam's default is 1e-8)
    initial_log_std: float = 0.0  # Box actions: the Gaussian's log-std at initialisation
    # Env steps over which the learning rate anneals; 0 = the run's length. A preset sets it
    # to its budget, so a longer run is the preset's run followed by steps at learning rate
    # learning_rate * learning_rate_end_fraction (0: the network no longer changes) with the
    # observation statistics no longer updated.
    schedule_steps: int = 0
    # --- static ---
    num_envs: int = struct.field(pytree_node=False, default=4)
    rollout_length: int = struct.field(pytree_node=False, default=128)  # steps per env per update
    num_epochs: int = struct.field(pytree_node=False, default=4)
    num_minibatches: int = struct.field(pytree_node=False, default=4)  # must divide num_envs * rollout_length
    hidden_sizes: tuple[int, ...] = struct.field(pytree_node=False, default=(64, 64))
    activation: Activation = struct.field(pytree_node=False, default="tanh")
    torso: PPOTorso = struct.field(pytree_node=False, default="mlp")  # "cnn": MinAtar images
    cnn_channels: int = struct.field(pytree_node=False, default=16)
    shared_torso: bool = struct.field(pytree_node=False, default=False)
    normalize_advantages: bool = struct.field(pytree_node=False, default=True)  # per minibatch
    clip_value_loss: bool = struct.field(pytree_node=False, default=True)
    truncation_as_terminal: bool = struct.field(pytree_node=False, default=False)
    action_bounds: ActionBounds = struct.field(pytree_node=False, default="clip")  # Box actions only
    normalize_obs: bool = struct.field(pytree_node=False, default=False)
    scale_rewards: bool = struct.field(pytree_node=False, default=False)
    # embed -> GRU torso (gru_size units; one shared, or one each with shared_torso=False),
    # hidden_sizes the heads' layers; minibatches are whole env sequences
    recurrent: bool = struct.field(pytree_node=False, default=False)
    gru_size: int = struct.field(pytree_node=False, default=128)


class PPOState(struct.PyTreeNode):
    """One seed's learner: parameters, Adam state and the running statistics (None when off)."""

    params: Any  # {"net": ActorCritic params, "log_std": [D] (Box actions only)}
    opt_state: optax.OptState
    obs_stats: RunningStats | None  # normalize_obs
    reward_stats: RewardScalingState | None  # scale_rewards: per env [B] returns, and their statistics
    num_obs_categories: int = struct.field(pytree_node=False)  # > 0: one-hot observations
    num_outputs: int = struct.field(pytree_node=False)  # logits (Discrete) or Gaussian means (Box)
    # Box actions: the bounds, per dimension; () for Discrete actions.
    action_low: tuple[float, ...] = struct.field(pytree_node=False, default=())
    action_high: tuple[float, ...] = struct.field(pytree_node=False, default=())

    @property
    def continuous(self) -> bool:
        return bool(self.action_low)


# --- Networks -------------------------------------------------------------------------


class ActorCritic(nn.Module):
    """``x [..., F] -> (policy output [..., num_outputs], V [...])``: separate MLPs, or heads on one torso.

    :meth:`policy` computes the policy output alone (acting deterministically, in evaluation).
    """

    num_outputs: int
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: Activation = "tanh"
    shared_torso: bool = False
    cnn_channels: int = 0  # > 0: images pass a MinAtarTorso of this many filters first

    def setup(self):
        hidden = tuple(self.hidden_sizes)
        # None for vector inputs: no parameters, so the MLP-only networks are unchanged.
        convolution = (lambda: MinAtarTorso(self.cnn_channels)) if self.cnn_channels else (lambda: None)
        if self.shared_torso:
            self.image = convolution()
            # Every torso layer is a hidden layer: its last one too is scaled by sqrt(2).
            torso_scale = float(np.sqrt(2.0))
            self.torso = (
                MLP(hidden, True, activation=self.activation, kernel_init="orthogonal", head_scale=torso_scale)
                if hidden
                else None
            )
            self.policy_head = nn.Dense(self.num_outputs, kernel_init=nn.initializers.orthogonal(0.01))
            self.value_head = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))
        else:
            self.actor_image, self.critic_image = convolution(), convolution()
            self.actor = MLP(
                (*hidden, self.num_outputs), activation=self.activation, kernel_init="orthogonal", head_scale=0.01
            )
            self.critic = MLP((*hidden, 1), activation=self.activation, kernel_init="orthogonal", head_scale=1.0)

    def _features(self, x: jax.Array) -> jax.Array:
        x = _through(self.image, x)
        return x if self.torso is None else self.torso(x)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        if self.shared_torso:
            h = self._features(x)
            return self.policy_head(h), self.value_head(h)[..., 0]
        return self.actor(_through(self.actor_image, x)), self.critic(_through(self.critic_image, x))[..., 0]

    def policy(self, x: jax.Array) -> jax.Array:
        # The critic's parameters are then not read at all: an evaluation program that
        # computed V and dropped it still took them as arguments, and on 2 CPU devices
        # rljax.training.batch compiled those with a replicated sharding that the lane-sharded
        # state then failed (rljax.train on Pendulum-v1 / CartPole-v1, 4 seeds).
        if self.shared_torso:
            return self.policy_head(self._features(x))
        return self.actor(_through(self.actor_image, x))


def _through(module: nn.Module | None, x: jax.Array) -> jax.Array:
    return x if module is None else module(x)


class RecurrentActorCritic(nn.Module):
    """ONE step of the recurrent actor and critic: ``(carry, x [..., F]) -> (carry', policy
    output [..., num_outputs], V [...])``; leading axes are batch axes.

    ``x`` goes through an embedding and a GRU (:class:`rljax.agents.nets.GRUTorso`, ``gru_size``
    units), whose new hidden state feeds the heads: MLPs of ``hidden_sizes`` with the
    feed-forward network's initialisation (0.01 policy head, 1.0 value head). One torso
    under both heads (``shared_torso=True``: the carry is its ``[..., gru_size]`` hidden
    state, PureJaxRL's ``ppo_rnn.py``), or one each (the carry is ``(actor's, critic's)``).
    :meth:`policy` steps the actor alone (evaluation; the critic's part of the carry is
    passed through).
    """

    num_outputs: int
    gru_size: int = 128
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: Activation = "tanh"
    shared_torso: bool = False

    def setup(self):
        hidden = tuple(self.hidden_sizes)
        if self.shared_torso:
            self.torso = GRUTorso(self.gru_size, self.activation)
        else:
            self.actor_torso = GRUTorso(self.gru_size, self.activation)
            self.critic_torso = GRUTorso(self.gru_size, self.activation)
        self.actor = MLP(
            (*hidden, self.num_outputs), activation=self.activation, kernel_init="orthogonal", head_scale=0.01
        )
        self.critic = MLP((*hidden, 1), activation=self.activation, kernel_init="orthogonal", head_scale=1.0)

    def __call__(self, carry: Any, x: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
        carry = self.recur(carry, self.embed(x))
        return (carry, *self.heads(carry))

    def policy(self, carry: Any, x: jax.Array) -> tuple[Any, jax.Array]:
        if self.shared_torso:
            h = self.torso(carry, x)
            return h, self.actor(h)
        h_actor = self.actor_torso(carry[0], x)
        return (h_actor, carry[1]), self.actor(h_actor)

    # The three stages, for a scan over a sequence: embed every step, recur step by step, heads on every step.
    def embed(self, x: jax.Array) -> Any:
        if self.shared_torso:
            return self.torso.embed(x)
        return self.actor_torso.embed(x), self.critic_torso.embed(x)

    def recur(self, carry: Any, e: Any) -> Any:
        if self.shared_torso:
            return self.torso.recur(carry, e)
        return self.actor_torso.recur(carry[0], e[0]), self.critic_torso.recur(carry[1], e[1])

    def heads(self, carry: Any) -> tuple[jax.Array, jax.Array]:
        h_actor, h_critic = (carry, carry) if self.shared_torso else carry
        return self.actor(h_actor), self.critic(h_critic)[..., 0]


def initial_actor_state(env: Any, env_params: Any, config: PPOConfig) -> Any:
    """One environment's GRU state(s) at an episode's start (zeros); ``None`` unless ``recurrent``."""
    if not config.recurrent:
        return None
    h = GRUTorso.initial_state(int(config.gru_size))
    return h if config.shared_torso else (h, h)


def network(config: PPOConfig, num_outputs: int) -> ActorCritic | RecurrentActorCritic:
    """The Flax module of the config's actor and critic."""
    if config.recurrent:
        return RecurrentActorCritic(
            num_outputs, int(config.gru_size), tuple(config.hidden_sizes), config.activation, bool(config.shared_torso)
        )
    return ActorCritic(
        num_outputs,
        tuple(config.hidden_sizes),
        config.activation,
        bool(config.shared_torso),
        int(config.cnn_channels) if config.torso == "cnn" else 0,
    )


def network_input(state: PPOState, obs: jax.Array, config: PPOConfig) -> jax.Array:
    """What the networks read: one-hot Discrete observations, or float vectors (normalised if
    ``normalize_obs``, by the statistics in ``state``); any leading axes."""
    x = encode_observation(obs, state.num_obs_categories)
    if config.normalize_obs:
        x = running_obs_stats(x.shape[-1:]).normalize(state.obs_stats, x)
    return x


def forward(state: PPOState, params: Any, obs: jax.Array, config: PPOConfig) -> tuple[jax.Array, jax.Array]:
    """``(policy output, V)`` of observations with any leading axes, under ``params``."""
    return network(config, state.num_outputs).apply(params["net"], network_input(state, obs, config))


def policy_output(state: PPOState, params: Any, obs: jax.Array, config: PPOConfig) -> jax.Array:
    """The policy output (logits, or the Gaussian's mean) alone, under ``params``."""
    net = network(config, state.num_outputs)
    return net.apply(params["net"], network_input(state, obs, config), method=ActorCritic.policy)


def recurrent_forward(
    state: PPOState, params: Any, carry: Any, obs: jax.Array, config: PPOConfig
) -> tuple[Any, jax.Array, jax.Array]:
    """``(carry', policy output, V)``: one recurrent step from ``carry`` (any leading axes, the same as ``obs``')."""
    return network(config, state.num_outputs).apply(params["net"], carry, network_input(state, obs, config))


def recurrent_policy_output(
    state: PPOState, params: Any, carry: Any, obs: jax.Array, config: PPOConfig
) -> tuple[Any, jax.Array]:
    """``(carry', policy output)``: one recurrent step of the actor alone."""
    net = network(config, state.num_outputs)
    return net.apply(params["net"], carry, network_input(state, obs, config), method=RecurrentActorCritic.policy)


def to_bounds(state: PPOState, sample: jax.Array, bounds: str) -> jax.Array:
    """A Gaussian sample (or mean) mapped into the Box: clipped, or tanh-squashed onto [low, high]."""
    low, high = jnp.asarray(state.action_low, jnp.float32), jnp.asarray(state.action_high, jnp.float32)
    if bounds == "tanh":
        return low + (jnp.tanh(sample) + 1.0) * (0.5 * (high - low))
    return jnp.clip(sample, low, high)


def log_prob_and_entropy(
    state: PPOState, params: Any, policy_out: jax.Array, action: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The policy's log-probability of ``action`` (for Box: the Gaussian sample before the bounds)
    and its entropy, each ``[...]``."""
    if state.continuous:
        log_std = jnp.broadcast_to(params["log_std"], policy_out.shape)
        return gaussian_log_prob(policy_out, log_std, action), gaussian_entropy(log_std)
    return categorical_log_prob(policy_out, action), categorical_entropy(policy_out)


# --- Agent functions -----------------------------------------------------------------


def _spaces(env: Any, env_params: Any) -> tuple[int, int, tuple[float, ...], tuple[float, ...]]:
    """``(observation categories or 0, network outputs, action lows, action highs)``, or a clear error."""
    obs_space = env.observation_space(env_params)
    if isinstance(obs_space, spaces.Discrete):
        categories = int(obs_space.n)
    elif isinstance(obs_space, spaces.Box) and len(obs_space.shape) in (1, 3):
        categories = 0
    else:
        raise ValidationError(
            f"ppo needs Discrete, flat (1-d) Box or [H, W, C] image observations; {env.name} has {obs_space!r}"
        )
    act_space = env.action_space(env_params)
    if isinstance(act_space, spaces.Discrete):
        return categories, int(act_space.n), (), ()
    if isinstance(act_space, spaces.Box) and len(act_space.shape) == 1:
        (dim,) = act_space.shape
        low = np.broadcast_to(np.asarray(act_space.low, np.float64), (dim,))
        high = np.broadcast_to(np.asarray(act_space.high, np.float64), (dim,))
        if not np.all(low < high):
            raise ValidationError(f"ppo needs Box action bounds with low < high; {env.name} has {act_space!r}")
        return categories, int(dim), tuple(map(float, low)), tuple(map(float, high))
    raise ValidationError(f"ppo acts in Discrete or flat (1-d) Box action spaces; {env.name} has {act_space!r}")


def optimizer(config: PPOConfig, learning_rate: jax.Array) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam with a (traced) learning rate (:func:`rljax.agents.nets.clipped_adam`)."""
    return clipped_adam(learning_rate, config.max_grad_norm, config.adam_eps)


def init(key: jax.Array, env: Any, env_params: Any, config: PPOConfig) -> PPOState:
    """Orthogonally initialised actor and critic, Adam state, fresh running statistics."""
    categories, num_outputs, low, high = _spaces(env, env_params)
    obs_shape = jax.eval_shape(env.reset, key, env_params)[0].shape
    features = (categories,) if categories else tuple(obs_shape)
    x = jnp.zeros(features, jnp.float32)
    carry = initial_actor_state(env, env_params, config)
    net = network(config, num_outputs)
    params = {"net": net.init(key, carry, x) if config.recurrent else net.init(key, x)}
    if low:
        params["log_std"] = jnp.full((num_outputs,), config.initial_log_std, jnp.float32)
    return PPOState(
        params=params,
        opt_state=optimizer(config, config.learning_rate).init(params),
        obs_stats=running_obs_stats(features).init() if config.normalize_obs else None,
        reward_stats=reward_scaling(config.gamma).init((config.num_envs,)) if config.scale_rewards else None,
        num_obs_categories=categories,
        num_outputs=num_outputs,
        action_low=low,
        action_high=high,
    )


def act(
    key: jax.Array,
    state: PPOState,
    obs: jax.Array,
    config: PPOConfig,
    clock: Clock,
    explore: bool,
    actor_state: Any = None,
) -> jax.Array | ActOutput:
    """For ONE observation: a sample of the policy with its log-probability and V(s) for the
    batch (``explore``), or the deterministic evaluation action (argmax / the mean, in the Box).
    ``recurrent``: ``actor_state`` is the GRU state(s) before this step, and the
    :class:`ActOutput` carries the one after it."""
    if not explore:
        if config.recurrent:
            actor_state, policy_out = recurrent_policy_output(state, state.params, actor_state, obs, config)
        else:
            policy_out = policy_output(state, state.params, obs, config)
        if state.continuous:
            action = to_bounds(state, policy_out, config.action_bounds)
        else:
            action = jnp.argmax(policy_out).astype(jnp.int32)
        return action if actor_state is None else ActOutput(action, None, actor_state)
    if config.recurrent:
        actor_state, policy_out, value = recurrent_forward(state, state.params, actor_state, obs, config)
    else:
        policy_out, value = forward(state, state.params, obs, config)
    if state.continuous:
        mean = policy_out
        sample = gaussian_sample(key, mean, state.params["log_std"])
        log_prob = gaussian_log_prob(mean, state.params["log_std"], sample)
        extras = {"log_prob": log_prob, "value": value, "sample": sample}
        return ActOutput(to_bounds(state, sample, config.action_bounds), extras, actor_state)
    action = categorical_sample(key, policy_out)
    return ActOutput(action, {"log_prob": categorical_log_prob(policy_out, action), "value": value}, actor_state)


class Minibatch(struct.PyTreeNode):
    """What one gradient step reads, per transition (recurrent: per env, ``[num_steps]`` sequences)."""

    obs: jax.Array
    action: jax.Array  # the taken action (Discrete) or the Gaussian sample before the bounds (Box)
    log_prob: jax.Array  # under the policy that acted
    value: jax.Array  # V(s) when it acted
    advantage: jax.Array
    target: jax.Array  # the critic's target G = A + V
    done: jax.Array | None = None  # recurrent: the step ended its episode (the GRU state is reset after it)
    start: Any = None  # recurrent: the GRU state(s) the env's first step read [per env]


def scaled_rewards(
    stats: RewardScalingState, reward: jax.Array, done: jax.Array, gamma: jax.Array
) -> tuple[RewardScalingState, jax.Array]:
    """The rollout's rewards ``[K, B]`` divided by the running std of the discounted return,
    step by step (each step's statistics include it, as CleanRL's ``NormalizeReward``)."""
    scaler = reward_scaling(gamma)

    def step(s, inputs):
        r, d = inputs
        s = scaler.update(s, r, d)
        return s, scaler.scale(s, r)

    return jax.lax.scan(step, stats, (reward, done))


def advantages_and_targets(
    state: PPOState, batch: Transition, rewards: jax.Array, config: PPOConfig
) -> tuple[jax.Array, jax.Array]:
    """GAE(lambda) advantages and critic targets ``([K, B], [K, B])`` of a rollout, per env.

    ``V(s_t)`` is what the critic said when acting (``batch.extras["value"]``); ``V(s'_t)`` is
    the critic's value of ``batch.next_obs`` (the true successor: a final observation where
    the episode ended, the next observation otherwise). ``recurrent``: the GRU state after
    ``s_t`` (from the state ``act`` read there, ``batch.actor_state``) steps on with
    ``s'_t``, the same episode's memory, before any reset.
    """
    if config.recurrent:
        after, _, _ = recurrent_forward(state, state.params, batch.actor_state, batch.obs, config)
        _, _, next_values = recurrent_forward(state, state.params, after, batch.next_obs, config)
    else:
        _, next_values = forward(state, state.params, batch.next_obs, config)
    gae = jax.vmap(
        lambda r, te, tr, v, nv: gae_advantages(
            r, te, tr, v, nv, config.gamma, config.gae_lambda, config.truncation_as_terminal
        ),
        in_axes=1,
        out_axes=1,
    )
    return gae(rewards, batch.terminated, batch.truncated, batch.extras["value"], next_values)


def recurrent_replay(state: PPOState, params: Any, mb: Minibatch, config: PPOConfig) -> tuple[jax.Array, jax.Array]:
    """``(policy outputs, V)`` ``[num_steps, envs, ...]`` of whole env sequences under ``params``:
    the GRU runs from each env's ``mb.start``, set back to its initial state after every
    ``done`` step, as it did while acting. Only the GRU cells run step by step (a
    ``lax.scan``); the embeddings and heads see every step at once."""
    net = network(config, state.num_outputs)
    initial = initial_actor_state(None, None, config)
    embedded = net.apply(params["net"], network_input(state, mb.obs, config), method=RecurrentActorCritic.embed)

    def step(carry, inputs):
        e, done = inputs
        carry = net.apply(params["net"], carry, e, method=RecurrentActorCritic.recur)
        return reset_where(done, initial, carry), carry

    hidden = jax.lax.scan(step, mb.start, (embedded, mb.done))[1]
    return net.apply(params["net"], hidden, method=RecurrentActorCritic.heads)


def ppo_loss(params: Any, state: PPOState, mb: Minibatch, config: PPOConfig) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The clipped surrogate, the (clipped) value loss and the entropy bonus of one minibatch."""
    if config.recurrent:
        policy_out, value = recurrent_replay(state, params, mb, config)
    else:
        policy_out, value = forward(state, params, mb.obs, config)
    log_prob, entropy = log_prob_and_entropy(state, params, policy_out, mb.action)
    chex.assert_equal_shape([log_prob, mb.log_prob, value, mb.target])
    log_ratio = log_prob - mb.log_prob
    ratio = jnp.exp(log_ratio)
    advantage = mb.advantage
    if config.normalize_advantages:
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    clipped_ratio = jnp.clip(ratio, 1.0 - config.clip_eps, 1.0 + config.clip_eps)
    policy_loss = -jnp.mean(jnp.minimum(ratio * advantage, clipped_ratio * advantage))
    value_error = jnp.square(value - mb.target)
    if config.clip_value_loss:
        clipped_value = mb.value + jnp.clip(value - mb.value, -config.clip_eps, config.clip_eps)
        value_error = jnp.maximum(value_error, jnp.square(clipped_value - mb.target))
    value_loss = 0.5 * jnp.mean(value_error)
    entropy = jnp.mean(entropy)
    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        # Schulman's low-variance estimator of KL(old || new), and how often the clip bit.
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > config.clip_eps).astype(jnp.float32)),
    }
    return loss, metrics


def update(
    key: jax.Array, state: PPOState, batch: Transition, config: PPOConfig, clock: Clock
) -> tuple[PPOState, dict[str, jax.Array]]:
    """GAE on the ``[rollout_length, num_envs]`` rollout, then ``num_epochs`` epochs of
    ``num_minibatches`` shuffled minibatches; then the observation statistics take in the rollout."""
    chex.assert_shape(batch.reward, (config.rollout_length, config.num_envs))
    rewards, reward_stats = batch.reward, state.reward_stats
    if config.scale_rewards:
        reward_stats, rewards = scaled_rewards(reward_stats, batch.reward, batch.done, config.gamma)
    advantages, targets = advantages_and_targets(state, batch, rewards, config)
    taken = batch.extras["sample"] if state.continuous else batch.action
    data = Minibatch(batch.obs, taken, batch.extras["log_prob"], batch.extras["value"], advantages, targets)
    if config.recurrent:  # shuffled by env, whole sequences: [num_envs, rollout_length, ...]
        data = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), data.replace(done=batch.done))
        data = data.replace(start=jax.tree.map(lambda x: x[0], batch.actor_state))
    else:
        n = config.rollout_length * config.num_envs
        data = jax.tree.map(lambda x: x.reshape((n,) + x.shape[2:]), data)
    learning_rate = annealed_learning_rate(config, clock)
    tx = optimizer(config, learning_rate)

    def gradient_step(carry, mb):
        params, opt_state = carry
        if config.recurrent:  # back to time-major for the scan: [rollout_length, envs, ...]
            mb = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), mb.replace(start=None)).replace(start=mb.start)
        (loss, metrics), grads = jax.value_and_grad(ppo_loss, has_aux=True)(params, state, mb, config)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), {**metrics, "loss": loss}

    (params, opt_state), metrics = minibatch_epochs(
        key, (state.params, state.opt_state), data, gradient_step, config.num_epochs, config.num_minibatches
    )
    obs_stats = state.obs_stats
    if config.normalize_obs:  # after the epochs: they read the statistics acting read
        updated = update_running_stats(obs_stats, encode_observation(batch.obs, state.num_obs_categories))
        # Past schedule_steps the network is fixed (learning rate at its end value, 0 in the
        # presets), and so are the statistics: otherwise they keep moving with the solved
        # policy's own states (Pendulum's variances shrink as it balances) and feed the
        # fixed network other inputs than it learned on.
        frozen = (config.schedule_steps > 0) & (clock.env_steps > config.schedule_steps)
        obs_stats = jax.tree.map(lambda old, new: jnp.where(frozen, old, new), obs_stats, updated)
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics["learning_rate"] = learning_rate
    if state.continuous:
        metrics["action_std"] = jnp.mean(jnp.exp(params["log_std"]))
    new_state = state.replace(params=params, opt_state=opt_state, obs_stats=obs_stats, reward_stats=reward_stats)
    return new_state, metrics


# --- Checks before anything is traced ---------------------------------------------------


def validate(config: PPOConfig, env: Any, env_params: Any) -> None:
    """Clear ``ValueError`` for hyperparameters or environments PPO cannot run."""
    categories, _, low, high = _spaces(env, env_params)
    for name in ("num_envs", "rollout_length", "num_epochs", "num_minibatches", "cnn_channels"):
        if int(getattr(config, name)) < 1:
            raise ValidationError(f"{name} must be >= 1; got {getattr(config, name)}")
    n = int(config.num_envs) * int(config.rollout_length)
    if config.recurrent and int(config.num_envs) % int(config.num_minibatches):
        raise ValidationError(
            f"recurrent ppo's minibatches are whole env sequences: num_minibatches ({config.num_minibatches}) "
            f"must divide num_envs ({config.num_envs})"
        )
    if config.recurrent and int(config.gru_size) < 1:
        raise ValidationError(f"gru_size must be >= 1; got {config.gru_size}")
    if config.recurrent and config.torso == "cnn":
        raise ValidationError("recurrent=True embeds flat observations; torso='cnn' has no recurrent form")
    if n % int(config.num_minibatches):
        raise ValidationError(
            f"num_minibatches ({config.num_minibatches}) must divide num_envs * rollout_length "
            f"({config.num_envs} * {config.rollout_length} = {n})"
        )
    check_positive("learning_rate", config.learning_rate)
    check_range("learning_rate_end_fraction", config.learning_rate_end_fraction, 0.0, 1.0)
    check_range("schedule_steps", config.schedule_steps, 0, 2**31 - 1)
    check_range("gamma", config.gamma, 0.0, 1.0)
    check_range("gae_lambda", config.gae_lambda, 0.0, 1.0)
    check_positive("clip_eps", config.clip_eps)
    check_range("entropy_coef", config.entropy_coef, 0.0, float("inf"))
    check_range("value_coef", config.value_coef, 0.0, float("inf"))
    check_range("max_grad_norm", config.max_grad_norm, 0.0, float("inf"))
    check_positive("adam_eps", config.adam_eps)
    check_range("initial_log_std", config.initial_log_std, -20.0, 5.0)
    check_choice("activation", config.activation, ACTIVATIONS)
    check_choice("action_bounds", config.action_bounds, ACTION_BOUNDS)
    check_choice("torso", config.torso, PPO_TORSOS)
    obs_shape = getattr(env.observation_space(env_params), "shape", ())
    if (config.torso == "cnn") != (len(obs_shape) == 3):
        raise ValidationError(
            f"torso={config.torso!r} does not fit {env.name}'s observations {obs_shape}: "
            f"'cnn' reads [H, W, C] images, 'mlp' flat vectors and Discrete observations"
        )
    if any(int(h) < 1 for h in config.hidden_sizes):  # () is allowed: linear actor and critic
        raise ValidationError(f"hidden_sizes must be widths >= 1; got {config.hidden_sizes}")
    if config.action_bounds == "tanh" and low and not np.all(np.isfinite(low + high)):
        raise ValidationError(f"action_bounds='tanh' needs finite Box bounds; {env.name} has {low} .. {high}")
    if config.normalize_obs and config.torso == "cnn":
        raise ValidationError("normalize_obs needs flat Box observations; torso='cnn' reads images")
    if config.normalize_obs and categories:
        raise ValidationError(f"normalize_obs needs Box observations; {env.name} has Discrete ones (one-hot encoded)")


# --- Tuned presets (``rljax train ppo --env ...`` starts from these) ---------------------

PRESETS: dict[str, dict[str, Any]] = {
    # CartPole-v1: PureJaxRL's configuration (the defaults: 4 envs, 4 epochs of 4 minibatches,
    # 64-64 tanh, lr annealed to 0) with 32-step rollouts and lr 1e-2: 200 updates of 128
    # steps. At the defaults' 128 steps and lr 2.5e-4, 2/16 seeds end solved after 100k
    # steps (PureJaxRL runs 500k). This one, 100-episode greedy evaluations: 15/16 seeds
    # solved on 0-15 (seed 7 ends at 242, still rising) and 16/16 on 16-31; run 2x longer
    # (51.2k, the anneal stretched with it) 16/16 and 16/16. Alternatives at 25.6k steps
    # (seeds 0-15 / 16-31, then at 2x): lr 5e-3 with 16-step rollouts 16, 14 / 16, 16; 8
    # envs x 32 steps 15, 16 / 15, 16. 16 seeds: compile 6.6 s, train 4.5 s (cold, 2 CPU
    # cores). Longer rollouts need more steps: at 51.2k, 64- / 128-step rollouts ended
    # 13-16 / 13 of 16 solved (lr 3e-3 and 5e-3; rljax sweep --grid).
    "CartPole-v1": {
        "total_steps": 25_600,
        "evaluations": 5,
        "learning_rate": 1e-2,
        "rollout_length": 32,
    },
    # Pendulum-v1: 16 envs x 64 steps, 10 epochs of 16 minibatches (CleanRL's continuous
    # epochs), no entropy bonus, normalised observations and scaled rewards, gamma 0.95 (the
    # swing-up's horizon; SB3's zoo uses 0.9), lr 1e-3 annealed, clipped Gaussian actions.
    # 100-episode greedy evaluations, IQM / worst of 16 final returns: -190.2 / -252.3 on
    # seeds 0-15, -176.1 / -202.3 on seeds 16-31 (lr 5e-4 on 0-15: -170.9 / -230.2).
    # 16 seeds: compile ~5 s, train 17-53 s on 2 shared CPU cores.
    "Pendulum-v1": {
        "total_steps": 204_800,
        "schedule_steps": 204_800,  # a longer run keeps this run's network (see "Staying solved")
        "evaluations": 5,
        "num_envs": 16,
        "rollout_length": 64,
        "num_epochs": 10,
        "num_minibatches": 16,
        "learning_rate": 1e-3,
        "gamma": 0.95,
        "entropy_coef": 0.0,
        "normalize_obs": True,
        "scale_rewards": True,
    },
    # Acrobot-v1: the CartPole preset's shape (4 envs x 32 steps) at lr 3e-3, 800 updates.
    # 100-episode greedy evaluations: 16/16 seeds >= -100 on 0-15 (worst -87.9) and 16/16
    # on 16-31 (worst -86.0); 2x longer 16/16 on 0-15 (worst -90.9). At half the steps
    # 15/16 and 16/16: a seed that has not yet reached the goal sees only -1 per step and
    # stays at -500. lr 1e-2 (20-episode evaluations, 102k steps): a seed at -500.
    # 16 seeds: compile 12-16 s, train 14-22 s on 2 shared CPU cores.
    "Acrobot-v1": {
        "total_steps": 102_400,
        "evaluations": 5,
        "learning_rate": 3e-3,
        "rollout_length": 32,
    },
    # MountainCarContinuous-v0: 16 envs x 256 steps, 4 epochs of 8 minibatches, lr 3e-4
    # annealed, normalised observations (without them 0/16 seeds leave the do-nothing
    # optimum at ~0: the velocity spans +-0.07). 100-episode greedy evaluations, seeds 0-15:
    # 16/16 >= 90, IQM 95.6, worst 93.5; compile 67 s, train 158 s (loaded 2-core CPU). PPO's
    # defaults 0/16; reward scaling 16/16 at IQM 93.7; initial log-std 0.5 6/16, -1 0/16
    # (experiments/ppo_mountaincar_search.py, 10-episode evaluations).
    "MountainCarContinuous-v0": {
        "total_steps": 131_072,
        "schedule_steps": 131_072,
        "evaluations": 4,
        "num_envs": 16,
        "rollout_length": 256,
        "num_minibatches": 8,
        "learning_rate": 3e-4,
        "normalize_obs": True,
    },
    # Breakout-MinAtar: the MinAtar CNN (3x3, 16 filters) and 128 ReLU units in actor and
    # critic, 64 envs x 32 steps, 4 epochs of 8 minibatches, lr 5e-4 annealed, gamma 0.99,
    # lambda 0.95, entropy 0.01 (PureJaxRL's MinAtar shape at a 2-core-CPU budget). 16 seeds
    # at half the budget (32,768 steps): mean greedy return 0.33 -> 2.48 (IQM 2.59), train
    # 20 min on a loaded 2-core CPU; the full budget is not measured.
    "Breakout-MinAtar": {
        "total_steps": 65_536,
        "evaluations": 8,
        "torso": "cnn",
        "hidden_sizes": (128,),
        "activation": "relu",
        "num_envs": 64,
        "rollout_length": 32,
        "num_minibatches": 8,
        "learning_rate": 5e-4,
    },
    # CartPoleNoVel-v1 (CartPole-v1 seen as [x, theta]): recurrent, one 64-unit embedding and
    # GRU under both heads (64-unit layers), 32 envs x 16 steps, 4 epochs of 2 minibatches of
    # 16 whole sequences, lr 1e-2 annealed. 100-episode greedy evaluations: 14/16 seeds solved
    # on 0-15 (IQM 500.0) and 12/16 on 16-31 (IQM 500.0); feed-forward (recurrent=False) 0/16,
    # IQM 43.9. Found with rljax sweep (4 seeds, 102.4k steps, 20-episode evaluations): lr
    # 1e-3 / 3e-3 / 1e-2 ended solved in 1 / 2 / 4 of 4 seeds; separate torsos at lr 3e-3 in
    # 2 of 4, 8 envs x 32 steps in 2 of 4. 16 seeds: compile 11 s, train 157-165 s (2 CPU cores).
    "CartPoleNoVel-v1": {
        "total_steps": 102_400,
        "evaluations": 5,
        "recurrent": True,
        "shared_torso": True,
        "gru_size": 64,
        "hidden_sizes": (64,),
        "num_envs": 32,
        "rollout_length": 16,
        "num_minibatches": 2,
        "learning_rate": 1e-2,
    },
    # brax/inverted_pendulum (Brax's MuJoCo-style InvertedPendulum, positional pipeline,
    # 1000-step episodes): 16 envs x 64 steps, 10 epochs of 32 minibatches, lr 1e-3 annealed
    # to 0 by the budget, no entropy bonus, normalised observations. rljax sweep over lr 3e-4 /
    # 1e-3 (seeds 0-3, constant lr, 20-episode evaluations): 3/4 and 4/4 seeds at 1000 at
    # 123k steps. 16 seeds, 100-episode greedy evaluations (solved: 950): 15/16 at this
    # 246k budget (seed 14 at 940.1; all 16 at 1000 at 147k), 14/16 at a 123k budget (seed 9
    # at 306.9). Past the budget PPO is frozen, so 2x and 4x end where 1x does.
    "brax/inverted_pendulum": {
        "total_steps": 245_760,  # 5 evaluations of 49,152 env steps (48 updates of 1,024)
        "schedule_steps": 245_760,  # a longer run keeps this run's network (see "Staying solved")
        "evaluations": 5,
        "num_envs": 16,
        "rollout_length": 64,
        "num_epochs": 10,
        "num_minibatches": 32,
        "learning_rate": 1e-3,
        "entropy_coef": 0.0,
        "normalize_obs": True,
    },
}

ppo = Agent(
    name="ppo",
    config_type=PPOConfig,
    init=init,
    act=act,
    update=update,
    rollout_length=lambda config, env_params: int(config.rollout_length),
    validate=validate,
    presets=PRESETS,
    init_actor_state=initial_actor_state,
)
