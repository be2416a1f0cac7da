"""Many runs (seeds x configurations) as one compiled program, in fixed-width lanes.

XLA's numbers for one run depend on the width of the ``vmap`` it sits in (a seed
trained in a batch of 16 can differ by an ulp from the same seed trained alone,
and DQN turns an ulp into a different policy). At a fixed width they do not
depend on the neighbours. So runs go through ``jax.lax.map`` over lanes of
``jax.vmap`` of a fixed ``lane_width``; the last lane is padded with copies of
the first run and the padding is dropped from the results.

A compiled program also depends on how many lanes it holds: XLA removes a
``lax.map`` of one lane and compiles it with other fusions than a map of two or
more (measured: DQN's parameters of seed 0 alone and among 32 seeds on 2 devices
differ by 2e-6 after 3000 steps, then the returns drift apart). So a program
holds exactly one lane per device, a *group*; a batch of more lanes runs group
after group through that same program (the runner's loop, not ``lax.map``). Seed
s then gives bitwise the same numbers alone as inside any batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from rljax._errors import ValidationError
from rljax.training.loop import Loop


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """One PRNG key per seed, derived from the seed alone."""
    seeds = [int(s) for s in seeds]
    for s in seeds:
        if s < 0:
            raise ValidationError(f"seeds must be >= 0; got {s}")
    return jnp.stack([jax.random.PRNGKey(s) for s in seeds])


def tree_bytes(tree: Any) -> int:
    """Bytes of every array (or abstract shape) in ``tree``."""
    return sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def stack_configs(configs: Sequence[Any]) -> Any:
    """Stacks configs (same static fields) into one config whose leaves have a leading axis."""
    first = jax.tree.structure(configs[0])
    for c in configs[1:]:
        if jax.tree.structure(c) != first:
            raise ValidationError(
                "configs in one batch must share their static fields (network sizes, num_envs, "
                "schedules); run configurations that differ in them as separate programs"
            )
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *configs)


@dataclass(frozen=True)
class Lanes:
    """How ``size`` runs are laid out in lanes of ``width`` (the last one padded).

    With several devices the number of lanes is padded to a multiple of
    ``num_devices`` so every device gets whole lanes.
    """

    size: int
    width: int
    num_devices: int = 1

    def __post_init__(self):
        if self.size < 1:
            raise ValidationError(f"need at least one run; got {self.size}")
        if self.width < 1:
            raise ValidationError(f"lane_width must be >= 1; got {self.width}")

    @property
    def num_lanes(self) -> int:
        return math.ceil(math.ceil(self.size / self.width) / self.num_devices) * self.num_devices

    def pack(self, tree: Any) -> Any:
        """``[size, ...]`` -> ``[num_lanes, width, ...]``, padding with copies of run 0."""
        pad = self.num_lanes * self.width - self.size

        def one(x):
            # On the host, in NumPy: each jnp op on a new shape is a small program to
            # compile (and a compile-cache lookup), ~0.15 s for a config's dozen leaves.
            x = np.asarray(jnp.asarray(x))  # jnp first: JAX's dtypes (float32, not float64)
            if pad:
                x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)])
            return x.reshape((self.num_lanes, self.width) + x.shape[1:])

        return jax.tree.map(one, tree)

    @property
    def num_groups(self) -> int:
        """Lanes per device: the groups of one lane per device that run one after another."""
        return self.num_lanes // self.num_devices

    def groups(self, packed: Any) -> list[Any]:
        """``[num_lanes, width, ...]`` (host arrays) -> ``num_groups`` trees ``[num_devices, width, ...]``.

        Device d holds lanes ``d * num_groups ...`` of the packed layout (its shard of
        the lane axis); group g is lane ``d * num_groups + g`` of every device, so
        splitting and :meth:`join` move no data between devices.
        """
        shape = (self.num_devices, self.num_groups)
        return [jax.tree.map(lambda x: x.reshape(shape + x.shape[1:])[:, g], packed) for g in range(self.num_groups)]

    def join(self, groups: Sequence[Any]) -> Any:
        """The inverse of :meth:`groups` (NumPy or traced arrays)."""
        if len(groups) == 1:
            return groups[0]
        stack = np.stack if isinstance(jax.tree.leaves(groups[0])[0], np.ndarray) else jnp.stack
        return jax.tree.map(lambda *xs: stack(xs, axis=1).reshape((-1,) + xs[0].shape[1:]), *groups)

    def unpack(self, tree: Any) -> Any:
        """``[num_lanes, width, ...]`` -> ``[size, ...]``, dropping the padding."""
        return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:])[: self.size], tree)


def _over_lanes(lane: Callable) -> Callable:
    """``lane`` (what one lane of ``width`` runs does) -> the same over packed ``[num_lanes, width]`` arguments."""
    return lambda *args: jax.lax.map(lambda a: lane(*a), args)


def _one_run_at_a_time(fn: Callable) -> Callable:
    """Like ``jax.vmap(fn)``, but the runs go one after another (``lax.map``), so no
    operation inside ``fn`` sees a batch axis (see the LAPACK note below)."""
    return lambda *args: jax.lax.map(lambda run: fn(*run), args)


def _lane_init(loop: Loop) -> Callable:
    """One lane's ``loop.init``: agents initialised one run at a time, the rest vmapped."""

    def init(keys, configs):
        agent_states = _one_run_at_a_time(loop.init_agent)(keys, configs)
        return jax.vmap(loop.start)(keys, configs, agent_states)

    return init


def _sharded_over_lanes(lane: Callable, mesh: Mesh) -> Callable:
    """:func:`_over_lanes`, with the lane axis split over the devices of ``mesh``.

    Each device runs ``lax.map`` over its own whole lanes, so a run's program is
    the same as on one device and its numbers are too.
    """
    spec = PartitionSpec(LANE_AXIS)
    # check_vma=False: runs never communicate across devices (no collectives), and
    # the check rejects while_loops whose initial carry holds constants.
    return jax.shard_map(_over_lanes(lane), mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)


# Why initialisation runs one run at a time (a deadlock in jaxlib 0.10's CPU LAPACK kernels):
# jaxlib 0.10.x splits a *batched* LAPACK call (QR, Cholesky, LU, eigh, ... under
# vmap) into chunks, schedules them on XLA's intra-op thread pool and blocks that
# thread in ``absl::BlockingCounter::Wait`` until they finish (``ParallelBatchMap``
# in jaxlib/cpu/lapack_kernels.cc). XLA's thunk executor itself runs independent
# operations on the same pool, so when as many batched LAPACK calls as there are
# pool threads start together (2 on a 2-core machine: e.g. the orthogonal
# initialisers of a policy and a value network, vmapped over the seeds of a
# lane) every pool thread waits for chunks that no free thread is left to run,
# forever: the process sits at 0% CPU in ``BlockUntilReady``. jaxlib >= 0.11
# (Python >= 3.12) no longer schedules these chunks on the pool in open-source
# builds; ``--xla_cpu_multi_thread_eigen=false`` does NOT help (measured: hangs
# the same way). A LAPACK call with a batch of one runs inline on its thread and
# cannot wait, so ``init`` (where orthogonal initialisers call QR, for every
# agent and for users' own networks) maps over the runs of a lane instead of
# vmapping them. It runs once per run, so this costs nothing measurable, and
# its numbers are bitwise those of the vmapped version (same LAPACK routine per
# matrix, same random bits). A *segment* program with a LAPACK call (a user's
# agent that solves a linear system every update, say) gets the same treatment
# on CPU, with a warning, since vmapping it could hang (see ``BatchRunner.compile``).


LANE_AXIS = "lanes"
