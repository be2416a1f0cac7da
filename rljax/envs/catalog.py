"""Every environment id, in a module that imports nothing.

``rljax list`` reads them without loading gymnax and JAX (seconds of imports);
:func:`rljax.make` resolves an id to its module lazily, from these tables. (The agent
names live in :mod:`rljax.agents`, whose package module imports no JAX either.)
"""

from __future__ import annotations

# rljax's own environments: id -> "module:factory". Factories take the id's keyword
# arguments and return (env, env_params).
ENVS: dict[str, str] = {
    "Taxi-v3": "rljax.envs.taxi:make_taxi",
    "FrozenLake-v1": "rljax.envs.frozen_lake:make_frozen_lake",
    "FrozenLake8x8-v1": "rljax.envs.frozen_lake:make_frozen_lake_8x8",
    "CartPole-v0": "rljax.envs.cartpole:make_cartpole_v0",
    "CartPoleNoVel-v1": "rljax.envs.cartpole:make_cartpole_no_velocity",
    "Chain": "rljax.envs.chain:make_chain",
    "GridMaze": "rljax.envs.grid_maze:make_grid_maze",
    "TabularMDP": "rljax.envs.tabular_mdp:make_tabular_mdp",
    "BernoulliBandit": "rljax.envs.bandit:make_bernoulli_bandit",
    "Probe-ConstantReward": "rljax.envs.probes:make_probe_1",
    "Probe-ObsDependentReward": "rljax.envs.probes:make_probe_2",
    "Probe-DiscountedReward": "rljax.envs.probes:make_probe_3",
    "Probe-ActionDependentReward": "rljax.envs.probes:make_probe_4",
    "Probe-ActionObsDependentReward": "rljax.envs.probes:make_probe_5",
}

# Brax's MuJoCo-style robots (``pip install rljax[brax]``), as ``brax/NAME``
# (rljax.envs.brax_envs); tests/envs/test_brax.py checks them against Brax's registry.
BRAX_ENV_NAMES: tuple[str, ...] = (
    "ant",
    "halfcheetah",
    "hopper",
    "humanoid",
    "humanoidstandup",
    "inverted_double_pendulum",
    "inverted_pendulum",
    "pusher",
    "reacher",
    "swimmer",
    "walker2d",
)
ENVS.update({f"brax/{name}": f"rljax.envs.brax_envs:make_{name}" for name in BRAX_ENV_NAMES})

# gymnax.registered_envs of the locked gymnax version, copied so that listing them
# does not import gymnax (and JAX); tests/api/test_cli_fast.py checks that they agree.
GYMNAX_ENV_IDS: tuple[str, ...] = (
    "CartPole-v1",
    "Pendulum-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "Seaquest-MinAtar",
    "SpaceInvaders-MinAtar",
    "Catch-bsuite",
    "DeepSea-bsuite",
    "MemoryChain-bsuite",
    "UmbrellaChain-bsuite",
    "DiscountingChain-bsuite",
    "MNISTBandit-bsuite",
    "SimpleBandit-bsuite",
    "FourRooms-misc",
    "MetaMaze-misc",
    "PointRobot-misc",
    "BernoulliBandit-misc",
    "GaussianBandit-misc",
    "Reacher-misc",
    "Swimmer-misc",
    "Pong-misc",
    "FrozenLake-misc",
)


def unknown_env_message(env_id: str, known: list[str]) -> str:
    """The one-line error for an id that no registry knows."""
    return f"unknown environment id {env_id!r}; known ids: {', '.join(known)}"


def env_ids(own: dict[str, str] = ENVS, gymnax_ids: tuple[str, ...] | list[str] = GYMNAX_ENV_IDS) -> list[str]:
    """Every id :func:`rljax.make` accepts: rljax's own (sorted), then gymnax's (sorted)."""
    return sorted(own) + sorted(i for i in gymnax_ids if i not in own)
