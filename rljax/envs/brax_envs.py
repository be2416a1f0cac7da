"""Brax's MuJoCo-style robots (``brax/hopper``, ``brax/halfcheetah``, ...) as gymnax environments.

Brax (``pip install rljax[brax]``) simulates the MuJoCo locomotion tasks in pure JAX, so
they compile into rljax's training programs like any gymnax environment. This adapter maps
Brax's ``reset(rng) -> State`` / ``step(state, action) -> State`` onto gymnax 1.x's step,
which rljax's loop reads:

* **terminated** is Brax's own ``done`` (the hopper fell: ``terminate_when_unhealthy``);
* **truncated** is the time limit, ``max_steps_in_episode`` (default 1000, Brax's and
  Gymnasium's), an ``EnvParams`` field: traced, so a sweep over it is one program;
* at either end the returned observation is the next episode's first one, and
  ``info["final_observation"]`` is the true last observation, which an agent bootstraps
  from at a truncation (gymnax's auto-reset, as for every environment here). Every reset
  draws fresh noise from its own key; Brax's own ``AutoResetWrapper`` instead restarts
  every episode of an environment slot from the same cached first state.

Which physics pipeline: ``backend=`` ``positional`` (the default), ``generalized``,
``spring`` or ``mjx``. Measured on a 2-core Intel Xeon CPU (2026-12-07, Brax 0.14.2, 64
hopper environments stepping random actions under ``jit(scan(vmap(step)))``): positional
25,700 env steps/s (compile 13.9 s), generalized 10,500 (11.7 s), mjx 10,200 (11.0 s);
MuJoCo Playground's MJX ``HopperHop`` 1,060 and ``CheetahRun`` 1,730. Positional is the
fastest on a CPU and is PureJaxRL's choice; ``generalized`` is Brax's own default and the
closest to MuJoCo's dynamics. Brax's environments are in maintenance upstream (it says so
in a warning on every construction, which the adapter silences); MuJoCo Playground is the
maintained successor, 15-25x slower here.

Every other option is the Brax environment's own constructor argument
(``forward_reward_weight``, ``terminate_when_unhealthy``, ``reset_noise_scale``, ...),
checked against its default's kind before anything is built.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import math
import numbers
import warnings
from typing import Any, Iterator

import jax
import jax.numpy as jnp
from flax import struct

from rljax._errors import ValidationError
from rljax.envs._gymnax import environment, spaces
from rljax.envs.catalog import BRAX_ENV_NAMES
from rljax.envs.params import check_option_type, with_param_options

BACKENDS = ("positional", "generalized", "spring", "mjx")
DEFAULT_BACKEND = "positional"
# Environments that Brax builds on fewer pipelines (0.14.2: its swimmer only on generalized);
# their default is the first of these.
ONLY_BACKENDS = {"swimmer": ("generalized",)}
# Brax's training wrappers' (and Gymnasium's MuJoCo tasks') episode length.
DEFAULT_MAX_STEPS = 1000


class BraxUnavailable(ValidationError):
    """Brax is not installed (a usage error: exit code 2)."""


@struct.dataclass
class EnvParams(environment.EnvParams):
    max_steps_in_episode: int = DEFAULT_MAX_STEPS


@struct.dataclass
class EnvState(environment.EnvState):
    brax_state: Any  # brax.envs.base.State: the pipeline state, obs, reward, done, metrics, info
    time: int


class BraxEnv(environment.Environment[EnvState, EnvParams]):
    """A Brax environment behind gymnax's interface: Box actions in [-1, 1], Box observations."""

    def __init__(self, env_id: str, brax_env: Any):
        super().__init__()
        self.env_id = env_id
        self.brax_env = brax_env

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        brax_state = self.brax_env.reset(key)
        return brax_state.obs, EnvState(brax_state=brax_state, time=jnp.int32(0))

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[str, Any]]:
        # Brax's steps are deterministic; the key is unused.
        brax_state = self.brax_env.step(state.brax_state, action)
        # Some tasks give a Python float reward (inverted_pendulum's 1.0): one dtype for every step.
        brax_state = brax_state.replace(
            reward=jnp.asarray(brax_state.reward, jnp.float32), done=jnp.asarray(brax_state.done, jnp.float32)
        )
        state = EnvState(brax_state=brax_state, time=state.time + 1)
        return brax_state.obs, state, brax_state.reward, self.is_terminated(state, params), {}

    def get_obs(self, state: EnvState, params: EnvParams | None = None, key: jax.Array | None = None) -> jax.Array:
        return state.brax_state.obs

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        return state.brax_state.done > 0.5

    def action_space(self, params: EnvParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.brax_env.action_size,), jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self.brax_env.observation_size,), jnp.float32)

    @property
    def name(self) -> str:
        return self.env_id

    @property
    def num_actions(self) -> int:
        return self.brax_env.action_size


def make_brax(env_name: str, backend: str | None = None, **options: Any) -> tuple[BraxEnv, EnvParams]:
    """Makes Brax's ``env_name`` (``"hopper"``, ...) on ``backend``, and its parameters.

    Args:
      env_name: a Brax environment name (:data:`rljax.envs.catalog.BRAX_ENV_NAMES`).
      backend: the physics pipeline, one of :data:`BACKENDS` (default ``positional``, or
        the first of :data:`ONLY_BACKENDS` for an environment Brax builds on fewer).
      **options: ``max_steps_in_episode`` (the time limit, default 1000) and the Brax
        environment's own constructor options, each checked: an unknown one, or a value
        not of its default's kind, is a one-line :class:`rljax.ValidationError`.

    Returns:
      ``(env, env_params)``: a :class:`BraxEnv` and its ``EnvParams``.
    """
    env_id = f"brax/{env_name}"
    try:
        # mujoco 4.0.1's mjx prints "Failed to import warp: ..." to stdout when the optional
        # warp package is absent (mujoco/mjx/warp/__init__.py), which Brax imports: kept off
        # the command line's output (its --json, its tables).
        with contextlib.redirect_stdout(io.StringIO()):
            from brax import envs as brax_envs
    except ImportError:
        raise BraxUnavailable(f"{env_id} needs Brax: pip install rljax[brax] (or pip install brax)") from None
    allowed_backends = ONLY_BACKENDS.get(env_name, BACKENDS)
    if backend is None:
        backend = DEFAULT_BACKEND if DEFAULT_BACKEND in allowed_backends else allowed_backends[0]
    if not isinstance(backend, str) or backend not in allowed_backends:
        raise ValidationError(f"{env_id} option backend={backend!r} must be one of {', '.join(allowed_backends)}")
    env_class = brax_envs._envs[env_name]
    own = _constructor_options(env_class)
    unknown = sorted(set(options) - set(own) - {"max_steps_in_episode"})
    if unknown:
        allowed = ", ".join(["backend", "max_steps_in_episode", *own])
        raise ValidationError(f"unknown option(s) {', '.join(map(repr, unknown))} for {env_id}; its options: {allowed}")
    for name, value in options.items():
        if name in own:
            _check_constructor_option(env_id, name, value, own[name])
    params = with_param_options(env_id, EnvParams(), {k: v for k, v in options.items() if k == "max_steps_in_episode"})
    kwargs = {k: v for k, v in options.items() if k in own}
    with warnings.catch_warnings(), _mujoco_warnings_as_python():
        warnings.filterwarnings("ignore", message="Brax System, piplines and environments are not actively")
        brax_env = env_class(backend=backend, **kwargs)
    return BraxEnv(env_id, brax_env), params


@contextlib.contextmanager
def _mujoco_warnings_as_python() -> Iterator[None]:
    """MuJoCo's warnings as Python warnings while Brax compiles its XML.

    MuJoCo's own handler prints them to stdout and appends them to ``MUJOCO_LOG.TXT`` in
    the working directory (brax/halfcheetah's XML uses the deprecated ``settotalmass``):
    a file in the user's folder and a line in ``--json`` output. A deprecation in Brax's
    own assets becomes a ``DeprecationWarning``, anything else a ``UserWarning``.
    """
    import mujoco

    def warn(message: str) -> None:
        kind = DeprecationWarning if "deprecated" in message else UserWarning
        warnings.warn(f"MuJoCo: {message}", kind, stacklevel=2)

    before = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(warn)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(before)


def _constructor_options(env_class: type) -> dict[str, Any]:
    """The Brax environment class's named options with their defaults (not ``backend``)."""
    parameters = inspect.signature(env_class.__init__).parameters
    return {
        n: p.default
        for n, p in parameters.items()
        if n not in ("self", "backend")
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.default is not inspect.Parameter.empty
    }


def _check_constructor_option(env_id: str, name: str, value: Any, default: Any) -> None:
    """A one-line error for a constructor option's value that is not of its default's kind;
    a range (a pair of numbers, ``healthy_z_range=(0.7, inf)``) must be a pair of numbers, low <= high."""
    if isinstance(default, tuple):
        ok = (
            isinstance(value, (tuple, list))
            and len(value) == len(default)
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and not math.isnan(v) for v in value)
            and (len(value) != 2 or value[0] <= value[1])
        )
        if not ok:
            raise ValidationError(f"{env_id} option {name}={value!r} must be {len(default)} numbers, low <= high")
        return
    check_option_type(env_id, name, value, default)


# One factory per id of the catalog (``brax/NAME`` -> ``make_NAME``, as it names them), made
# from its list, so that an id and its factory cannot drift apart.
for _name in BRAX_ENV_NAMES:
    globals()[f"make_{_name}"] = functools.partial(make_brax, _name)
del _name
