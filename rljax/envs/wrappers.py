"""Observation wrappers: turn a continuous-observation environment into a tabular one.

:class:`DiscretizedObservation` maps each Box observation to a single int32 cell
index, so tabular agents (Q-learning, SARSA, ...) run unchanged on CartPole & co.
:func:`discretize` builds it from a spec (edge arrays or a preset name) and is what
``rljax.make(env_id, discretize=spec)`` calls. :func:`is_discrete_obs` and
:func:`num_observations` let agents ask whether observations are already indices.

Binning follows ``np.digitize(x, edges)`` (``right=False``): with ``k`` interior
edges a dimension has ``k + 1`` bins; bin ``0`` is ``x < edges[0]``, bin ``k`` is
``x >= edges[-1]``, so values outside the edges fall into the end bins (clipping).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from rljax._errors import ValidationError
from rljax.envs._gymnax import environment, spaces

Order = Literal["C", "F"]

# Observation bounds at or beyond this are treated as infinite: gymnax writes
# "unbounded" as float32 max (CartPole's velocities) rather than inf.
_INFINITE_BOUND = 1e30

#: The CartPole Q Learning tutorial's hand-made CartPole bins: 4 x 4 x 29 x 8 = 3712 cells.
_BINS_THETA = np.pi / 180 * 12
CARTPOLE_BINS_EDGES: tuple[np.ndarray, ...] = (
    np.array([-0.1, 0.0, 0.1]),
    np.array([-0.75, 0.0, 0.75]),
    np.linspace(-_BINS_THETA, _BINS_THETA, 30)[1:-1],
    np.linspace(-1.7, 1.7, 9)[1:-1],
)

#: The maze notes' clip ranges for CartPole's (x, x_dot, theta, theta_dot).
UNIFORM6_RANGES: tuple[tuple[float, float], ...] = (
    (-2.4, 2.4),
    (-3.0, 3.0),
    (-0.418, 0.418),
    (-2.0, 2.0),
)


def uniform_edges(num_bins: int | Sequence[int], ranges: Sequence[tuple[float, float]]) -> list[np.ndarray]:
    """Interior edges of ``num_bins`` equal-width bins over each ``(low, high)`` range.

    Same as the maze notes' ``np.linspace(low, high, num_bins + 1)[1:-1]``.
    """
    counts = [num_bins] * len(ranges) if isinstance(num_bins, int) else list(num_bins)
    if len(counts) != len(ranges):
        raise ValidationError(f"got {len(counts)} bin counts for {len(ranges)} ranges")
    edges = []
    for i, (n, (low, high)) in enumerate(zip(counts, ranges)):
        if int(n) < 1:
            raise ValidationError(f"dimension {i}: need at least 1 bin; got {n}")
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValidationError(f"dimension {i}: range must be finite with low < high; got {(low, high)}")
        edges.append(np.linspace(low, high, int(n) + 1)[1:-1])
    return edges


def _ceil_to_float32(x: np.ndarray) -> np.ndarray:
    """The smallest float32 >= each float64 value.

    For any float32 observation ``v``, ``v >= ceil32(e)`` exactly when ``v >= e``, so
    comparing float32 observations against these edges reproduces ``np.digitize``
    with the float64 edges bit for bit (plain rounding could move an edge down
    past an observation).
    """
    y = x.astype(np.float32)
    too_low = y.astype(np.float64) < x
    return np.where(too_low, np.nextafter(y, np.float32(np.inf)), y)


class EnvWrapper(environment.Environment):
    """A gymnax environment that delegates everything to ``self.env``.

    Subclasses override what they change (``step_env``, observations, ...); the
    time limit, termination, spaces and parameters stay the inner environment's.
    """

    def __init__(self, env: environment.Environment):
        super().__init__()
        self.env = env

    def step_env(self, key, state, action, params):
        return self.env.step_env(key, state, action, params)

    def reset_env(self, key, params):
        return self.env.reset_env(key, params)

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        return self.env.get_obs(state, params=params, key=key)

    def is_terminated(self, state, params) -> jax.Array:
        return self.env.is_terminated(state, params)

    def is_truncated(self, state, params) -> jax.Array:
        return self.env.is_truncated(state, params)

    def discount(self, state, params) -> jax.Array:
        return self.env.discount(state, params)

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def action_space(self, params: Any = None):
        return self.env.action_space(self.default_params if params is None else params)

    def observation_space(self, params: Any = None):
        return self.env.observation_space(self.default_params if params is None else params)

    def state_space(self, params: Any = None):
        return self.env.state_space(self.default_params if params is None else params)


class DiscretizedObservation(EnvWrapper):
    """Wraps a gymnax environment with a Box observation into one with int32 cell indices.

    Each observation ``x`` (flattened to ``D`` values) is binned per dimension with
    ``b_i = searchsorted(edges[i], x_i, side="right")`` — ``np.digitize`` semantics —
    and the bins are combined into one index::

        order="C": index = ravel_multi_index(b, bins_per_dim)             # last dim fastest
        order="F": index = sum_i b_i * prod(bins_per_dim[:i])             # first dim fastest

    For float32 observations this equals ``np.digitize`` with the float64 edges
    exactly (the edges are rounded up to float32, see ``_ceil_to_float32``), except
    for subnormal values, which XLA on CPU flushes to zero.

    Both the returned observation and ``info["final_observation"]`` (the observation
    before gymnax's auto-reset) are discretised; states, rewards, termination and
    time limits are the inner environment's, unchanged.

    Attributes:
      env: the wrapped environment.
      edges: per-dimension interior edges (float64 numpy arrays).
      order: "C" or "F", see above.
      bins_per_dim: ``len(edges[i]) + 1`` for each dimension.
      num_states: ``prod(bins_per_dim)``; the observation space is ``Discrete(num_states)``.
    """

    def __init__(
        self,
        env: environment.Environment,
        edges: Sequence[Any],
        order: Order = "C",
        params: Any = None,
    ):
        """Args:
        env: a gymnax environment whose observation space is a ``Box``.
        edges: one sorted 1-D array of interior bin edges per observation dimension.
        order: how per-dimension bins are combined into one index ("C" or "F").
        params: the environment parameters used to read the observation space
          (default: ``env.default_params``).
        """
        super().__init__(env)
        if params is None:
            params = env.default_params
        space = env.observation_space(params)
        if not isinstance(space, spaces.Box):
            raise TypeError(f"{env.name}: DiscretizedObservation needs a Box observation space; got {space!r}")
        if order not in ("C", "F"):
            raise ValidationError(f"order must be 'C' or 'F'; got {order!r}")
        self.order = order
        self._inner_shape = tuple(int(d) for d in space.shape)
        self.edges = _validate_edges(edges, self._inner_shape, env.name)
        self.bins_per_dim = tuple(len(e) + 1 for e in self.edges)
        self.num_states = math.prod(self.bins_per_dim)
        if self.num_states >= 2**31:
            raise ValidationError(
                f"{self.num_states} cells do not fit an int32 index; use fewer bins "
                f"(bins per dimension: {self.bins_per_dim})"
            )
        self.obs_shape = ()
        strides = np.ones(len(self.bins_per_dim), dtype=np.int64)
        if order == "C":
            for i in range(len(strides) - 2, -1, -1):
                strides[i] = strides[i + 1] * self.bins_per_dim[i + 1]
        else:
            for i in range(1, len(strides)):
                strides[i] = strides[i - 1] * self.bins_per_dim[i - 1]
        self._strides = tuple(int(s) for s in strides)
        # float32 edges rounded up so that float32 observations bin exactly as
        # np.digitize does with the float64 edges (see _ceil_to_float32).
        self._edges32 = tuple(_ceil_to_float32(e) for e in self.edges)

    # --- the discretiser ---------------------------------------------------

    def bin_indices(self, obs: jax.Array) -> jax.Array:
        """Per-dimension bins, int32 ``[..., D]``, for observations of shape ``[..., *obs_shape]``."""
        obs = jnp.asarray(obs)
        lead = obs.shape[: obs.ndim - len(self._inner_shape)]
        if obs.shape[len(lead) :] != self._inner_shape:
            raise ValidationError(f"expected observations of shape [..., {self._inner_shape}]; got {obs.shape}")
        flat = obs.reshape(*lead, len(self.edges))
        if flat.dtype == jnp.float64:  # only under jax_enable_x64
            edges = self.edges
        else:
            flat = flat.astype(jnp.float32)
            edges = self._edges32
        bins = [
            jnp.searchsorted(jnp.asarray(e, dtype=flat.dtype), flat[..., i], side="right") for i, e in enumerate(edges)
        ]
        return jnp.stack(bins, axis=-1).astype(jnp.int32)

    def discretize_obs(self, obs: jax.Array) -> jax.Array:
        """The int32 cell index of each observation (shape ``[...]`` for ``[..., *obs_shape]``)."""
        bins = self.bin_indices(obs)
        return jnp.sum(bins * jnp.asarray(self._strides, dtype=jnp.int32), axis=-1, dtype=jnp.int32)

    # --- gymnax Environment API -------------------------------------------

    steps_like_gymnax = True  # step = the inner step, discretised; step_env likewise (rljax.training.evaluate)

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self,
        key: jax.Array,
        state: Any,
        action: int | float | jax.Array,
        params: Any = None,
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict[Any, Any]]:
        """The inner environment's step (auto-reset included), observations discretised."""
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {**info, "final_observation": self.discretize_obs(info["final_observation"])}
        return self.discretize_obs(obs), state, reward, terminated, truncated, info

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        """The inner environment's reset, observation discretised."""
        obs, state = self.env.reset(key, params)
        return self.discretize_obs(obs), state

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        return self.discretize_obs(obs), state, reward, terminated, info

    def reset_env(self, key, params):
        obs, state = self.env.reset_env(key, params)
        return self.discretize_obs(obs), state

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        return self.discretize_obs(self.env.get_obs(state, params=params, key=key))

    def observation_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_states)

    def __getattr__(self, name: str) -> Any:
        # Anything else (e.g. CartPole's constants) comes from the inner env. Guard
        # "env" so copy/pickle of a half-built instance cannot recurse forever.
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"DiscretizedObservation({self.env.name}, bins_per_dim={self.bins_per_dim}, order={self.order!r})"


def _validate_edges(edges: Sequence[Any], shape: tuple[int, ...], name: str) -> tuple[np.ndarray, ...]:
    """Checks one sorted, NaN-free 1-D edge array per observation dimension."""
    num_dims = math.prod(shape)
    if isinstance(edges, np.ndarray) and edges.ndim == 1:
        edges = [edges]  # a single dimension's edges
    edges = list(edges)
    if len(edges) != num_dims:
        raise ValidationError(
            f"{name}: expected {num_dims} edge arrays (one per observation dimension, "
            f"observation shape {shape}); got {len(edges)}"
        )
    out = []
    for i, e in enumerate(edges):
        e = np.asarray(e, dtype=np.float64)
        if e.ndim != 1:
            raise ValidationError(f"{name}: edges for dimension {i} must be 1-D; got shape {e.shape}")
        if np.any(np.isnan(e)):
            raise ValidationError(f"{name}: edges for dimension {i} contain NaN")
        if np.any(np.diff(e) < 0):
            raise ValidationError(f"{name}: edges for dimension {i} must be sorted ascending; got {e}")
        out.append(e)
    return tuple(out)


def _box_ranges(env: environment.Environment, params: Any, ranges: Sequence[Any] | None) -> list[tuple[float, float]]:
    """Per-dimension ``(low, high)``: the given range, else the Box bounds if finite."""
    space = env.observation_space(params)
    if not isinstance(space, spaces.Box):
        raise TypeError(f"{env.name}: uniform binning needs a Box observation space; got {space!r}")
    shape = tuple(int(d) for d in space.shape)
    num_dims = math.prod(shape)
    low = np.broadcast_to(np.asarray(space.low, dtype=np.float64), shape).reshape(-1)
    high = np.broadcast_to(np.asarray(space.high, dtype=np.float64), shape).reshape(-1)
    if ranges is None:
        ranges = [None] * num_dims
    if len(ranges) != num_dims:
        raise ValidationError(
            f"{env.name}: expected {num_dims} ranges (one per observation dimension, "
            f"observation shape {shape}); got {len(ranges)}"
        )
    out, unbounded = [], []
    for i, r in enumerate(ranges):
        if r is not None:
            out.append((float(r[0]), float(r[1])))
            continue
        lo, hi = low[i], high[i]
        if not (np.isfinite(lo) and np.isfinite(hi)) or max(abs(lo), abs(hi)) >= _INFINITE_BOUND:
            unbounded.append(i)
        out.append((float(lo), float(hi)))
    if unbounded:
        raise ValidationError(
            f"{env.name}: observation dimension(s) {unbounded} have infinite bounds "
            f"({', '.join(f'[{low[i]:.3g}, {high[i]:.3g}]' for i in unbounded)}), so uniform bins need explicit "
            f"ranges: pass discretize={{'num_bins': N, 'ranges': [(low, high) or None, ...]}} "
            f"(None keeps a dimension's finite bounds)"
        )
    return out


def discretize(env: environment.Environment, params: Any, spec: Any) -> tuple[DiscretizedObservation, Any]:
    """Wraps ``env`` in :class:`DiscretizedObservation` according to ``spec``.

    ``spec`` is one of:

    * a sequence of per-dimension edge arrays (index order "C");
    * ``"bins-4x4x29x8"``: the CartPole Q Learning tutorial's CartPole table — edges ``[-0.1, 0, 0.1]``,
      ``[-0.75, 0, 0.75]``, ``linspace(-12°, 12°, 30)[1:-1]``,
      ``linspace(-1.7, 1.7, 9)[1:-1]``: 4 x 4 x 29 x 8 = 3712 cells, order "C"
      (the CartPole Q Learning tutorial keys its table by the tuple of bins; "C" is that tuple's
      row-major flattening);
    * ``"uniform6"``: the maze notes' 6 bins per dimension over the clip ranges
      (-2.4, 2.4), (-3, 3), (-0.418, 0.418), (-2, 2): 1296 cells, order "F", which
      is exactly the maze notes' ``index = sum(d_i * 6**i)``;
    * ``"uniform:N"``: N equal bins per dimension over the observation space's
      bounds, order "C"; an error if some bound is infinite (CartPole's
      velocities) — then use the mapping form with ``ranges``;
    * a mapping ``{"edges": [...], "order": "C"}`` or
      ``{"num_bins": N or [N_i], "ranges": [(low, high) or None, ...], "order": "C"}``
      (``ranges`` entries of None use that dimension's bounds).

    Returns:
      ``(wrapped_env, params)``; params are unchanged (the wrapper keeps the inner
      environment's parameters and state).
    """
    if params is None:
        params = env.default_params
    order: Order = "C"
    if isinstance(spec, str):
        if spec == "bins-4x4x29x8":
            edges = list(CARTPOLE_BINS_EDGES)
        elif spec == "uniform6":
            edges, order = uniform_edges(6, UNIFORM6_RANGES), "F"
        elif spec.startswith("uniform:"):
            try:
                n = int(spec.split(":", 1)[1])
            except ValueError:
                raise ValidationError(f"bad discretize spec {spec!r}: expected 'uniform:N' with integer N") from None
            edges = uniform_edges(n, _box_ranges(env, params, None))
        else:
            raise ValidationError(
                f"unknown discretize preset {spec!r}; known: 'bins-4x4x29x8', 'uniform6', 'uniform:N'"
            )
        if spec in ("bins-4x4x29x8", "uniform6"):
            num_dims = math.prod(env.observation_space(params).shape)
            if num_dims != 4:
                raise ValidationError(
                    f"preset {spec!r} is for CartPole's 4 observation dimensions; {env.name} has {num_dims}"
                )
    elif isinstance(spec, Mapping):
        unknown = set(spec) - {"edges", "num_bins", "ranges", "order"}
        if unknown or ("edges" in spec) == ("num_bins" in spec):
            raise ValidationError(
                f"bad discretize spec {dict(spec)!r}: give either 'edges' or 'num_bins' "
                f"(with optional 'ranges'), plus optional 'order'"
            )
        order = spec.get("order", "C")
        if "edges" in spec:
            edges = list(spec["edges"])
        else:
            ranges = _box_ranges(env, params, spec.get("ranges"))
            edges = uniform_edges(spec["num_bins"], ranges)
    else:
        edges = spec
    return DiscretizedObservation(env, edges, order=order, params=params), params


def is_discrete_obs(env: environment.Environment, params: Any = None) -> bool:
    """Whether ``env``'s observations are single integer indices (a ``Discrete`` space)."""
    params = env.default_params if params is None else params
    return isinstance(env.observation_space(params), spaces.Discrete)


def num_observations(env: environment.Environment, params: Any = None) -> int:
    """The number of distinct observations ``n`` of a ``Discrete`` observation space.

    Raises:
      TypeError: the observations are not discrete (wrap with ``discretize=`` first).
    """
    params = env.default_params if params is None else params
    space = env.observation_space(params)
    if not isinstance(space, spaces.Discrete):
        raise TypeError(
            f"{env.name} has a {type(space).__name__} observation space, not Discrete; "
            f"make it with rljax.make({env.name!r}, discretize=...) for a tabular agent"
        )
    return int(space.n)
